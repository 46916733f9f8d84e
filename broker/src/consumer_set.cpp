#include "consumer_set.hpp"

#include <algorithm>
#include <limits>

namespace stampede::broker {

queue_consumer& consumer_set::add(queue_consumer c) {
    std::uint64_t least = std::numeric_limits<std::uint64_t>::max();
    for (const auto& [key, other] : consumers_) {
        least = std::min(least, other.given);
    }
    c.given = consumers_.empty() ? 0 : least;
    floor_ = std::min(floor_, c.given);
    c.prefetch = std::max<std::size_t>(1, c.prefetch);
    const consumer_key key = c.key;
    queue_consumer& added = consumers_.insert_or_assign(key, std::move(c)).first->second;
    offer(added);
    return added;
}

void consumer_set::remove(const consumer_key& key) {
    consumers_.erase(key);  // its queued turns go stale
}

queue_consumer* consumer_set::find(const consumer_key& key) {
    const auto it = consumers_.find(key);
    return it == consumers_.end() ? nullptr : &it->second;
}

bool consumer_set::has_room(const queue_consumer& c) const noexcept {
    return !c.parked && c.in_flight < c.prefetch &&
           (c.in_flight == 0 || c.in_flight_bytes < max_in_flight_bytes_);
}

void consumer_set::park(queue_consumer& c, bool exhaustive) noexcept {
    c.parked = true;  // its queued turn goes stale
    c.parked_exhaustive = exhaustive;
}

void consumer_set::unpark(queue_consumer& c) {
    if (c.parked) {
        c.parked = false;
        offer(c);
    }
}

void consumer_set::offer(const queue_consumer& c) {
    if (has_room(c)) {
        turns_.push({c.given, next_order_++, c.key});
    }
}

queue_consumer* consumer_set::pick(clock::time_point now) {
    held_ = false;
    while (!turns_.empty()) {
        const turn t = turns_.top();
        queue_consumer* c = find(t.key);
        if (c == nullptr || c->given != t.given || !has_room(*c)) {
            turns_.pop();  // stale
            continue;
        }
        if (c->given <= floor_ + lead(*c)) {
            return c;
        }
        floor_ = least_active_given(now);  // the cached floor may be behind: look again
        if (c->given <= floor_ + lead(*c)) {
            return c;
        }
        held_ = true;
        return nullptr;
    }
    return nullptr;
}

std::uint64_t consumer_set::least_active_given(clock::time_point now) const {
    std::uint64_t least = std::numeric_limits<std::uint64_t>::max();
    for (const auto& [key, c] : consumers_) {
        const bool active = has_room(c) || now - c.last_settled < active_window_;
        if (active) {
            least = std::min(least, c.given);
        }
    }
    return least;
}

void consumer_set::given(queue_consumer& c, std::size_t bytes) {
    // Its current turn is at the top (pick() just returned it): replace it.
    if (!turns_.empty() && turns_.top().key == c.key) {
        turns_.pop();
    }
    ++c.in_flight;
    c.in_flight_bytes += bytes;
    ++c.given;
    offer(c);
}

void consumer_set::settled(queue_consumer& c, std::size_t bytes, clock::time_point now) {
    const bool had_room = has_room(c);
    c.last_settled = now;
    c.in_flight -= std::min<std::size_t>(c.in_flight, 1);
    c.in_flight_bytes -= std::min(c.in_flight_bytes, bytes);
    if (!had_room) {
        offer(c);  // room again: it queues for its turn
    }
}

std::vector<consumer_key> consumer_set::watched_by(runtime::monitor_id id) const {
    std::vector<consumer_key> out;
    for (const auto& [key, c] : consumers_) {
        if (c.monitor == id) {
            out.push_back(key);
        }
    }
    return out;
}

}  // namespace stampede::broker
