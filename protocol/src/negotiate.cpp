#include "stampede/protocol/negotiate.hpp"

#include <algorithm>

#include "scan.hpp"

namespace stampede::protocol {
namespace {

std::string_view trim_blanks(std::string_view text) noexcept {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

}  // namespace

std::optional<version> negotiate_version(std::optional<std::string_view> accept_version) noexcept {
    if (!accept_version) {
        return version::v1_0;
    }
    std::optional<version> best;
    std::string_view rest = *accept_version;
    for (;;) {
        const std::size_t comma = rest.find(',');
        const std::optional<version> v = parse_version(trim_blanks(rest.substr(0, comma)));
        if (v && (!best || *v > *best)) {
            best = v;
        }
        if (comma == std::string_view::npos) {
            return best;
        }
        rest.remove_prefix(comma + 1);
    }
}

std::string_view supported_versions() noexcept {
    return "1.0,1.1,1.2";
}

heart_beat_result parse_heart_beat(std::optional<std::string_view> value) noexcept {
    if (!value) {
        return {};
    }
    const std::size_t comma = value->find(',');
    heart_beat hb;
    if (comma == std::string_view::npos || !detail::parse_decimal(value->substr(0, comma), hb.cx) ||
        !detail::parse_decimal(value->substr(comma + 1), hb.cy)) {
        return {{}, errc::invalid_heart_beat};
    }
    return {hb, errc::ok};
}

heart_beat_plan negotiate_heart_beat(heart_beat client, heart_beat server) noexcept {
    heart_beat_plan plan;
    if (server.cx != 0 && client.cy != 0) {
        plan.send_every_ms = std::max(server.cx, client.cy);
    }
    if (client.cx != 0 && server.cy != 0) {
        plan.expect_every_ms = std::max(client.cx, server.cy);
    }
    return plan;
}

std::string format_heart_beat(heart_beat hb) {
    return std::to_string(hb.cx) + ',' + std::to_string(hb.cy);
}

}  // namespace stampede::protocol
