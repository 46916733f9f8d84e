#pragma once

#include <boost/context/fiber.hpp>
#include <cstdint>

#include "stampede/runtime/detail/intrusive.hpp"
#include "stampede/runtime/detail/unique_function.hpp"
#include "stampede/runtime/errc.hpp"
#include "stampede/runtime/stack.hpp"
#include "stampede/runtime/timer.hpp"

namespace stampede::runtime {
class scheduler;
}

namespace stampede::runtime::detail {

class actor_cell;

enum class fiber_state : std::uint8_t { ready, running, suspended, finished };

/// Control block of one fiber. Lives on the heap, owned by its scheduler, from
/// spawn until the fiber's function has returned. Only its scheduler's thread
/// touches it.
class fiber_ctl {
  public:
    std::uint64_t id = 0;
    const char* kind = "fiber";  ///< static string naming what the fiber runs ("worker", ...)
    scheduler* home = nullptr;
    fiber_stack stack;
    std::size_t high_water_at_exit = 0;

    boost::context::fiber context;  ///< the fiber itself while it is not running
    boost::context::fiber caller;   ///< the scheduler's context while the fiber runs
    fiber_state state = fiber_state::ready;
    /// A frame address near the bottom of the stack while suspended: nothing
    /// below it (less a margin for the context switch) is in use.
    const char* suspended_frame = nullptr;

    bool is_worker = false;           ///< runs actors' handlers (see scheduler.cpp)
    actor_cell* actor = nullptr;      ///< whose handler runs on this fiber right now
    fiber_ctl* next_ready = nullptr;  ///< run queue link
    list_hook all_hook;               ///< the scheduler's list of live fibers
    unique_function<void()> entry;

    // Sanitizer bookkeeping for stack switches (unused in normal builds).
    void* asan_fake_stack = nullptr;
    void* tsan_fiber = nullptr;
};

/// A fiber suspended until something wakes it exactly once.
///
/// A waiter lives on the waiting fiber's stack. While the fiber is blocked the
/// scheduler lists it, so that shutdown can interrupt it; its embedded timer
/// interrupts it with errc::timeout at its deadline. interrupt() must lead to
/// exactly one make_ready() of the fiber, now or later (an I/O wait, for
/// instance, submits a cancel and is woken by the original completion).
class waiter {
  public:
    virtual ~waiter() = default;

    /// Called on the scheduler thread, at most once, with timeout or shutdown,
    /// and never after the waiter was woken. Must lead to scheduler::wake(*this).
    virtual void interrupt(errc why) noexcept = 0;

    fiber_ctl* fiber = nullptr;
    list_hook blocked_hook;
    timer_node deadline_timer;
    errc interrupted_by{};  ///< why interrupt() was called, if it was
    bool woken = false;     ///< scheduler::wake() has run
};

}  // namespace stampede::runtime::detail
