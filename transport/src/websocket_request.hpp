#pragma once

// The server's checks of a WebSocket upgrade request (RFC 6455 4.2.1) and
// the header helpers both sides use: pure functions over a parsed request,
// apart from the handshake's I/O so that tests/fuzz/websocket_fuzz.cpp can
// fuzz them without the runtime.

#include <algorithm>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <cctype>
#include <string>
#include <string_view>

#include "stampede/transport/websocket.hpp"

namespace stampede::transport::ws {

namespace http = boost::beast::http;

inline std::string_view view(boost::beast::string_view s) noexcept {
    return {s.data(), s.size()};
}

inline bool iequals(std::string_view a, std::string_view b) noexcept {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) ==
               std::tolower(static_cast<unsigned char>(y));
    });
}

inline std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

// Calls `fn` on each comma-separated token of every `field` header.
template <class Fields, class Fn>
void for_each_token(const Fields& fields, http::field field, Fn fn) {
    auto [it, end] = fields.equal_range(field);
    for (; it != end; ++it) {
        std::string_view list = view(it->value());
        while (!list.empty()) {
            const auto comma = list.find(',');
            const std::string_view token = trim(list.substr(0, comma));
            if (!token.empty()) {
                fn(token);
            }
            list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        }
    }
}

// A Sec-WebSocket-Key must be the base64 of 16 bytes: 22 characters and "==".
inline bool valid_key(std::string_view key) noexcept {
    if (key.size() != 24 || key.substr(22) != "==") {
        return false;
    }
    return std::all_of(key.begin(), key.begin() + 22, [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '/';
    });
}

/// What the server makes of an upgrade request.
struct request_verdict {
    websocket_errc refusal{};  ///< zero: accepted
    std::string subprotocol;   ///< the STOMP subprotocol chosen, or empty
    std::string origin;        ///< the request's Origin, or empty
};

/// Checks an upgrade request against a listener's options: an upgrade with
/// Host and a valid key (else bad_request), version 13, the listener's path,
/// an allowed Origin; picks the highest STOMP subprotocol offered.
request_verdict judge_request(const http::request<http::empty_body>& req,
                              const websocket_options& options);

}  // namespace stampede::transport::ws
