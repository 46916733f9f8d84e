// The WebSocket opening handshake (RFC 6455 section 4) on both sides: the
// HTTP head is parsed by Beast's parser, bounded in size and time; the
// checks, the subprotocol choice and the answers are ours.

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cctype>
#include <random>
#include <string>

#include "stampede/runtime/log.hpp"
#include "websocket_frame.hpp"
#include "websocket_request.hpp"
#include "websocket_stream.hpp"

namespace stampede::transport {

namespace {

namespace http = boost::beast::http;
using runtime::result;
using ws::for_each_token;
using ws::iequals;
using ws::trim;
using ws::view;

constexpr std::string_view ws_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// How long a refused client is given to read our answer and close before
// we close under it.
constexpr auto refusal_linger = std::chrono::seconds(1);

std::string base64(const unsigned char* data, std::size_t size) {
    std::string out(4 * ((size + 2) / 3), '\0');
    const int n =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

// Sec-WebSocket-Accept: base64(SHA-1(key + GUID)).
std::string accept_key(std::string_view key) {
    std::string input(key);
    input.append(ws_guid);
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    if (EVP_Digest(input.data(), input.size(), digest.data(), &size, EVP_sha1(), nullptr) != 1) {
        return {};
    }
    return base64(digest.data(), size);
}

std::string make_key() {
    std::array<unsigned char, 16> nonce{};
    if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) {
        std::random_device seed;
        for (auto& b : nonce) {
            b = static_cast<unsigned char>(seed());
        }
    }
    return base64(nonce.data(), nonce.size());
}

// Reads an HTTP head (request or response) from `inner` into `parser`:
// at most `limit` bytes of it, all before `deadline`. Returns what the peer
// sent behind it (its first frames); request_too_large past the limit,
// bad_request when the head does not parse or carries a body.
template <bool is_request>
result<std::vector<char>> read_head(stream& inner, http::basic_parser<is_request>& parser,
                                    std::size_t limit, runtime::time_point deadline) {
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(limit, UINT32_MAX)));
    parser.eager(false);
    std::string input;  // not parsed yet
    std::size_t parsed = 0;
    for (;;) {
        auto in = inner.receive(deadline);
        if (!in) {
            return in.error();
        }
        input.append(in->data(), in->size());
        inner.release_input();
        boost::system::error_code ec;
        // The parser may take a part (the start line) before the head is
        // complete: what it took is not offered again.
        const std::size_t used = parser.put(boost::asio::buffer(input), ec);
        input.erase(0, used);
        parsed += used;
        if (ec == http::error::need_more) {
            if (parsed + input.size() > limit) {
                return websocket_errc::request_too_large;
            }
            continue;
        }
        if (ec == http::error::header_limit) {
            return websocket_errc::request_too_large;
        }
        if (ec || !parser.is_header_done()) {
            return websocket_errc::bad_request;
        }
        if (parser.chunked() || parser.content_length().value_or(0) != 0) {
            return websocket_errc::bad_request;  // an upgrade has no body
        }
        return std::vector<char>(input.begin(), input.end());
    }
}

result<void> write_all(stream& inner, std::string_view bytes, runtime::time_point deadline) {
    iovec part{const_cast<char*>(bytes.data()), bytes.size()};
    const auto size = static_cast<std::uint32_t>(bytes.size());
    return inner.write_messages({&part, 1}, {&size, 1}, deadline);
}

// ---- the server side ----

std::string switching_protocols(std::string_view key, std::string_view subprotocol) {
    std::string out =
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Server: stampede\r\n"
        "Sec-WebSocket-Accept: ";
    out += accept_key(key);
    out += "\r\n";
    if (!subprotocol.empty()) {
        out += "Sec-WebSocket-Protocol: ";
        out += subprotocol;
        out += "\r\n";
    }
    out += "\r\n";
    return out;
}

std::string refusal_response(websocket_errc why) {
    std::string_view status = "400 Bad Request";
    std::string_view body = "not a WebSocket upgrade request\n";
    std::string_view extra;
    switch (why) {
        case websocket_errc::wrong_path:
            status = "404 Not Found";
            body = "no WebSocket endpoint at this path\n";
            break;
        case websocket_errc::origin_refused:
            status = "403 Forbidden";
            body = "origin not allowed\n";
            break;
        case websocket_errc::request_too_large:
            status = "431 Request Header Fields Too Large";
            body = "upgrade request too large\n";
            break;
        case websocket_errc::unsupported_version:
            status = "426 Upgrade Required";
            body = "WebSocket version 13 only\n";
            extra = "Sec-WebSocket-Version: 13\r\n";
            break;
        default:
            break;
    }
    std::string out = "HTTP/1.1 ";
    out += status;
    out += "\r\nServer: stampede\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ";
    out += std::to_string(body.size());
    out += "\r\nConnection: close\r\n";
    out += extra;
    out += "\r\n";
    out += body;
    return out;
}

// Answers a refused request, gives the client a moment to read the answer
// and close (closing first could reset the connection under the answer),
// then closes.
void refuse(std::unique_ptr<stream> inner, websocket_errc why, runtime::time_point deadline) {
    (void)write_all(*inner, refusal_response(why), deadline);
    inner->shutdown_send(close_reason::policy);
    const runtime::time_point until = std::min(deadline, runtime::deadline_after(refusal_linger));
    while (inner->receive(until)) {
    }
    inner->close();
}

}  // namespace

result<std::unique_ptr<websocket_stream>> websocket_accept(std::unique_ptr<stream> inner,
                                                           const websocket_options& options,
                                                           runtime::time_point deadline) {
    http::request_parser<http::empty_body> parser;
    auto early = read_head(*inner, parser, options.max_request_bytes, deadline);
    if (!early) {
        if (early.error().category() == websocket_category()) {
            refuse(std::move(inner), static_cast<websocket_errc>(early.error().value()), deadline);
        } else {
            inner->close();  // too slow, or gone: nobody to answer
        }
        return early.error();
    }
    const auto& req = parser.get();
    ws::request_verdict v = ws::judge_request(req, options);
    if (v.refusal != websocket_errc{}) {
        refuse(std::move(inner), v.refusal, deadline);
        return v.refusal;
    }
    const std::string answer =
        switching_protocols(view(req[http::field::sec_websocket_key]), v.subprotocol);
    if (auto sent = write_all(*inner, answer, deadline); !sent) {
        inner->close();
        return sent.error();
    }
    ws::stream_settings settings;
    settings.side = ws::role::server;
    settings.max_message_bytes = options.max_message_bytes;
    settings.always_binary = options.always_binary;
    settings.subprotocol = std::move(v.subprotocol);
    settings.origin = std::move(v.origin);
    return ws::make_stream(std::move(inner), std::move(settings), std::move(*early));
}

// ---- the client side ----

namespace {

std::string upgrade_request(const websocket_client_options& options, std::string_view key) {
    std::string out = "GET " + options.path + " HTTP/1.1\r\nHost: " + options.host +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
    out += key;
    out += "\r\nSec-WebSocket-Version: 13\r\n";
    if (!options.subprotocols.empty()) {
        out += "Sec-WebSocket-Protocol: ";
        for (std::size_t i = 0; i < options.subprotocols.size(); ++i) {
            out += i == 0 ? "" : ", ";
            out += options.subprotocols[i];
        }
        out += "\r\n";
    }
    if (!options.origin.empty()) {
        out += "Origin: " + options.origin + "\r\n";
    }
    out += "\r\n";
    return out;
}

// Checks a server's answer to our upgrade request (RFC 6455 4.1, the
// client's side): 101, the accept key of our key, no extension (we offered
// none) and at most one subprotocol, one we offered. Returns the subprotocol.
result<std::string> check_answer(const http::response<http::empty_body>& res,
                                 const websocket_client_options& options, std::string_view key) {
    if (res.result() != http::status::switching_protocols) {
        return websocket_errc::handshake_refused;
    }
    bool upgrade = false;
    for_each_token(res, http::field::upgrade,
                   [&](std::string_view t) { upgrade = upgrade || iequals(t, "websocket"); });
    bool connection = false;
    for_each_token(res, http::field::connection,
                   [&](std::string_view t) { connection = connection || iequals(t, "upgrade"); });
    if (!upgrade || !connection ||
        view(res[http::field::sec_websocket_accept]) != accept_key(key) ||
        res.count(http::field::sec_websocket_extensions) != 0 ||
        res.count(http::field::sec_websocket_protocol) > 1) {
        return websocket_errc::bad_handshake_response;
    }
    std::string chosen(trim(view(res[http::field::sec_websocket_protocol])));
    if (!chosen.empty() && std::find(options.subprotocols.begin(), options.subprotocols.end(),
                                     chosen) == options.subprotocols.end()) {
        return websocket_errc::bad_handshake_response;
    }
    return chosen;
}

}  // namespace

result<std::unique_ptr<websocket_stream>> websocket_connect(std::unique_ptr<stream> inner,
                                                            const websocket_client_options& options,
                                                            runtime::time_point deadline) {
    const std::string key = make_key();
    if (auto sent = write_all(*inner, upgrade_request(options, key), deadline); !sent) {
        return sent.error();
    }
    http::response_parser<http::empty_body> parser;
    auto early = read_head(*inner, parser, options.max_response_bytes, deadline);
    if (!early) {
        if (early.error() == websocket_errc::bad_request) {
            return websocket_errc::bad_handshake_response;
        }
        return early.error();
    }
    auto chosen = check_answer(parser.get(), options, key);
    if (!chosen) {
        inner->close();
        return chosen.error();
    }
    ws::stream_settings settings;
    settings.side = ws::role::client;
    settings.max_message_bytes = options.max_message_bytes;
    settings.always_binary = options.always_binary;
    settings.subprotocol = std::move(*chosen);
    return ws::make_stream(std::move(inner), std::move(settings), std::move(*early));
}

// ---- names and codes ----

namespace {

class category final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "stampede.websocket"; }

    std::string message(int value) const override {
        switch (static_cast<websocket_errc>(value)) {
            case websocket_errc::bad_request:
                return "not a valid WebSocket upgrade request";
            case websocket_errc::wrong_path:
                return "no WebSocket endpoint at the requested path";
            case websocket_errc::origin_refused:
                return "origin not allowed";
            case websocket_errc::request_too_large:
                return "upgrade request too large";
            case websocket_errc::unsupported_version:
                return "unsupported WebSocket version";
            case websocket_errc::handshake_refused:
                return "the server refused the WebSocket upgrade";
            case websocket_errc::bad_handshake_response:
                return "invalid WebSocket upgrade response";
            case websocket_errc::protocol_error:
                return "WebSocket protocol error";
            case websocket_errc::invalid_utf8:
                return "text message is not valid UTF-8";
            case websocket_errc::message_too_big:
                return "WebSocket message too big";
            case websocket_errc::closed:
                return "WebSocket closed";
        }
        return "unknown WebSocket error";
    }
};

}  // namespace

const boost::system::error_category& websocket_category() noexcept {
    static const category instance;
    return instance;
}

std::uint16_t close_code(close_reason why) noexcept {
    switch (why) {
        case close_reason::normal:
            return 1000;
        case close_reason::going_away:
            return 1001;
        case close_reason::protocol_error:
            return 1002;
        case close_reason::bad_data:
            return 1007;
        case close_reason::policy:
            return 1008;
        case close_reason::too_big:
            return 1009;
    }
    return 1000;
}

std::string_view stomp_version_of(std::string_view subprotocol) noexcept {
    if (subprotocol == "v12.stomp") {
        return "1.2";
    }
    if (subprotocol == "v11.stomp") {
        return "1.1";
    }
    if (subprotocol == "v10.stomp") {
        return "1.0";
    }
    return {};
}

}  // namespace stampede::transport
