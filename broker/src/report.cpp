#include "report.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "stampede/broker/version.hpp"
#include "auth_state.hpp"
#include "durable.hpp"
#include "stats.hpp"

namespace stampede::broker {

namespace {

// VmRSS and VmHWM of this process, in bytes.
std::pair<std::uint64_t, std::uint64_t> process_memory() {
    std::ifstream status("/proc/self/status");
    std::string line;
    std::uint64_t rss = 0;
    std::uint64_t peak = 0;
    while (std::getline(status, line)) {
        std::istringstream fields(line);
        std::string name;
        std::uint64_t kib = 0;
        fields >> name >> kib;
        if (name == "VmRSS:") {
            rss = kib * 1024;
        } else if (name == "VmHWM:") {
            peak = kib * 1024;
        }
    }
    return {rss, peak};
}

nlohmann::json stack_json(const std::vector<runtime::fiber_kind_stats>& stacks) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& s : stacks) {
        out.push_back({{"kind", s.kind},
                       {"fibers", s.fibers},
                       {"stack_size", s.stack_size},
                       {"max_high_water", s.max_high_water},
                       {"resident_bytes", s.resident_bytes}});
    }
    return out;
}

std::uint64_t sum_of(const nlohmann::json& list, const char* field) {
    std::uint64_t total = 0;
    for (const auto& entry : list) {
        total += entry[field].get<std::uint64_t>();
    }
    return total;
}

// Broker-wide sums, taken before the lists are paged, so that a reader of one
// page (the dashboard) still sees the whole broker's rates and states.
nlohmann::json totals_of(const nlohmann::json& destinations, const nlohmann::json& connections) {
    nlohmann::json totals = nlohmann::json::object();
    for (const char* field : {"messages_in", "messages_out", "bytes_in", "bytes_out", "dropped",
                              "rejected", "redelivered", "dead_lettered", "depth", "unacked", "paged",
                              "paged_bytes"}) {
        totals[field] = sum_of(destinations, field);
    }
    std::uint64_t slow = 0;
    std::uint64_t dropped_for_slowness = 0;
    nlohmann::json by_transport = nlohmann::json::object();
    for (const auto& c : connections) {
        slow += c["slow"].get<bool>() ? 1 : 0;
        dropped_for_slowness += c["dropped"].get<std::uint64_t>();
        const std::string kind = c.value("transport", std::string("tcp"));
        by_transport[kind] = by_transport.value(kind, 0) + 1;
    }
    totals["slow_connections"] = slow;
    totals["slow_consumer_drops"] = dropped_for_slowness;
    totals["connections_by_transport"] = std::move(by_transport);
    return totals;
}

}  // namespace

nlohmann::json compose_snapshot(const broker_context& ctx, const std::vector<nlohmann::json>& parts,
                                const std::vector<runtime::fiber_kind_stats>& stacks,
                                const std::string& listen) {
    nlohmann::json out = merge_snapshots(parts);
    const auto uptime = std::chrono::steady_clock::now() - ctx.started;
    out["broker"] = {
        {"version", version},
        {"io_backend", ctx.rt.io_backend_name()},
        {"schedulers", ctx.rt.size()},
        {"stack_size", ctx.cfg.stack_size},
        {"listen", listen},
        {"connections", out["connections"].size()},
        {"destinations", out["destinations"].size()},
        {"temporary_dropped", ctx.temporary_dropped.load(std::memory_order_relaxed)},
        {"uptime_ms", std::chrono::duration_cast<std::chrono::milliseconds>(uptime).count()}};
    const auto [rss, peak] = process_memory();
    out["memory"] = {{"resident_bytes", rss},
                     {"peak_resident_bytes", peak},
                     {"high_water_bytes", memory_high_water_bytes(ctx.cfg.memory)},
                     {"alarm", ctx.memory_alarm.load(std::memory_order_relaxed)},
                     {"outbound_bytes", sum_of(out["connections"], "outbound_bytes")},
                     {"socket_bytes", sum_of(out["connections"], "socket_bytes")},
                     {"high_water_bytes", memory_high_water_bytes(ctx.cfg.memory)},
                     {"alarm", ctx.memory_alarm.load(std::memory_order_relaxed)},
                     {"queued_bytes", sum_of(out["destinations"], "depth_bytes")}};
    out["tls"] = {{"reloads", ctx.tls_reloads.load(std::memory_order_relaxed)},
                  {"reload_failures", ctx.tls_reload_failures.load(std::memory_order_relaxed)}};
    if (ctx.auth) {
        const auto count = [](const std::atomic<std::uint64_t>& c) {
            return c.load(std::memory_order_relaxed);
        };
        out["auth"] = {{"logins_accepted", count(ctx.auth->logins_accepted)},
                       {"logins_failed", count(ctx.auth->logins_failed)},
                       {"logins_throttled", count(ctx.auth->logins_throttled)},
                       {"logins_busy", count(ctx.auth->logins_busy)},
                       {"access_denied", count(ctx.auth->access_denied)},
                       {"access_denied_by_permission",
                        {{"configure", count(ctx.auth->denied_configure)},
                         {"write", count(ctx.auth->denied_write)},
                         {"read", count(ctx.auth->denied_read)}}},
                       {"reloads", count(ctx.auth->reloads)},
                       {"reload_failures", count(ctx.auth->reload_failures)},
                       {"admin_accepted", count(ctx.auth->admin_accepted)},
                       {"admin_failed", count(ctx.auth->admin_failed)},
                       {"admin_throttled", count(ctx.auth->admin_throttled)},
                       {"admin_busy", count(ctx.auth->admin_busy)}};
        if (const auto verifier = ctx.auth->verifier()) {
            // The pool's own figures (STOMP and admin logins together).
            const auto v = verifier->stats();
            out["auth"]["verifier"] = {{"hashes", v.hashes},     {"cache_hits", v.cache_hits},
                                       {"accepted", v.accepted}, {"rejected", v.rejected},
                                       {"busy", v.busy},         {"queued", v.queued},
                                       {"cached", v.cached}};
        }
    }
    if (ctx.durable) {
        // The journal's counters (issue 10). `tokens`: durable operations
        // sessions waited on (persistent SENDs to durable destinations, ACKs
        // on durable queues, durable subscription changes).
        const storage::store_stats js = ctx.durable->journal().stats();
        out["journal"] = {{"tokens", ctx.durable->tokens_taken()},
                          {"appends", js.appends},
                          {"batches", js.batches},
                          {"syncs", js.syncs},
                          {"write_errors", js.write_errors},
                          {"live_messages", js.live_messages},
                          {"segments", js.segments},
                          {"tail_cuts", js.tail_cuts},
                          {"failed", js.failed}};
    }
    out["stacks"] = stack_json(stacks);
    out["totals"] = totals_of(out["destinations"], out["connections"]);
    return out;
}

runtime::result<nlohmann::json> snapshot_from_fiber(broker_context& ctx,
                                                    const std::string& listen) {
    auto parts = ctx.rt.on_each_scheduler([&ctx] { return ctx.here().stats->snapshot(); });
    if (!parts) {
        return parts.error();
    }
    auto stacks =
        ctx.rt.on_each_scheduler([] { return runtime::this_scheduler()->collect_stack_stats(); });
    if (!stacks) {
        return stacks.error();
    }
    return compose_snapshot(ctx, *parts, runtime::merge_stack_stats(*stacks), listen);
}

void paginate(nlohmann::json& snapshot, std::size_t offset, std::size_t limit) {
    for (const char* list : {"destinations", "connections"}) {
        nlohmann::json& all = snapshot[list];
        const std::size_t total = all.size();
        const std::size_t first = std::min(offset, total);
        const std::size_t last = first + std::min(limit, total - first);  // never wraps
        nlohmann::json page = nlohmann::json::array();
        for (std::size_t i = first; i < last; ++i) {
            page.push_back(std::move(all[i]));
        }
        all = std::move(page);
        nlohmann::json paging = {{"total", total}, {"offset", first}, {"limit", limit}};
        paging["next_offset"] = last < total ? nlohmann::json(last) : nlohmann::json(nullptr);
        snapshot["pages"][list] = std::move(paging);
    }
}

namespace {

std::string label_value(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '\\' || c == '"') {
            out.push_back('\\');
            out.push_back(c);
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

void family(std::ostringstream& out, const char* name, const char* type, const char* help) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
}

struct destination_metric {
    const char* field;
    const char* name;
    const char* type;
    const char* help;
};

constexpr destination_metric destination_metrics[] = {
    {"messages_in", "stampede_destination_messages_in_total", "counter", "Messages published."},
    {"messages_out", "stampede_destination_messages_out_total", "counter", "Messages delivered."},
    {"bytes_in", "stampede_destination_bytes_in_total", "counter", "Body bytes published."},
    {"bytes_out", "stampede_destination_bytes_out_total", "counter", "Bytes delivered."},
    {"dropped", "stampede_destination_dropped_total", "counter",
     "Messages dropped (topic without subscriber, queue drop-head overflow)."},
    {"rejected", "stampede_destination_rejected_total", "counter",
     "Messages refused by a full queue (reject-publish)."},
    {"redelivered", "stampede_destination_redelivered_total", "counter", "Redeliveries."},
    {"dead_lettered", "stampede_destination_dead_lettered_total", "counter",
     "Messages moved to a dead-letter queue."},
    {"depth", "stampede_destination_depth", "gauge", "Messages held (ready and unacknowledged)."},
    {"depth_bytes", "stampede_destination_depth_bytes", "gauge", "Bytes of the messages held."},
    {"paged", "stampede_destination_paged", "gauge",
     "Queue messages past the memory budget, in the journal only (in depth)."},
    {"paged_bytes", "stampede_destination_paged_bytes", "gauge",
     "Bytes of the paged queue messages (not in depth_bytes)."},
    {"unacked", "stampede_destination_unacked", "gauge", "Deliveries awaiting acknowledgement."},
    {"subscribers", "stampede_destination_subscribers", "gauge", "Subscribers or consumers."},
    {"held_publishers", "stampede_destination_held_publishers", "gauge",
     "Publishers held at the destination's gate (flow control)."},
};

}  // namespace

namespace {

std::uint64_t traffic(const nlohmann::json& d) {
    return d["messages_in"].get<std::uint64_t>() + d["messages_out"].get<std::uint64_t>();
}

// The busiest `top` destinations as they are, then one entry summing the rest.
nlohmann::json bounded_destinations(const nlohmann::json& all, std::size_t top) {
    std::vector<const nlohmann::json*> order;
    order.reserve(all.size());
    for (const auto& d : all) {
        order.push_back(&d);
    }
    const std::size_t kept = std::min(top, order.size());
    std::partial_sort(
        order.begin(), order.begin() + static_cast<std::ptrdiff_t>(kept), order.end(),
        [](const nlohmann::json* a, const nlohmann::json* b) { return traffic(*a) > traffic(*b); });
    nlohmann::json out = nlohmann::json::array();
    for (std::size_t i = 0; i < kept; ++i) {
        out.push_back(*order[i]);
    }
    if (kept < order.size()) {
        nlohmann::json rest = {{"vhost", ""}, {"kind", "other"}, {"name", "_other"}};
        for (const auto& metric : destination_metrics) {
            std::uint64_t sum = 0;
            for (std::size_t i = kept; i < order.size(); ++i) {
                sum += (*order[i])[metric.field].get<std::uint64_t>();
            }
            rest[metric.field] = sum;
        }
        out.push_back(std::move(rest));
    }
    return out;
}

// The login and permission counters (issue 11); absent when the broker has
// no users or permissions configured, as in /stats.
void auth_metrics(std::ostringstream& out, const nlohmann::json& snapshot) {
    const auto it = snapshot.find("auth");
    if (it == snapshot.end()) {
        return;
    }
    const auto& a = *it;
    family(out, "stampede_logins_total", "counter",
           "STOMP logins by outcome: accepted, failed (wrong login or passcode), "
           "locked_out (refused at once: too many failures from the address), "
           "busy (refused at once: the verifier queue was full).");
    for (const auto& [outcome, field] :
         {std::pair{"accepted", "logins_accepted"}, std::pair{"failed", "logins_failed"},
          std::pair{"locked_out", "logins_throttled"}, std::pair{"busy", "logins_busy"}}) {
        out << "stampede_logins_total{outcome=\"" << outcome << "\"} " << a.value(field, 0ULL)
            << '\n';
    }
    family(out, "stampede_permission_denials_total", "counter",
           "Frames refused for want of a permission, by the permission missing.");
    const auto kinds = a.value("access_denied_by_permission", nlohmann::json::object());
    for (const char* kind : {"configure", "write", "read"}) {
        out << "stampede_permission_denials_total{permission=\"" << kind << "\"} "
            << kinds.value(kind, 0ULL) << '\n';
    }
    family(out, "stampede_auth_reloads_total", "counter",
           "SIGHUP reloads of the users and permissions: ok, or failed (the old ones kept).");
    out << "stampede_auth_reloads_total{outcome=\"ok\"} " << a.value("reloads", 0ULL) << '\n';
    out << "stampede_auth_reloads_total{outcome=\"failed\"} "
        << a.value("reload_failures", 0ULL) << '\n';
    family(out, "stampede_admin_logins_total", "counter",
           "Admin endpoint requests with credentials (HTTP Basic or bearer) by outcome: "
           "accepted, failed (wrong user, password or token), locked_out, busy.");
    for (const auto& [outcome, field] :
         {std::pair{"accepted", "admin_accepted"}, std::pair{"failed", "admin_failed"},
          std::pair{"locked_out", "admin_throttled"}, std::pair{"busy", "admin_busy"}}) {
        out << "stampede_admin_logins_total{outcome=\"" << outcome << "\"} "
            << a.value(field, 0ULL) << '\n';
    }
}

}  // namespace

std::string to_prometheus(const nlohmann::json& snapshot, std::size_t top_destinations) {
    std::ostringstream out;
    const auto& broker_info = snapshot["broker"];
    family(out, "stampede_info", "gauge", "Broker version and I/O backend.");
    out << "stampede_info{version=\"" << label_value(broker_info["version"].get<std::string>())
        << "\",io_backend=\"" << label_value(broker_info["io_backend"].get<std::string>())
        << "\"} 1\n";
    family(out, "stampede_uptime_seconds", "gauge", "Seconds since start.");
    out << "stampede_uptime_seconds " << broker_info["uptime_ms"].get<std::uint64_t>() / 1000.0
        << '\n';
    family(out, "stampede_connections", "gauge", "Open client connections.");
    out << "stampede_connections " << snapshot["connections"].size() << '\n';
    family(out, "stampede_resident_bytes", "gauge", "Resident set size of the broker.");
    out << "stampede_resident_bytes " << snapshot["memory"]["resident_bytes"] << '\n';
    family(out, "stampede_outbound_bytes", "gauge", "Bytes queued for clients, not yet written.");
    out << "stampede_outbound_bytes " << snapshot["memory"]["outbound_bytes"] << '\n';
    family(out, "stampede_socket_send_queue_bytes", "gauge",
           "Bytes in client sockets' kernel send queues, not yet taken by the peers.");
    out << "stampede_socket_send_queue_bytes " << snapshot["memory"]["socket_bytes"] << '\n';
    family(out, "stampede_memory_alarm", "gauge", "1 while publishers are held for memory.");
    out << "stampede_memory_alarm " << (snapshot["memory"]["alarm"].get<bool>() ? 1 : 0) << '\n';
    family(out, "stampede_destinations", "gauge", "Destinations (topics and queues).");
    out << "stampede_destinations " << snapshot["destinations"].size() << '\n';
    const nlohmann::json destinations =
        bounded_destinations(snapshot["destinations"], top_destinations);
    const auto leniency = snapshot.value("leniency", nlohmann::json::object());
    family(out, "stampede_lenient_eol_bodies_total", "counter",
           "Frames without a body whose EOL-only body was dropped (config strict: false).");
    out << "stampede_lenient_eol_bodies_total " << leniency.value("eol_bodies", std::uint64_t{0})
        << '\n';
    family(out, "stampede_lenient_stray_nuls_total", "counter",
           "NULs skipped between frames (config strict: false).");
    out << "stampede_lenient_stray_nuls_total " << leniency.value("stray_nuls", std::uint64_t{0})
        << '\n';
    for (const auto& metric : destination_metrics) {
        family(out, metric.name, metric.type, metric.help);
        for (const auto& d : destinations) {
            out << metric.name << "{vhost=\"" << label_value(d["vhost"].get<std::string>())
                << "\",kind=\"" << d["kind"].get<std::string>() << "\",name=\""
                << label_value(d["name"].get<std::string>()) << "\"} " << d[metric.field] << '\n';
        }
    }
    auth_metrics(out, snapshot);
    family(out, "stampede_fibers", "gauge", "Live fibers by kind.");
    for (const auto& s : snapshot["stacks"]) {
        out << "stampede_fibers{kind=\"" << label_value(s["kind"].get<std::string>()) << "\"} "
            << s["fibers"] << '\n';
    }
    family(out, "stampede_fiber_stack_high_water_bytes", "gauge",
           "Deepest stack use by fiber kind.");
    for (const auto& s : snapshot["stacks"]) {
        out << "stampede_fiber_stack_high_water_bytes{kind=\""
            << label_value(s["kind"].get<std::string>()) << "\"} " << s["max_high_water"] << '\n';
    }
    return out.str();
}

}  // namespace stampede::broker
