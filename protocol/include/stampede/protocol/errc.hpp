#pragma once

#include <string_view>
#include <system_error>

namespace stampede::protocol {

/// Every way a STOMP frame or a connection's negotiation can be wrong.
///
/// Each value that stands for a breached limit names that limit, so an ERROR
/// frame built from describe() tells the client which rule it broke. Zero is
/// success, as std::error_code expects.
enum class errc : int {
    ok = 0,
    command_too_long,         ///< Command line longer than limits::max_command_line.
    unknown_command,          ///< Not a STOMP command (commands are case-sensitive).
    malformed_header,         ///< Header line without a colon, or with an empty name.
    header_line_too_long,     ///< Header line longer than limits::max_header_line.
    too_many_headers,         ///< More header lines than limits::max_headers.
    invalid_escape,           ///< Backslash not starting an escape the version defines.
    frame_too_large,          ///< Frame longer than limits::max_frame.
    invalid_content_length,   ///< content-length not a decimal octet count, or overflowing.
    missing_null_after_body,  ///< The content-length octets are not followed by NUL.
    body_not_allowed,         ///< A body on a frame whose command carries none.
    invalid_eol,              ///< A CR not followed by LF where CR LF is an EOL.
    invalid_heart_beat,       ///< heart-beat is not two comma-separated integers.
    unsupported_version,      ///< accept-version names no version we speak.
};

/// The error category of errc, named "stomp".
const std::error_category& stomp_category() noexcept;

/// Wraps an errc in a std::error_code of stomp_category().
std::error_code make_error_code(errc e) noexcept;

/// A short sentence naming the rule or limit broken, fit for an ERROR frame's message header.
///
/// The text is static and never empty; it has no trailing period and no
/// characters that need escaping in a header value.
std::string_view describe(errc e) noexcept;

}  // namespace stampede::protocol

template <>
struct std::is_error_code_enum<stampede::protocol::errc> : std::true_type {};
