#include "message_timing.hpp"

#include <optional>
#include <string>
#include <string_view>

#include "stampede/routing/expiry.hpp"

namespace stampede::broker {

namespace {

// The four timing headers of a SEND, each its first occurrence (as
// frame_view::get gives it), found in one pass over the headers: four
// get() calls were four scans of every SEND's headers (NOTES.md,
// "Throughput against the commit before the session cut").
struct timing_headers {
    std::optional<std::string_view> priority, expires, expiration, delay;
};

timing_headers find_timing_headers(const protocol::frame_view& send) noexcept {
    timing_headers t;
    for (const protocol::header& h : send.headers) {
        std::optional<std::string_view>* slot = nullptr;
        if (h.name == "priority") {
            slot = &t.priority;
        } else if (h.name == "expires") {
            slot = &t.expires;
        } else if (h.name == "expiration") {
            slot = &t.expiration;
        } else if (h.name == "AMQ_SCHEDULED_DELAY") {
            slot = &t.delay;
        }
        if (slot != nullptr && !slot->has_value()) {
            *slot = h.value;
        }
    }
    return t;
}

}  // namespace

routing::result<message_timing> read_timing(const protocol::frame_view& send,
                                            std::uint64_t max_delay_ms) {
    message_timing t;
    const timing_headers found = find_timing_headers(send);
    auto priority = routing::parse_priority(found.priority);
    if (!priority) {
        return priority.error_info();
    }
    t.priority = *priority;
    auto expires = routing::parse_expires(found.expires);
    if (!expires) {
        return expires.error_info();
    }
    t.expires = expires->value_or(0);
    auto ttl = routing::parse_ttl(found.expiration);
    if (!ttl) {
        return ttl.error_info();
    }
    t.ttl_ms = ttl->value_or(-1);
    auto delay = routing::parse_delay(found.delay);
    if (!delay) {
        return delay.error_info();
    }
    if (delay->value_or(0) > 0 && static_cast<std::uint64_t>(**delay) > max_delay_ms) {
        return routing::error{routing::errc::invalid_delay, 0,
                              "AMQ_SCHEDULED_DELAY " + std::to_string(**delay) +
                                  " ms is longer than the longest delay allowed, " +
                                  std::to_string(max_delay_ms) + " ms (queues.max_delay_ms)"};
    }
    t.delay_ms = delay->value_or(0);
    return t;
}

}  // namespace stampede::broker
