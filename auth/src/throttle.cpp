#include "stampede/auth/throttle.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace stampede::auth {

std::string throttle_key(std::string_view peer_address) {
    if (!peer_address.empty() && peer_address.front() == '[') {
        const auto close = peer_address.find(']');
        const std::string host(peer_address.substr(
            1, close == std::string_view::npos ? std::string_view::npos : close - 1));
        in6_addr address{};
        if (::inet_pton(AF_INET6, host.c_str(), &address) != 1) {
            return host;
        }
        if (IN6_IS_ADDR_V4MAPPED(&address)) {
            char v4[INET_ADDRSTRLEN];
            ::inet_ntop(AF_INET, &address.s6_addr[12], v4, sizeof v4);
            return v4;
        }
        std::memset(&address.s6_addr[8], 0, 8);
        char text[INET6_ADDRSTRLEN];
        ::inet_ntop(AF_INET6, &address, text, sizeof text);
        return std::string(text) + "/64";
    }
    const auto colon = peer_address.rfind(':');
    return std::string(peer_address.substr(0, colon));
}

login_throttle::login_throttle(throttle_options options, clock_fn now)
    : options_(options), now_(std::move(now)) {}

bool login_throttle::admit(std::string_view peer) {
    const std::string key = throttle_key(peer);
    const time_point now = now_();
    const std::lock_guard lock(mutex_);
    const auto found = addresses_.find(key);
    if (found == addresses_.end() || found->second.blocked_until <= now) {
        return true;
    }
    ++refused_;
    return false;
}

bool login_throttle::blocked(std::string_view peer) const {
    const std::string key = throttle_key(peer);
    const time_point now = now_();
    const std::lock_guard lock(mutex_);
    const auto found = addresses_.find(key);
    return found != addresses_.end() && found->second.blocked_until > now;
}

login_throttle::time_point login_throttle::record_failure(std::string_view peer) {
    const std::string key = throttle_key(peer);
    const time_point now = now_();
    const std::lock_guard lock(mutex_);
    ++failures_;
    address_state& s = state_for(key, now);
    while (!s.failures.empty() && now - s.failures.front() >= options_.window) {
        s.failures.pop_front();
    }
    s.failures.push_back(now);
    if (s.failures.size() > options_.max_failures) {
        s.blocked_until = now + options_.block;
        s.failures.clear();
        ++blocks_;
    }
    return now + options_.failure_delay;
}

// The state of `key`, made most recently used; a new address may first make
// room: stale addresses go, then the least recently failed.
login_throttle::address_state& login_throttle::state_for(const std::string& key, time_point now) {
    if (const auto found = addresses_.find(key); found != addresses_.end()) {
        order_.splice(order_.begin(), order_, found->second.order);
        return found->second;
    }
    if (addresses_.size() >= options_.max_tracked) {
        forget_stale(now);
    }
    while (!addresses_.empty() && addresses_.size() >= options_.max_tracked) {
        addresses_.erase(order_.back());
        order_.pop_back();
    }
    order_.push_front(key);
    address_state& s = addresses_[key];
    s.order = order_.begin();
    return s;
}

// Forgets addresses neither blocked nor with a failure inside the window;
// they are at the cold end of the order, so the walk stops at the first live one.
void login_throttle::forget_stale(time_point now) {
    while (!order_.empty()) {
        const auto found = addresses_.find(order_.back());
        const address_state& s = found->second;
        const bool live = s.blocked_until > now ||
                          (!s.failures.empty() && now - s.failures.back() < options_.window);
        if (live) {
            return;
        }
        addresses_.erase(found);
        order_.pop_back();
    }
}

login_throttle::statistics login_throttle::stats() const {
    const std::lock_guard lock(mutex_);
    return {failures_, refused_, blocks_, addresses_.size()};
}

}  // namespace stampede::auth
