#pragma once

#include <string>

#include "context.hpp"
#include "listener.hpp"

namespace stampede::broker {

/// Serves the admin HTTP endpoint on `listener` until the listener closes or
/// the runtime stops; each connection gets a fiber of its own:
///   GET /healthz   "ok"
///   GET /stats     the snapshot as JSON; ?offset=N&limit=M pages the
///                  destination and connection lists (default limit 1000),
///                  with totals, so that nothing is silently left out
///   GET /metrics   the snapshot in Prometheus text format
/// Over TLS when `endpoint` has a TLS context. /stats and /metrics need the
/// bearer token or an admin user's password (HTTP Basic) when either is
/// configured. Must run on a fiber.
void serve_admin(broker_context& ctx, runtime::tcp_listener& listener,
                 const listener_state& endpoint, std::string broker_listen);

}  // namespace stampede::broker
