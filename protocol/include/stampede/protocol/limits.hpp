#pragma once

#include <cstddef>

namespace stampede::protocol {

/// The size limits a parser enforces on one connection's frames, and how strictly.
///
/// Lengths of lines exclude their EOL. The frame size counts every byte from
/// the first byte of the command to the terminating NUL inclusive; EOLs
/// between frames (heart-beats) belong to no frame. Each breach is reported
/// with the errc that names the limit.
struct limits {
    std::size_t max_command_line = 1024;
    std::size_t max_headers = 1000;
    std::size_t max_header_line = 10 * 1024;
    std::size_t max_frame = 4 * 1024 * 1024;
    /// Refuse what the spec forbids clients but a server can safely skip:
    /// EOLs as the body of a frame that carries none (errc::body_not_allowed),
    /// and NULs between frames (errc::unknown_command). False: skip them and
    /// count them in parser::leniency().
    bool strict = false;

    /// The limits for a connection that has not yet completed CONNECT: like the defaults but
    /// with a 64 KiB frame.
    static limits before_connect() noexcept {
        limits l;
        l.max_frame = 64 * 1024;
        return l;
    }
};

}  // namespace stampede::protocol
