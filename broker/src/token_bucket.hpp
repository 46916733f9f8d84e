#pragma once

#include <algorithm>
#include <chrono>

namespace stampede::broker {

/// A rate limit: `rate` events per second with bursts of up to `burst`.
/// Pure: the caller supplies the time, so tests use a fake clock.
class token_bucket {
  public:
    using clock = std::chrono::steady_clock;

    token_bucket(double rate, double burst) noexcept : rate_(rate), burst_(burst), tokens_(burst) {}

    /// Whether one event may happen at `now` (without taking it).
    bool available(clock::time_point now) noexcept {
        refill(now);
        return tokens_ >= 1.0;
    }

    /// Takes one event at `now`; false (and nothing taken) if none is available.
    bool take(clock::time_point now) noexcept {
        refill(now);
        if (tokens_ < 1.0) {
            return false;
        }
        tokens_ -= 1.0;
        return true;
    }

  private:
    void refill(clock::time_point now) noexcept {
        if (last_ != clock::time_point{}) {
            const double seconds = std::chrono::duration<double>(now - last_).count();
            tokens_ = std::min(burst_, tokens_ + std::max(0.0, seconds) * rate_);
        }
        // Never moves back: an earlier `now` (a time taken before another
        // caller's) must not let the same interval be refilled twice.
        last_ = std::max(last_, now);
    }

    double rate_;
    double burst_;
    double tokens_;
    clock::time_point last_{};
};

}  // namespace stampede::broker
