// conns: N idle connections with one subscription each.
//
// Every connection CONNECTs and SUBSCRIBEs (with a receipt) to one topic;
// then all of them sit idle for --hold seconds (the harness reads the
// broker's RSS in that window: hold_start_ns..hold_end_ns), and finally one
// probe message on the topic shows how many are still alive and subscribed.

#include <map>
#include <memory>

#include "clock.hpp"
#include "scenario.hpp"

namespace stampede::load {

namespace {

namespace rt = stampede::runtime;

constexpr double close_timeout_seconds = 10.0;
constexpr std::size_t probe_body_size = 16;

struct conns_result {
    errors errs;
    std::optional<std::int64_t> t0;
    std::int64_t connected_ns = 0;
    std::uint64_t connected = 0;
    std::optional<std::int64_t> hold_start_ns, hold_end_ns;
    std::uint64_t probe_delivered = 0;
    std::uint64_t dropped_while_idle = 0;
};

std::vector<flag_spec> flags() {
    return {
        {"connections", flag_kind::integer, "10000", {}},
        {"hold", flag_kind::real, "10", {}},
        {"probe-timeout", flag_kind::real, "30", {}},
        {"destination", flag_kind::optional_text, "", {}},
    };
}

std::size_t max_workers(const args& a) {
    return std::max<std::size_t>(1, static_cast<std::size_t>(a.integer("connections")) / 1000);
}

// The one probe message, from a connection of its own.
void send_probe(const args& a, const broker_address& to, errors& errs) {
    std::string why;
    auto conn = connection::open(to, why);
    if (!conn) {
        errs.add("probe publisher: " + why);
        return;
    }
    worker_counters unused;
    publisher(*conn, a.text("destination"), "P0", probe_body_size, now_ns(), unused)
        .run(1, 0, nullptr);
    errs.from_connection("probe publisher", conn.get());
    close_all({conn.get()});
}

conns_result worker(link& l, const args& a, const broker_address& to) {
    conns_result r;
    latency_sink latency;
    std::map<std::size_t, std::unique_ptr<receiver>> receivers;
    r.t0 = l.barrier("start");
    auto conns = connect_limited(
        to, l.mine(static_cast<std::size_t>(a.integer("connections"))),
        static_cast<std::size_t>(a.integer("connect-concurrency")),
        [&](std::size_t i, connection& c, std::string& why) {
            receivers[i] =
                std::make_unique<receiver>(c, l.counters(), counter::received, latency, false);
            l.counters().set(counter::connected, receivers.size());
            const bool ok = c.subscribe(a.text("destination"), name_of("s", i), "auto", 0,
                                        a.real("connect-timeout"), why);
            if (!ok) {
                l.counters().add(counter::failed);
            }
            return ok;
        },
        r.errs, "connection");
    std::erase_if(receivers, [&](const auto& kv) {
        return std::none_of(conns.begin(), conns.end(),
                            [&](const auto& c) { return c.first == kv.first; });
    });
    r.connected = receivers.size();
    l.counters().set(counter::connected, r.connected);
    l.counters().set(counter::failed, r.errs.count);
    r.connected_ns = now_ns();
    r.hold_start_ns = l.barrier("connected");
    if (r.hold_start_ns) {
        (void)rt::this_fiber::sleep_for(seconds(a.real("hold")));
        r.hold_end_ns = now_ns();
        (void)l.barrier("held");
        if (l.index() == 0) {
            send_probe(a, to, r.errs);
        }
        if (l.barrier("probed")) {
            l.wait_stop(a.real("probe-timeout"));
        }
    }
    for (const auto& [i, rc] : receivers) {
        r.dropped_while_idle += rc->conn().alive() ? 0 : 1;
    }
    close_all(pointers(conns), close_timeout_seconds);
    r.probe_delivered = l.counters().get(counter::received);
    return r;
}

json merge(const args& a, const std::vector<std::optional<conns_result>>& results,
           const run_report& report) {
    const auto rs = live(results);
    const auto asked = static_cast<std::uint64_t>(a.integer("connections"));
    std::uint64_t connected = 0, dropped = 0, delivered = 0;
    std::optional<std::int64_t> start, last_connected, hold_start, hold_end;
    for (const conns_result* r : rs) {
        connected += r->connected;
        dropped += r->dropped_while_idle;
        delivered += r->probe_delivered;
        if (r->t0) {
            start = std::min(start.value_or(*r->t0), *r->t0);
        }
        last_connected = std::max(last_connected.value_or(r->connected_ns), r->connected_ns);
        if (r->hold_start_ns) {
            hold_start = std::max(hold_start.value_or(*r->hold_start_ns), *r->hold_start_ns);
        }
        if (r->hold_end_ns) {
            hold_end = std::min(hold_end.value_or(*r->hold_end_ns), *r->hold_end_ns);
        }
    }
    std::optional<double> seconds;
    if (start && last_connected) {
        seconds = static_cast<double>(*last_connected - *start) / 1e9;
    }
    json out;
    out["connections"] = asked;
    out["connected"] = connected;
    out["failures"] = static_cast<std::int64_t>(asked) - static_cast<std::int64_t>(connected);
    out["connect_seconds"] = or_null(seconds);
    out["connect_rate"] = rate(static_cast<double>(connected), seconds);
    out["hold_start_ns"] = or_null(hold_start);
    out["hold_end_ns"] = or_null(hold_end);
    out["dropped_while_idle"] = dropped;
    out["probe_delivered"] = delivered;
    out["probe_missing"] =
        static_cast<std::int64_t>(connected) - static_cast<std::int64_t>(delivered);
    update(out, merged_errors(results, report));
    out["ok"] = out["failures"] == 0 && out["probe_missing"] == 0 && out["errors"] == 0;
    return out;
}

json run(run_context& ctx) {
    const args& a = ctx.a;
    auto stop = [](const totals& t, const std::set<std::string>& passed) {
        return passed.count("probed") != 0 && t[counter::received] >= t[counter::connected];
    };
    auto show = [](const totals& t) {
        return "connected " + std::to_string(t[counter::connected]) + "  failed " +
               std::to_string(t[counter::failed]) + "  probe " +
               std::to_string(t[counter::received]);
    };
    const broker_address to = ctx.to;
    auto results = run_workers<conns_result>(
        ctx.co, ctx.settings(stop, show), [&a, to](link& l) { return worker(l, a, to); },
        ctx.report);
    ctx.t0_ns = min_t0(results);
    return merge(a, results, ctx.report);
}

}  // namespace

scenario conns_scenario() {
    return {"conns", "topic", flags, max_workers, run};
}

}  // namespace stampede::load
