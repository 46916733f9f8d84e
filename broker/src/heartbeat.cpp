#include "heartbeat.hpp"

#include <algorithm>

namespace stampede::broker {

namespace {
using std::chrono::milliseconds;

constexpr milliseconds at_least_one(milliseconds d) noexcept {
    return std::max(d, milliseconds(1));
}
}  // namespace

milliseconds heartbeat_schedule::send_period() const noexcept {
    const milliseconds interval(plan_.send_every_ms);
    return at_least_one(interval - std::min(interval / 10, milliseconds(10)));
}

beat_decision heartbeat_schedule::on_send_tick(heartbeat_clock::time_point now,
                                               heartbeat_clock::time_point last_written,
                                               bool output_pending) const noexcept {
    const milliseconds period = send_period();
    const auto due = last_written + period;
    if (now < due) {
        return {false, false, at_least_one(std::chrono::ceil<milliseconds>(due - now))};
    }
    return {true, !output_pending, period};
}

silence_decision heartbeat_schedule::on_check_tick(heartbeat_clock::time_point now,
                                                   heartbeat_clock::time_point last_received,
                                                   bool reader_paused) const noexcept {
    const milliseconds limit(2 * static_cast<std::int64_t>(plan_.expect_every_ms));
    if (reader_paused) {
        return {false, milliseconds(0), limit};
    }
    const auto silent = std::chrono::duration_cast<milliseconds>(now - last_received);
    if (silent >= limit) {
        return {true, silent, milliseconds(0)};
    }
    return {false, silent, at_least_one(limit - silent)};
}

}  // namespace stampede::broker
