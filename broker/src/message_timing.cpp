#include "message_timing.hpp"

#include <string>

#include "stampede/routing/expiry.hpp"

namespace stampede::broker {

routing::result<message_timing> read_timing(const protocol::frame_view& send,
                                            std::uint64_t max_delay_ms) {
    message_timing t;
    auto priority = routing::parse_priority(send.get("priority"));
    if (!priority) {
        return priority.error_info();
    }
    t.priority = *priority;
    auto expires = routing::parse_expires(send.get("expires"));
    if (!expires) {
        return expires.error_info();
    }
    t.expires = expires->value_or(0);
    auto ttl = routing::parse_ttl(send.get("expiration"));
    if (!ttl) {
        return ttl.error_info();
    }
    t.ttl_ms = ttl->value_or(-1);
    auto delay = routing::parse_delay(send.get("AMQ_SCHEDULED_DELAY"));
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
