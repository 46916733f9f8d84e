#pragma once

// When the memory monitor hands freed heap memory back to the system (issue
// 14, NOTES.md "Memory after a burst"). Pure bookkeeping over samples the
// monitor takes (RSS, live heap blocks, the process's CPU time), so that the
// rule is tested against a fake clock (tests/broker/give_back_policy_test.cpp).

#include <chrono>
#include <cstddef>

namespace stampede::broker {

/// One look at the process, taken by the monitor.
struct heap_sample {
    std::chrono::steady_clock::time_point now;
    std::size_t rss = 0;   ///< resident bytes
    std::size_t live = 0;  ///< bytes in live heap blocks (0: the allocator does not say)
    std::chrono::nanoseconds cpu{0};  ///< CPU time the process has used so far
};

class give_back_policy {
  public:
    using clock = std::chrono::steady_clock;

    /// At most one look per this long.
    static constexpr auto check_every = std::chrono::seconds(1);
    /// The longest wait between give-backs while a load keeps faulting them in.
    static constexpr auto max_interval = std::chrono::seconds(64);
    /// Freed memory still resident that is worth a give-back.
    static constexpr std::size_t slack = 4 * 1024 * 1024;
    /// Busy: the process used more CPU than this share of one core since the
    /// last look. A give-back then hands back pages that the running load
    /// faults in again at once (a fan-out right after a burst ran at
    /// 0.61-0.79x with only the rules below); an idle broker pays nothing.
    static constexpr double busy_cpu_share = 0.05;

    /// `first` is the monitor's first sample: RSS beyond its live blocks is
    /// the rest of the process (code, stacks, rings), not freed memory.
    explicit give_back_policy(const heap_sample& first);

    /// Whether to give freed memory back now. Call as often as you like:
    /// it looks at most once per check_every.
    bool due(const heap_sample& s);

    /// After a give-back decided by due(): `rss_after` is what stayed and
    /// `cpu_after` the process's CPU time once it was done, so that the
    /// give-back's own work (madvise over the freed pages) does not make the
    /// next look see a busy broker.
    void gave_back(const heap_sample& before, std::size_t rss_after,
                   std::chrono::nanoseconds cpu_after);

    clock::duration interval() const noexcept { return interval_; }

    /// Why the last look did not give back (for tests and the log).
    enum class reason { none, too_soon, busy, moving, little_freed, backing_off };
    reason last_reason() const noexcept { return last_reason_; }

  private:
    bool look(const heap_sample& s);

    clock::time_point last_check_{};
    clock::time_point last_give_back_{};
    std::chrono::nanoseconds last_cpu_{0};
    std::size_t last_live_ = 0;
    std::size_t floor_rss_ = 0;
    std::size_t rss_after_ = 0;   ///< RSS just after the last give-back
    std::size_t freed_last_ = 0;  ///< what the last give-back returned
    clock::duration interval_ = check_every;  ///< doubles while loads refault
    reason last_reason_ = reason::none;
};

}  // namespace stampede::broker
