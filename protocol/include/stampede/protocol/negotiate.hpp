#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "stampede/protocol/errc.hpp"
#include "stampede/protocol/frame.hpp"

namespace stampede::protocol {

/// The highest version in a CONNECT frame's accept-version that we also speak.
///
/// No header means 1.0. The header is a comma-separated list; blanks around
/// an entry are ignored and entries we do not know are skipped. nullopt when
/// nothing in the list is a version we speak (the broker then answers ERROR
/// with errc::unsupported_version and a `version` header of
/// supported_versions()).
[[nodiscard]] std::optional<version> negotiate_version(
    std::optional<std::string_view> accept_version) noexcept;

/// The versions we speak, as a `version` or `accept-version` header value: "1.0,1.1,1.2".
std::string_view supported_versions() noexcept;

/// A heart-beat header's pair, in milliseconds.
///
/// From a client, cx is the shortest interval at which it can send and cy
/// the interval at which it wants to receive; from the server, sx and sy alike.
/// Zero means "cannot" or "do not want".
struct heart_beat {
    std::uint32_t cx = 0;
    std::uint32_t cy = 0;

    bool operator==(const heart_beat&) const = default;
};

/// The outcome of parse_heart_beat(): the pair, or an error.
struct heart_beat_result {
    heart_beat value;
    errc error = errc::ok;

    bool ok() const noexcept { return error == errc::ok; }
};

/// Parses a heart-beat header value; a missing header means 0,0.
///
/// The value must be exactly two non-negative decimal integers separated by
/// one comma, without blanks or signs, each fitting 32 bits; anything else is
/// errc::invalid_heart_beat.
[[nodiscard]] heart_beat_result parse_heart_beat(std::optional<std::string_view> value) noexcept;

/// When the server sends heart-beats and how often it expects traffic, in ms; 0 means never.
struct heart_beat_plan {
    std::uint32_t send_every_ms = 0;
    std::uint32_t expect_every_ms = 0;

    bool operator==(const heart_beat_plan&) const = default;
};

/// Combines the client's (cx, cy) with the server's (sx, sy).
///
/// The server sends every max(sx, cy) ms when both are non-zero, and expects
/// traffic every max(cx, sy) ms when both are non-zero; otherwise 0. What to
/// do about a silent client (the broker drops one silent for twice
/// expect_every_ms) is the caller's business.
heart_beat_plan negotiate_heart_beat(heart_beat client, heart_beat server) noexcept;

/// Formats a heart-beat header value, e.g. "10000,10000".
std::string format_heart_beat(heart_beat hb);

}  // namespace stampede::protocol
