#pragma once

#include <sstream>
#include <string_view>

namespace stampede::runtime::log {

/// Severity of a log line; lines below the configured level are not formatted at all.
enum class level : int { trace = 0, debug, info, warn, error, off };

/// Sets the lowest level that is written (default: info).
void set_level(level l) noexcept;
level current_level() noexcept;

/// Parses "trace", "debug", "info", "warn", "error" or "off".
bool parse_level(std::string_view text, level& out) noexcept;

/// Writes one line to stderr with a timestamp, the level and the scheduler index,
/// in a single write(2) so that lines from different threads never interleave.
void write(level l, std::string_view text) noexcept;

template <class... Args>
void emit(level l, const Args&... args) {
    if (l < current_level()) {
        return;
    }
    std::ostringstream out;
    (out << ... << args);
    write(l, out.str());
}

template <class... Args>
void trace(const Args&... args) {
    emit(level::trace, args...);
}
template <class... Args>
void debug(const Args&... args) {
    emit(level::debug, args...);
}
template <class... Args>
void info(const Args&... args) {
    emit(level::info, args...);
}
template <class... Args>
void warn(const Args&... args) {
    emit(level::warn, args...);
}
template <class... Args>
void error(const Args&... args) {
    emit(level::error, args...);
}

}  // namespace stampede::runtime::log
