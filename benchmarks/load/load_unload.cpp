// load-unload: fill a queue nobody consumes, then drain it (Apollo's
// stomp-benchmark "queue load/unload").
//
// Producers send M messages to an unconsumed queue (each producer's last
// SEND asks for a receipt): the enqueue rate. Then consumers subscribe and
// take everything: the dequeue rate, and loss and duplicates over the union.

#include "clock.hpp"
#include "queue_parts.hpp"

namespace stampede::load {

namespace {

struct unload_result {
    errors errs;
    std::optional<std::int64_t> t0;
    std::optional<std::int64_t> unload_start;
    consumers_result consumed;
    std::vector<publisher_stats> publishers;
};

std::vector<flag_spec> flags() {
    return {
        {"producers", flag_kind::integer, "1", {}},
        {"consumers", flag_kind::integer, "1", {}},
        {"messages", flag_kind::integer, "50000", {}},
        {"body-size", flag_kind::integer, "1024", {}},
        {"prefetch", flag_kind::integer, "100", {}},
        {"ack", flag_kind::text, "auto", {"auto", "client-individual", "client"}},
        {"destination", flag_kind::optional_text, "", {}},
        {"drain-timeout", flag_kind::real, "30", {}},
    };
}

std::size_t max_workers(const args& a) {
    return static_cast<std::size_t>(std::max(a.integer("producers"), a.integer("consumers")));
}

unload_result worker(link& l, const args& a, const broker_address& to) {
    unload_result r;
    latency_sink latency;  // kept for symmetry with queue; load-unload reports none
    const indexed_connections producers = connect_limited(
        to, l.mine(static_cast<std::size_t>(a.integer("producers"))),
        static_cast<std::size_t>(a.integer("connect-concurrency")), nullptr, r.errs, "producer");
    r.t0 = l.barrier("connected");
    if (r.t0) {
        r.publishers = publish_share(l, a, producers, *r.t0);
        r.unload_start = l.barrier("loaded");
    }
    consumer_set consumers;
    if (r.unload_start) {
        consumers = subscribe_consumers(l, a, to, static_cast<std::size_t>(a.integer("consumers")),
                                        latency, r.errs);
        consumers.set_origin(*r.t0);
        l.wait_stop();
    }
    consumers.report_errors(r.errs);
    auto all = pointers(consumers.conns);
    append(all, pointers(producers));
    close_all(all);
    r.consumed = consumer_result(consumers);
    return r;
}

json merge(const args& a, const std::vector<std::optional<unload_result>>& results,
           const run_report& report) {
    const auto rs = live(results);
    std::vector<const consumers_result*> consumed;
    std::vector<const std::vector<publisher_stats>*> pubs;
    std::vector<std::optional<std::int64_t>> starts, arrivals;
    std::vector<std::uint64_t> consumed_series;
    for (const unload_result* r : rs) {
        consumed.push_back(&r->consumed);
        pubs.push_back(&r->publishers);
        starts.push_back(r->unload_start);
        append(arrivals, r->consumed.last_arrival);
        add_into(consumed_series, r->consumed.consumed_per_second);
    }
    json out = merge_consumed(a, consumed);
    for (const char* k : {"fairness", "share_min", "share_max"}) {
        out.erase(k);
    }
    const publish_summary p = summarize(pubs);
    const auto dequeue_seconds = span_seconds(starts, arrivals);
    out["published"] = p.published;
    out["enqueue_seconds"] = or_null(p.seconds);
    out["enqueue_rate"] = rate(static_cast<double>(p.published), p.seconds);
    out["dequeue_seconds"] = or_null(dequeue_seconds);
    out["dequeue_rate"] = rate(out["consumed"].get<double>(), dequeue_seconds);
    out["per_second"] = {{"published", p.per_second}, {"consumed", consumed_series}};
    update(out, merged_errors(results, report));
    out["ok"] = out["lost"] == 0 && out["duplicates"] == 0 && out["unexpected"] == 0 &&
                p.published == static_cast<std::uint64_t>(a.integer("messages")) &&
                out["errors"] == 0 && rs.size() == results.size();
    return out;
}

json run(run_context& ctx) {
    const args& a = ctx.a;
    auto stop =
        done_or_idle("loaded", {counter::received},
                     static_cast<std::uint64_t>(a.integer("messages")), a.real("drain-timeout"));
    auto show = [](const totals& t) {
        return "enqueued " + std::to_string(t[counter::sent]) + "  dequeued " +
               std::to_string(t[counter::received]);
    };
    const broker_address to = ctx.to;
    auto results = run_workers<unload_result>(
        ctx.co, ctx.settings(stop, show), [&a, to](link& l) { return worker(l, a, to); },
        ctx.report);
    ctx.t0_ns = min_t0(results);
    return merge(a, results, ctx.report);
}

}  // namespace

scenario load_unload_scenario() {
    return {"load-unload", "queue", flags, max_workers, run};
}

}  // namespace stampede::load
