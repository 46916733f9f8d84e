#include "stampede/protocol/frame.hpp"

#include <array>

namespace stampede::protocol {
namespace {

// Indexed by the enum's value; the order must match `command`.
constexpr std::array<std::string_view, 15> command_names = {
    "CONNECT", "STOMP", "CONNECTED", "SEND",       "SUBSCRIBE", "UNSUBSCRIBE", "BEGIN", "COMMIT",
    "ABORT",   "ACK",   "NACK",      "DISCONNECT", "MESSAGE",   "RECEIPT",     "ERROR",
};

}  // namespace

std::string_view to_string(version v) noexcept {
    switch (v) {
        case version::v1_0:
            return "1.0";
        case version::v1_1:
            return "1.1";
        case version::v1_2:
            return "1.2";
    }
    return "?";
}

std::optional<version> parse_version(std::string_view text) noexcept {
    for (version v : {version::v1_0, version::v1_1, version::v1_2}) {
        if (text == to_string(v)) {
            return v;
        }
    }
    return std::nullopt;
}

std::string_view to_string(command c) noexcept {
    const auto index = static_cast<std::size_t>(c);
    return index < command_names.size() ? command_names[index] : std::string_view("?");
}

std::optional<command> parse_command(std::string_view text) noexcept {
    // Fifteen length-first comparisons: cheaper than hashing for names this short.
    for (std::size_t i = 0; i < command_names.size(); ++i) {
        if (command_names[i] == text) {
            return static_cast<command>(i);
        }
    }
    return std::nullopt;
}

std::optional<std::string_view> frame_view::get(std::string_view name) const noexcept {
    for (const header& h : headers) {
        if (h.name == name) {
            return h.value;
        }
    }
    return std::nullopt;
}

std::optional<std::string_view> frame::get(std::string_view name) const noexcept {
    for (const auto& [n, v] : headers) {
        if (n == name) {
            return std::string_view(v);
        }
    }
    return std::nullopt;
}

std::vector<header> frame::header_views() const {
    std::vector<header> views;
    views.reserve(headers.size());
    for (const auto& [n, v] : headers) {
        views.push_back({n, v});
    }
    return views;
}

frame frame::from(const frame_view& view) {
    frame f;
    f.cmd = view.cmd;
    f.headers.reserve(view.headers.size());
    for (const header& h : view.headers) {
        f.headers.emplace_back(std::string(h.name), std::string(h.value));
    }
    f.body = std::string(view.body);
    return f;
}

}  // namespace stampede::protocol
