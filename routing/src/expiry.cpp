#include "stampede/routing/expiry.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>

namespace stampede::routing {
namespace {

/// A decimal integer with an optional leading '-', the whole text, or nothing.
std::optional<std::int64_t> parse_integer(std::string_view text) {
    std::int64_t v = 0;
    const char* last = text.data() + text.size();
    const auto r = std::from_chars(text.data(), last, v);
    if (text.empty() || r.ec != std::errc{} || r.ptr != last) {
        return std::nullopt;
    }
    return v;
}

error invalid(errc code, std::string_view header, std::string_view value) {
    return error{code, 0,
                 std::string(header) + " header '" + std::string(value.substr(0, 64)) +
                     "' is not valid: " + std::string(describe(code))};
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) {
        return b > 0 ? std::numeric_limits<std::int64_t>::max()
                     : std::numeric_limits<std::int64_t>::min();
    }
    return r;
}

}  // namespace

epoch_ms now_epoch_ms() noexcept {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

result<std::optional<epoch_ms>> parse_expires(std::optional<std::string_view> value) {
    if (!value) {
        return std::optional<epoch_ms>{};
    }
    const auto v = parse_integer(*value);
    if (!v || *v < 0) {
        return invalid(errc::invalid_expires, "expires", *value);
    }
    return *v == 0 ? std::optional<epoch_ms>{} : std::optional<epoch_ms>(*v);
}

result<std::optional<std::int64_t>> parse_ttl(std::optional<std::string_view> value) {
    if (!value) {
        return std::optional<std::int64_t>{};
    }
    const auto v = parse_integer(*value);
    if (!v || *v < 0) {
        return invalid(errc::invalid_expires, "expiration", *value);
    }
    return std::optional<std::int64_t>(*v);
}

result<std::optional<std::int64_t>> parse_delay(std::optional<std::string_view> value) {
    if (!value) {
        return std::optional<std::int64_t>{};
    }
    const auto v = parse_integer(*value);
    if (!v || *v < 0) {
        return invalid(errc::invalid_delay, "AMQ_SCHEDULED_DELAY", *value);
    }
    return *v == 0 ? std::optional<std::int64_t>{} : std::optional<std::int64_t>(*v);
}

result<std::uint8_t> parse_priority(std::optional<std::string_view> value) {
    if (!value) {
        return default_priority;
    }
    const auto v = parse_integer(*value);
    if (!v) {
        return invalid(errc::invalid_priority, "priority", *value);
    }
    return static_cast<std::uint8_t>(std::clamp<std::int64_t>(*v, 0, 9));
}

std::optional<epoch_ms> expiry_deadline(epoch_ms arrival, std::optional<epoch_ms> expires,
                                        std::optional<std::int64_t> ttl_ms,
                                        const expiry_policy& policy) noexcept {
    std::optional<epoch_ms> deadline = expires;
    auto consider = [&](std::optional<std::int64_t> ttl) {
        if (ttl) {
            const epoch_ms d = saturating_add(arrival, *ttl);
            deadline = deadline ? std::min(*deadline, d) : d;
        }
    };
    consider(ttl_ms);
    consider(policy.default_ttl_ms);
    return deadline;
}

}  // namespace stampede::routing
