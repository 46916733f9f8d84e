#include "admin_http.hpp"

#include <array>
#include <boost/asio/buffer.hpp>
#include <charconv>

namespace stampede::broker::admin_http {

namespace http = boost::beast::http;

void prepare(request_parser& parser) {
    parser.header_limit(static_cast<std::uint32_t>(max_request_head));
    parser.body_limit(0);
}

feed_status feed(std::string& input, request_parser& parser, boost::beast::error_code& ec) {
    // Beast's parser may use only part of what it is given (a header line
    // split across reads), so loop while it makes progress.
    while (!input.empty() && !parser.is_done()) {
        const std::size_t used = parser.put(boost::asio::buffer(input), ec);
        input.erase(0, used);
        if (ec == http::error::need_more) {
            ec = {};
            return feed_status::need_more;
        }
        if (ec) {
            return feed_status::error;
        }
        if (parser.is_header_done() && !parser.is_done()) {
            // A body follows (chunked, or a Content-Length): the endpoint
            // serves GET only, and its bytes never reach Beast's body
            // parsers. Found by admin_http_fuzz: Beast's chunk parser, fed
            // a final chunk a few bytes at a time, fails an assertion
            // (basic_parser.ipp, parse_chunk_header: n >= 5), which release
            // builds compile out.
            ec = http::error::unexpected_body;
            return feed_status::error;
        }
        if (used == 0) {
            break;
        }
    }
    return parser.is_done() ? feed_status::done : feed_status::need_more;
}

namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

// The value of a base64 digit, or -1.
int digit(char c) noexcept {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        std::array<int, 4> d{};
        std::size_t pad = 0;
        for (std::size_t k = 0; k < 4; ++k) {
            const char c = text[i + k];
            if (c == '=' && last && k >= 2) {
                ++pad;
                d[k] = 0;
                continue;
            }
            d[k] = pad > 0 ? -1 : digit(c);  // nothing but '=' after a '='
            if (d[k] < 0) {
                return std::nullopt;
            }
        }
        const unsigned bits = (unsigned(d[0]) << 18) | (unsigned(d[1]) << 12) |
                              (unsigned(d[2]) << 6) | unsigned(d[3]);
        // The bits a padded group leaves over must be zero (canonical form).
        if ((pad == 1 && (bits & 0xFF) != 0) || (pad == 2 && (bits & 0xFFFF) != 0)) {
            return std::nullopt;
        }
        out.push_back(static_cast<char>(bits >> 16));
        if (pad < 2) {
            out.push_back(static_cast<char>((bits >> 8) & 0xFF));
        }
        if (pad < 1) {
            out.push_back(static_cast<char>(bits & 0xFF));
        }
    }
    return out;
}

credentials parse_authorization(std::string_view header) {
    credentials c;
    header = trim(header);
    if (header.empty()) {
        return c;
    }
    c.type = credentials::kind::malformed;
    const std::size_t space = header.find(' ');
    if (space == std::string_view::npos) {
        return c;
    }
    const std::string_view scheme = header.substr(0, space);
    const std::string_view rest = trim(header.substr(space + 1));
    if (rest.empty()) {
        return c;
    }
    if (iequals(scheme, "Bearer")) {
        c.type = credentials::kind::bearer;
        c.token = std::string(rest);
    } else if (iequals(scheme, "Basic")) {
        auto decoded = decode_base64(rest);
        const std::size_t colon = decoded ? decoded->find(':') : std::string::npos;
        if (colon == std::string::npos) {
            return c;
        }
        c.type = credentials::kind::basic;
        c.user = decoded->substr(0, colon);
        c.password = decoded->substr(colon + 1);
    }
    return c;
}

bool equal_constant_time(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    unsigned char diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    }
    return diff == 0;
}

std::optional<std::string_view> query_value(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        if (pair.substr(0, eq) == name) {
            return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
        }
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    }
    return std::nullopt;
}

std::optional<std::size_t> query_number(std::string_view query, std::string_view name,
                                        std::size_t fallback) {
    const auto value = query_value(query, name);
    if (!value) {
        return fallback;
    }
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
    if (ec != std::errc{} || end != value->data() + value->size()) {
        return std::nullopt;
    }
    return n;
}

}  // namespace stampede::broker::admin_http
