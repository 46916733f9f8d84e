#include "stampede/auth/verification_cache.hpp"

#include <sodium.h>

#include <cstring>

#include "stampede/auth/password.hpp"

namespace stampede::auth {

verification_cache::verification_cache(std::size_t capacity, std::chrono::seconds ttl, clock_fn now)
    : capacity_(capacity), ttl_(ttl), now_(std::move(now)) {
    init_sodium();
    ::randombytes_buf(secret_.data(), secret_.size());
    entries_.reserve(std::min<std::size_t>(capacity_, 1024));
}

cache_key verification_cache::key_of(std::string_view login,
                                     std::string_view passcode) const noexcept {
    crypto_generichash_state state;
    ::crypto_generichash_init(&state, secret_.data(), secret_.size(), sizeof(cache_key));
    const std::uint64_t login_size = login.size();
    ::crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(&login_size),
                                sizeof login_size);
    ::crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(login.data()),
                                login.size());
    ::crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(passcode.data()),
                                passcode.size());
    cache_key out;
    ::crypto_generichash_final(&state, out.data(), out.size());
    ::sodium_memzero(&state, sizeof state);
    return out;
}

std::size_t verification_cache::key_hash::operator()(const cache_key& k) const noexcept {
    std::size_t h = 0;  // the key is a keyed hash already: any 8 bytes of it will do
    std::memcpy(&h, k.data(), sizeof h);
    return h;
}

bool verification_cache::contains(const cache_key& key) {
    const time_point now = now_();
    const std::lock_guard lock(mutex_);
    const auto found = entries_.find(key);
    if (found == entries_.end()) {
        return false;
    }
    if (now - found->second.added >= ttl_) {
        order_.erase(found->second.order);
        entries_.erase(found);
        return false;
    }
    order_.splice(order_.begin(), order_, found->second.order);
    return true;
}

void verification_cache::insert(const cache_key& key, std::uint64_t generation) {
    if (capacity_ == 0) {
        return;
    }
    const time_point now = now_();
    const std::lock_guard lock(mutex_);
    if (generation != generation_) {
        return;
    }
    if (const auto found = entries_.find(key); found != entries_.end()) {
        found->second.added = now;
        order_.splice(order_.begin(), order_, found->second.order);
        return;
    }
    while (entries_.size() >= capacity_) {
        evict_oldest();
    }
    order_.push_front(key);
    entries_.emplace(key, entry{now, order_.begin()});
}

void verification_cache::evict_oldest() noexcept {
    entries_.erase(order_.back());
    order_.pop_back();
}

std::uint64_t verification_cache::clear() {
    const std::lock_guard lock(mutex_);
    entries_.clear();
    order_.clear();
    return ++generation_;
}

std::uint64_t verification_cache::generation() const {
    const std::lock_guard lock(mutex_);
    return generation_;
}

std::size_t verification_cache::size() const {
    const std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace stampede::auth
