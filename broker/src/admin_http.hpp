#pragma once

// The admin endpoint's own HTTP handling, pure functions over bytes (no I/O,
// no runtime): feeding a request to Beast's parser with pipelining, reading
// the Authorization header (Bearer, Basic), and query strings. Beast parses
// the HTTP; everything here is ours, and tests/fuzz/admin_http_fuzz.cpp
// fuzzes it.

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace stampede::broker::admin_http {

using request_parser = boost::beast::http::request_parser<boost::beast::http::empty_body>;

/// The longest request head the endpoint reads.
inline constexpr std::size_t max_request_head = 16 * 1024;

/// A parser set up for one admin request (head limit, no body).
void prepare(request_parser& parser);

enum class feed_status { done, need_more, error };

/// Feeds the bytes of `input` to `parser`, erasing what it used (bytes past
/// the request stay in `input`: the next, pipelined, request). done: the
/// request is complete; need_more: read more; error: `ec` says why (a
/// request with a body is an error: unexpected_body, before any of it is read).
feed_status feed(std::string& input, request_parser& parser, boost::beast::error_code& ec);

/// What an Authorization header holds.
struct credentials {
    enum class kind { none, bearer, basic, malformed };
    kind type = kind::none;
    std::string token;     ///< bearer
    std::string user;      ///< basic: before the first ':'
    std::string password;  ///< basic: the rest
};

/// Reads an Authorization header value (RFC 9110 11.6.2): `Bearer TOKEN`
/// (RFC 6750) or `Basic BASE64(user:password)` (RFC 7617), the scheme in any
/// case. Empty: none. Anything else (another scheme, bad base64, no ':'):
/// malformed.
credentials parse_authorization(std::string_view header);

/// Strict base64 (RFC 4648 section 4, with padding); nullopt if not.
std::optional<std::string> decode_base64(std::string_view text);

/// Whether `a` and `b` are equal, in time that depends on their lengths only.
bool equal_constant_time(std::string_view a, std::string_view b) noexcept;

/// The value of `name` in a query string (`a=1&b=2`), if present.
std::optional<std::string_view> query_value(std::string_view query, std::string_view name);

/// The decimal value of `name`, `fallback` when absent, nullopt when not a number.
std::optional<std::size_t> query_number(std::string_view query, std::string_view name,
                                        std::size_t fallback);

}  // namespace stampede::broker::admin_http
