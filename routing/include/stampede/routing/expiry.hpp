#pragma once

// Reading the headers that say when a message may be delivered and until when:
//
//   expires              (ActiveMQ) absolute deadline, ms since the Unix epoch; 0 = never
//   expiration           (RabbitMQ) time to live from arrival, ms
//   AMQ_SCHEDULED_DELAY  (ActiveMQ) invisible for this many ms after arrival
//   priority             0-9, default 4 (JMS)
//
// and combining them with a destination's default time to live. All times are integer
// milliseconds since the Unix epoch (the unit of both brokers' headers), passed in by the
// caller so that tests use a fake clock.

#include <cstdint>
#include <optional>
#include <string_view>

#include "stampede/routing/errc.hpp"

namespace stampede::routing {

/// Milliseconds since the Unix epoch.
using epoch_ms = std::int64_t;

/// The wall clock in epoch_ms.
epoch_ms now_epoch_ms() noexcept;

/// JMS's default priority, used when a message has no priority header.
inline constexpr std::uint8_t default_priority = 4;

/// The `expires` header: nullopt when absent or 0 (ActiveMQ's "never"), else the deadline.
/// A value that is not a non-negative decimal integer is errc::invalid_expires.
[[nodiscard]] result<std::optional<epoch_ms>> parse_expires(std::optional<std::string_view> value);

/// The `expiration` header (RabbitMQ's per-message TTL, ms as a decimal string): nullopt when
/// absent; errc::invalid_expires when not a non-negative integer.
[[nodiscard]] result<std::optional<std::int64_t>> parse_ttl(std::optional<std::string_view> value);

/// `AMQ_SCHEDULED_DELAY`: nullopt when absent or 0; errc::invalid_delay when not a
/// non-negative integer.
[[nodiscard]] result<std::optional<std::int64_t>> parse_delay(
    std::optional<std::string_view> value);

/// The `priority` header: default_priority when absent; integers above 9 count as 9 and
/// below 0 as 0 (RabbitMQ caps at the queue's maximum the same way); anything that is not an
/// integer is errc::invalid_priority.
[[nodiscard]] result<std::uint8_t> parse_priority(std::optional<std::string_view> value);

/// A destination's expiry configuration.
struct expiry_policy {
    /// Time to live given to every message (RabbitMQ's x-message-ttl); nullopt: none.
    std::optional<std::int64_t> default_ttl_ms;
};

/// When a message arriving at `arrival` expires: the earliest of its `expires`, arrival + its
/// `expiration` and arrival + the policy's default TTL (RabbitMQ applies the lower of the
/// queue's and the message's TTL; ActiveMQ has only `expires`). nullopt: never. Saturates
/// instead of overflowing.
[[nodiscard]] std::optional<epoch_ms> expiry_deadline(epoch_ms arrival,
                                                      std::optional<epoch_ms> expires,
                                                      std::optional<std::int64_t> ttl_ms,
                                                      const expiry_policy& policy) noexcept;

/// Whether a message with this deadline has expired at `now` (a deadline is the last
/// millisecond it may still be delivered in: it expires once now passes it).
[[nodiscard]] inline bool is_expired(std::optional<epoch_ms> deadline, epoch_ms now) noexcept {
    return deadline && now > *deadline;
}

}  // namespace stampede::routing
