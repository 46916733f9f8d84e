#pragma once

#include "context.hpp"
#include "listener.hpp"
#include "stampede/runtime/io.hpp"

namespace stampede::broker {

/// The connection handler of a STOMP listener: admits the connection (or
/// refuses it when limits.max_connections or limits.max_unauthenticated_per_ip
/// is reached: with an ERROR on a plain listener, by closing it on a TLS or
/// WebSocket one), bounds its kernel send buffer, runs the listener's TLS
/// handshake and WebSocket upgrade (both before limits.connect_timeout_ms,
/// as unauthenticated time), and serves its session to the end. Runs on the
/// connection's fiber.
void admit_and_serve(broker_context& ctx, const listener_state& listener, runtime::tcp_stream tcp);

/// The IP part of "IP:port" or "[IPv6]:port".
std::string ip_of(std::string_view address);

}  // namespace stampede::broker
