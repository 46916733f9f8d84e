#pragma once

namespace stampede::runtime {

/// Installs (once per process) the SIGSEGV/SIGBUS handler that recognises a
/// fault in a fiber's guard page and reports which fiber and actor overflowed,
/// with the stack size, before aborting. Other faults go to the previous
/// handler (a sanitizer's, say) or the default action.
void install_overflow_guard();

/// Gives the calling thread an alternate signal stack, so the handler can run
/// when the faulting stack has no room left. Once per thread; the runtime does
/// it for its schedulers.
void install_signal_stack();

}  // namespace stampede::runtime
