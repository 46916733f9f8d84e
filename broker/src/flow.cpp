#include "flow.hpp"

#include <malloc.h>
#include <unistd.h>

#include <cstdio>

#include "session.hpp"
#include "stampede/runtime/log.hpp"

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

namespace {
// While over the mark, at most one heap trim per this long.
constexpr auto trim_every = std::chrono::seconds(1);
}  // namespace

bool memory_monitor::init(runtime::exit_reason&) {
    send_after(std::chrono::milliseconds(interval_ms_), tick{});
    return true;
}

void memory_monitor::handle_info(tick&) {
    std::size_t rss = resident_bytes();
    const runtime::time_point now = runtime::clock::now();
    if (rss > high_water_ && now - last_trim_ >= trim_every) {
        // Memory freed since (a queue drained, say) may still be resident in
        // the allocator; hand it back before deciding. Not on every tick:
        // trimming walks the whole heap under the arenas' locks.
        ::malloc_trim(0);
        last_trim_ = now;
        rss = resident_bytes();
    }
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
