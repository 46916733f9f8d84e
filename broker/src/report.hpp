#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "context.hpp"

namespace stampede::broker {

/// The full snapshot from its parts: per-scheduler counters (stats_board
/// snapshots) and stack statistics. Adds the broker and memory sections.
nlohmann::json compose_snapshot(const broker_context& ctx, const std::vector<nlohmann::json>& parts,
                                const std::vector<runtime::fiber_kind_stats>& stacks,
                                const std::string& listen);

/// Collects and composes the snapshot from a fiber (the admin endpoint).
runtime::result<nlohmann::json> snapshot_from_fiber(broker_context& ctx, const std::string& listen);

/// Keeps `limit` entries of the "destinations" and "connections" lists from
/// `offset` on, saying how many there are in all and where the next page
/// starts, so that a listing is never silently cut short.
void paginate(nlohmann::json& snapshot, std::size_t offset, std::size_t limit);

/// The snapshot in the Prometheus text exposition format (version 0.0.4).
/// The snapshot in Prometheus text format. Per-destination series exist for
/// the `top_destinations` busiest destinations (messages in plus out); the
/// others are summed into one series named "_other", so the output stays
/// bounded however many destinations exist.
std::string to_prometheus(const nlohmann::json& snapshot, std::size_t top_destinations);

}  // namespace stampede::broker
