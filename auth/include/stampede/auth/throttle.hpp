#pragma once

// Failed logins per client address: a delay before each failure's ERROR,
// and an address with too many recent failures refused at once for a while.
// Pure logic over an injectable clock.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace stampede::auth {

struct throttle_options {
    unsigned max_failures = 5;                       ///< more than this many in `window` blocks
    std::chrono::milliseconds window{10'000};        ///< the sliding window failures count in
    std::chrono::milliseconds block{60'000};         ///< how long a blocked address is refused
    std::chrono::milliseconds failure_delay{1'000};  ///< before a failed login's ERROR
    std::size_t max_tracked = 65'536;  ///< addresses remembered (least recently failed go first)
};

/// The address a throttle counts by: the IP of "IP:port" or "[IPv6]:port",
/// and for IPv6 its /64 (one host usually holds a whole /64).
std::string throttle_key(std::string_view peer_address);

/// Counts failed logins per address. Thread-safe: each call holds an internal
/// mutex for a hash-map operation (no allocation but for a new address).
class login_throttle {
  public:
    using time_point = std::chrono::steady_clock::time_point;
    using clock_fn = std::function<time_point()>;

    explicit login_throttle(
        throttle_options options = {},
        clock_fn now = [] { return std::chrono::steady_clock::now(); });

    /// May a login from `peer` ("IP:port") be checked? False while its address is
    /// blocked: refuse at once, without verifying anything.
    bool admit(std::string_view peer);

    /// Counts a failed login from `peer`; returns when its ERROR may be sent
    /// (now + failure_delay). The failure that goes past max_failures within
    /// the window blocks the address for `block`.
    time_point record_failure(std::string_view peer);

    /// Whether `peer`'s address is blocked now (no counting).
    bool blocked(std::string_view peer) const;

    struct statistics {
        std::uint64_t failures = 0;  ///< failed logins counted
        std::uint64_t refused = 0;   ///< attempts refused by admit()
        std::uint64_t blocks = 0;    ///< times an address was blocked
        std::size_t tracked = 0;     ///< addresses remembered now
    };
    statistics stats() const;

    const throttle_options& options() const noexcept { return options_; }

  private:
    struct address_state {
        std::deque<time_point> failures;  // within the window, oldest first; at most max_failures
        time_point blocked_until{};
        std::list<std::string>::iterator order;
    };

    address_state& state_for(const std::string& key, time_point now);
    void forget_stale(time_point now);

    throttle_options options_;
    clock_fn now_;

    mutable std::mutex mutex_;
    std::unordered_map<std::string, address_state> addresses_;
    std::list<std::string> order_;  // most recently failed first
    std::uint64_t failures_ = 0;
    std::uint64_t refused_ = 0;
    std::uint64_t blocks_ = 0;
};

}  // namespace stampede::auth
