#pragma once

// Small writers shared by the serializer and message_template. Private to the
// protocol library.

#include <charconv>
#include <cstddef>
#include <cstring>
#include <string_view>

namespace stampede::protocol::detail {

inline constexpr std::string_view content_length_header = "content-length";

/// Copies `text` to `out`; returns the end of what was written.
inline char* put(char* out, std::string_view text) noexcept {
    if (!text.empty()) {  // an empty view may hold a null pointer: memcpy must not see it
        std::memcpy(out, text.data(), text.size());
    }
    return out + text.size();
}

/// The number of decimal digits of `n`.
constexpr std::size_t decimal_digits(std::size_t n) noexcept {
    std::size_t digits = 1;
    for (; n >= 10; n /= 10) {
        ++digits;
    }
    return digits;
}

/// The size of "content-length:<n>\n".
constexpr std::size_t content_length_line_size(std::size_t n) noexcept {
    return content_length_header.size() + 1 + decimal_digits(n) + 1;
}

/// Writes "content-length:<n>\n"; returns the end of what was written.
inline char* put_content_length_line(char* out, std::size_t n) noexcept {
    out = put(out, content_length_header);
    *out++ = ':';
    // 20 digits hold any size_t, and the caller sized `out` with decimal_digits().
    out = std::to_chars(out, out + 20, n).ptr;
    *out++ = '\n';
    return out;
}

}  // namespace stampede::protocol::detail
