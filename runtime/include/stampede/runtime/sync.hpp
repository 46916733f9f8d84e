#pragma once

// Fiber synchronisation within one scheduler. Waiting suspends the fiber, not
// the thread; all parties must run on the same scheduler.

#include <cstddef>

#include "stampede/runtime/detail/fiber_ctl.hpp"
#include "stampede/runtime/detail/intrusive.hpp"
#include "stampede/runtime/errc.hpp"
#include "stampede/runtime/scheduler.hpp"
#include "stampede/runtime/timer.hpp"

namespace stampede::runtime {

/// A condition for fibers of one scheduler: wait() until notified. Like a
/// condition variable without a mutex (fibers of one scheduler never run at
/// the same time), so callers re-check their predicate in a loop.
/// Must be used on its scheduler only.
class event {
  public:
    event() = default;
    event(const event&) = delete;
    event& operator=(const event&) = delete;
    ~event();

    /// Suspends until notified, `deadline` passes (errc::timeout) or the
    /// runtime stops (errc::shutdown).
    result<void> wait(time_point deadline = no_deadline);

    /// Wakes the longest-waiting fiber, if any.
    void notify_one() noexcept;

    /// Wakes every waiting fiber.
    void notify_all() noexcept;

    bool has_waiters() const noexcept { return !waiters_.empty(); }

  private:
    class node final : public detail::waiter {
      public:
        explicit node(event& e) : owner(e) {}
        void interrupt(errc) noexcept override;
        event& owner;
        detail::list_hook event_hook;
    };

    void wake(node& n) noexcept;

    detail::intrusive_list<node, &node::event_hook> waiters_;
};

/// Counts outstanding work; wait() returns once the count is back to zero
/// (Go's WaitGroup). Must be used on its scheduler only.
class wait_group {
  public:
    void add(std::size_t n = 1) noexcept { count_ += n; }
    void done() noexcept;
    std::size_t pending() const noexcept { return count_; }

    /// Suspends until the count reaches zero, `deadline` passes or the runtime stops.
    result<void> wait(time_point deadline = no_deadline);

  private:
    std::size_t count_ = 0;
    event zero_;
};

}  // namespace stampede::runtime
