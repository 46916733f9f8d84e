// queue: competing consumers on one queue with client-individual acks.
//
// Consumers subscribe first (with --prefetch), producers then send M
// messages; each consumer ACKs every message as it arrives. The union of what
// the consumers got tells loss and duplicates; their shares tell fairness.

#include "clock.hpp"
#include "queue_parts.hpp"

namespace stampede::load {

namespace {

struct queue_result {
    errors errs;
    std::optional<std::int64_t> t0;
    consumers_result consumed;
    latency_histogram latency;
    std::vector<publisher_stats> publishers;
};

std::vector<flag_spec> flags() {
    return {
        {"consumers", flag_kind::integer, "4", {}},
        {"producers", flag_kind::integer, "2", {}},
        {"messages", flag_kind::integer, "20000", {}},
        {"body-size", flag_kind::integer, "1024", {}},
        {"prefetch", flag_kind::integer, "100", {}},
        {"ack", flag_kind::text, "client-individual", {"client-individual", "client", "auto"}},
        {"destination", flag_kind::optional_text, "", {}},
        {"drain-timeout", flag_kind::real, "30", {}},
    };
}

std::size_t max_workers(const args& a) {
    return static_cast<std::size_t>(a.integer("consumers") + a.integer("producers"));
}

queue_result worker(link& l, const args& a, const broker_address& to) {
    queue_result r;
    latency_sink latency;
    consumer_set consumers = subscribe_consumers(
        l, a, to, static_cast<std::size_t>(a.integer("consumers")), latency, r.errs);
    const indexed_connections producers = connect_limited(
        to, l.mine(static_cast<std::size_t>(a.integer("producers"))),
        static_cast<std::size_t>(a.integer("connect-concurrency")), nullptr, r.errs, "producer");
    r.t0 = l.barrier("subscribed");
    if (r.t0) {
        consumers.set_origin(*r.t0);
        r.publishers = publish_share(l, a, producers, *r.t0);
        (void)l.barrier("published");
        l.wait_stop();
    }
    consumers.report_errors(r.errs);
    auto all = pointers(consumers.conns);
    append(all, pointers(producers));
    close_all(all);
    r.consumed = consumer_result(consumers);
    r.latency = latency.whole();
    return r;
}

json merge(const args& a, const std::vector<std::optional<queue_result>>& results,
           const run_report& report) {
    const auto rs = live(results);
    std::vector<const consumers_result*> consumed;
    std::vector<const std::vector<publisher_stats>*> pubs;
    std::vector<std::optional<std::int64_t>> arrivals;
    std::vector<std::uint64_t> consumed_series;
    latency_histogram latency;
    for (const queue_result* r : rs) {
        consumed.push_back(&r->consumed);
        pubs.push_back(&r->publishers);
        append(arrivals, r->consumed.last_arrival);
        add_into(consumed_series, r->consumed.consumed_per_second);
        latency.merge(r->latency);
    }
    json out = merge_consumed(a, consumed);
    const publish_summary p = summarize(pubs);
    const auto consume_seconds = span_seconds(p.firsts, arrivals);
    out["published"] = p.published;
    out["publish_seconds"] = or_null(p.seconds);
    out["publish_rate"] = rate(static_cast<double>(p.published), p.seconds);
    out["consume_seconds"] = or_null(consume_seconds);
    out["throughput"] = rate(out["consumed"].get<double>(), consume_seconds);
    out["latency_ns"] = latency.summary();
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
        done_or_idle("published", {counter::received},
                     static_cast<std::uint64_t>(a.integer("messages")), a.real("drain-timeout"));
    auto show = [](const totals& t) {
        return "sent " + std::to_string(t[counter::sent]) + "  consumed " +
               std::to_string(t[counter::received]);
    };
    const broker_address to = ctx.to;
    auto results = run_workers<queue_result>(
        ctx.co, ctx.settings(stop, show), [&a, to](link& l) { return worker(l, a, to); },
        ctx.report);
    ctx.t0_ns = min_t0(results);
    return merge(a, results, ctx.report);
}

}  // namespace

scenario queue_scenario() {
    return {"queue", "queue", flags, max_workers, run};
}

}  // namespace stampede::load
