#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stampede::protocol {

/// A STOMP protocol version.
enum class version : std::uint8_t { v1_0, v1_1, v1_2 };

/// The version as it appears in accept-version and version headers: "1.0", "1.1" or "1.2".
std::string_view to_string(version v) noexcept;

/// The version named exactly by `text` ("1.0", "1.1" or "1.2"), or nullopt.
[[nodiscard]] std::optional<version> parse_version(std::string_view text) noexcept;

/// A STOMP command, client frames first, then server frames.
enum class command : std::uint8_t {
    connect,
    stomp,
    connected,
    send,
    subscribe,
    unsubscribe,
    begin,
    commit,
    abort,
    ack,
    nack,
    disconnect,
    message,
    receipt,
    error,
};

/// The command as it appears on the wire, e.g. "SEND".
std::string_view to_string(command c) noexcept;

/// The command spelled exactly `text`, or nullopt; commands are case-sensitive.
[[nodiscard]] std::optional<command> parse_command(std::string_view text) noexcept;

/// Whether frames of this command may carry a body: true for SEND, MESSAGE and ERROR only.
constexpr bool carries_body(command c) noexcept {
    return c == command::send || c == command::message || c == command::error;
}

/// One header of a frame, as views; names and values are never trimmed.
struct header {
    std::string_view name;
    std::string_view value;
};

/// A parsed frame whose headers and body are views into the buffer it was parsed from.
///
/// Valid only as long as that buffer and the parser's header storage (see parser::frame()).
struct frame_view {
    command cmd{};
    std::span<const header> headers;
    std::string_view body;

    /// The value of the first header named `name` (a repeated header's first value wins), or
    /// nullopt. Names compare case-sensitively.
    std::optional<std::string_view> get(std::string_view name) const noexcept;
};

/// A frame that owns its bytes, for anything that must outlive the receive buffer.
struct frame {
    command cmd{};
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    /// The value of the first header named `name`, or nullopt; like frame_view::get().
    std::optional<std::string_view> get(std::string_view name) const noexcept;

    /// Views of the headers, in order, for building an outgoing_frame from this frame.
    ///
    /// The views point into this frame and are invalidated by changing it.
    std::vector<header> header_views() const;

    /// An owned deep copy of `view`.
    static frame from(const frame_view& view);

    bool operator==(const frame&) const = default;
};

}  // namespace stampede::protocol
