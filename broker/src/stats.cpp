#include "stats.hpp"

#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <map>

namespace stampede::broker {

std::string_view to_string(destination_kind kind) noexcept {
    return kind == destination_kind::topic ? "topic" : "queue";
}

namespace {

nlohmann::json to_json(const destination_counters& c) {
    return {{"kind", to_string(c.kind)},
            {"vhost", c.vhost},
            {"name", c.name},
            {"messages_in", c.messages_in},
            {"messages_out", c.messages_out},
            {"bytes_in", c.bytes_in},
            {"bytes_out", c.bytes_out},
            {"dropped", c.dropped},
            {"rejected", c.rejected},
            {"redelivered", c.redelivered},
            {"dead_lettered", c.dead_lettered},
            {"expired", c.expired},
            {"delayed", c.delayed},
            {"depth", c.depth},
            {"depth_bytes", c.depth_bytes},
            {"paged", c.paged},
            {"paged_bytes", c.paged_bytes},
            {"unacked", c.unacked},
            {"subscribers", c.subscribers},
            {"held_publishers", c.held_publishers},
            {"idle_checks", c.idle_checks},
            {"reclaim_refusals", c.reclaim_refusals}};
}

// Bytes written to the socket that its peer has not taken yet: kernel memory
// the connection holds.
std::uint64_t socket_queued(int fd) {
    int queued = 0;
    if (fd < 0 || ::ioctl(fd, SIOCOUTQ, &queued) != 0 || queued < 0) {
        return 0;
    }
    return static_cast<std::uint64_t>(queued);
}

nlohmann::json to_json(const connection_counters& c) {
    const auto age = std::chrono::steady_clock::now() - c.connected_at;
    return {{"id", c.id},
            {"peer", c.peer},
            {"transport", c.transport},
            {"vhost", c.vhost},
            {"login", c.login},
            {"version", c.version},
            {"frames_in", c.frames_in},
            {"frames_out", c.frames_out},
            {"bytes_in", c.bytes_in},
            {"bytes_out", c.bytes_out},
            {"messages_in", c.messages_in},
            {"messages_out", c.messages_out},
            {"subscriptions", c.subscriptions},
            {"outbound_bytes", c.outbound_bytes},
            {"socket_bytes", socket_queued(c.socket_fd)},
            {"dropped", c.dropped},
            {"expired", c.expired},
            {"slow", c.slow},
            {"eol_bodies", c.eol_bodies},
            {"stray_nuls", c.stray_nuls},
            {"connected_ms", std::chrono::duration_cast<std::chrono::milliseconds>(age).count()}};
}

constexpr const char* summed_fields[] = {
    "messages_in", "messages_out", "bytes_in",        "bytes_out", "dropped",
    "rejected",    "redelivered",  "dead_lettered",   "depth",     "depth_bytes",
    "unacked",     "subscribers",  "held_publishers", "expired",   "delayed",
    "paged",       "paged_bytes"};

}  // namespace

void stats_board::remove(const connection_counters* c) noexcept {
    if (connections_.erase(c) != 0) {
        closed_eol_bodies_ += c->eol_bodies;
        closed_stray_nuls_ += c->stray_nuls;
    }
}

nlohmann::json stats_board::snapshot() const {
    nlohmann::json out = {{"destinations", nlohmann::json::array()},
                          {"connections", nlohmann::json::array()}};
    for (const auto* d : destinations_) {
        out["destinations"].push_back(to_json(*d));
    }
    std::uint64_t eol_bodies = closed_eol_bodies_;
    std::uint64_t stray_nuls = closed_stray_nuls_;
    for (const auto* c : connections_) {
        out["connections"].push_back(to_json(*c));
        eol_bodies += c->eol_bodies;
        stray_nuls += c->stray_nuls;
    }
    out["leniency"] = {{"eol_bodies", eol_bodies}, {"stray_nuls", stray_nuls}};
    return out;
}

nlohmann::json merge_snapshots(const std::vector<nlohmann::json>& parts) {
    std::map<std::pair<std::string, std::string>, nlohmann::json> destinations;
    nlohmann::json connections = nlohmann::json::array();
    nlohmann::json leniency = {{"eol_bodies", 0}, {"stray_nuls", 0}};
    for (const auto& part : parts) {
        if (const auto it = part.find("leniency"); it != part.end()) {
            for (auto& [key, total] : leniency.items()) {
                total = total.get<std::uint64_t>() + it->value(key, std::uint64_t{0});
            }
        }
        for (const auto& d : part["destinations"]) {
            auto key = std::pair{d["vhost"].get<std::string>(), d["name"].get<std::string>()};
            auto [it, fresh] = destinations.try_emplace(key, d);
            if (fresh) {
                continue;
            }
            for (const char* field : summed_fields) {
                it->second[field] =
                    it->second[field].get<std::uint64_t>() + d[field].get<std::uint64_t>();
            }
        }
        for (const auto& c : part["connections"]) {
            connections.push_back(c);
        }
    }
    nlohmann::json merged = {{"destinations", nlohmann::json::array()},
                             {"connections", connections},
                             {"leniency", leniency}};
    for (auto& [key, d] : destinations) {
        merged["destinations"].push_back(std::move(d));
    }
    return merged;
}

}  // namespace stampede::broker
