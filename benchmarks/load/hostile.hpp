#pragma once

// Raw socket helpers for the hostile clients of the abuse scenario: a socket
// whose receive buffer is set before it connects, writes that never block a
// fiber for long (so a broker that stops reading is seen, not waited on
// forever), and a look at whatever the broker sent back.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "stampede/runtime/io.hpp"

namespace stampede::load {

/// How a hostile write ended.
enum class write_end { done, held, closed };

/// Writes all of `bytes` to `fd` without blocking the scheduler: EAGAIN sleeps
/// the fiber a little and tries again until `deadline_ns`, then answers held.
/// `written` grows by what went out.
write_end raw_write(int fd, std::span<const char> bytes, std::int64_t deadline_ns,
                    std::uint64_t& written);

/// A non-blocking TCP connection to `to` with SO_RCVBUF set to `rcvbuf` (0:
/// the default) before it connects; an invalid fd on failure (errno set).
runtime::unique_fd raw_connect(const runtime::endpoint& to, int rcvbuf, double timeout = 10.0);

/// What the broker sent on a socket nobody read: read until it is quiet for
/// `quiet_seconds`, closed, or `deadline_ns`.
struct peer_said {
    std::uint64_t bytes = 0;
    std::uint64_t receipts = 0;
    std::uint64_t frames = 0;
    std::optional<std::string> error;  // the first ERROR frame's message header
    bool closed = false;               // end of stream or reset
    std::string close_reason;
};
peer_said read_what_came(int fd, double quiet_seconds, std::int64_t deadline_ns);

/// "ERROR: <text>, closed" / "closed" / "still open", from what was seen.
std::string outcome_of(const std::optional<std::string>& error, bool closed);

}  // namespace stampede::load
