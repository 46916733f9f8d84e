// fanout: S subscribers on one topic, P publishers, M messages of B bytes.
//
// Every subscriber subscribes (with a receipt) before anyone publishes; then
// the publishers send their share as fast as they can (or at --rate), and the
// subscribers count what arrives until all of it has or --drain-timeout
// passes without progress. S may be 0 (a topic nobody listens to).

#include <map>
#include <memory>

#include "clock.hpp"
#include "scenario.hpp"

namespace stampede::load {

namespace {

struct fanout_result {
    errors errs;
    std::optional<std::int64_t> t0;
    double connect_seconds = 0;
    std::vector<std::pair<std::size_t, std::optional<subscriber_counts>>> subscribers;
    latency_histogram latency;
    std::vector<std::optional<std::int64_t>> first_latencies;
    std::vector<std::optional<std::int64_t>> last_arrival;
    std::vector<std::uint64_t> delivered_per_second;
    std::uint64_t published = 0;
    std::vector<std::optional<std::int64_t>> publish_first;
    std::vector<std::optional<std::int64_t>> publish_end;
    std::vector<std::uint64_t> published_per_second;
};

std::vector<flag_spec> flags() {
    return {
        {"subscribers", flag_kind::integer, "100", {}},
        {"publishers", flag_kind::integer, "1", {}},
        {"messages", flag_kind::integer, "10000", {}},
        {"body-size", flag_kind::integer, "1024", {}},
        {"rate", flag_kind::real, "0", {}},
        {"destination", flag_kind::optional_text, "", {}},
        {"drain-timeout", flag_kind::real, "30", {}},
    };
}

std::size_t max_workers(const args& a) {
    return static_cast<std::size_t>(a.integer("subscribers") + a.integer("publishers"));
}

std::vector<std::uint64_t> shares(const args& a) {
    return split_evenly(static_cast<std::uint64_t>(a.integer("messages")),
                        static_cast<std::size_t>(a.integer("publishers")));
}

// Publishes this worker's publishers' shares, all at once; their stats go to `r`.
void publish(link& l, const args& a, const indexed_connections& pubs, std::int64_t t0,
             fanout_result& r) {
    const auto counts = shares(a);
    const double total_rate = a.real("rate");
    const double each_rate = total_rate > 0 ? total_rate / static_cast<double>(counts.size()) : 0;
    std::vector<std::unique_ptr<publisher>> publishers;
    std::vector<std::function<void()>> jobs;
    for (const auto& [i, conn] : pubs) {
        publishers.push_back(std::make_unique<publisher>(
            *conn, a.text("destination"), name_of("P", i),
            static_cast<std::size_t>(a.integer("body-size")), t0, l.counters()));
        jobs.push_back([p = publishers.back().get(), n = counts[i], each_rate, &l] {
            p->run(n, each_rate, &l);
        });
    }
    run_all(std::move(jobs));
    for (const auto& p : publishers) {
        const publisher_stats s = p->stats();
        r.published += s.sent;
        r.publish_first.push_back(s.first_ns);
        r.publish_end.push_back(s.receipt_ns ? s.receipt_ns : s.last_ns);
        add_into(r.published_per_second, s.per_second);
    }
}

fanout_result worker(link& l, const args& a, const broker_address& to) {
    fanout_result r;
    latency_sink latency;
    const auto expected = expected_streams('P', shares(a));
    const auto subscribers = static_cast<std::size_t>(a.integer("subscribers"));
    const auto limit = static_cast<std::size_t>(a.integer("connect-concurrency"));
    std::map<std::size_t, std::unique_ptr<receiver>> receivers;

    const std::int64_t started = now_ns();
    auto subs = connect_limited(
        to, l.mine(subscribers), limit,
        [&](std::size_t i, connection& c, std::string& why) {
            receivers[i] =
                std::make_unique<receiver>(c, l.counters(), counter::received, latency, false);
            return c.subscribe(a.text("destination"), name_of("s", i), "auto", 0,
                               a.real("connect-timeout"), why);
        },
        r.errs, "subscriber");
    std::erase_if(receivers, [&](const auto& kv) {
        return std::none_of(subs.begin(), subs.end(),
                            [&](const auto& s) { return s.first == kv.first; });
    });
    auto pubs = connect_limited(to, l.mine(static_cast<std::size_t>(a.integer("publishers"))),
                                limit, nullptr, r.errs, "publisher");
    r.connect_seconds = static_cast<double>(now_ns() - started) / 1e9;

    r.t0 = l.barrier("subscribed");
    if (r.t0) {
        for (auto& [i, rc] : receivers) {
            rc->set_origin(*r.t0);
        }
        publish(l, a, pubs, *r.t0, r);
        (void)l.barrier("published");
        l.wait_stop();
    }

    for (const auto& [i, rc] : receivers) {
        r.errs.from_connection(name_of("subscriber ", i), &rc->conn());
    }
    for (const auto& [i, c] : pubs) {
        r.errs.from_connection(name_of("publisher ", i), c.get());
    }
    auto all = pointers(subs);
    append(all, pointers(pubs));
    close_all(all);

    for (std::size_t i : l.mine(subscribers)) {
        const auto it = receivers.find(i);
        r.subscribers.emplace_back(
            i, it == receivers.end() ? std::nullopt
                                     : std::optional(counts_of(it->second->tracker(), expected)));
    }
    for (const auto& [i, rc] : receivers) {
        r.first_latencies.push_back(rc->first_latency_ns());
        r.last_arrival.push_back(rc->last_ns());
        add_into(r.delivered_per_second, rc->series().counts());
    }
    r.latency = latency.whole();
    return r;
}

json merge(const args& a, const std::vector<std::optional<fanout_result>>& results,
           const run_report& report) {
    const auto rs = live(results);
    const auto expected = expected_streams('P', shares(a));
    const std::uint64_t want = expected_total(expected);
    std::vector<std::pair<std::size_t, subscriber_counts>> subs;
    std::vector<std::optional<std::int64_t>> firsts, ends, arrivals, first_latencies;
    std::vector<std::uint64_t> published_series, delivered_series;
    latency_histogram latency;
    std::uint64_t published = 0;
    std::optional<double> connect_seconds;
    for (const fanout_result* r : rs) {
        for (const auto& [i, c] : r->subscribers) {
            // A subscriber that never connected got nothing.
            subs.emplace_back(i, c.value_or(subscriber_counts{0, 0, want, 0}));
        }
        published += r->published;
        append(firsts, r->publish_first);
        append(ends, r->publish_end);
        append(arrivals, r->last_arrival);
        append(first_latencies, r->first_latencies);
        add_into(published_series, r->published_per_second);
        add_into(delivered_series, r->delivered_per_second);
        latency.merge(r->latency);
        connect_seconds = std::max(connect_seconds.value_or(0.0), r->connect_seconds);
    }
    json out = completeness(expected, subs);
    if (rs.size() != results.size()) {
        out["complete"] = false;
    }
    const auto publish_seconds = span_seconds(firsts, ends);
    const auto delivery_seconds = span_seconds(firsts, arrivals);
    out["published"] = published;
    out["publish_seconds"] = or_null(publish_seconds);
    out["publish_rate"] = rate(static_cast<double>(published), publish_seconds);
    out["delivery_seconds"] = or_null(delivery_seconds);
    out["delivery_rate"] = rate(out["delivered"].get<double>(), delivery_seconds);
    out["latency_ns"] = latency.summary();
    out["first_message_latency_ns"] = summary_of(first_latencies);
    out["connect_seconds"] = or_null(connect_seconds);
    out["per_second"] = {{"published", published_series}, {"delivered", delivered_series}};
    update(out, merged_errors(results, report));
    out["ok"] = out["complete"].get<bool>() && out["errors"].get<std::uint64_t>() == 0 &&
                published == static_cast<std::uint64_t>(a.integer("messages"));
    return out;
}

json run(run_context& ctx) {
    const args& a = ctx.a;
    const std::uint64_t want =
        static_cast<std::uint64_t>(a.integer("messages") * a.integer("subscribers"));
    auto stop = done_or_idle("published", {counter::received}, want, a.real("drain-timeout"));
    auto show = [](const totals& t) {
        return "sent " + std::to_string(t[counter::sent]) + "  received " +
               std::to_string(t[counter::received]);
    };
    const broker_address to = ctx.to;
    auto results = run_workers<fanout_result>(
        ctx.co, ctx.settings(stop, show), [&a, to](link& l) { return worker(l, a, to); },
        ctx.report);
    ctx.t0_ns = min_t0(results);
    return merge(a, results, ctx.report);
}

}  // namespace

scenario fanout_scenario() {
    return {"fanout", "topic", flags, max_workers, run};
}

}  // namespace stampede::load
