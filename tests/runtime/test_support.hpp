#pragma once

// Helpers shared by the runtime tests: every test runs on both I/O backends.

#include <catch2/catch.hpp>
#include <string>

#include "stampede/runtime/runtime.hpp"

namespace stampede::runtime::test {

/// Options for a small test runtime on `backend`.
inline runtime_options options_for(io_mode backend, unsigned schedulers = 2) {
    runtime_options options;
    options.schedulers = schedulers;
    options.io = backend;
    return options;
}

/// Picks each backend in turn (Catch2 GENERATE) and names it in failure reports.
#define STAMPEDE_EACH_BACKEND(var)                                                         \
    const ::stampede::runtime::io_mode var =                                               \
        GENERATE(::stampede::runtime::io_mode::uring, ::stampede::runtime::io_mode::asio); \
    INFO("backend: " << ::stampede::runtime::to_string(var))

/// Starts a runtime, runs `fn(rt)` on a fiber of scheduler 0, stops the runtime
/// and returns what `fn` returned. Catch2 assertions belong in the test body,
/// not in `fn` (other schedulers' threads run concurrently).
template <class Fn>
auto run_in_runtime(io_mode backend, unsigned schedulers, Fn fn) {
    runtime rt(options_for(backend, schedulers));
    rt.start();
    auto out = rt.run_on(0, [&] { return fn(rt); });
    rt.stop();
    return out;
}

}  // namespace stampede::runtime::test
