#pragma once

// Header escaping and unescaping (STOMP "Value Encoding"). Private to the
// protocol library.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stampede/protocol/frame.hpp"

namespace stampede::protocol::detail {

/// How a frame's header names and values are escaped on the wire.
enum class escaping : std::uint8_t {
    none,  ///< 1.0, and CONNECT/STOMP/CONNECTED in every version.
    v1_1,  ///< `\n \c \\`; a CR is an ordinary octet.
    v1_2,  ///< `\r \n \c \\`.
};

/// The escaping a frame of command `c` uses in version `v`.
escaping escaping_for(command c, version v) noexcept;

/// The size of `text` once written by write_escaped().
std::size_t escaped_size(std::string_view text, escaping e) noexcept;

/// Writes `text` escaped to `out`; returns the end of what was written.
///
/// With escaping::none nothing can be escaped, so CR and LF (and, in a name,
/// a colon) are written as a space: lossy, but the frame stays parseable.
char* write_escaped(char* out, std::string_view text, escaping e, bool is_name) noexcept;

/// Unescapes `text[0, size)` in place; returns the new size, or npos on an undefined escape.
///
/// Defines `\n \c \\`, and `\r` when `allow_cr` (1.2). Text without a
/// backslash is left untouched.
std::size_t unescape_in_place(char* text, std::size_t size, bool allow_cr) noexcept;

}  // namespace stampede::protocol::detail
