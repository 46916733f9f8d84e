#pragma once

namespace stampede::runtime {
class scheduler;
}

namespace stampede::runtime::detail {

class fiber_ctl;

/// What the calling thread is doing in the runtime. Plain (initial-exec) TLS,
/// so the overflow signal handler may read it.
struct thread_state {
    scheduler* sched = nullptr;  ///< the scheduler this thread runs, if any
    fiber_ctl* fiber = nullptr;  ///< the fiber running right now, if any
    int index = -1;              ///< scheduler index, -1 outside the runtime
};

// constinit: constant-initialised, so no TLS wrapper function is generated
// (GCC 12 miscompiles the wrapper's null check under -fsanitize=null).
inline constinit thread_local thread_state tls{};

inline int current_scheduler_index() noexcept {
    return tls.index;
}
inline fiber_ctl* current_fiber() noexcept {
    return tls.fiber;
}

}  // namespace stampede::runtime::detail
