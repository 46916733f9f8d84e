#include "stampede/runtime/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include "stampede/runtime/detail/thread_state.hpp"

namespace stampede::runtime::log {
namespace {

std::atomic<level> g_level{level::info};

const char* level_name(level l) {
    switch (l) {
        case level::trace:
            return "TRACE";
        case level::debug:
            return "DEBUG";
        case level::info:
            return "INFO ";
        case level::warn:
            return "WARN ";
        case level::error:
            return "ERROR";
        case level::off:
            break;
    }
    return "?";
}

}  // namespace

void set_level(level l) noexcept {
    g_level.store(l, std::memory_order_relaxed);
}
level current_level() noexcept {
    return g_level.load(std::memory_order_relaxed);
}

bool parse_level(std::string_view text, level& out) noexcept {
    static constexpr std::pair<std::string_view, level> names[] = {
        {"trace", level::trace}, {"debug", level::debug}, {"info", level::info},
        {"warn", level::warn},   {"error", level::error}, {"off", level::off}};
    for (const auto& [name, value] : names) {
        if (name == text) {
            out = value;
            return true;
        }
    }
    return false;
}

void write(level l, std::string_view text) noexcept {
    if (l < current_level()) {
        return;
    }
    const auto now = std::chrono::system_clock::now();
    const auto secs = std::chrono::system_clock::to_time_t(now);
    const auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char where[16] = "main";
    if (const int sched = detail::current_scheduler_index(); sched >= 0) {
        std::snprintf(where, sizeof where, "s%d", sched);
    }
    char prefix[64];
    const int n =
        std::snprintf(prefix, sizeof prefix, "%02d:%02d:%02d.%03d %s [%s] ", tm.tm_hour, tm.tm_min,
                      tm.tm_sec, static_cast<int>(millis), level_name(l), where);
    std::string line;
    line.reserve(static_cast<std::size_t>(n) + text.size() + 1);
    line.append(prefix, static_cast<std::size_t>(n));
    line.append(text);
    line.push_back('\n');
    // One write keeps lines whole; a failed log write has nowhere to be reported.
    [[maybe_unused]] const auto written = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace stampede::runtime::log
