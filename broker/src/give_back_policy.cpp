#include "give_back_policy.hpp"

#include <algorithm>

namespace stampede::broker {

give_back_policy::give_back_policy(const heap_sample& first)
    : last_check_(first.now),
      last_cpu_(first.cpu),
      last_live_(first.live),
      floor_rss_(first.rss > first.live ? first.rss - first.live : 0) {}

bool give_back_policy::due(const heap_sample& s) {
    if (s.now - last_check_ < check_every) {
        last_reason_ = reason::too_soon;
        return false;
    }
    const bool give = look(s);
    last_check_ = s.now;
    last_cpu_ = s.cpu;
    last_live_ = s.live;
    return give;
}

// One look, against the previous one.
bool give_back_policy::look(const heap_sample& s) {
    // Busy: a load is running, and it would fault back in what we hand back.
    const auto wall = std::chrono::duration<double>(s.now - last_check_).count();
    const auto cpu = std::chrono::duration<double>(s.cpu - last_cpu_).count();
    if (cpu > busy_cpu_share * wall) {
        last_reason_ = reason::busy;
        return false;
    }
    // Live blocks that moved by more than a sixteenth (or 1 MiB) since the
    // last look: a queue is still filling or draining.
    const std::size_t moved = s.live > last_live_ ? s.live - last_live_ : last_live_ - s.live;
    if (moved > std::max<std::size_t>(1 << 20, s.live / 16)) {
        last_reason_ = reason::moving;
        return false;
    }
    if (s.live == 0 || s.rss <= floor_rss_ + s.live + slack) {
        last_reason_ = reason::little_freed;
        return false;
    }
    if (s.now - last_give_back_ < interval_) {
        last_reason_ = reason::backing_off;
        return false;
    }
    // A load that faulted most of the last give-back in again is still
    // running: wait twice as long before the next one (up to a minute).
    if (freed_last_ > 0 && s.rss > rss_after_ + freed_last_ / 2) {
        interval_ = std::min<clock::duration>(interval_ * 2, max_interval);
    } else {
        interval_ = check_every;
    }
    last_reason_ = reason::none;
    return true;
}

void give_back_policy::gave_back(const heap_sample& before, std::size_t rss_after,
                                 std::chrono::nanoseconds cpu_after) {
    last_give_back_ = before.now;
    last_cpu_ = std::max(last_cpu_, cpu_after);
    rss_after_ = rss_after;
    freed_last_ = before.rss > rss_after ? before.rss - rss_after : 0;
    // What stayed is the new estimate of the rest (more connections mean more
    // stacks; heap pages split between live blocks cannot go back either), so
    // a load that holds it does not pay for a give-back every second.
    floor_rss_ = rss_after > before.live ? rss_after - before.live : 0;
}

}  // namespace stampede::broker
