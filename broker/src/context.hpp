#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actors.hpp"
#include "connection_limits.hpp"
#include "stampede/broker/config.hpp"
#include "stampede/runtime/io.hpp"
#include "stampede/runtime/runtime.hpp"

namespace stampede::broker {

class stats_board;
class broker_auth;
class durability;

/// What belongs to one scheduler: its relay and registry, the sessions
/// connected through it. Touched only on that scheduler.
struct shard_state {
    unsigned index = 0;
    runtime::tcp_listener* listener = nullptr;        ///< shard 0: the STOMP listener
    runtime::tcp_listener* admin_listener = nullptr;  ///< shard 0: the admin endpoint
    std::unordered_map<std::uint64_t, std::weak_ptr<session>> sessions;
    std::unique_ptr<stats_board> stats;
};

/// Everything the broker's pieces share. The vectors are filled before the
/// first connection and never change afterwards, so any thread may read them;
/// each shard_state is touched only on its own scheduler.
struct broker_context {
    broker_context(const config& c, runtime::runtime& r);
    ~broker_context();

    const config& cfg;
    runtime::runtime& rt;
    std::vector<runtime::actor_ref<registry_actor>> registries;  ///< one per scheduler
    std::vector<runtime::actor_ref<relay_actor>> relays;         ///< one per scheduler
    std::vector<std::unique_ptr<shard_state>> shards;
    std::atomic<std::uint64_t> next_session_id{1};
    std::atomic<bool> memory_alarm{false};     ///< resident memory over the high-water mark
    std::atomic<std::size_t> destinations{0};  ///< live destination actors, broker-wide
    connection_limiter limiter;
    /// Users, their verifier, the login throttle, permissions (auth_state.hpp).
    std::unique_ptr<broker_auth> auth;
    /// Per virtual host and scheduler (vhost * schedulers + scheduler): the
    /// scheduler's relay holds wildcard subscriptions of that virtual host, so
    /// every topic of it sends each message there too. Set by the relay before
    /// it confirms the first such subscription.
    std::vector<std::atomic<bool>> wildcard_relays;
    /// Messages dropped because their temporary destination's owner had gone
    /// (held when it went, or sent afterwards).
    std::atomic<std::uint64_t> temporary_dropped{0};
    /// SIGHUP reloads of the listeners' certificates (broker::reload_tls).
    std::atomic<std::uint64_t> tls_reloads{0};
    std::atomic<std::uint64_t> tls_reload_failures{0};  ///< a listener kept its old certificate
    /// Distinguishes this run's message ids from those of earlier runs (whose
    /// messages a journal may bring back).
    const std::string boot_id;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    /// The journal (durable.hpp), when data_dir is set; null: memory only.
    std::unique_ptr<durability> durable;

    /// The scheduler (and registry shard) that owns destination `key`.
    unsigned shard_for(std::string_view key) const noexcept;

    /// The calling scheduler's shard. Must run on a scheduler.
    shard_state& here() const noexcept;

    /// The index of virtual host `name` in cfg.virtual_hosts (0 if unknown).
    unsigned vhost_index(std::string_view name) const noexcept;

    /// Whether scheduler `scheduler` has wildcard subscriptions in virtual host `vhost`.
    std::atomic<bool>& wildcard_relay(unsigned vhost, unsigned scheduler) noexcept {
        return wildcard_relays[vhost * shards.size() + scheduler];
    }
};

/// Registry key of a destination: its virtual host and name.
std::string destination_key(std::string_view vhost, std::string_view name);

}  // namespace stampede::broker
