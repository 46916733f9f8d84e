#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "stampede/protocol/errc.hpp"
#include "stampede/protocol/frame.hpp"
#include "stampede/protocol/limits.hpp"

namespace stampede::protocol {

/// What one call of parser::parse() found at the front of its input.
enum class parse_status : std::uint8_t {
    complete,   ///< A whole frame; parser::frame() describes it.
    heartbeat,  ///< EOLs (and, when lenient, NULs) outside any frame: heart-beats, traffic.
    need_more,  ///< The frame is incomplete; call again with the same bytes and more.
    error,      ///< The input is not STOMP; parse_result::error says why.
};

/// What a lenient parser (limits::strict false) has skipped that a strict one refuses.
///
/// Counts since the parser was made; reset() keeps them. They let an operator
/// see which clients are sloppy.
struct leniency_counts {
    /// Frames that carry no body (all but SEND, MESSAGE and ERROR) whose body
    /// was EOLs only: `DISCONNECT\n\n\n\0`. The EOLs were dropped.
    std::uint64_t eol_bodies = 0;
    /// NUL octets skipped between frames, where they count as heart-beats.
    std::uint64_t stray_nuls = 0;

    bool operator==(const leniency_counts&) const = default;
};

/// The outcome of parser::parse().
struct parse_result {
    parse_status status = parse_status::need_more;
    /// complete: bytes of the frame including its NUL; heartbeat: length of the run of EOLs;
    /// need_more and error: zero. The caller advances its buffer by this much.
    std::size_t consumed = 0;
    /// errc::ok unless status is error.
    errc error = errc::ok;
};

/// An incremental, allocation-free (in steady state) parser of STOMP frames.
///
/// parse() is a pure function of the parser's state and its input: no I/O, no
/// globals, no recursion, nothing large on the stack (it runs on small fiber
/// stacks). One parser serves one connection.
///
/// EOL rules follow the negotiated version: 1.2 accepts LF and CR LF, 1.0 and
/// 1.1 accept LF only (a CR is then an ordinary octet). Until set_version() is
/// called, which is while the CONNECT or STOMP frame (or, for a client, the
/// CONNECTED frame) is parsed, both LF and CR LF are accepted. Where CR LF is
/// accepted, a CR anywhere but before LF is errc::invalid_eol.
///
/// A header line is split at its FIRST colon; later colons belong to the value.
/// STOMP forbids them unescaped, but real clients send them (URLs, times), so
/// the parser is lenient here. Names and values are never trimmed.
///
/// Unless limits::strict is set, two things the spec forbids only the client
/// are skipped and counted (leniency()): a body of EOLs only on a frame that
/// carries none (the EOLs go; the frame has no body), and NULs between frames
/// (reported as heart-beats). A frame's EOL-only body counts toward its size
/// like any body. With limits::strict they are errors, as the spec has them.
///
/// Header names and values are unescaped in place in the caller's buffer, once
/// the frame is complete: 1.2 defines `\r \n \c \\`, 1.1 `\n \c \\`, 1.0
/// none; CONNECT, STOMP and CONNECTED are never unescaped; before a version is
/// set the 1.2 rules apply to other commands. Any other backslash sequence is
/// errc::invalid_escape.
class parser {
  public:
    /// A parser enforcing `l`, with no version negotiated yet.
    explicit parser(limits l = {});

    /// Replaces the limits; takes effect with the next frame. Call between frames.
    void set_limits(const limits& l) noexcept { limits_ = l; }

    /// Sets the negotiated version, which picks the EOL and escaping rules. Call between frames.
    void set_version(version v) noexcept { version_ = v; }

    /// The version set by set_version(), or nullopt while none has been negotiated.
    std::optional<version> current_version() const noexcept { return version_; }

    /// Parses at most one frame (or one run of heart-beat EOLs) from the front of `input`.
    ///
    /// On complete, frame() views the frame inside `input` until the next call
    /// of parse() or reset(), and `consumed` counts its bytes through the NUL.
    /// A trailing EOL after the NUL is not part of the frame: it comes back as
    /// a heartbeat from the next call. On need_more the caller must call again
    /// with the same frame bytes from their start, possibly at another address,
    /// followed by more; the parser resumes where it stopped and never rescans.
    /// After complete or error the next call starts a new frame. On error the
    /// connection's input cannot be resynchronised; the caller should send an
    /// ERROR frame and close. The bytes of `input` may be modified (unescaping)
    /// once a frame completes.
    [[nodiscard]] parse_result parse(std::span<char> input);

    /// The frame of the last parse() that returned complete.
    const frame_view& frame() const noexcept { return frame_; }

    /// Discards any partly parsed frame; keeps the limits, the version and the counts.
    void reset() noexcept;

    /// What this parser has skipped so far because it is lenient; zeros when strict.
    const leniency_counts& leniency() const noexcept { return leniency_; }

  private:
    enum class phase : std::uint8_t { start, command, headers, body };

    /// A header as offsets from the frame's start, since the frame may move between calls.
    struct raw_header {
        std::size_t name;
        std::size_t name_size;
        std::size_t value;
        std::size_t value_size;
        bool escaped;
    };

    std::optional<parse_result> parse_start(std::span<char> in);
    std::optional<parse_result> skip_between_frames(std::span<char> in);
    std::optional<parse_result> parse_command_line(std::span<char> in);
    std::optional<parse_result> parse_header_line(std::span<char> in);
    std::optional<parse_result> add_header(std::span<char> in, std::size_t line_end);
    std::optional<parse_result> begin_body();
    std::optional<parse_result> find_body_end(std::span<char> in, std::size_t& body_end);
    std::optional<parse_result> find_bodiless_end(std::span<char> in, std::size_t& body_end);
    std::optional<parse_result> missing_line_end(std::size_t size, std::size_t line_limit,
                                                 errc line_error) noexcept;
    parse_result complete(std::span<char> in, std::size_t body_end);
    parse_result fail(errc e) noexcept;
    bool cr_allowed() const noexcept { return !version_ || *version_ == version::v1_2; }

    limits limits_;
    std::optional<version> version_;
    leniency_counts leniency_;

    // Progress through the current frame, as offsets from its first byte.
    phase phase_ = phase::start;
    command cmd_ = command::send;
    bool unescape_ = false;     // this frame's headers are unescaped
    bool unescape_cr_ = false;  // ... and `\r` is defined (1.2)
    bool has_content_length_ = false;
    std::size_t content_length_ = 0;
    std::size_t line_ = 0;  // start of the line being parsed
    std::size_t scan_ = 0;  // where scanning resumes
    std::size_t body_ = 0;  // start of the body

    std::vector<raw_header> raw_headers_;
    std::vector<header> headers_;
    frame_view frame_;
};

}  // namespace stampede::protocol
