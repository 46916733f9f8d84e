#pragma once

// Byte-search helpers shared by the parser and the serializer. Private to the
// protocol library.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace stampede::protocol::detail {

inline constexpr std::size_t npos = static_cast<std::size_t>(-1);

/// The offset of the first `c` in [from, to) of `data`, or npos.
inline std::size_t find_byte(const char* data, std::size_t from, std::size_t to, char c) noexcept {
    if (from >= to) {
        return npos;
    }
    const void* hit = std::memchr(data + from, c, to - from);
    return hit == nullptr ? npos : static_cast<std::size_t>(static_cast<const char*>(hit) - data);
}

/// A word with the high bit set in exactly those bytes of `x` that are zero.
///
/// The exact form (no false positives from borrows), so the lowest set bit
/// locates the first zero byte.
constexpr std::uint64_t zero_bytes(std::uint64_t x) noexcept {
    constexpr std::uint64_t low7 = 0x7F7F7F7F7F7F7F7FULL;
    const std::uint64_t t = (x & low7) + low7;
    return ~(t | x | low7);
}

constexpr std::uint64_t broadcast(char c) noexcept {
    return 0x0101010101010101ULL * static_cast<std::uint8_t>(c);
}

/// The offset of the first byte of `data[0, size)` that is one of `Cs`, or npos.
///
/// Eight bytes per step (SWAR) on little-endian machines; header names and
/// values are short, so this beats a memchr per character.
template <char... Cs>
std::size_t find_any(const char* data, std::size_t size) noexcept {
    std::size_t i = 0;
    if constexpr (std::endian::native == std::endian::little) {
        for (; i + 8 <= size; i += 8) {
            std::uint64_t word;
            std::memcpy(&word, data + i, 8);
            const std::uint64_t hits = (zero_bytes(word ^ broadcast(Cs)) | ...);
            if (hits != 0) {
                return i + static_cast<std::size_t>(std::countr_zero(hits)) / 8;
            }
        }
    }
    for (; i < size; ++i) {
        if (((data[i] == Cs) || ...)) {
            return i;
        }
    }
    return npos;
}

/// `a + b`, or the largest size_t where that would overflow (limits may be "unlimited").
constexpr std::size_t saturating_add(std::size_t a, std::size_t b) noexcept {
    return a + b < a ? static_cast<std::size_t>(-1) : a + b;
}

/// Parses `text` as a non-empty run of decimal digits that fits an Unsigned.
///
/// No sign, no blanks, no base prefix; false on anything else or on overflow.
template <typename Unsigned>
bool parse_decimal(std::string_view text, Unsigned& out) noexcept {
    if (text.empty()) {
        return false;
    }
    constexpr auto max = static_cast<Unsigned>(-1);
    Unsigned value = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') {
            return false;
        }
        const auto digit = static_cast<Unsigned>(c - '0');
        if (value > (max - digit) / 10) {
            return false;
        }
        value = static_cast<Unsigned>(value * 10 + digit);
    }
    out = value;
    return true;
}

}  // namespace stampede::protocol::detail
