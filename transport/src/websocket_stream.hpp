#pragma once

// The WebSocket stream once the handshake is done (private to the transport
// module; websocket_handshake.cpp makes one).

#include <memory>
#include <string>
#include <vector>

#include "stampede/transport/websocket.hpp"

namespace stampede::transport::ws {

enum class role : std::uint8_t { server, client };

struct stream_settings {
    role side = role::server;
    std::size_t max_message_bytes = 0;
    bool always_binary = false;
    std::string subprotocol;
    std::string origin;
};

/// Wraps `inner` after a completed handshake. `early` holds bytes the peer
/// sent right behind the handshake (its first frames), decoded first.
std::unique_ptr<websocket_stream> make_stream(std::unique_ptr<stream> inner,
                                              stream_settings settings, std::vector<char> early);

}  // namespace stampede::transport::ws
