// libFuzzer target for the admin endpoint's request handling
// (broker/src/admin_http.cpp): requests fed to Beast's parser the way the
// connection loop does (pipelining, reads cut anywhere), the Authorization
// header (Bearer, Basic and its base64), and query strings.
//
// The input is the bytes a client sends. Beyond not crashing (ASan, UBSan):
// - the requests are the same whether
//   the input arrives whole, in two reads cut at a point derived from the
//   input, or (short inputs) byte by byte (Beast may refuse a malformed
//   head that is still incomplete sooner when it arrives in pieces: found
//   by this target; the head is refused either way once it is complete);
// - a Basic header parse_authorization accepts decodes to user:password that,
//   encoded again, gives the same text: decode_base64 takes only canonical
//   base64, and the user holds no ':';
// - decode_base64 accepts what its own round trip gives back, and nothing of
//   a length that is not a multiple of 4;
// - query_number returns numbers that print back as the query's text
//   (leading zeros aside).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "admin_http.hpp"

namespace {

namespace http = boost::beast::http;
using namespace stampede::broker::admin_http;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "admin_http_fuzz invariant violated: %s\n", what);
    std::abort();
}

void check(bool ok, const char* what) {
    if (!ok) {
        fail(what);
    }
}

std::string encode_base64(std::string_view in) {
    static constexpr char digits[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const unsigned v = (unsigned(std::uint8_t(in[i])) << 16) |
                           (unsigned(std::uint8_t(in[i + 1])) << 8) | std::uint8_t(in[i + 2]);
        out += {digits[v >> 18], digits[(v >> 12) & 63], digits[(v >> 6) & 63], digits[v & 63]};
    }
    if (in.size() - i == 1) {
        const unsigned v = unsigned(std::uint8_t(in[i])) << 16;
        out += {digits[v >> 18], digits[(v >> 12) & 63], '=', '='};
    } else if (in.size() - i == 2) {
        const unsigned v =
            (unsigned(std::uint8_t(in[i])) << 16) | (unsigned(std::uint8_t(in[i + 1])) << 8);
        out += {digits[v >> 18], digits[(v >> 12) & 63], digits[(v >> 6) & 63], '='};
    }
    return out;
}

/// One request as the connection loop sees it.
struct seen {
    std::string method, target, authorization;
    bool keep_alive = false;
    bool operator==(const seen&) const = default;
};

struct outcome {
    std::vector<seen> requests;
    bool error = false;
    bool operator==(const outcome&) const = default;
};

void check_credentials(std::string_view header) {
    const credentials c = parse_authorization(header);
    if (c.type == credentials::kind::basic) {
        check(c.user.find(':') == std::string::npos, "a Basic user holds ':'");
        const std::string again = "Basic " + encode_base64(c.user + ":" + c.password);
        const credentials back = parse_authorization(again);
        check(back.type == credentials::kind::basic && back.user == c.user &&
                  back.password == c.password,
              "Basic credentials do not survive encoding again");
    } else if (c.type == credentials::kind::bearer) {
        check(!c.token.empty(), "an empty bearer token");
    }
}

void check_query(std::string_view target) {
    const auto question = target.find('?');
    if (question == std::string_view::npos) {
        return;
    }
    const std::string_view query = target.substr(question + 1);
    for (const std::string_view name : {"offset", "limit"}) {
        const auto n = query_number(query, name, 7);
        const auto text = query_value(query, name);
        if (!text) {
            check(n == 7u, "query_number did not fall back");
        } else if (n) {
            std::string_view digits = *text;
            while (digits.size() > 1 && digits.front() == '0') {
                digits.remove_prefix(1);
            }
            check(std::to_string(*n) == digits, "query_number differs from its text");
        }
    }
}

/// Feeds `stream` in reads ending at `cuts`, as serve_connection does.
outcome run(std::string_view stream, const std::vector<std::size_t>& cuts) {
    outcome out;
    std::string input;
    std::size_t received = 0;
    auto parser = std::make_unique<request_parser>();
    prepare(*parser);
    for (const std::size_t cut : cuts) {
        input.append(stream.substr(received, cut - received));
        received = cut;
        for (;;) {
            boost::beast::error_code ec;
            const feed_status status = feed(input, *parser, ec);
            if (status == feed_status::error) {
                check(static_cast<bool>(ec), "an error without a code");
                out.error = true;
                return out;
            }
            if (status == feed_status::need_more) {
                break;
            }
            const auto& req = parser->get();
            const auto auth = req[http::field::authorization];
            out.requests.push_back({std::string(req.method_string()), std::string(req.target()),
                                    std::string(auth.data(), auth.size()), req.keep_alive()});
            parser = std::make_unique<request_parser>();
            prepare(*parser);
        }
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    const std::size_t n = bytes.size();

    // The bytes as a header value and as base64, whatever the HTTP around them.
    check_credentials(bytes);
    if (const auto decoded = decode_base64(bytes)) {
        check(n % 4 == 0, "decoded base64 of a length not a multiple of 4");
        check(encode_base64(*decoded) == bytes, "decode_base64 took non-canonical base64");
    }

    const outcome whole = run(bytes, {n});
    const std::size_t k = n == 0 ? 0 : (static_cast<std::size_t>(data[0]) * 131 + n * 7) % (n + 1);
    const outcome split = run(bytes, {k, n});
    check(split.requests == whole.requests, "a split read gave other requests");
    if (n <= 1024) {
        std::vector<std::size_t> cuts;
        for (std::size_t i = 1; i <= n; ++i) {
            cuts.push_back(i);
        }
        const outcome bytewise = run(bytes, cuts);
        check(bytewise.requests == whole.requests, "byte-by-byte reads gave other requests");
    }
    for (const seen& r : whole.requests) {
        check_credentials(r.authorization);
        check_query(r.target);
    }
    return 0;
}
