#include "websocket_request.hpp"

#include <algorithm>
#include <boost/beast/websocket/rfc6455.hpp>

namespace stampede::transport::ws {

namespace {

bool origin_allowed(const websocket_options& options, std::string_view origin) {
    if (origin.empty()) {
        return !options.require_origin;
    }
    if (!options.allowed_origins) {
        return true;
    }
    return std::any_of(options.allowed_origins->begin(), options.allowed_origins->end(),
                       [&](const std::string& allowed) { return iequals(allowed, origin); });
}

// The highest STOMP subprotocol the client offered, or empty.
std::string choose_subprotocol(const http::request<http::empty_body>& req) {
    std::size_t best = std::size(stomp_subprotocols);
    for_each_token(req, http::field::sec_websocket_protocol, [&](std::string_view offered) {
        for (std::size_t i = 0; i < best; ++i) {
            if (offered == stomp_subprotocols[i]) {
                best = i;
                break;
            }
        }
    });
    return best < std::size(stomp_subprotocols) ? std::string(stomp_subprotocols[best])
                                                : std::string();
}

}  // namespace

request_verdict judge_request(const http::request<http::empty_body>& req,
                              const websocket_options& options) {
    request_verdict v;
    if (!boost::beast::websocket::is_upgrade(req) || req.count(http::field::host) == 0 ||
        !valid_key(view(req[http::field::sec_websocket_key]))) {
        v.refusal = websocket_errc::bad_request;
        return v;
    }
    if (view(req[http::field::sec_websocket_version]) != "13") {
        v.refusal = websocket_errc::unsupported_version;
        return v;
    }
    const std::string_view target = view(req.target());
    if (target.substr(0, target.find('?')) != options.path) {
        v.refusal = websocket_errc::wrong_path;
        return v;
    }
    v.origin = std::string(view(req[http::field::origin]));
    if (!origin_allowed(options, v.origin)) {
        v.refusal = websocket_errc::origin_refused;
        return v;
    }
    v.subprotocol = choose_subprotocol(req);
    return v;
}

}  // namespace stampede::transport::ws
