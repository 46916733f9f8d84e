#pragma once

// Limits that hold before a session exists or across sessions: the parser's
// limits before and after CONNECT, their names for ERROR frames, and the caps
// on connections (broker-wide, and unauthenticated ones per IP).

#include <atomic>
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

#include "stampede/broker/config.hpp"
#include "stampede/protocol/errc.hpp"
#include "stampede/protocol/limits.hpp"

namespace stampede::broker {

/// The parser's limits until CONNECT has succeeded (tighter) and after.
protocol::limits parser_limits_before_connect(const config& cfg) noexcept;
protocol::limits parser_limits_connected(const config& cfg) noexcept;

/// The limit a parse error broke, named as the configuration names it, so the
/// ERROR tells the user which setting to look at; empty if not a limit.
std::string limit_broken(protocol::errc e, const config& cfg, bool connected);

/// Counts connections broker-wide and unauthenticated ones per IP. Any
/// thread; every operation is a few instructions under a spin lock that is
/// never held across anything that blocks.
class connection_limiter {
  public:
    enum class verdict { admitted, too_many_connections, too_many_unauthenticated };

    connection_limiter(std::size_t max_connections, std::size_t max_unauthenticated_per_ip)
        : max_connections_(max_connections), max_unauthenticated_(max_unauthenticated_per_ip) {}

    /// A new connection from `ip`; counted only if admitted.
    verdict on_open(const std::string& ip);
    /// Its CONNECT succeeded: it no longer counts as unauthenticated.
    void on_authenticated(const std::string& ip);
    /// It ended (`unauthenticated`: before CONNECT succeeded).
    void on_close(const std::string& ip, bool unauthenticated);

    std::size_t open() const noexcept { return open_.load(std::memory_order_relaxed); }
    std::size_t max_connections() const noexcept { return max_connections_; }
    std::size_t max_unauthenticated() const noexcept { return max_unauthenticated_; }

  private:
    void lock() noexcept;
    void unlock() noexcept { busy_.clear(std::memory_order_release); }
    void forget_unauthenticated(const std::string& ip) noexcept;

    const std::size_t max_connections_;
    const std::size_t max_unauthenticated_;
    std::atomic<std::size_t> open_{0};
    std::atomic_flag busy_ = ATOMIC_FLAG_INIT;
    std::unordered_map<std::string, std::size_t> unauthenticated_;
};

}  // namespace stampede::broker
