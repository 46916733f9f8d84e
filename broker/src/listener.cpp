#include "listener.hpp"

#include <stdexcept>

namespace stampede::broker {

transport::tls_server_options tls_options_of(const listener_tls_config& tls) {
    transport::tls_server_options options;
    options.cert = tls.certificate;
    options.key = tls.private_key;
    options.ca = tls.ca;
    switch (tls.verify_client) {
        case client_verification::none:
            options.verify = transport::verify_client::none;
            break;
        case client_verification::optional:
            options.verify = transport::verify_client::optional;
            break;
        case client_verification::required:
            options.verify = transport::verify_client::required;
            break;
    }
    return options;
}

listener_state::listener_state(listener_config cfg) : cfg_(std::move(cfg)) {
    if (cfg_.tls) {
        try {
            tls_ = std::make_unique<transport::tls_context_slot>(
                transport::tls_context::server(tls_options_of(*cfg_.tls)));
        } catch (const transport::tls_config_error& e) {
            throw std::runtime_error("listener '" + cfg_.name + "': " + e.what());
        }
    }
    if (cfg_.websocket) {
        const auto& w = *cfg_.websocket;
        ws_.path = w.path;
        bool any = false;
        for (const auto& origin : w.allowed_origins) {
            any = any || origin == "*";
        }
        if (!any) {
            ws_.allowed_origins = w.allowed_origins;
        }
        ws_.require_origin = w.require_origin;
        ws_.max_request_bytes = w.max_request_bytes;
        ws_.max_message_bytes = w.max_message_bytes;
    }
}

bool listener_state::reload_tls(std::string& why) {
    if (!tls_) {
        return true;
    }
    try {
        tls_->reload(tls_options_of(*cfg_.tls));
        return true;
    } catch (const transport::tls_config_error& e) {
        why = e.what();
        return false;
    }
}

std::string_view listener_state::kind() const noexcept {
    if (cfg_.websocket) {
        return cfg_.tls ? "wss" : "ws";
    }
    return cfg_.tls ? "tls" : "tcp";
}

std::string listener_state::describe() const {
    std::string text = "listener '" + cfg_.name + "' (" + std::string(kind());
    if (cfg_.websocket) {
        text += " " + cfg_.websocket->path;
    }
    text += ") on " + bound.to_string();
    if (auto context = tls()) {
        text += ": " + context->description();
    }
    return text;
}

}  // namespace stampede::broker
