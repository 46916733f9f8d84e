#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>

#include "actors.hpp"
#include "give_back_policy.hpp"
#include "stampede/broker/config.hpp"

namespace stampede::broker {

/// What one publisher has on its way into destinations' mailboxes. The
/// publisher takes credit before each SEND; a message gives its credit back
/// once its destination (and every relay it was fanned out to) has handled
/// it. A publisher whose window is used up stops reading its socket, so no
/// mailbox can grow without bound however fast it publishes. Shared between
/// the publisher's session and actors on any scheduler.
class publish_credit {
  public:
    publish_credit(runtime::actor_ref<session_actor> owner, const publisher_config& window)
        : owner_(std::move(owner)),
          max_messages_(static_cast<std::int64_t>(window.window_messages)),
          max_bytes_(static_cast<std::int64_t>(window.window_bytes)) {}

    /// Before a SEND goes out. Publisher's scheduler only.
    void take(std::size_t bytes) noexcept;

    /// The message is in place. Any thread; wakes the publisher when its
    /// window has half opened again.
    void give_back(std::size_t bytes) noexcept;

    bool exhausted() const noexcept {
        return messages_.load(std::memory_order_acquire) >= max_messages_ ||
               bytes_.load(std::memory_order_acquire) >= max_bytes_;
    }

    /// The publisher is about to wait: asks give_back() to send it a
    /// resume_reading. False if the window has reopened meanwhile.
    bool request_wake() noexcept;

  private:
    bool half_open() const noexcept {
        return messages_.load(std::memory_order_acquire) <= max_messages_ / 2 &&
               bytes_.load(std::memory_order_acquire) <= max_bytes_ / 2;
    }

    runtime::actor_ref<session_actor> owner_;
    const std::int64_t max_messages_;
    const std::int64_t max_bytes_;
    std::atomic<std::int64_t> messages_{0};
    std::atomic<std::int64_t> bytes_{0};
    std::atomic<bool> waiting_{false};
};

/// Whether a destination accepts publishes right now: closed while a
/// subscriber of a topic is congested, or a queue with overflow "block" is
/// full. Written by the destination's actor only; read by publishers anywhere.
class destination_gate {
  public:
    bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }
    void set_closed(bool closed) noexcept { closed_.store(closed, std::memory_order_release); }

    /// A temporary destination whose owner has gone: publishers let go of it.
    bool deleted() const noexcept { return deleted_.load(std::memory_order_acquire); }
    void set_deleted() noexcept { deleted_.store(true, std::memory_order_release); }

  private:
    std::atomic<bool> closed_{false};
    std::atomic<bool> deleted_{false};
};

/// Publishers waiting for a gate to open, kept by the gate's destination
/// actor. A publisher is listed once however often it asks (it re-asks every
/// second while it waits).
class gate_waiters {
  public:
    void add(runtime::actor_ref<session_actor> waiter) {
        const runtime::actor_id id = waiter.id();
        waiting_.try_emplace(id, std::move(waiter));
    }
    /// Tells everyone waiting to resume reading.
    void release_all();
    std::size_t size() const noexcept { return waiting_.size(); }

  private:
    std::unordered_map<runtime::actor_id, runtime::actor_ref<session_actor>> waiting_;
};

/// Checks the broker's resident memory every check_interval_ms and raises the
/// memory alarm (which holds publishers) above the high-water mark. Once a
/// second it also gives freed memory back to the system when more than a
/// few MiB of it is still resident (a burst is over, or draining): see
/// give_back_memory() and NOTES.md "Memory after a burst (issue 14)".
class memory_monitor : public runtime::gen_server<memory_monitor> {
  public:
    struct tick {};

    memory_monitor(std::atomic<bool>& alarm, std::size_t high_water, std::uint32_t interval_ms)
        : alarm_(alarm), high_water_(high_water), interval_ms_(interval_ms) {}

    bool init(runtime::exit_reason&);
    void handle_info(tick&);

  private:
    /// The once-a-second check: returns the RSS after it (lower if it trimmed).
    std::size_t after_burst_check(std::size_t rss, runtime::time_point now);

    std::atomic<bool>& alarm_;
    std::size_t high_water_;
    std::uint32_t interval_ms_;
    runtime::time_point last_trim_{};  ///< the last give-back (either path)
    std::optional<give_back_policy> policy_;  ///< made in init()
};

/// Resident set size of this process, in bytes (from /proc/self/statm).
std::size_t resident_bytes() noexcept;

/// The allocator this build links (STAMPEDE_ALLOCATOR): "glibc", "jemalloc"
/// or "mimalloc".
const char* allocator_name() noexcept;

/// Sets the allocator up for the broker, once, before the load: with glibc,
/// free() trims an arena's top only past 8 MiB (at 128 KiB a 64 KiB fan-out
/// faulted its pages back on every message) and mid-size blocks stay in the
/// arenas; the free chunks inside the heaps go back from give_back_memory(). Nothing
/// to do for jemalloc (its malloc_conf is compiled in) or mimalloc.
void tune_allocator() noexcept;

/// Hands freed memory back to the system: malloc_trim(0) with glibc (walks
/// every arena under its lock: at most once a second, from the monitor);
/// jemalloc's background thread purges on its own; mi_collect with mimalloc.
void give_back_memory() noexcept;

}  // namespace stampede::broker
