#include "connection_limits.hpp"

namespace stampede::broker {

protocol::limits parser_limits_before_connect(const config& cfg) noexcept {
    protocol::limits l;
    l.max_command_line = cfg.limits.max_command_line;
    l.max_headers = std::min(cfg.limits.max_headers, cfg.limits.max_headers_before_connect);
    l.max_header_line =
        std::min(cfg.limits.max_header_line, cfg.limits.max_header_line_before_connect);
    l.max_frame = cfg.limits.max_frame_before_connect;
    l.strict = cfg.strict;
    return l;
}

protocol::limits parser_limits_connected(const config& cfg) noexcept {
    protocol::limits l;
    l.max_command_line = cfg.limits.max_command_line;
    l.max_headers = cfg.limits.max_headers;
    l.max_header_line = cfg.limits.max_header_line;
    l.max_frame = cfg.limits.max_frame;
    l.strict = cfg.strict;
    return l;
}

std::string limit_broken(protocol::errc e, const config& cfg, bool connected) {
    const auto& l = cfg.limits;
    const protocol::limits before = parser_limits_before_connect(cfg);
    switch (e) {
        case protocol::errc::frame_too_large:
            return connected ? "a frame may be at most " + std::to_string(l.max_frame) +
                                   " bytes (limits.max_frame)"
                             : "before CONNECT succeeds a frame may be at most " +
                                   std::to_string(before.max_frame) +
                                   " bytes (limits.max_frame_before_connect)";
        case protocol::errc::command_too_long:
            return "a command line may be at most " + std::to_string(l.max_command_line) +
                   " bytes (limits.max_command_line)";
        case protocol::errc::header_line_too_long:
            return connected ? "a header line may be at most " + std::to_string(l.max_header_line) +
                                   " bytes (limits.max_header_line)"
                             : "before CONNECT succeeds a header line may be at most " +
                                   std::to_string(before.max_header_line) +
                                   " bytes (limits.max_header_line_before_connect)";
        case protocol::errc::too_many_headers:
            return connected ? "a frame may have at most " + std::to_string(l.max_headers) +
                                   " headers (limits.max_headers)"
                             : "before CONNECT succeeds a frame may have at most " +
                                   std::to_string(before.max_headers) +
                                   " headers (limits.max_headers_before_connect)";
        default:
            return {};
    }
}

void connection_limiter::lock() noexcept {
    while (busy_.test_and_set(std::memory_order_acquire)) {
        // Held for a hash-map update at most: spin.
    }
}

connection_limiter::verdict connection_limiter::on_open(const std::string& ip) {
    if (open_.fetch_add(1, std::memory_order_relaxed) >= max_connections_) {
        open_.fetch_sub(1, std::memory_order_relaxed);
        return verdict::too_many_connections;
    }
    lock();
    std::size_t& count = unauthenticated_[ip];
    const bool admitted = count < max_unauthenticated_;
    if (admitted) {
        ++count;
    } else if (count == 0) {
        unauthenticated_.erase(ip);
    }
    unlock();
    if (!admitted) {
        open_.fetch_sub(1, std::memory_order_relaxed);
        return verdict::too_many_unauthenticated;
    }
    return verdict::admitted;
}

void connection_limiter::forget_unauthenticated(const std::string& ip) noexcept {
    const auto it = unauthenticated_.find(ip);
    if (it != unauthenticated_.end() && --it->second == 0) {
        unauthenticated_.erase(it);
    }
}

void connection_limiter::on_authenticated(const std::string& ip) {
    lock();
    forget_unauthenticated(ip);
    unlock();
}

void connection_limiter::on_close(const std::string& ip, bool unauthenticated) {
    if (unauthenticated) {
        lock();
        forget_unauthenticated(ip);
        unlock();
    }
    open_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace stampede::broker
