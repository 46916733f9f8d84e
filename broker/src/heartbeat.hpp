#pragma once

// Heart-beat timing as pure arithmetic over a plan and a few instants, so the
// rules can be checked against a fake clock (STOMP12.md item 13).

#include <chrono>
#include <cstdint>

#include "stampede/protocol/negotiate.hpp"

namespace stampede::broker {

using heartbeat_clock = std::chrono::steady_clock;

/// What the sending side should do at a tick.
struct beat_decision {
    bool due = false;                        ///< an interval has passed: the clock restarts now
    bool send_beat = false;                  ///< queue an EOL now
    std::chrono::milliseconds next_tick{0};  ///< look again after this long
};

/// What the checking side found at a tick.
struct silence_decision {
    bool timed_out = false;                   ///< silent for twice the interval: close
    std::chrono::milliseconds silent_for{0};  ///< how long the client has been silent
    std::chrono::milliseconds next_tick{0};   ///< look again after this long (if not timed out)
};

/// The negotiated heart-beats of one connection. Intervals are in whole
/// milliseconds up to 2^32-1 each; all arithmetic is in 64-bit durations, so
/// nothing wraps.
class heartbeat_schedule {
  public:
    explicit heartbeat_schedule(protocol::heart_beat_plan plan) noexcept : plan_(plan) {}

    bool sends() const noexcept { return plan_.send_every_ms > 0; }
    bool checks() const noexcept { return plan_.expect_every_ms > 0; }
    const protocol::heart_beat_plan& plan() const noexcept { return plan_; }

    /// At `now`, with the last write to the socket at `last_written` and
    /// `output_pending` when frames wait to be written (which count as
    /// traffic: a beat would only queue behind them). A beat is due one
    /// interval after the last write, less a little slack for timer lateness
    /// (a tenth of the interval, at most 10 ms), so no gap exceeds the interval.
    beat_decision on_send_tick(heartbeat_clock::time_point now,
                               heartbeat_clock::time_point last_written,
                               bool output_pending) const noexcept;

    /// At `now`, with the last byte from the client at `last_received`. A
    /// client silent for twice the expected interval has timed out. While the
    /// reader is paused (flow control) the client's beats sit unread in the
    /// socket, so `reader_paused` never times out.
    silence_decision on_check_tick(heartbeat_clock::time_point now,
                                   heartbeat_clock::time_point last_received,
                                   bool reader_paused) const noexcept;

  private:
    std::chrono::milliseconds send_period() const noexcept;

    protocol::heart_beat_plan plan_;
};

}  // namespace stampede::broker
