// soak: sustained mixed topic and queue load for a set time.
//
// Topic publishers fan out to topic subscribers at --topic-rate while queue
// producers feed competing consumers (client-individual acks) at
// --queue-rate, for --duration seconds. Reported per --interval: what was
// sent, delivered and consumed, and latency; at the end: loss over the whole
// run (none allowed).

#include <cmath>
#include <map>
#include <memory>

#include "clock.hpp"
#include "scenario.hpp"

namespace stampede::load {

namespace {

constexpr std::size_t publisher_connect_limit = 50;

struct soak_result {
    errors errs;
    std::optional<std::int64_t> t0;
    std::vector<std::pair<std::size_t, subscriber_counts>> subscribers;
    sequence_tracker queue_tracker;
    std::vector<latency_histogram> topic_latency;  // by interval
    std::vector<latency_histogram> queue_latency;
    std::vector<std::uint64_t> topic_published, queue_published;
    std::vector<std::uint64_t> topic_delivered, queue_consumed;
};

std::vector<flag_spec> flags() {
    return {
        {"duration", flag_kind::real, "600", {}},
        {"interval", flag_kind::real, "60", {}},
        {"topic-publishers", flag_kind::integer, "2", {}},
        {"topic-subscribers", flag_kind::integer, "20", {}},
        {"topic-rate", flag_kind::real, "500", {}},
        {"queue-producers", flag_kind::integer, "2", {}},
        {"queue-consumers", flag_kind::integer, "4", {}},
        {"queue-rate", flag_kind::real, "2000", {}},
        {"body-size", flag_kind::integer, "512", {}},
        {"prefetch", flag_kind::integer, "100", {}},
        {"destination", flag_kind::optional_text, "", {}},
        {"queue", flag_kind::optional_text, "", {}},
        {"drain-timeout", flag_kind::real, "30", {}},
    };
}

std::size_t count_of(const args& a, std::string_view name) {
    return static_cast<std::size_t>(a.integer(name));
}

std::size_t max_workers(const args& a) {
    return count_of(a, "topic-subscribers") + count_of(a, "queue-consumers");
}

// Messages per topic publisher and per queue producer.
std::pair<std::vector<std::uint64_t>, std::vector<std::uint64_t>> plan(const args& a) {
    const double d = a.real("duration");
    return {split_evenly(static_cast<std::uint64_t>(a.real("topic-rate") * d),
                         count_of(a, "topic-publishers")),
            split_evenly(static_cast<std::uint64_t>(a.real("queue-rate") * d),
                         count_of(a, "queue-producers"))};
}

struct soak_clients {
    indexed_connections sub_conns, con_conns, tpub, qpub;
    std::map<std::size_t, std::unique_ptr<receiver>> subs, consumers;
};

// Subscribers, consumers, then the publishers of this worker.
soak_clients connect_clients(link& l, const args& a, const broker_address& to,
                             latency_sink& topic_lat, latency_sink& queue_lat, errors& errs) {
    soak_clients c;
    const auto limit = count_of(a, "connect-concurrency");
    const double timeout = a.real("connect-timeout");
    c.sub_conns = connect_limited(
        to, l.mine(count_of(a, "topic-subscribers")), limit,
        [&](std::size_t i, connection& conn, std::string& why) {
            c.subs[i] =
                std::make_unique<receiver>(conn, l.counters(), counter::topic, topic_lat, false);
            return conn.subscribe(a.text("destination"), name_of("s", i), "auto", 0, timeout, why);
        },
        errs, "subscriber");
    c.con_conns = connect_limited(
        to, l.mine(count_of(a, "queue-consumers")), limit,
        [&](std::size_t i, connection& conn, std::string& why) {
            c.consumers[i] =
                std::make_unique<receiver>(conn, l.counters(), counter::queue, queue_lat, true);
            return conn.subscribe(a.text("queue"), name_of("c", i), "client-individual",
                                  static_cast<std::uint64_t>(a.integer("prefetch")), timeout, why);
        },
        errs, "consumer");
    c.tpub = connect_limited(to, l.mine(count_of(a, "topic-publishers")), publisher_connect_limit,
                             nullptr, errs, "topic publisher");
    c.qpub = connect_limited(to, l.mine(count_of(a, "queue-producers")), publisher_connect_limit,
                             nullptr, errs, "queue producer");
    const auto keep_connected = [](auto& receivers, const indexed_connections& conns) {
        std::erase_if(receivers, [&](const auto& kv) {
            return std::none_of(conns.begin(), conns.end(),
                                [&](const auto& x) { return x.first == kv.first; });
        });
    };
    keep_connected(c.subs, c.sub_conns);
    keep_connected(c.consumers, c.con_conns);
    return c;
}

// Runs every topic publisher and queue producer of this worker at its rate.
void publish(link& l, const args& a, const soak_clients& c, std::int64_t t0, soak_result& r) {
    const auto [topic_counts, queue_counts] = plan(a);
    const double topic_rate = a.real("topic-rate") / static_cast<double>(topic_counts.size());
    const double queue_rate = a.real("queue-rate") / static_cast<double>(queue_counts.size());
    const auto body = static_cast<std::size_t>(a.integer("body-size"));
    std::vector<std::unique_ptr<publisher>> pubs, prods;
    std::vector<std::function<void()>> jobs;
    for (const auto& [i, conn] : c.tpub) {
        pubs.push_back(std::make_unique<publisher>(*conn, a.text("destination"), name_of("P", i),
                                                   body, t0, l.counters()));
        jobs.push_back([p = pubs.back().get(), n = topic_counts[i], topic_rate, &l] {
            p->run(n, topic_rate, &l);
        });
    }
    for (const auto& [i, conn] : c.qpub) {
        prods.push_back(std::make_unique<publisher>(*conn, a.text("queue"), name_of("Q", i), body,
                                                    t0, l.counters()));
        jobs.push_back([p = prods.back().get(), n = queue_counts[i], queue_rate, &l] {
            p->run(n, queue_rate, &l);
        });
    }
    run_all(std::move(jobs));
    for (const auto& p : pubs) {
        add_into(r.topic_published, p->stats().per_second);
    }
    for (const auto& p : prods) {
        add_into(r.queue_published, p->stats().per_second);
    }
}

soak_result worker(link& l, const args& a, const broker_address& to) {
    soak_result r;
    latency_sink topic_lat(a.real("interval")), queue_lat(a.real("interval"));
    soak_clients c = connect_clients(l, a, to, topic_lat, queue_lat, r.errs);
    r.t0 = l.barrier("subscribed");
    if (r.t0) {
        for (auto* m : {&c.subs, &c.consumers}) {
            for (auto& [i, rc] : *m) {
                rc->set_origin(*r.t0);
            }
        }
        topic_lat.set_origin(*r.t0);
        queue_lat.set_origin(*r.t0);
        publish(l, a, c, *r.t0, r);
        (void)l.barrier("published");
        l.wait_stop();
    }
    for (auto* m : {&c.subs, &c.consumers}) {
        for (const auto& [i, rc] : *m) {
            r.errs.from_connection(name_of("client ", i), &rc->conn());
        }
    }
    std::vector<connection*> all;
    for (const auto* conns : {&c.sub_conns, &c.con_conns, &c.tpub, &c.qpub}) {
        append(all, pointers(*conns));
    }
    close_all(all);
    const expectation topic_expected = expected_streams('P', plan(a).first);
    for (const auto& [i, rc] : c.subs) {
        r.subscribers.emplace_back(i, counts_of(rc->tracker(), topic_expected));
        add_into(r.topic_delivered, rc->series().counts());
    }
    for (const auto& [i, rc] : c.consumers) {
        r.queue_tracker.merge(rc->tracker());
        add_into(r.queue_consumed, rc->series().counts());
    }
    r.topic_latency = topic_lat.parts();
    r.queue_latency = queue_lat.parts();
    return r;
}

// ---- merging ----

std::vector<std::uint64_t> per_interval(const std::vector<std::uint64_t>& series, double seconds) {
    const auto step = static_cast<std::size_t>(std::max(1.0, std::nearbyint(seconds)));
    std::vector<std::uint64_t> out;
    for (std::size_t i = 0; i < series.size(); i += step) {
        std::uint64_t sum = 0;
        for (std::size_t k = i; k < std::min(series.size(), i + step); ++k) {
            sum += series[k];
        }
        out.push_back(sum);
    }
    return out;
}

void merge_parts(std::vector<latency_histogram>& into,
                 const std::vector<latency_histogram>& parts) {
    if (parts.size() > into.size()) {
        into.resize(parts.size());
    }
    for (std::size_t i = 0; i < parts.size(); ++i) {
        into[i].merge(parts[i]);
    }
}

using series_map = std::vector<std::pair<std::string, std::vector<std::uint64_t>>>;

// One row per interval: counts and p50/p99 latencies.
json intervals_of(const args& a, const series_map& per_second,
                  const std::vector<latency_histogram>& topic_lat,
                  const std::vector<latency_histogram>& queue_lat) {
    const double interval = a.real("interval");
    series_map cols;
    std::size_t n = 0;
    for (const auto& [k, v] : per_second) {
        cols.emplace_back(k, per_interval(v, interval));
        n = std::max(n, cols.back().second.size());
    }
    const latency_histogram empty;
    json rows = json::array();
    for (std::size_t i = 0; i < n; ++i) {
        json row;
        row["index"] = i;
        row["start_s"] = static_cast<double>(i) * interval;
        for (const auto& [k, v] : cols) {
            row[k] = i < v.size() ? v[i] : 0;
        }
        for (const auto& [name, parts] :
             {std::pair{"topic", &topic_lat}, std::pair{"queue", &queue_lat}}) {
            const latency_histogram& h = i < parts->size() ? (*parts)[i] : empty;
            row[std::string(name) + "_latency_p50_ns"] = or_null(h.percentile(0.5));
            row[std::string(name) + "_latency_p99_ns"] = or_null(h.percentile(0.99));
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

// Relative change of `key` from the first to the last full interval (the
// last interval is the drain).
json drift(const json& rows, const std::string& key) {
    std::vector<double> vals;
    for (const auto& row : rows) {
        if (!row[key].is_null()) {
            vals.push_back(row[key].get<double>());
        }
    }
    if (vals.size() > 2) {
        vals.pop_back();
    }
    if (vals.size() < 2 || vals.front() == 0) {
        return nullptr;
    }
    return (vals.back() - vals.front()) / vals.front();
}

json merge(const args& a, const std::vector<std::optional<soak_result>>& results,
           const run_report& report) {
    const auto rs = live(results);
    const auto [topic_counts, queue_counts] = plan(a);
    std::vector<std::pair<std::size_t, subscriber_counts>> subs;
    sequence_tracker queue_tracker;
    std::vector<latency_histogram> topic_lat, queue_lat;
    series_map per_second = {{"topic_published", {}},
                             {"topic_delivered", {}},
                             {"queue_published", {}},
                             {"queue_consumed", {}}};
    for (const soak_result* r : rs) {
        append(subs, r->subscribers);
        queue_tracker.merge(r->queue_tracker);
        merge_parts(topic_lat, r->topic_latency);
        merge_parts(queue_lat, r->queue_latency);
        add_into(per_second[0].second, r->topic_published);
        add_into(per_second[1].second, r->topic_delivered);
        add_into(per_second[2].second, r->queue_published);
        add_into(per_second[3].second, r->queue_consumed);
    }
    const auto total = [](const std::vector<std::uint64_t>& v) {
        std::uint64_t n = 0;
        for (auto x : v) {
            n += x;
        }
        return n;
    };
    const double duration = a.real("duration");
    json topic = completeness(expected_streams('P', topic_counts), subs);
    topic["published"] = total(per_second[0].second);
    topic["delivery_rate"] = rate(topic["delivered"].get<double>(), duration);
    json queue = queue_loss(expected_streams('Q', queue_counts), queue_tracker);
    queue["published"] = total(per_second[2].second);
    queue["throughput"] = rate(queue["consumed"].get<double>(), duration);
    const json rows = intervals_of(a, per_second, topic_lat, queue_lat);
    latency_histogram all_topic, all_queue;
    for (const auto& h : topic_lat) {
        all_topic.merge(h);
    }
    for (const auto& h : queue_lat) {
        all_queue.merge(h);
    }
    json out;
    out["topic"] = topic;
    out["queue"] = queue;
    out["intervals"] = rows;
    out["drift"] = {{"topic_delivered", drift(rows, "topic_delivered")},
                    {"queue_consumed", drift(rows, "queue_consumed")},
                    {"topic_latency_p99", drift(rows, "topic_latency_p99_ns")},
                    {"queue_latency_p99", drift(rows, "queue_latency_p99_ns")}};
    out["topic_latency_ns"] = all_topic.summary();
    out["queue_latency_ns"] = all_queue.summary();
    json series = json::object();
    for (const auto& [k, v] : per_second) {
        series[k] = v;
    }
    out["per_second"] = series;
    out["lost"] = topic["missing"].get<std::uint64_t>() + queue["lost"].get<std::uint64_t>();
    out["duplicates"] =
        topic["duplicates"].get<std::uint64_t>() + queue["duplicates"].get<std::uint64_t>();
    update(out, merged_errors(results, report));
    out["ok"] = out["lost"] == 0 && out["duplicates"] == 0 && out["errors"] == 0 &&
                topic["published"] == total(topic_counts) &&
                queue["published"] == total(queue_counts) && rs.size() == results.size();
    return out;
}

json run(run_context& ctx) {
    const args& a = ctx.a;
    const auto [topic_counts, queue_counts] = plan(a);
    std::uint64_t want = 0;
    for (auto n : topic_counts) {
        want += n * count_of(a, "topic-subscribers");
    }
    for (auto n : queue_counts) {
        want += n;
    }
    auto stop =
        done_or_idle("published", {counter::topic, counter::queue}, want, a.real("drain-timeout"));
    auto show = [](const totals& t) {
        return "sent " + std::to_string(t[counter::sent]) + "  topic deliveries " +
               std::to_string(t[counter::topic]) + "  queue consumed " +
               std::to_string(t[counter::queue]);
    };
    const broker_address to = ctx.to;
    auto results = run_workers<soak_result>(
        ctx.co, ctx.settings(stop, show), [&a, to](link& l) { return worker(l, a, to); },
        ctx.report);
    ctx.t0_ns = min_t0(results);
    return merge(a, results, ctx.report);
}

}  // namespace

scenario soak_scenario() {
    return {"soak", "topic", flags, max_workers, run};
}

}  // namespace stampede::load
