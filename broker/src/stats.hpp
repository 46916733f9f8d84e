#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_set>

#include "actors.hpp"

namespace stampede::broker {

/// Counters of one destination, kept by the actor that does the counting (a
/// topic or queue on its home scheduler, or a relay for the deliveries it
/// makes on its own). A snapshot sums the entries that share a key.
struct destination_counters {
    destination_kind kind = destination_kind::topic;
    std::string vhost;
    std::string name;
    std::uint64_t messages_in = 0;
    std::uint64_t messages_out = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t dropped = 0;   ///< topic: no subscriber; queue: drop-head overflow
    std::uint64_t rejected = 0;  ///< queue: reject-publish overflow
    std::uint64_t redelivered = 0;
    std::uint64_t dead_lettered = 0;
    std::uint64_t expired = 0;  ///< never delivered: past their deadline (dead-lettered or not)
    std::uint64_t depth = 0;    ///< queue: messages held (ready + delayed + unacknowledged)
    std::uint64_t delayed = 0;  ///< queue, topic: waiting for their AMQ_SCHEDULED_DELAY
    std::uint64_t depth_bytes = 0;  ///< queue: of the messages in memory
    std::uint64_t paged = 0;        ///< queue: messages in the journal only (queue_pager.hpp), in depth
    std::uint64_t paged_bytes = 0;  ///< queue: their bytes, not in depth_bytes
    std::uint64_t unacked = 0;
    std::uint64_t subscribers = 0;      ///< topic subscribers or queue consumers
    std::uint64_t held_publishers = 0;  ///< publishers waiting for its gate to open
    std::uint64_t idle_checks = 0;      ///< idle periods it has seen (reclaimable or not)
    std::uint64_t reclaim_refusals = 0; ///< idle reports the registry refused: still in use
};

/// Counters of one connection, kept by its session.
struct connection_counters {
    std::uint64_t id = 0;
    std::string peer;
    std::string peer_ip;
    std::string transport;  ///< tcp, tls, ws, wss
    std::string vhost;
    std::string login;
    std::string version;
    std::uint64_t frames_in = 0;
    std::uint64_t frames_out = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t messages_in = 0;   ///< SENDs accepted
    std::uint64_t messages_out = 0;  ///< MESSAGEs queued for the client
    std::uint64_t subscriptions = 0;
    std::uint64_t outbound_bytes = 0;
    int socket_fd = -1;            ///< read at snapshot time: bytes in its kernel send queue
    std::uint64_t dropped = 0;     ///< topic messages dropped as a slow consumer
    std::uint64_t expired = 0;     ///< messages not written because they had expired
    bool slow = false;             ///< holding publishers back, or its reader paused
    std::uint64_t eol_bodies = 0;  ///< frames whose EOL-only body was dropped (not strict)
    std::uint64_t stray_nuls = 0;  ///< NULs skipped between frames (not strict)
    std::chrono::steady_clock::time_point connected_at = std::chrono::steady_clock::now();
};

/// The counters living on one scheduler, for snapshots. Actors register the
/// counters they own for as long as they live. Touched only on its scheduler.
class stats_board {
  public:
    void add(const destination_counters* c) { destinations_.insert(c); }
    void remove(const destination_counters* c) noexcept { destinations_.erase(c); }
    void add(const connection_counters* c) { connections_.insert(c); }
    /// Forgets a connection; what it counted for the broker-wide totals is kept.
    void remove(const connection_counters* c) noexcept;

    /// {"destinations": [...], "connections": [...], "leniency": {...}} as they are right now;
    /// "leniency" sums every connection this board has known, closed ones included.
    nlohmann::json snapshot() const;

  private:
    std::uint64_t closed_eol_bodies_ = 0;
    std::uint64_t closed_stray_nuls_ = 0;
    std::unordered_set<const destination_counters*> destinations_;
    std::unordered_set<const connection_counters*> connections_;
};

/// Merges per-scheduler snapshots: destination entries with the same virtual
/// host and name are summed; connections are listed.
nlohmann::json merge_snapshots(const std::vector<nlohmann::json>& parts);

std::string_view to_string(destination_kind kind) noexcept;

}  // namespace stampede::broker
