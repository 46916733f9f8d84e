#include "flow.hpp"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#if defined(STAMPEDE_ALLOCATOR_MIMALLOC)
#include <mimalloc.h>
#endif

#include "session.hpp"
#include "stampede/runtime/log.hpp"

#if defined(STAMPEDE_ALLOCATOR_JEMALLOC)
// jemalloc reads this at start: a background thread purges freed pages after
// about a second (its default, 10 s of decay, would miss the mark,
// and without the thread an idle broker never purges at all).
extern "C" {
// NOLINTNEXTLINE: jemalloc's documented configuration symbol.
extern const char* malloc_conf;
const char* malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
}
#endif

namespace stampede::broker {

void publish_credit::take(std::size_t bytes) noexcept {
    messages_.fetch_add(1, std::memory_order_acq_rel);
    bytes_.fetch_add(static_cast<std::int64_t>(bytes), std::memory_order_acq_rel);
}

void publish_credit::give_back(std::size_t bytes) noexcept {
    messages_.fetch_sub(1, std::memory_order_acq_rel);
    bytes_.fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_acq_rel);
    if (waiting_.load(std::memory_order_acquire) && half_open() &&
        waiting_.exchange(false, std::memory_order_acq_rel)) {
        owner_.cast(resume_reading{});
    }
}

bool publish_credit::request_wake() noexcept {
    waiting_.store(true, std::memory_order_seq_cst);
    if (!half_open()) {
        return true;  // give_back() will see the flag and wake us
    }
    // Reopened meanwhile. If give_back() took the flag first, its wake-up is
    // already on its way; the publisher re-checks after it anyway.
    return !waiting_.exchange(false, std::memory_order_acq_rel);
}

void gate_waiters::release_all() {
    for (const auto& [id, waiter] : waiting_) {
        waiter.cast(resume_reading{});
    }
    waiting_.clear();
}

std::size_t resident_bytes() noexcept {
    std::FILE* statm = std::fopen("/proc/self/statm", "r");
    if (statm == nullptr) {
        return 0;
    }
    unsigned long size = 0;
    unsigned long resident = 0;
    const int read = std::fscanf(statm, "%lu %lu", &size, &resident);
    std::fclose(statm);
    return read == 2 ? resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

const char* allocator_name() noexcept {
#if defined(STAMPEDE_ALLOCATOR_JEMALLOC)
    return "jemalloc";
#elif defined(STAMPEDE_ALLOCATOR_MIMALLOC)
    return "mimalloc";
#else
    return "glibc";
#endif
}

void tune_allocator() noexcept {
#if !defined(STAMPEDE_ALLOCATOR_JEMALLOC) && !defined(STAMPEDE_ALLOCATOR_MIMALLOC)
    // free() trims an arena's top only once 8 MiB of it are free (the default
    // 128 KiB made a 64 KiB fan-out to 10-100 subscribers fault its buffers
    // back in on every message), and the monitor returns the free chunks
    // inside the heaps (malloc_trim). Not higher: malloc_trim cannot shrink
    // the top of a thread's arena, only free() can, so a 1 GiB threshold
    // left a drained burst resident there. Setting either value also pins
    // glibc's mmap threshold, so blocks up to 16 MiB come from the arenas
    // rather than from a fresh mmap, faulted in, on every allocation.
    ::mallopt(M_TRIM_THRESHOLD, 8 << 20);
    ::mallopt(M_MMAP_THRESHOLD, 16 << 20);
#endif
}

void give_back_memory() noexcept {
#if defined(STAMPEDE_ALLOCATOR_MIMALLOC)
    ::mi_collect(true);
#elif !defined(STAMPEDE_ALLOCATOR_JEMALLOC)
    ::malloc_trim(0);
#endif
}

namespace {
// At most one give-back per this long: trimming walks the whole heap under
// the arenas' locks.
constexpr auto trim_every = std::chrono::seconds(1);
// The longest wait between give-backs while a load keeps faulting them in.
constexpr auto max_trim_interval = std::chrono::seconds(64);
// Freed memory still resident that is worth a give-back.
constexpr std::size_t trim_slack = 4 * 1024 * 1024;

/// Bytes the program holds from the allocator (live blocks), or 0 when the
/// allocator does not say (jemalloc and mimalloc return memory themselves).
std::size_t allocated_bytes() noexcept {
#if !defined(STAMPEDE_ALLOCATOR_JEMALLOC) && !defined(STAMPEDE_ALLOCATOR_MIMALLOC)
    const struct mallinfo2 info = ::mallinfo2();
    return info.uordblks + info.hblkhd;
#else
    return 0;
#endif
}
}  // namespace

bool memory_monitor::init(runtime::exit_reason&) {
    tune_allocator();
    // What is resident besides the heap's live blocks (code, stacks, rings):
    // RSS above that plus the live blocks is freed memory glibc still holds.
    const std::size_t rss = resident_bytes();
    const std::size_t live = allocated_bytes();
    floor_rss_ = rss > live ? rss - live : 0;
    send_after(std::chrono::milliseconds(interval_ms_), tick{});
    return true;
}

// A burst leaves its memory freed but resident (in glibc's arenas, once
// free() no longer trims). Once a second: if RSS exceeds the live blocks plus
// the rest of the process by more than the slack, give the freed part back.
// RSS alone cannot tell: a queue still draining holds it too.
std::size_t memory_monitor::after_burst_check(std::size_t rss, runtime::time_point now) {
    if (now - last_check_ < trim_every || now - last_trim_ < trim_interval_) {
        return rss;
    }
    last_check_ = now;
    const std::size_t live = allocated_bytes();
    // Only once the heap has settled: a trim while messages flow hands back
    // pages the next second's deliveries fault in again (a 50-subscriber
    // fan-out ran at half speed with a trim every second). Live blocks that
    // moved by more than a sixteenth (or 1 MiB) since the last check mean the
    // broker is still busy; a drained burst stops moving.
    const std::size_t moved = live > last_live_ ? live - last_live_ : last_live_ - live;
    last_live_ = live;
    if (moved > std::max<std::size_t>(1 << 20, live / 16)) {
        return rss;
    }
    if (live == 0 || rss <= floor_rss_ + live + trim_slack) {
        return rss;
    }
    // A load that faulted most of the last give-back in again is still
    // running: wait twice as long before the next one (up to a minute), so
    // a steady fan-out pays for a trim rarely, not every second.
    if (freed_last_ > 0 && rss > rss_after_trim_ + freed_last_ / 2) {
        trim_interval_ = std::min<runtime::duration>(trim_interval_ * 2, max_trim_interval);
    } else {
        trim_interval_ = trim_every;
    }
    give_back_memory();
    last_trim_ = now;
    rss_after_trim_ = resident_bytes();
    freed_last_ = rss > rss_after_trim_ ? rss - rss_after_trim_ : 0;
    // What stayed is the new estimate of the rest (more connections mean more
    // stacks; heap pages split between live blocks cannot go back either), so
    // a load that holds it does not pay for a trim every second.
    const std::size_t after = resident_bytes();
    floor_rss_ = after > live ? after - live : 0;
    return after;
}

void memory_monitor::handle_info(tick&) {
    std::size_t rss = resident_bytes();
    const runtime::time_point now = runtime::clock::now();
    if (rss > high_water_ && now - last_trim_ >= trim_every) {
        // Memory freed since (a queue drained, say) may still be resident in
        // the allocator; hand it back before deciding.
        give_back_memory();
        last_trim_ = now;
        rss = resident_bytes();
    }
    rss = after_burst_check(rss, now);
    const bool over = rss > high_water_;
    if (over != alarm_.load(std::memory_order_relaxed)) {
        alarm_.store(over, std::memory_order_release);
        if (over) {
            runtime::log::warn("memory alarm: ", rss / (1024 * 1024), " MiB resident, over the ",
                               high_water_ / (1024 * 1024),
                               " MiB high-water mark: holding publishers");
        } else {
            runtime::log::info("memory alarm cleared: ", rss / (1024 * 1024),
                               " MiB resident; publishers resume");
        }
    }
    send_after(std::chrono::milliseconds(interval_ms_), tick{});
}

}  // namespace stampede::broker
