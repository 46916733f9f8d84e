// slow: a fast and a slow subscriber on one topic under a steady publish rate.
//
// The slow subscriber stops reading its socket entirely (--slow-mode stall)
// or reads a trickle of bytes (--slow-mode trickle). After --duration seconds
// of publishing the slow one reads normally again until both have everything
// or nothing arrives for --drain-timeout seconds, which tells what the broker
// did with what it could not deliver: kept it (buffered), threw it away
// (dropped), closed the slow connection (disconnected), or held the
// publisher back (blocked).

#include <array>
#include <memory>

#include "clock.hpp"
#include "scenario.hpp"

namespace stampede::load {

namespace {

namespace rt = stampede::runtime;

constexpr double tick_seconds = 0.1;
constexpr double blocked_below = 0.9;  // achieved/target publish rate under which it is "blocked"
constexpr double drain_poll_seconds = 0.05;

struct side_summary {
    std::uint64_t received = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t missing = 0;
    std::optional<std::int64_t> last_ns;
    std::vector<std::uint64_t> per_second;
    latency_histogram latency;
};

struct slow_result {
    errors errs;
    std::optional<std::int64_t> t0;
    publisher_stats publisher;
    std::int64_t slow_ended_ns = 0;
    side_summary fast;
    side_summary slow;
    std::uint64_t slow_received_while_slow = 0;
    std::optional<std::string> slow_error;
    std::optional<std::string> failure;  // the worker could not even start
};

std::vector<flag_spec> flags() {
    return {
        {"publish-rate", flag_kind::real, "2000", {}},
        {"duration", flag_kind::real, "60", {}},
        {"body-size", flag_kind::integer, "1024", {}},
        {"slow-mode", flag_kind::text, "stall", {"stall", "trickle"}},
        {"trickle-rate", flag_kind::real, "10", {}},
        {"destination", flag_kind::optional_text, "", {}},
        {"drain-timeout", flag_kind::real, "20", {}},
    };
}

std::size_t max_workers(const args&) {
    return 1;
}

// The three connections, or why one could not be had (then none is open).
std::optional<std::string> open_all(const broker_address& to,
                                    std::array<std::unique_ptr<connection>, 3>& conns) {
    for (auto& c : conns) {
        std::string why;
        c = connection::open(to, why);
        if (!c) {
            for (auto& open : conns) {
                if (open) {
                    open->abort();
                }
            }
            return why;
        }
    }
    return std::nullopt;
}

// Until every live receiver has all `sent` messages, or nothing new arrived
// for --drain-timeout seconds, or the coordinator said stop.
void drain(const args& a, const link& l, std::uint64_t sent,
           const std::vector<const receiver*>& receivers) {
    std::optional<std::uint64_t> last;
    std::int64_t since = now_ns();
    while (!l.stopped()) {
        bool pending = false;
        std::uint64_t got = 0;
        for (const receiver* r : receivers) {
            pending = pending || (r->conn().alive() && r->tracker().distinct() < sent);
            got += r->tracker().distinct();
        }
        if (!pending) {
            return;
        }
        if (!last || got != *last) {
            last = got;
            since = now_ns();
        } else if (static_cast<double>(now_ns() - since) / 1e9 > a.real("drain-timeout")) {
            return;
        }
        if (!rt::this_fiber::sleep_for(seconds(drain_poll_seconds))) {
            return;
        }
    }
}

side_summary summary(const receiver& r, const expectation& expected, const latency_sink& latency) {
    side_summary s;
    const subscriber_counts c = counts_of(r.tracker(), expected);
    s.received = c.distinct;
    s.duplicates = c.duplicates;
    s.missing = c.missing;
    s.last_ns = r.last_ns();
    s.per_second = r.series().counts();
    s.latency = latency.whole();
    return s;
}

// Stalls or trickles the slow subscriber while the publisher runs.
void slow_down(const args& a, connection& slow_conn) {
    if (a.text("slow-mode") == "trickle") {
        const double per_tick =
            a.real("trickle-rate") * static_cast<double>(a.integer("body-size")) * tick_seconds;
        slow_conn.trickle(static_cast<std::size_t>(std::max(1.0, per_tick)), seconds(tick_seconds));
    } else {
        slow_conn.pause_reading();
    }
}

slow_result worker(link& l, const args& a, const broker_address& to) {
    slow_result r;
    latency_sink fast_latency, slow_latency;
    std::array<std::unique_ptr<connection>, 3> conns;
    if ((r.failure = open_all(to, conns))) {
        return r;
    }
    connection* fast_conn = conns[0].get();
    connection* slow_conn = conns[1].get();
    connection* pub_conn = conns[2].get();
    receiver fast(*fast_conn, l.counters(), counter::fast, fast_latency, false);
    receiver slow(*slow_conn, l.counters(), counter::slow, slow_latency, false);
    std::string why;
    if (!fast_conn->subscribe(a.text("destination"), "fast", "auto", 0, 30.0, why) ||
        !slow_conn->subscribe(a.text("destination"), "slow", "auto", 0, 30.0, why)) {
        r.failure = "subscribe: " + why;
        close_all({fast_conn, slow_conn, pub_conn});
        return r;
    }

    r.t0 = l.barrier("subscribed");
    const std::int64_t t0 = r.t0.value_or(now_ns());
    fast.set_origin(t0);
    slow.set_origin(t0);
    slow_down(a, *slow_conn);

    const auto count = static_cast<std::uint64_t>(a.real("publish-rate") * a.real("duration"));
    publisher pub(*pub_conn, a.text("destination"), "P0",
                  static_cast<std::size_t>(a.integer("body-size")), t0, l.counters());
    pub.run(count, a.real("publish-rate"), &l);
    r.slow_ended_ns = now_ns();
    r.slow_received_while_slow = slow.tracker().distinct();

    // Drain: the fast one should have everything; the slow one reads again.
    slow_conn->resume_reading();
    r.publisher = pub.stats();
    drain(a, l, r.publisher.sent, {&fast, &slow});

    // Read only now: a broker that closed the stalled connection is seen when
    // the slow one reads again (the close waits behind the unread bytes).
    r.slow_error = slow_conn->error();
    r.errs.from_connection("fast subscriber", fast_conn);
    r.errs.from_connection("publisher", pub_conn);
    const expectation expected = {{"P0", r.publisher.sent}};
    r.fast = summary(fast, expected, fast_latency);
    r.slow = summary(slow, expected, slow_latency);
    close_all({fast_conn, slow_conn, pub_conn});
    return r;
}

json broker_actions(const slow_result& r, const json& achieved, double target) {
    const bool disconnected = r.slow_error.has_value();
    json actions = json::array();
    if (disconnected) {
        actions.push_back("disconnected");
    }
    if (!achieved.is_null() && achieved.get<double>() < blocked_below * target) {
        actions.push_back("blocked");
    }
    if (!disconnected) {
        actions.push_back(r.slow.missing > 0 ? "dropped" : "buffered");
    }
    return actions;
}

json merge(const args& a, const std::vector<std::optional<slow_result>>& results,
           const run_report& report) {
    if (!results[0] || results[0]->failure) {
        // As the Python driver, whose worker would have raised.
        std::vector<std::string> failures = report.failures;
        if (results[0]) {
            failures.push_back("worker 0: " + *results[0]->failure);
        }
        json out;
        out["ok"] = false;
        out["errors"] = failures.size();
        out["error_samples"] = failures;
        return out;
    }
    const slow_result& r = *results[0];
    const publisher_stats& pub = r.publisher;
    const double target = a.real("publish-rate");
    const auto publish_seconds = span_seconds({pub.first_ns}, {pub.last_ns});
    const json achieved = rate(static_cast<double>(pub.sent), publish_seconds);
    json out;
    out["published"] = pub.sent;
    out["publish_rate_target"] = target;
    out["publish_rate"] = achieved;
    out["publish_seconds"] = or_null(publish_seconds);
    out["publish_blocked_seconds"] = static_cast<double>(pub.blocked_ns) / 1e9;
    out["fast_received"] = r.fast.received;
    out["fast_missing"] = r.fast.missing;
    out["fast_duplicates"] = r.fast.duplicates;
    out["fast_rate"] =
        rate(static_cast<double>(r.fast.received), span_seconds({pub.first_ns}, {r.fast.last_ns}));
    out["fast_latency_ns"] = r.fast.latency.summary();
    out["slow_mode"] = a.text("slow-mode");
    out["slow_received_while_slow"] = r.slow_received_while_slow;
    out["slow_received"] = r.slow.received;
    out["slow_missing"] = r.slow.missing;
    out["slow_duplicates"] = r.slow.duplicates;
    out["slow_disconnected"] = r.slow_error.has_value();
    out["slow_error"] = or_null(r.slow_error);
    out["slow_ended_ns"] = r.slow_ended_ns;
    out["broker_action"] = broker_actions(r, achieved, target);
    out["per_second"] = {
        {"published", pub.per_second}, {"fast", r.fast.per_second}, {"slow", r.slow.per_second}};
    update(out, merged_errors(results, report));
    // The verdict is about the fast subscriber: it must get everything.
    out["ok"] = r.fast.missing == 0 && out["errors"] == 0;
    return out;
}

json run(run_context& ctx) {
    const args& a = ctx.a;
    auto show = [](const totals& t) {
        return "sent " + std::to_string(t[counter::sent]) + "  fast " +
               std::to_string(t[counter::fast]) + "  slow " + std::to_string(t[counter::slow]);
    };
    const broker_address to = ctx.to;
    auto results = run_workers<slow_result>(
        ctx.co, ctx.settings({}, show), [&a, to](link& l) { return worker(l, a, to); }, ctx.report);
    ctx.t0_ns = min_t0(results);
    return merge(a, results, ctx.report);
}

}  // namespace

scenario slow_scenario() {
    return {"slow", "topic", flags, max_workers, run, /*single_worker=*/true};
}

}  // namespace stampede::load
