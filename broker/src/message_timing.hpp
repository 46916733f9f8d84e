#pragma once

// What a SEND says about when its message may be delivered and how urgently:
// `priority` (0-9), `expires` (ActiveMQ: absolute ms since the epoch),
// `expiration` (RabbitMQ: time to live in ms) and `AMQ_SCHEDULED_DELAY`
// (ActiveMQ: ms before it is visible). Read once, at SEND; stamped into
// deadlines when the message is published (message::stamp).

#include <cstdint>

#include "message.hpp"
#include "stampede/protocol/frame.hpp"
#include "stampede/routing/errc.hpp"

namespace stampede::broker {

/// The timing headers of `send`, or what is wrong with one of them (a
/// sentence for an ERROR's message that names the header and its value).
/// A delay longer than `max_delay_ms` is wrong too (queues.max_delay_ms).
[[nodiscard]] routing::result<message_timing> read_timing(const protocol::frame_view& send,
                                                          std::uint64_t max_delay_ms);

}  // namespace stampede::broker
