#include "flow.hpp"

#include <malloc.h>
#include <time.h>
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

/// CPU time of the whole process (every scheduler) so far.
std::chrono::nanoseconds process_cpu_time() noexcept {
    timespec ts{};
    if (::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) {
        return std::chrono::nanoseconds(0);
    }
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

heap_sample sample_heap(runtime::time_point now, std::size_t rss) noexcept {
    return {now, rss, allocated_bytes(), process_cpu_time()};
}
}  // namespace

bool memory_monitor::init(runtime::exit_reason&) {
    tune_allocator();
    policy_.emplace(sample_heap(runtime::clock::now(), resident_bytes()));
    send_after(std::chrono::milliseconds(interval_ms_), tick{});
    return true;
}

// A burst leaves its memory freed but resident (in glibc's arenas, once
// free() no longer trims). give_back_policy decides when handing it back is
// worth it: more than a few MiB freed, the heap settled, and the broker idle
// (a busy one faults the pages straight back in). RSS alone cannot tell: a
// queue still draining holds it too.
std::size_t memory_monitor::after_burst_check(std::size_t rss, runtime::time_point now) {
    const heap_sample s = sample_heap(now, rss);
    if (!policy_->due(s)) {
        return rss;
    }
    give_back_memory();
    const std::size_t after = resident_bytes();
    policy_->gave_back(s, after, process_cpu_time());
    last_trim_ = now;
    return after;
}

void memory_monitor::handle_info(tick&) {
    std::size_t rss = resident_bytes();
    const runtime::time_point now = runtime::clock::now();
    if (rss > high_water_ && now - last_trim_ >= give_back_policy::check_every) {
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
