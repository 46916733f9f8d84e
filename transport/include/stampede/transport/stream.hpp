#pragma once

// A client connection's bytes, whatever carries them. The broker's session
// speaks STOMP over a `stream`; plain TCP, TLS and WebSocket are streams (and
// WebSocket over TLS is one stream wrapping another). A stream adapts bytes
// in and out (framing, encryption); it owns no STOMP state.

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "stampede/runtime/errc.hpp"
#include "stampede/runtime/io.hpp"
#include "stampede/runtime/timer.hpp"

namespace stampede::transport {

/// What a transport knows of the other end.
struct peer_identity {
    std::string address;           ///< "IP:port" of the TCP peer
    std::string certificate_name;  ///< TLS: the verified client certificate's CN; else empty
};

/// Why the broker ends a connection, for transports that can say so on the
/// wire (WebSocket close codes: 1000, 1001, 1002, 1007, 1008, 1009).
enum class close_reason : std::uint8_t {
    normal,          ///< DISCONNECT, or the peer closed first
    going_away,      ///< the broker is shutting down
    protocol_error,  ///< a malformed frame
    bad_data,        ///< data that cannot be what it claims (invalid text)
    policy,          ///< refused: authentication, permissions, a limit, a slow consumer
    too_big,         ///< a frame over a size limit
};

/// A connected client's byte stream, owned by one scheduler.
///
/// Every call blocks the calling fiber (never the thread) and must run on a
/// fiber of the owning scheduler. One fiber may receive while another writes.
class stream {
  public:
    virtual ~stream() = default;

    /// Waits for input and returns it (at least one byte). The bytes are lent
    /// and mutable (a parser may unescape in place): valid until the next
    /// receive(), release_input() or close(). errc::end_of_stream when the
    /// peer has closed; errc::timeout at `deadline`.
    virtual runtime::result<std::span<char>> receive(
        runtime::time_point deadline = runtime::no_deadline) = 0;

    /// Gives back the memory lent by the last receive() early (a reader that
    /// is about to wait a long time should hold no buffer).
    virtual void release_input() noexcept = 0;

    /// Writes `parts`, which hold back to back messages of `message_sizes`
    /// bytes each (the sizes sum to the bytes of `parts`). A message transport
    /// (WebSocket) sends each as one message; a byte stream writes them as one
    /// run of bytes with as few system calls as it can. `parts` is consumed.
    virtual runtime::result<void> write_messages(
        std::span<iovec> parts, std::span<const std::uint32_t> message_sizes,
        runtime::time_point deadline = runtime::no_deadline) = 0;

    /// Ends the sending side once everything written is out (TCP FIN, TLS
    /// close_notify, WebSocket close frame with `why`); the peer reads end of
    /// stream. Receiving goes on until the peer closes its side.
    virtual void shutdown_send(close_reason why = close_reason::normal) noexcept = 0;

    /// Interrupts operations in flight (they fail with errc::stream_closed),
    /// waits for their completions, and closes the socket.
    virtual void close() noexcept = 0;

    virtual bool is_open() const noexcept = 0;

    /// Who is at the other end.
    virtual const peer_identity& peer() const noexcept = 0;

    /// "tcp", "tls", "ws" or "wss", for logs and /stats.
    virtual std::string_view kind() const noexcept = 0;

    /// The underlying socket (for socket options such as SO_SNDBUF).
    virtual int native_handle() const noexcept = 0;
};

/// Plain TCP: the runtime's stream as a transport stream.
std::unique_ptr<stream> make_tcp_stream(runtime::tcp_stream tcp);

/// Sets the socket's kernel send buffer (SO_SNDBUF), so a peer that stops
/// reading costs the host a bounded amount of kernel memory. Returns the size
/// the kernel granted (Linux doubles the request for its bookkeeping).
runtime::result<std::size_t> set_send_buffer(int fd, std::size_t bytes) noexcept;

}  // namespace stampede::transport
