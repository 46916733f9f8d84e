#pragma once

// RFC 6455 framing, pure functions over bytes: frame headers, masking and an
// incremental UTF-8 check. No I/O; the stream in websocket_stream.cpp drives
// them. Written here rather than taken from Beast: see NOTES.md, "WebSocket".

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace stampede::transport::ws {

enum class opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

inline bool is_control(opcode op) noexcept {
    return (static_cast<unsigned>(op) & 0x8) != 0;
}

/// The longest header: 2 bytes, a 64-bit length and a masking key.
inline constexpr std::size_t max_header_size = 14;
/// The longest control frame payload (RFC 6455 5.5).
inline constexpr std::size_t max_control_payload = 125;

struct frame_header {
    bool fin = true;
    std::uint8_t rsv = 0;  ///< RSV1-3 as bits 2..0; nonzero without an extension is an error
    std::uint8_t raw_opcode = 0;
    bool masked = false;
    std::uint64_t length = 0;
    std::array<std::uint8_t, 4> key{};

    opcode op() const noexcept { return static_cast<opcode>(raw_opcode); }
};

/// The header's full size once its first two bytes are known (2 to 14).
std::size_t header_size(std::uint8_t byte0, std::uint8_t byte1) noexcept;

/// Decodes a header from `in`, which holds at least header_size(in[0], in[1])
/// bytes. Returns that size.
std::size_t decode_header(std::span<const std::uint8_t> in, frame_header& out) noexcept;

/// Writes a header for a payload of `length` bytes into `out` (at least
/// max_header_size bytes); `key` set means masked. Returns its size.
std::size_t encode_header(std::uint8_t* out, opcode op, bool fin, std::uint64_t length,
                          const std::array<std::uint8_t, 4>* key) noexcept;

/// XORs `data` with `key`, `data` starting at payload offset `offset`
/// (masking and unmasking are the same operation).
void apply_mask(std::span<char> data, const std::array<std::uint8_t, 4>& key,
                std::uint64_t offset) noexcept;

/// Copies `from` into `to` (same size), masked as at payload offset `offset`.
void copy_masked(char* to, std::span<const char> from, const std::array<std::uint8_t, 4>& key,
                 std::uint64_t offset) noexcept;

/// Validates UTF-8 fed in pieces split anywhere, failing at the first byte
/// that cannot begin or continue a well-formed sequence (RFC 3629: no
/// overlongs, surrogates or code points past U+10FFFF).
class utf8_validator {
  public:
    /// False at the first invalid byte; the validator is then spent.
    bool feed(std::span<const char> bytes) noexcept;
    /// True when no sequence is left open.
    bool complete() const noexcept { return need_ == 0; }
    void reset() noexcept { *this = utf8_validator{}; }

  private:
    std::uint8_t need_ = 0;  ///< continuation bytes still owed
    std::uint8_t low_ = 0x80;
    std::uint8_t high_ = 0xBF;
};

/// True when all of `bytes` is well-formed UTF-8.
inline bool is_utf8(std::span<const char> bytes) noexcept {
    utf8_validator v;
    return v.feed(bytes) && v.complete();
}

/// Whether a close frame's status code may be sent on the wire (RFC 6455
/// 7.4: 1000-1003, 1007-1014, 3000-4999).
bool is_valid_close_code(std::uint16_t code) noexcept;

}  // namespace stampede::transport::ws
