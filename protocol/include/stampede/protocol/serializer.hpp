#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "stampede/protocol/frame.hpp"

namespace stampede::protocol {

/// A frame to write: views of its parts, which must outlive the call.
struct outgoing_frame {
    command cmd{};
    std::span<const header> headers;
    std::string_view body;
};

/// The exact number of bytes serialize() writes for `f` in version `v`.
std::size_t serialized_size(const outgoing_frame& f, version v) noexcept;

/// Writes `f` as a STOMP frame of version `v` to `out`; returns the bytes written.
///
/// Precondition: out.size() >= serialized_size(f, v). EOLs are LF. Header
/// names and values are escaped as `v` defines (1.2: `\r \n \c \\`; 1.1:
/// `\n \c \\`, a CR is written raw, as 1.1 reads it). CONNECT, STOMP and
/// CONNECTED are never escaped, and 1.0 has no escapes at all: there a CR or
/// LF in a name or value, and a colon in a name, are written as a space. That
/// is lossy, but the only way such a frame stays parseable.
///
/// SEND, MESSAGE and ERROR always get a `content-length` computed from the
/// body, placed after the other headers; any content-length in `f.headers` is
/// skipped for them. Other commands carry no body: callers pass an empty one
/// (a non-empty body is written as given, and peers reject the frame), and
/// their headers, content-length included, are written as given. The frame
/// ends with NUL and no trailing EOL.
std::size_t serialize(const outgoing_frame& f, version v, std::span<char> out) noexcept;

/// Serializes `f` into a new string; a convenience for tests and tools, not for the data path.
std::string serialize_to_string(const outgoing_frame& f, version v);

/// A MESSAGE frame prepared once per (published message, version) and written per subscriber.
///
/// The constructor escapes and lays out the bytes every copy shares; write()
/// then produces a whole frame with a handful of memcpys: the headers
/// destination, message-id, subscription, ack (only if non-empty), any extra
/// per-delivery headers, the user headers in order, content-length, a blank
/// line, the body and NUL. The output is byte for byte what serialize() writes
/// for a frame with those headers.
///
/// The user headers are those of the SEND frame minus the ones the broker
/// owns (destination, message-id, subscription, ack, content-length, receipt,
/// transaction, and whatever else the broker decides): filtering them is the
/// caller's job, the template writes what it is given. The template owns a
/// copy of the body, so it can be shared (e.g. through a shared_ptr) by every
/// subscriber's outbound queue.
///
/// For the shared-body mode, write_head() writes everything up to and
/// including the blank line; body() and tail() (the NUL) are shared, so a
/// connection can send [head][body][tail] with one writev.
class message_template {
  public:
    /// Prepares a MESSAGE of version `v` to `destination` with `user_headers` and `body`.
    message_template(version v, std::string_view destination, std::span<const header> user_headers,
                     std::string_view body);

    /// The size of the whole frame write() produces with these per-delivery headers.
    std::size_t size(std::string_view message_id, std::string_view subscription,
                     std::string_view ack, std::span<const header> extra = {}) const noexcept;

    /// Writes the whole frame; returns the bytes written. Precondition: out is at least size().
    ///
    /// `extra` holds per-delivery headers written after ack, such as
    /// `redelivered:true`; they are escaped like every other header.
    std::size_t write(std::span<char> out, std::string_view message_id,
                      std::string_view subscription, std::string_view ack,
                      std::span<const header> extra = {}) const noexcept;

    /// The size of the head write_head() produces.
    std::size_t head_size(std::string_view message_id, std::string_view subscription,
                          std::string_view ack, std::span<const header> extra = {}) const noexcept;

    /// Writes the command and headers through the blank line; returns the bytes written.
    ///
    /// Precondition: out is at least head_size(). The frame is complete once
    /// body() and tail() follow.
    std::size_t write_head(std::span<char> out, std::string_view message_id,
                           std::string_view subscription, std::string_view ack,
                           std::span<const header> extra = {}) const noexcept;

    /// The body, owned by the template.
    std::string_view body() const noexcept;

    /// What follows the body: the terminating NUL.
    std::string_view tail() const noexcept;

    /// The version the template was built for.
    version frame_version() const noexcept { return version_; }

  private:
    std::string bytes_;  // [prefix][suffix][body][NUL]
    std::size_t prefix_size_ = 0;
    std::size_t suffix_size_ = 0;
    version version_;
};

}  // namespace stampede::protocol
