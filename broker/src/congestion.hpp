#pragma once

// The slow-consumer judgement, as pure logic over byte counts and instants,
// so that it can be tested against a fake clock.
//
// A connection's queued bytes (its outbound queue plus topic messages waiting
// in its subscriptions' backlogs) are watched against outbound.max_bytes:
//
// - Draining but behind (the peer took at least min_drain_rate over the last
//   evidence window) past half of max_bytes: with `throttle` on, the
//   publishers of its topics are held until it is back under a quarter. That
//   is ordinary flow control, and the only holding a drop or disconnect
//   subscriber ever causes: a subscriber that is not draining never holds
//   anyone, so a fast subscriber never waits while a slow one is judged (at
//   most one evidence window, while the kernel buffers of a freshly stalled
//   peer still fill, or while the samples do not yet span enough of a window
//   to tell: a burst can fill max_bytes faster than that). A subscriber that has taken max_bytes since it fell
//   behind has shown it drains: a pause of its reader does not end the hold,
//   only a whole grace period of too little does.
// - Slow (congested for grace_ms and drained less than min_drain_rate over
//   it): over max_bytes, `drop` subscriptions lose their oldest queued topic
//   messages back down to half (counted); `disconnect` subscriptions close
//   with an ERROR; so does a connection whose undroppable output (receipts,
//   errors, queue messages) alone is over max_bytes, since receipts cannot be
//   dropped. While it is being judged its queue may grow up to the hard cap
//   (below), and nobody waits for the judgement.
// - `block` subscriptions hold their topics' publishers from half to a quarter
//   whatever the drain rate: the one policy that makes publishers wait for a
//   slow subscriber.
// - Over max_bytes the connection's reader pauses (whatever frame it sent)
//   until it is back under half: a client cannot queue more replies than
//   the limit by not reading them.
// - A hard cap (four times max_bytes, or max_bytes plus the largest frame)
//   is never passed: drop, else disconnect.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

namespace stampede::broker {

using congestion_clock = std::chrono::steady_clock;

/// How fast a connection's peer takes its bytes, from cumulative samples
/// (bytes the peer has acknowledged, or written to the socket).
class drain_meter {
  public:
    /// Records that `drained` bytes in all had been taken by `now`. Samples
    /// closer than 10 ms to the previous one replace it.
    void sample(congestion_clock::time_point now, std::uint64_t drained);

    /// Bytes per second over the last `window` up to the latest sample, or
    /// nullopt when the samples span less than half of `window`.
    std::optional<double> rate_over(congestion_clock::duration window) const;

    /// Drops samples older than `keep` before the latest (keeping one older
    /// sample as the window's left edge).
    void trim(congestion_clock::duration keep);

    std::size_t samples() const noexcept { return samples_.size(); }
    /// The latest cumulative figure (0 before any sample).
    std::uint64_t latest() const noexcept { return samples_.empty() ? 0 : samples_.back().drained; }

  private:
    struct point {
        congestion_clock::time_point at;
        std::uint64_t drained = 0;
    };
    std::deque<point> samples_;
};

struct congestion_config {
    std::size_t max_bytes = 1 << 20;
    std::uint64_t min_drain_rate = 128 * 1024;  ///< bytes per second
    std::chrono::milliseconds grace{2000};
    std::size_t max_frame = 4 << 20;          ///< for the hard cap
    bool throttle = true;                     ///< hold publishers for a draining subscriber
    std::chrono::milliseconds evidence{200};  ///< window that shows a peer draining
};

/// Which slow-consumer policies a connection's topic subscriptions use.
struct policy_mix {
    bool block = false;
    bool drop = false;
    bool disconnect = false;
};

/// What to do now.
struct congestion_verdict {
    bool hold_all = false;       ///< throttle: hold the publishers of every topic it subscribes
    bool hold_blocking = false;  ///< hold the publishers of its block-policy topics
    bool drop = false;           ///< drop droppable topic messages down to drop_target bytes
    std::size_t drop_target = 0;
    bool disconnect = false;  ///< close with an ERROR saying `why`
    std::string why;
    bool pause_reader = false;   ///< stop reading its frames
    bool keep_watching = false;  ///< sample again soon (congested, holding or paused)
};

class congestion_tracker {
  public:
    explicit congestion_tracker(congestion_config cfg) noexcept : cfg_(cfg) {}

    /// Records the peer's progress (see drain_meter::sample).
    void sample(congestion_clock::time_point now, std::uint64_t drained) {
        meter_.sample(now, drained);
        meter_.trim(cfg_.grace + cfg_.evidence);
    }

    /// Judges the connection at `now` with `queued` bytes waiting for it, of
    /// which `unsheddable` can be neither dropped nor held back (receipts,
    /// errors, queue messages), with its subscriptions' policies `mix`. Call
    /// after sample().
    congestion_verdict assess(congestion_clock::time_point now, std::size_t queued,
                              std::size_t unsheddable, policy_mix mix);

    /// Below this nothing needs judging (and the fast path skips assess()).
    std::size_t watch_threshold() const noexcept { return cfg_.max_bytes / 4; }
    bool watching() const noexcept {
        return congested_since_.has_value() || throttling_ || holding_blocking_ || paused_;
    }
    std::size_t hard_cap() const noexcept;
    const congestion_config& config() const noexcept { return cfg_; }

  private:
    bool slow(congestion_clock::time_point now) const;

    congestion_config cfg_;
    drain_meter meter_;
    std::optional<congestion_clock::time_point> congested_since_;
    std::uint64_t drained_at_congestion_ = 0;  ///< the peer's progress when it began
    bool throttling_ = false;
    bool holding_blocking_ = false;
    bool paused_ = false;
};

}  // namespace stampede::broker
