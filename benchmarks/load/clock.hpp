#pragma once

// Times in the driver are CLOCK_MONOTONIC nanoseconds (DRIVER.md): what the
// Python driver's time.monotonic_ns() reads, and what libstdc++'s
// std::chrono::steady_clock (the runtime's clock) reads on Linux, so the two
// convert by reinterpreting the count.

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "stampede/runtime/timer.hpp"

namespace stampede::load {

/// CLOCK_MONOTONIC in nanoseconds.
inline std::int64_t now_ns() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

/// The runtime time point of a CLOCK_MONOTONIC nanosecond stamp.
inline runtime::time_point at_ns(std::int64_t ns) noexcept {
    return runtime::time_point(std::chrono::nanoseconds(ns));
}

/// A duration of `seconds` (clamped to a century, so it never overflows).
inline runtime::duration seconds(double s) noexcept {
    s = std::clamp(s, 0.0, 3.0e9);
    return std::chrono::duration_cast<runtime::duration>(std::chrono::duration<double>(s));
}

/// A deadline `s` seconds from now.
inline runtime::time_point after(double s) noexcept {
    return runtime::deadline_after(seconds(s));
}

}  // namespace stampede::load
