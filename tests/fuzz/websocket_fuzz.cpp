// libFuzzer target for the WebSocket code of ours that needs no socket:
// frame headers, masking and the incremental UTF-8 check
// (transport/src/websocket_frame.cpp), and the server's checks of an upgrade
// request (transport/src/websocket_request.cpp; Beast parses the HTTP).
// The frame loop of a connection (websocket_stream.cpp) runs on the
// runtime's fibers and is covered by tests/transport, not here.
//
// Every input is used three ways. Beyond not crashing (ASan, UBSan):
// - as a run of frame headers: decode_header reads header_size() bytes, and
//   a header in canonical form (shortest length, no RSV bits) encodes back
//   to the same bytes;
// - as text: utf8_validator agrees with a table-driven RFC 3629 reference
//   on valid / invalid / incomplete, fed whole, cut in two or byte by byte;
//   masking twice is the identity, masking in two pieces at an offset is
//   masking whole, and copy_masked is apply_mask on a copy;
// - as an upgrade request: judge_request accepts only a request with a valid
//   key, version 13 and the listener's path, picks the highest STOMP
//   subprotocol offered, and gives the same verdict twice.

#include <array>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "websocket_frame.hpp"
#include "websocket_request.hpp"

namespace {

namespace ws = stampede::transport::ws;
namespace http = boost::beast::http;
using stampede::transport::websocket_errc;
using stampede::transport::websocket_options;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "websocket_fuzz invariant violated: %s\n", what);
    std::abort();
}

void check(bool ok, const char* what) {
    if (!ok) {
        fail(what);
    }
}

// ---- frame headers ----

void check_headers(std::span<const std::uint8_t> in) {
    while (in.size() >= 2) {
        const std::size_t size = ws::header_size(in[0], in[1]);
        check(size >= 2 && size <= ws::max_header_size, "header_size out of range");
        if (in.size() < size) {
            return;
        }
        // An exact-size copy: ASan catches a read past the header.
        const std::vector<std::uint8_t> bytes(in.begin(), in.begin() + size);
        ws::frame_header h;
        check(ws::decode_header(bytes, h) == size, "decode_header read other than header_size");
        const std::size_t shortest = h.length < 126 ? 2 : h.length <= 0xFFFF ? 4 : 10;
        if (h.rsv == 0 && size == shortest + (h.masked ? 4 : 0)) {
            std::array<std::uint8_t, ws::max_header_size> out{};
            const std::size_t written =
                ws::encode_header(out.data(), h.op(), h.fin, h.length, h.masked ? &h.key : nullptr);
            check(written == size && std::memcmp(out.data(), bytes.data(), size) == 0,
                  "a canonical header does not encode back to its bytes");
        }
        in = in.subspan(size);
    }
}

// ---- UTF-8 ----

enum class utf8 { valid, incomplete, invalid };

// RFC 3629's table: the ranges of each byte of a well-formed sequence.
utf8 reference_utf8(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<std::uint8_t>(s[i]);
        std::size_t more = 0;
        std::uint8_t lo = 0x80;
        std::uint8_t hi = 0xBF;
        if (b <= 0x7F) {
            ++i;
            continue;
        } else if (b >= 0xC2 && b <= 0xDF) {
            more = 1;
        } else if (b == 0xE0) {
            more = 2, lo = 0xA0;
        } else if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) {
            more = 2;
        } else if (b == 0xED) {
            more = 2, hi = 0x9F;
        } else if (b == 0xF0) {
            more = 3, lo = 0x90;
        } else if (b >= 0xF1 && b <= 0xF3) {
            more = 3;
        } else if (b == 0xF4) {
            more = 3, hi = 0x8F;
        } else {
            return utf8::invalid;
        }
        for (std::size_t k = 1; k <= more; ++k) {
            if (i + k >= s.size()) {
                return utf8::incomplete;
            }
            const auto c = static_cast<std::uint8_t>(s[i + k]);
            if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) {
                return utf8::invalid;
            }
        }
        i += more + 1;
    }
    return utf8::valid;
}

utf8 validate_in_pieces(std::string_view s, const std::vector<std::size_t>& cuts) {
    ws::utf8_validator v;
    std::size_t from = 0;
    for (const std::size_t cut : cuts) {
        std::vector<char> piece(s.begin() + from, s.begin() + cut);
        if (!v.feed(piece)) {
            return utf8::invalid;
        }
        from = cut;
    }
    return v.complete() ? utf8::valid : utf8::incomplete;
}

void check_utf8(std::string_view s, std::size_t k) {
    const utf8 expected = reference_utf8(s);
    check(validate_in_pieces(s, {s.size()}) == expected, "utf8_validator differs from RFC 3629");
    check(validate_in_pieces(s, {k, s.size()}) == expected, "utf8_validator differs when cut");
    if (s.size() <= 256) {
        std::vector<std::size_t> cuts;
        for (std::size_t i = 1; i <= s.size(); ++i) {
            cuts.push_back(i);
        }
        check(validate_in_pieces(s, cuts) == expected, "utf8_validator differs byte by byte");
    }
    check(ws::is_utf8(std::span<const char>(s.data(), s.size())) == (expected == utf8::valid),
          "is_utf8 differs from RFC 3629");
}

void check_mask(std::string_view s, std::size_t k, const std::uint8_t* key_bytes) {
    std::array<std::uint8_t, 4> key{};
    std::memcpy(key.data(), key_bytes, 4);
    const std::uint64_t offset = key_bytes[0] % 7;
    std::vector<char> whole(s.begin(), s.end());
    ws::apply_mask(whole, key, offset);
    std::vector<char> pieces(s.begin(), s.end());
    ws::apply_mask(std::span<char>(pieces).first(k), key, offset);
    ws::apply_mask(std::span<char>(pieces).subspan(k), key, offset + k);
    check(pieces == whole, "masking in two pieces differs from masking whole");
    std::vector<char> copied(s.size());
    ws::copy_masked(copied.data(), std::span<const char>(s.data(), s.size()), key, offset);
    check(copied == whole, "copy_masked differs from apply_mask");
    ws::apply_mask(whole, key, offset);
    check(std::string_view(whole.data(), whole.size()) == s, "masking twice is not the identity");
}

// ---- the upgrade request ----

std::optional<http::request<http::empty_body>> parse_request(std::string_view s) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(16 * 1024);
    parser.eager(false);
    boost::system::error_code ec;
    parser.put(boost::asio::buffer(s.data(), s.size()), ec);
    if (ec || !parser.is_header_done()) {
        return std::nullopt;
    }
    return parser.release();
}

void check_upgrade(const http::request<http::empty_body>& req) {
    std::vector<websocket_options> variants(3);
    variants[1].allowed_origins = std::vector<std::string>{"https://app.example", "null"};
    variants[2].require_origin = true;
    variants[2].path = "/stomp";
    for (const websocket_options& options : variants) {
        const ws::request_verdict v = ws::judge_request(req, options);
        const ws::request_verdict again = ws::judge_request(req, options);
        check(v.refusal == again.refusal && v.subprotocol == again.subprotocol &&
                  v.origin == again.origin,
              "judge_request is not deterministic");
        if (v.refusal != websocket_errc{}) {
            continue;
        }
        check(ws::valid_key(ws::view(req[http::field::sec_websocket_key])),
              "accepted an invalid key");
        check(ws::view(req[http::field::sec_websocket_version]) == "13", "accepted a version");
        const std::string_view target = ws::view(req.target());
        check(target.substr(0, target.find('?')) == options.path, "accepted another path");
        check(!options.require_origin || !v.origin.empty(), "accepted a missing Origin");
        bool offered[3] = {false, false, false};
        ws::for_each_token(req, http::field::sec_websocket_protocol, [&](std::string_view t) {
            for (std::size_t i = 0; i < 3; ++i) {
                offered[i] = offered[i] || t == stampede::transport::stomp_subprotocols[i];
            }
        });
        std::string best;
        for (std::size_t i = 0; i < 3 && best.empty(); ++i) {
            if (offered[i]) {
                best = stampede::transport::stomp_subprotocols[i];
            }
        }
        check(v.subprotocol == best, "not the highest STOMP subprotocol offered");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const std::size_t k =
        size == 0 ? 0 : (static_cast<std::size_t>(data[0]) * 131 + size * 7) % (size + 1);

    check_headers({data, size});
    check_utf8(text, k);
    if (size >= 4) {
        check_mask(text, k, data);
    }
    if (auto req = parse_request(text)) {
        check_upgrade(*req);
    }
    return 0;
}
