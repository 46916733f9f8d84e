#pragma once

#include "context.hpp"
#include "stampede/runtime/io.hpp"

namespace stampede::broker {

/// The connection handler of the STOMP listener: admits the connection (or
/// refuses it with an ERROR when limits.max_connections or
/// limits.max_unauthenticated_per_ip is reached), bounds its kernel send
/// buffer, and serves its session to the end. Runs on the connection's fiber.
void admit_and_serve(broker_context& ctx, runtime::tcp_stream tcp);

/// The IP part of "IP:port" or "[IPv6]:port".
std::string ip_of(std::string_view address);

}  // namespace stampede::broker
