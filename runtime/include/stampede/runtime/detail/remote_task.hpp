#pragma once

#include <utility>

#include "stampede/runtime/detail/mpsc_queue.hpp"

namespace stampede::runtime {
class scheduler;
}

namespace stampede::runtime::detail {

/// Work handed to a scheduler from any thread through its MPSC queue.
///
/// run() executes on the target scheduler's own context (not on a fiber), so it
/// must not block; it owns the task and disposes of it. discard() is called
/// instead when the scheduler has stopped and the task can never run.
struct remote_task : mpsc_node {
    virtual ~remote_task() = default;
    virtual void run(scheduler& target) noexcept = 0;
    virtual void discard() noexcept { delete this; }
};

/// A remote_task that calls a function object.
template <class Fn>
struct function_task final : remote_task {
    explicit function_task(Fn&& f) : fn(std::move(f)) {}
    void run(scheduler&) noexcept override {
        fn();
        delete this;
    }
    Fn fn;
};

}  // namespace stampede::runtime::detail
