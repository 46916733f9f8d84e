#include "congestion.hpp"

#include <algorithm>

namespace stampede::broker {

namespace {
constexpr auto min_sample_spacing = std::chrono::milliseconds(10);
}  // namespace

void drain_meter::sample(congestion_clock::time_point now, std::uint64_t drained) {
    if (!samples_.empty() && now - samples_.back().at < min_sample_spacing && samples_.size() > 1) {
        samples_.back() = {now, drained};
        return;
    }
    samples_.push_back({now, drained});
}

std::optional<double> drain_meter::rate_over(congestion_clock::duration window) const {
    if (samples_.size() < 2) {
        return std::nullopt;
    }
    const point& last = samples_.back();
    const auto edge = last.at - window;
    // The latest sample at or before the window's left edge, else the oldest.
    const point* first = &samples_.front();
    for (const point& p : samples_) {
        if (p.at > edge) {
            break;
        }
        first = &p;
    }
    const auto span = last.at - first->at;
    if (span < window / 2 || span.count() <= 0) {
        return std::nullopt;
    }
    const double seconds = std::chrono::duration<double>(span).count();
    const std::uint64_t bytes = last.drained >= first->drained ? last.drained - first->drained : 0;
    return static_cast<double>(bytes) / seconds;
}

void drain_meter::trim(congestion_clock::duration keep) {
    if (samples_.empty()) {
        return;
    }
    const auto edge = samples_.back().at - keep;
    while (samples_.size() > 2 && samples_[1].at <= edge) {
        samples_.pop_front();
    }
}

std::size_t congestion_tracker::hard_cap() const noexcept {
    return std::max(4 * cfg_.max_bytes, cfg_.max_bytes + cfg_.max_frame);
}

bool congestion_tracker::slow(congestion_clock::time_point now) const {
    if (!congested_since_ || now - *congested_since_ < cfg_.grace) {
        return false;
    }
    const auto rate = meter_.rate_over(cfg_.grace);
    return rate && *rate < static_cast<double>(cfg_.min_drain_rate);
}

congestion_verdict congestion_tracker::assess(congestion_clock::time_point now, std::size_t queued,
                                              std::size_t unsheddable, policy_mix mix) {
    const std::size_t max = cfg_.max_bytes;
    const std::size_t half = max / 2;
    const std::size_t quarter = max / 4;
    if (queued > half) {
        if (!congested_since_) {
            congested_since_ = now;
            drained_at_congestion_ = meter_.latest();
        }
    } else if (queued < quarter) {
        congested_since_.reset();
    }
    // Holding publishers needs recent evidence of draining; dropping needs a
    // whole grace period of too little. Meanwhile the queue may grow to the
    // hard cap, and nobody waits.
    // Until the samples span enough of the evidence window to tell (a burst
    // can fill max_bytes within one window), the subscriber has the benefit
    // of the doubt: it is held for at most that window, never dropped for it.
    const auto evidence = meter_.rate_over(cfg_.evidence);
    const bool draining = !evidence || *evidence >= static_cast<double>(cfg_.min_drain_rate);
    const bool is_slow = slow(now);

    congestion_verdict v;
    holding_blocking_ = mix.block && (queued > half || (holding_blocking_ && queued > quarter));
    // A subscriber that has taken max_bytes since it fell behind keeps
    // holding publishers while behind until a whole grace period shows it
    // slow: a reader that pauses (a busy machine, a collector) is not dropped
    // for the pause. Short of that, only fresh evidence holds anyone.
    const bool proven = congested_since_ && meter_.latest() - drained_at_congestion_ >= max;
    throttling_ = cfg_.throttle && !is_slow && (draining || (throttling_ && proven)) &&
                  (queued > half || (throttling_ && queued > quarter));
    paused_ = queued > max || (paused_ && queued > half);
    v.hold_blocking = holding_blocking_;
    v.hold_all = throttling_;
    v.pause_reader = paused_;

    const bool over_cap = queued > hard_cap();
    if (mix.drop && queued > unsheddable && ((queued > max && is_slow) || over_cap)) {
        v.drop = true;
        v.drop_target = half;
    }
    if (mix.disconnect && (is_slow || over_cap)) {
        v.disconnect = true;
        v.why = over_cap ? "its queued bytes passed the hard cap"
                         : "it drained less than the minimum rate over the grace period";
    } else if (unsheddable > max && (is_slow || unsheddable > hard_cap())) {
        v.disconnect = true;
        v.why = "its receipts, errors and queue messages went unread";
    }
    v.keep_watching = watching();
    return v;
}

}  // namespace stampede::broker
