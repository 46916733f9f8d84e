#pragma once

// Logging what clients cause: their text escaped (no forged lines, no
// terminal escapes), and errors they cause rate-limited with a count of what
// was suppressed, so no client can flood the log.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace stampede::broker {

/// `text` with control characters and backslashes escaped (\n, \r, \t,
/// \\, \xNN), cut to `max_bytes` with a note of the length cut.
std::string escape_for_log(std::string_view text, std::size_t max_bytes = 256);

/// A broker-wide budget for log lines caused by clients: `per_second` lines
/// (with a burst of as many), the rest counted and reported with the next
/// line that goes out. Any thread.
class log_budget {
  public:
    explicit log_budget(std::uint32_t per_second) noexcept : per_second_(per_second) {}

    /// Whether a line may go out now; if so, `suppressed` is how many were
    /// held back since the last one that went out.
    bool take(std::uint64_t& suppressed) noexcept;

    /// take() at `now_ms`, milliseconds on the steady clock (tests pass a
    /// fake one).
    bool take_at(std::int64_t now_ms, std::uint64_t& suppressed) noexcept;

  private:
    const std::uint32_t per_second_;
    std::atomic<std::int64_t> window_start_ms_{0};
    std::atomic<std::uint32_t> used_{0};
    std::atomic<std::uint64_t> suppressed_{0};
};

/// The budget for client-caused errors (ERROR frames sent, refused connections).
log_budget& client_error_budget() noexcept;

}  // namespace stampede::broker
