#pragma once

// The native driver's WebSocket client (--transport ws): Boost.Beast's
// websocket::stream in its client role, over the connection's runtime TCP
// stream (not owned), so the broker is measured against an independent
// implementation of RFC 6455 rather than its own transport module.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "stampede/runtime/io.hpp"

namespace stampede::load {

/// One client WebSocket over a connected runtime::tcp_stream. Each write is
/// one binary message (masked, as a client must); reads return message
/// payload bytes as a stream (STOMP frames delimit themselves). One fiber may
/// read while another writes; not two of either.
class ws_link {
  public:
    /// Runs the opening handshake on `tcp` (GET `path`, Host `host`, offering
    /// v12.stomp) before `deadline`. nullptr with `why` set on failure.
    static std::unique_ptr<ws_link> open(runtime::tcp_stream& tcp, const std::string& host,
                                         const std::string& path, runtime::time_point deadline,
                                         std::string& why);
    ~ws_link();
    ws_link(const ws_link&) = delete;
    ws_link& operator=(const ws_link&) = delete;

    /// The subprotocol the server chose (empty when none).
    const std::string& subprotocol() const noexcept;

    /// Some payload bytes into `into`: their count, or the error that ended
    /// the stream (runtime::errc::end_of_stream for a close by either side).
    runtime::result<std::size_t> read_some(std::span<char> into);

    /// Writes `bytes` as one binary message; time spent waiting for the
    /// socket to drain is added to `*blocked_ns` (when not null).
    runtime::result<void> write(std::span<const char> bytes, std::int64_t* blocked_ns);

  private:
    struct impl;
    explicit ws_link(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

}  // namespace stampede::load
