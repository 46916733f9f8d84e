#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "stampede/runtime/detail/fiber_ctl.hpp"
#include "stampede/runtime/detail/intrusive.hpp"
#include "stampede/runtime/detail/mpsc_queue.hpp"
#include "stampede/runtime/detail/remote_task.hpp"
#include "stampede/runtime/detail/thread_state.hpp"
#include "stampede/runtime/detail/unique_function.hpp"
#include "stampede/runtime/errc.hpp"
#include "stampede/runtime/stack.hpp"
#include "stampede/runtime/timer.hpp"

namespace stampede::runtime {

class runtime;

namespace detail {
class io_backend;
class actor_cell;
}  // namespace detail

/// How to start a fiber.
struct fiber_options {
    std::size_t stack_size = 0;  ///< usable bytes; 0 means the runtime's default
    const char* kind = "fiber";  ///< static name for reports ("session.reader", ...)
};

/// Stack usage of the live fibers of one kind.
struct fiber_kind_stats {
    std::string kind;
    std::size_t fibers = 0;
    std::size_t stack_size = 0;      ///< usable bytes of the largest stack of this kind
    std::size_t max_high_water = 0;  ///< deepest any of them has reached, in bytes
    std::size_t resident_bytes = 0;  ///< stack memory resident right now, summed
};

/// One scheduler: a thread with its own run queue, timers, stack pool and I/O
/// backend instance. Fibers never migrate; whatever runs here stays here.
///
/// Methods under "any thread" may be called from anywhere; the rest only on this
/// scheduler's own thread, which is what "Must run on the owning scheduler" means.
class scheduler {
  public:
    scheduler(runtime& owner, unsigned index);
    ~scheduler();
    scheduler(const scheduler&) = delete;
    scheduler& operator=(const scheduler&) = delete;

    unsigned index() const noexcept { return index_; }
    runtime& owner() noexcept { return owner_; }

    // ---- Any thread ----

    /// Starts `fn` on a new fiber here; from another thread the spawn is posted.
    /// During shutdown the function is dropped without running.
    void spawn(detail::unique_function<void()> fn, fiber_options options = {});

    /// Hands `task` to this scheduler; it runs on the scheduler's own context.
    void post(detail::remote_task* task) noexcept;

    /// Posts a function object (see post()); it must not block.
    template <class Fn>
    void execute(Fn&& fn) {
        post(new detail::function_task<std::decay_t<Fn>>(std::forward<Fn>(fn)));
    }

    /// True once shutdown has begun (any thread; relaxed).
    bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }

    // ---- Owning thread ----

    /// Starts `fn` on a new fiber of this scheduler, or says why it could not
    /// (no stack: mmap failed or vm.max_map_count was reached; shutdown).
    [[nodiscard]] result<void> spawn_here(detail::unique_function<void()> fn,
                                          fiber_options options = {});

    detail::io_backend& io() noexcept { return *io_; }
    stack_pool& stacks() noexcept { return stacks_; }

    /// Stack statistics of the live fibers here, by kind, plus the high-water
    /// marks of fibers that have ended (max per kind).
    std::vector<fiber_kind_stats> collect_stack_stats() const;

    std::size_t live_fibers() const noexcept { return fibers_.size(); }
    std::size_t live_actors() const noexcept { return actors_.size(); }

    // ---- Runtime internals (actors, I/O backends, sync primitives) ----

    detail::fiber_ctl* current_fiber() const noexcept { return current_; }

    /// Marks a suspended fiber runnable. Each suspension is ended by exactly one call.
    void make_ready(detail::fiber_ctl* fiber) noexcept;

    /// Suspends the running fiber until wake(w). While blocked, `w` is listed so
    /// that shutdown interrupts it, and its deadline interrupts it with
    /// errc::timeout; if the scheduler is already stopping it is interrupted at
    /// once. Either way block() returns only after wake(w).
    void block(detail::waiter& w, time_point deadline = no_deadline);

    /// Ends a block(): the waiter's fiber becomes ready. Idempotent.
    void wake(detail::waiter& w) noexcept;

    /// Interrupts a blocked waiter (once, and only if not yet woken).
    void interrupt(detail::waiter& w, errc why) noexcept;

    /// Lets other ready fibers run, then continues.
    void yield();

    void arm_timer(detail::timer_node& node, time_point deadline) { timers_.arm(node, deadline); }
    void disarm_timer(detail::timer_node& node) noexcept { timers_.disarm(node); }

    /// Queues an actor that has mail for a worker fiber.
    void activate(detail::actor_cell* actor) noexcept;
    /// Bookkeeping of the actors homed here, so that shutdown can end them.
    void register_actor(detail::actor_cell* actor) { actors_.insert(actor); }
    void unregister_actor(detail::actor_cell* actor) noexcept { actors_.erase(actor); }

    /// Thread entry (runtime.cpp): runs the loop until shutdown completes.
    void run();

    /// Begins shutdown (posted by the runtime): interrupts waiters, ends actors.
    void begin_shutdown();

    /// Disposes of tasks posted after the thread ended.
    void discard_remote_tasks() noexcept;

  private:
    using run_queue = detail::intrusive_fifo<detail::fiber_ctl, &detail::fiber_ctl::next_ready>;
    using fiber_list = detail::intrusive_list<detail::fiber_ctl, &detail::fiber_ctl::all_hook>;
    using waiter_list = detail::intrusive_list<detail::waiter, &detail::waiter::blocked_hook>;

    void loop();
    bool finished() const noexcept;
    void run_remote_tasks() noexcept;
    void run_ready_fibers();
    void poll_io(time_point now);
    [[nodiscard]] result<detail::fiber_ctl*> spawn_fiber(detail::unique_function<void()> fn,
                                                         fiber_options options);
    void resume(detail::fiber_ctl* fiber);
    void suspend_current();
    void switch_to_scheduler(detail::fiber_ctl* fiber);
    void report_stuck_shutdown(time_point now);
    void fiber_finished(detail::fiber_ctl* fiber);
    void worker_main(detail::fiber_ctl* self);
    void ensure_worker() noexcept;
    static void fiber_entry(detail::fiber_ctl* fiber);

    runtime& owner_;
    const unsigned index_;
    std::unique_ptr<detail::io_backend> io_;
    stack_pool stacks_;
    detail::timer_heap timers_;

    detail::fiber_ctl* current_ = nullptr;
    run_queue ready_;
    fiber_list fibers_;
    waiter_list blocked_;

    // Worker fibers run actors' handlers; see scheduler.cpp for the accounting.
    std::deque<detail::actor_cell*> ready_actors_;
    std::vector<detail::fiber_ctl*> idle_workers_;
    std::size_t busy_workers_ = 0;
    std::unordered_set<detail::actor_cell*> actors_;

    std::vector<fiber_kind_stats> ended_stats_;

    detail::mpsc_queue remote_;
    std::atomic<bool> sleeping_{false};
    std::atomic<bool> stopping_{false};
    bool shutdown_begun_ = false;
    time_point shutdown_started_{};
    time_point last_stuck_report_{};

    // Stack bounds and sanitizer fiber of the thread's own stack.
    const void* main_stack_bottom_ = nullptr;
    std::size_t main_stack_size_ = 0;
    void* main_asan_fake_stack_ = nullptr;
    void* main_tsan_fiber_ = nullptr;

    std::uint64_t next_fiber_id_;
    friend class runtime;
};

/// A fiber of the calling scheduler, named so that another fiber can act on
/// it (release_unused_stack). Valid while that fiber runs; the holder must
/// know it has not ended.
class fiber_handle {
  public:
    fiber_handle() noexcept = default;
    explicit fiber_handle(detail::fiber_ctl* fiber) noexcept : fiber_(fiber) {}
    explicit operator bool() const noexcept { return fiber_ != nullptr; }
    detail::fiber_ctl* get() const noexcept { return fiber_; }

  private:
    detail::fiber_ctl* fiber_ = nullptr;
};

/// Gives back to the kernel the stack pages `fiber` has touched below where
/// it is now: a suspended fiber's pages below its suspension point, or, for
/// the calling fiber, the pages below the caller. A fiber that once ran deep
/// (a handshake, a large frame) keeps those pages resident for its life
/// otherwise. One madvise(MADV_DONTNEED) and two mincore calls: call it when
/// a fiber goes idle, not per operation. Returns the bytes given back.
/// Must run on the fiber's scheduler; the fiber must be alive.
std::size_t release_unused_stack(fiber_handle fiber) noexcept;

/// The scheduler running the calling thread, or nullptr outside the runtime.
inline scheduler* this_scheduler() noexcept {
    return detail::tls.sched;
}

namespace this_fiber {

/// Lets the other ready fibers of this scheduler run first. Must run on a fiber.
void yield();

/// Suspends the calling fiber for `d`; errc::shutdown if the runtime stops first.
result<void> sleep_for(duration d);

/// Suspends until `deadline`; errc::shutdown if the runtime stops first.
result<void> sleep_until(time_point deadline);

/// True when the caller runs on a runtime fiber (blocking calls are allowed).
bool on_fiber() noexcept;

/// The calling fiber's stack high-water mark in bytes (0 outside a fiber).
std::size_t stack_high_water() noexcept;

/// The calling fiber's usable stack size in bytes (0 outside a fiber).
std::size_t stack_size() noexcept;

/// The calling fiber, for release_unused_stack() from another fiber (empty
/// outside a fiber).
fiber_handle handle() noexcept;

}  // namespace this_fiber

}  // namespace stampede::runtime
