#pragma once

// Recent successful verifications, keyed by a keyed hash of login and
// passcode (BLAKE2b with a random key made at start-up): the cache holds no
// passcode and nothing an attacker could test guesses against offline.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace stampede::auth {

/// BLAKE2b-256 of (login, passcode) under the cache's secret key.
using cache_key = std::array<std::uint8_t, 32>;

/// A bounded LRU of recent successes, each valid for a time to live.
/// Thread-safe: each call holds an internal mutex for a hash-map operation.
class verification_cache {
  public:
    using time_point = std::chrono::steady_clock::time_point;
    using clock_fn = std::function<time_point()>;

    static time_point steady_now() { return std::chrono::steady_clock::now(); }

    verification_cache(std::size_t capacity, std::chrono::seconds ttl, clock_fn now = steady_now);

    /// The key of a pair (unambiguous: the login's length goes first).
    cache_key key_of(std::string_view login, std::string_view passcode) const noexcept;

    /// True when `key` was inserted under the current generation within the
    /// time to live (and refreshes its place in the LRU order).
    bool contains(const cache_key& key);

    /// Remembers a success verified under `generation`; ignored if the
    /// generation has moved on since (the users changed meanwhile).
    void insert(const cache_key& key, std::uint64_t generation);

    /// Forgets everything and starts a new generation; returns it.
    std::uint64_t clear();

    std::uint64_t generation() const;
    std::size_t size() const;

  private:
    struct key_hash {
        std::size_t operator()(const cache_key& k) const noexcept;
    };
    struct entry {
        time_point added;
        std::list<cache_key>::iterator order;
    };

    void evict_oldest() noexcept;

    std::size_t capacity_;
    std::chrono::seconds ttl_;
    clock_fn now_;
    std::array<std::uint8_t, 32> secret_{};

    mutable std::mutex mutex_;
    std::unordered_map<cache_key, entry, key_hash> entries_;
    std::list<cache_key> order_;  // most recently used first
    std::uint64_t generation_ = 1;
};

}  // namespace stampede::auth
