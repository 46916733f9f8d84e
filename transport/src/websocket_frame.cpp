#include "websocket_frame.hpp"

#include <cstring>

namespace stampede::transport::ws {

namespace {

// The 4-byte key repeated over 8 bytes, rotated to start at `offset`.
std::uint64_t wide_key(const std::array<std::uint8_t, 4>& key, std::uint64_t offset) noexcept {
    std::array<std::uint8_t, 8> bytes{};
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        bytes[i] = key[(offset + i) % 4];
    }
    std::uint64_t wide = 0;
    std::memcpy(&wide, bytes.data(), sizeof wide);
    return wide;
}

// How a UTF-8 lead byte opens a sequence: continuation bytes owed and the
// range allowed for the first of them (which rules out overlongs, surrogates
// and code points past U+10FFFF). need 0xFF: not a lead byte.
struct lead {
    std::uint8_t need;
    std::uint8_t low;
    std::uint8_t high;
};

lead lead_of(std::uint8_t b) noexcept {
    if (b >= 0xC2 && b <= 0xDF) {
        return {1, 0x80, 0xBF};
    }
    if (b == 0xE0) {
        return {2, 0xA0, 0xBF};
    }
    if (b == 0xED) {
        return {2, 0x80, 0x9F};
    }
    if (b >= 0xE1 && b <= 0xEF) {
        return {2, 0x80, 0xBF};
    }
    if (b == 0xF0) {
        return {3, 0x90, 0xBF};
    }
    if (b >= 0xF1 && b <= 0xF3) {
        return {3, 0x80, 0xBF};
    }
    if (b == 0xF4) {
        return {3, 0x80, 0x8F};
    }
    return {0xFF, 0, 0};
}

constexpr std::uint64_t high_bits = 0x8080808080808080ull;

}  // namespace

std::size_t header_size(std::uint8_t, std::uint8_t byte1) noexcept {
    const std::uint8_t len7 = byte1 & 0x7F;
    const std::size_t extended = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    return 2 + extended + ((byte1 & 0x80) != 0 ? 4 : 0);
}

std::size_t decode_header(std::span<const std::uint8_t> in, frame_header& out) noexcept {
    out.fin = (in[0] & 0x80) != 0;
    out.rsv = static_cast<std::uint8_t>((in[0] >> 4) & 0x7);
    out.raw_opcode = in[0] & 0x0F;
    out.masked = (in[1] & 0x80) != 0;
    const std::uint8_t len7 = in[1] & 0x7F;
    std::size_t at = 2;
    if (len7 == 126) {
        out.length = (std::uint64_t{in[2]} << 8) | in[3];
        at = 4;
    } else if (len7 == 127) {
        out.length = 0;
        for (std::size_t i = 0; i < 8; ++i) {
            out.length = (out.length << 8) | in[2 + i];
        }
        at = 10;
    } else {
        out.length = len7;
    }
    if (out.masked) {
        std::memcpy(out.key.data(), in.data() + at, 4);
        at += 4;
    }
    return at;
}

std::size_t encode_header(std::uint8_t* out, opcode op, bool fin, std::uint64_t length,
                          const std::array<std::uint8_t, 4>* key) noexcept {
    out[0] = static_cast<std::uint8_t>((fin ? 0x80 : 0) | static_cast<std::uint8_t>(op));
    const std::uint8_t mask_bit = key != nullptr ? 0x80 : 0;
    std::size_t at = 2;
    if (length < 126) {
        out[1] = static_cast<std::uint8_t>(mask_bit | length);
    } else if (length <= 0xFFFF) {
        out[1] = mask_bit | 126;
        out[2] = static_cast<std::uint8_t>(length >> 8);
        out[3] = static_cast<std::uint8_t>(length);
        at = 4;
    } else {
        out[1] = mask_bit | 127;
        for (std::size_t i = 0; i < 8; ++i) {
            out[2 + i] = static_cast<std::uint8_t>(length >> (56 - 8 * i));
        }
        at = 10;
    }
    if (key != nullptr) {
        std::memcpy(out + at, key->data(), 4);
        at += 4;
    }
    return at;
}

void apply_mask(std::span<char> data, const std::array<std::uint8_t, 4>& key,
                std::uint64_t offset) noexcept {
    copy_masked(data.data(), data, key, offset);
}

void copy_masked(char* to, std::span<const char> from, const std::array<std::uint8_t, 4>& key,
                 std::uint64_t offset) noexcept {
    // Eight bytes at a time: the key repeats every 4 bytes, so one rotation
    // of it serves the whole run (a browser's 1 KiB message is 128 XORs).
    const std::uint64_t wide = wide_key(key, offset);
    std::size_t i = 0;
    for (; i + 8 <= from.size(); i += 8) {
        std::uint64_t word = 0;
        std::memcpy(&word, from.data() + i, 8);
        word ^= wide;
        std::memcpy(to + i, &word, 8);
    }
    for (; i < from.size(); ++i) {
        to[i] = static_cast<char>(from[i] ^ static_cast<char>(key[(offset + i) % 4]));
    }
}

bool utf8_validator::feed(std::span<const char> bytes) noexcept {
    const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
    const auto* const end = p + bytes.size();
    while (p != end) {
        if (need_ == 0) {
            // ASCII runs (STOMP headers, JSON bodies) eight bytes at a time.
            while (end - p >= 8) {
                std::uint64_t word = 0;
                std::memcpy(&word, p, 8);
                if ((word & high_bits) != 0) {
                    break;
                }
                p += 8;
            }
            if (p == end) {
                break;
            }
            const std::uint8_t b = *p++;
            if (b < 0x80) {
                continue;
            }
            const lead l = lead_of(b);
            if (l.need == 0xFF) {
                need_ = 0xFF;
                return false;
            }
            need_ = l.need;
            low_ = l.low;
            high_ = l.high;
            continue;
        }
        const std::uint8_t b = *p++;
        if (need_ == 0xFF || b < low_ || b > high_) {
            need_ = 0xFF;
            return false;
        }
        --need_;
        low_ = 0x80;
        high_ = 0xBF;
    }
    return need_ != 0xFF;
}

bool is_valid_close_code(std::uint16_t code) noexcept {
    if (code >= 3000 && code <= 4999) {
        return true;
    }
    if (code < 1000 || code > 1014) {
        return false;
    }
    return code != 1004 && code != 1005 && code != 1006;
}

}  // namespace stampede::transport::ws
