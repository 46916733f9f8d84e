#pragma once

// WebSocket (RFC 6455) as a transport stream: STOMP over WebSocket for
// browsers, the way RabbitMQ's web-stomp serves it. A websocket stream wraps
// another stream (plain TCP, or TLS for wss) and adapts framing only:
// receive() yields the payload bytes of the peer's messages as one byte
// stream (a STOMP frame may span messages, a message may carry several
// frames), write_messages() sends each STOMP frame as one message.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stampede/runtime/errc.hpp"
#include "stampede/runtime/timer.hpp"
#include "stampede/transport/stream.hpp"

namespace stampede::transport {

/// Why a WebSocket handshake or connection failed.
enum class websocket_errc {
    bad_request = 1,         ///< not a valid WebSocket upgrade request (HTTP 400 sent)
    wrong_path,              ///< the request's path is not the listener's (HTTP 404 sent)
    origin_refused,          ///< the Origin is not on the allow-list (HTTP 403 sent)
    request_too_large,       ///< the upgrade request is over its size limit (HTTP 431 sent)
    unsupported_version,     ///< Sec-WebSocket-Version is not 13 (HTTP 426 sent)
    handshake_refused,       ///< client: the server answered something other than 101
    bad_handshake_response,  ///< client: a 101 with a wrong accept key or an unoffered choice
    protocol_error,          ///< the peer broke RFC 6455 framing (closed with 1002)
    invalid_utf8,            ///< a text message that is not UTF-8 (closed with 1007)
    message_too_big,         ///< a message over its size limit (closed with 1009)
    closed,                  ///< a write after the close frame was sent
};

/// The error category of `websocket_errc` ("stampede.websocket").
const boost::system::error_category& websocket_category() noexcept;

inline boost::system::error_code make_error_code(websocket_errc e) noexcept {
    return {static_cast<int>(e), websocket_category()};
}

/// The WebSocket close code that goes with `why` (1000, 1001, 1002, 1007,
/// 1008 or 1009).
std::uint16_t close_code(close_reason why) noexcept;

/// The STOMP subprotocols, best first. The server picks the first of these
/// that the client offered.
inline constexpr std::string_view stomp_subprotocols[] = {"v12.stomp", "v11.stomp", "v10.stomp"};

/// The STOMP version a subprotocol names ("1.2" for "v12.stomp"); empty for
/// none or an unknown one. The session offers only this version when it is
/// set (a client that chose v11.stomp speaks 1.1).
std::string_view stomp_version_of(std::string_view subprotocol) noexcept;

/// A listener's WebSocket settings (the config's `websocket` block).
struct websocket_options {
    std::string path = "/ws";  ///< the request path served (query string ignored)
    /// Origins allowed to connect (`scheme://host[:port]`, compared ignoring
    /// ASCII case); nullopt: every origin. A request without Origin (not a
    /// browser) is allowed unless `require_origin`.
    std::optional<std::vector<std::string>> allowed_origins;
    bool require_origin = false;
    std::size_t max_request_bytes = 16 * 1024;                    ///< the upgrade request's header
    std::size_t max_message_bytes = 4 * 1024 * 1024 + 64 * 1024;  ///< one message, all fragments
    bool always_binary = false;  ///< send every message as binary, even valid UTF-8
};

/// A stream that speaks WebSocket over another one.
class websocket_stream : public stream {
  public:
    /// The subprotocol agreed in the handshake ("v12.stomp", ...), or empty
    /// when the client offered none of ours.
    virtual std::string_view subprotocol() const noexcept = 0;

    /// The handshake's Origin header (what a browser says the page came
    /// from), or empty.
    virtual std::string_view origin() const noexcept = 0;
};

/// Serves the WebSocket opening handshake on `inner` and returns the stream.
///
/// Reads the HTTP upgrade request (at most `options.max_request_bytes`, all
/// of it before `deadline`), checks it, the path and the Origin allow-list,
/// picks the subprotocol and answers 101 (permessage-deflate is never
/// negotiated). On refusal it answers 400, 403, 404, 426 or 431 as
/// `websocket_errc` says, closes `inner` and returns that error; a request
/// not complete by `deadline` gets errc::timeout and no answer. Must run on
/// a fiber of `inner`'s scheduler.
[[nodiscard]] runtime::result<std::unique_ptr<websocket_stream>> websocket_accept(
    std::unique_ptr<stream> inner, const websocket_options& options, runtime::time_point deadline);

/// A client's WebSocket settings (tests and the load driver).
struct websocket_client_options {
    std::string host = "localhost";  ///< the Host header
    std::string path = "/ws";
    std::string origin;  ///< sent when not empty
    std::vector<std::string> subprotocols{"v12.stomp", "v11.stomp", "v10.stomp"};
    std::size_t max_response_bytes = 16 * 1024;
    std::size_t max_message_bytes = 64 * 1024 * 1024;
    bool always_binary = false;
};

/// Performs the client's opening handshake on `inner` and returns the stream
/// (its messages masked, as RFC 6455 requires of a client).
/// websocket_errc::handshake_refused when the server does not answer 101;
/// bad_handshake_response when its 101 is wrong. Must run on a fiber of
/// `inner`'s scheduler.
[[nodiscard]] runtime::result<std::unique_ptr<websocket_stream>> websocket_connect(
    std::unique_ptr<stream> inner, const websocket_client_options& options,
    runtime::time_point deadline);

}  // namespace stampede::transport

namespace boost::system {
template <>
struct is_error_code_enum<stampede::transport::websocket_errc> : std::true_type {};
}  // namespace boost::system
