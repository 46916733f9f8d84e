// rate: P channels, each a topic with one publisher at a fixed rate and S
// subscribers.
//
// Every publisher sends on an open-loop schedule (message k at start + k/rate,
// stamped with that time), so a broker that holds a publisher back shows it
// as latency and as messages sent late, not as a quietly lower rate. Reported
// per channel: the publisher's and each subscriber's achieved rate against
// the target, messages missing, latency percentiles. A channel more than
// --tolerance below its target, or with a subscriber (or the publisher) under
// half of it (starved), fails.

#include <algorithm>
#include <map>
#include <memory>

#include "clock.hpp"
#include "open_loop.hpp"
#include "scenario.hpp"

namespace stampede::load {

namespace {

constexpr double start_delay_seconds = 0.1;  // every worker hears the release first
constexpr double starved_below = 0.5;

struct sub_row {
    std::size_t index = 0;
    std::uint64_t received = 0;
    std::uint64_t duplicates = 0;
    std::optional<std::int64_t> last_ns;
};

struct rate_result {
    errors errs;
    std::optional<std::int64_t> t0;
    std::int64_t start_ns = 0;
    std::vector<sub_row> subs;
    std::map<std::size_t, schedule_stats> pubs;  // by channel
    std::map<std::size_t, latency_histogram> latency;
    std::vector<std::uint64_t> delivered_per_second;
};

std::vector<flag_spec> flags() {
    return {
        {"channels", flag_kind::integer, "5", {}},
        {"subscribers", flag_kind::integer, "25", {}},
        {"rate", flag_kind::real, "50", {}},
        {"duration", flag_kind::real, "10", {}},
        {"body-size", flag_kind::integer, "256", {}},
        {"tolerance", flag_kind::real, "0.01", {}},
        {"destination", flag_kind::optional_text, "", {}},
        {"drain-timeout", flag_kind::real, "10", {}},
    };
}

std::size_t n_of(const args& a, std::string_view k) {
    return static_cast<std::size_t>(a.integer(k));
}

std::size_t max_workers(const args& a) {
    return n_of(a, "channels") * (n_of(a, "subscribers") + 1);
}

std::string topic_of(const args& a, std::size_t channel) {
    return a.text("destination") + ".c" + std::to_string(channel);
}

rate_result worker(link& l, const args& a, const broker_address& to) {
    rate_result r;
    const std::size_t per = n_of(a, "subscribers");
    const std::size_t channels = n_of(a, "channels");
    std::map<std::size_t, latency_sink> sinks;
    std::map<std::size_t, std::unique_ptr<receiver>> receivers;
    auto sub_conns = connect_limited(
        to, l.mine(channels * per), n_of(a, "connect-concurrency"),
        [&](std::size_t i, connection& c, std::string& why) {
            receivers[i] = std::make_unique<receiver>(c, l.counters(), counter::received,
                                                      sinks[i / per], false);
            return c.subscribe(topic_of(a, i / per), name_of("s", i), "auto", 0,
                               a.real("connect-timeout"), why);
        },
        r.errs, "subscriber");
    std::erase_if(receivers, [&](const auto& kv) {
        return std::none_of(sub_conns.begin(), sub_conns.end(),
                            [&](const auto& c) { return c.first == kv.first; });
    });
    auto pub_conns = connect_limited(to, l.mine(channels), 50, nullptr, r.errs, "publisher");
    r.t0 = l.barrier("subscribed");
    if (r.t0) {
        r.start_ns = *r.t0 + static_cast<std::int64_t>(start_delay_seconds * 1e9);
        const std::int64_t end = r.start_ns + static_cast<std::int64_t>(a.real("duration") * 1e9);
        for (auto& [i, rc] : receivers) {
            rc->set_origin(*r.t0);
        }
        std::vector<std::unique_ptr<scheduled_publisher>> pubs;
        std::vector<std::function<void()>> jobs;
        for (const auto& [c, conn] : pub_conns) {
            pubs.push_back(std::make_unique<scheduled_publisher>(
                *conn, topic_of(a, c), name_of("P", c),
                static_cast<std::size_t>(a.integer("body-size")), "", *r.t0, l.counters()));
            jobs.push_back([p = pubs.back().get(), &r, end, &a, &l] {
                p->run(r.start_ns, end, a.real("rate"), &l);
            });
        }
        run_all(std::move(jobs));
        for (std::size_t k = 0; k < pubs.size(); ++k) {
            r.pubs[pub_conns[k].first] = pubs[k]->stats();
        }
        (void)l.barrier("published");
        l.wait_stop();
    }
    for (const auto& [i, rc] : receivers) {
        r.errs.from_connection(name_of("subscriber ", i), &rc->conn());
        r.subs.push_back({i, rc->tracker().distinct(), rc->tracker().duplicates(), rc->last_ns()});
        add_into(r.delivered_per_second, rc->series().counts());
    }
    for (const auto& [c, conn] : pub_conns) {
        r.errs.from_connection(name_of("publisher ", c), conn.get());
    }
    for (auto& [c, sink] : sinks) {
        r.latency[c] = sink.whole();
    }
    auto all = pointers(sub_conns);
    append(all, pointers(pub_conns));
    close_all(all);
    return r;
}

// ---- merging ----

struct channel_view {
    schedule_stats pub;
    bool has_pub = false;
    std::vector<const sub_row*> subs;
    latency_histogram latency;
};

double median_of(std::vector<double> v) {
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

json channel_json(const args& a, std::size_t c, const channel_view& v, std::int64_t start,
                  json& sub_rates) {
    const double target = a.real("rate");
    const double duration = a.real("duration");
    const std::size_t per = n_of(a, "subscribers");
    const double pub_rate = static_cast<double>(v.pub.sent_on_time) / duration;
    std::vector<double> rates;
    std::uint64_t received = 0, duplicates = 0;
    for (const sub_row* s : v.subs) {
        double span = duration;
        if (s->last_ns) {
            span = std::max(span, static_cast<double>(*s->last_ns - start) / 1e9);
        }
        rates.push_back(static_cast<double>(s->received) / span);
        received += s->received;
        duplicates += s->duplicates;
        sub_rates.push_back(json::array({s->index, c, rates.back()}));
    }
    for (std::size_t k = v.subs.size(); k < per; ++k) {
        rates.push_back(0);  // a subscriber that never connected got nothing
    }
    const double sub_min = rates.empty() ? 0 : *std::min_element(rates.begin(), rates.end());
    const double worst = std::min(pub_rate, per > 0 ? sub_min : pub_rate);
    const bool below = worst < target * (1 - a.real("tolerance"));
    const bool starved = worst < target * starved_below;
    json out;
    out["channel"] = c;
    out["destination"] = topic_of(a, c);
    out["target_rate"] = target;
    out["planned"] = v.pub.planned;
    out["sent"] = v.pub.sent;
    out["sent_late"] = v.pub.sent - v.pub.sent_on_time;
    out["behind"] = v.pub.behind;
    out["publish_rate"] = pub_rate;
    out["publish_max_late_ns"] = v.pub.max_late_ns;
    out["subscribers"] = per;
    out["subscriber_rate_min"] = sub_min;
    out["subscriber_rate_median"] = median_of(rates);
    out["achieved_ratio"] = target > 0 ? worst / target : 0.0;
    out["expected_deliveries"] = v.pub.sent * per;
    out["delivered"] = received;
    out["missing"] = v.pub.sent * per > received ? v.pub.sent * per - received : 0;
    out["duplicates"] = duplicates;
    out["latency_ns"] = v.latency.summary();
    out["below_target"] = below;
    out["starved"] = starved;
    out["ok"] = !below && !starved && v.has_pub;
    return out;
}

json merge(const args& a, const std::vector<std::optional<rate_result>>& results,
           const run_report& report) {
    const auto rs = live(results);
    const std::size_t channels = n_of(a, "channels");
    const std::size_t per = n_of(a, "subscribers");
    std::vector<channel_view> views(channels);
    std::int64_t start = 0;
    std::vector<std::uint64_t> published, delivered;
    latency_histogram all;
    for (const rate_result* r : rs) {
        start = start == 0 ? r->start_ns : std::min(start, r->start_ns);
        for (const auto& [c, p] : r->pubs) {
            views[c].pub = p;
            views[c].has_pub = true;
            add_into(published, p.per_second);
        }
        for (const auto& s : r->subs) {
            views[s.index / per].subs.push_back(&s);
        }
        for (const auto& [c, h] : r->latency) {
            views[c].latency.merge(h);
            all.merge(h);
        }
        add_into(delivered, r->delivered_per_second);
    }
    json rows = json::array();
    json sub_rates = json::array();
    std::uint64_t sent = 0, expected = 0, got = 0, missing = 0, dups = 0, failed = 0;
    for (std::size_t c = 0; c < channels; ++c) {
        json row = channel_json(a, c, views[c], start, sub_rates);
        sent += row["sent"].get<std::uint64_t>();
        expected += row["expected_deliveries"].get<std::uint64_t>();
        got += row["delivered"].get<std::uint64_t>();
        missing += row["missing"].get<std::uint64_t>();
        dups += row["duplicates"].get<std::uint64_t>();
        failed += row["ok"].get<bool>() ? 0 : 1;
        rows.push_back(std::move(row));
    }
    json out;
    out["target_rate"] = a.real("rate");
    out["channels"] = rows;
    out["subscriber_rates"] = sub_rates;
    out["failed_channels"] = failed;
    out["published"] = sent;
    out["expected_deliveries"] = expected;
    out["delivered"] = got;
    out["missing"] = missing;
    out["duplicates"] = dups;
    out["start_ns"] = start;
    out["latency_ns"] = all.summary();
    out["per_second"] = {{"published", published}, {"delivered", delivered}};
    update(out, merged_errors(results, report));
    out["ok"] = failed == 0 && missing == 0 && out["errors"] == 0 && rs.size() == results.size();
    return out;
}

json run(run_context& ctx) {
    const args& a = ctx.a;
    const std::uint64_t want = planned_count(a.real("rate"), a.real("duration")) *
                               n_of(a, "channels") * n_of(a, "subscribers");
    auto stop = done_or_idle("published", {counter::received}, want, a.real("drain-timeout"));
    auto show = [](const totals& t) {
        return "sent " + std::to_string(t[counter::sent]) + "  delivered " +
               std::to_string(t[counter::received]);
    };
    const broker_address to = ctx.to;
    auto results = run_workers<rate_result>(
        ctx.co, ctx.settings(stop, show), [&a, to](link& l) { return worker(l, a, to); },
        ctx.report);
    ctx.t0_ns = min_t0(results);
    return merge(a, results, ctx.report);
}

}  // namespace

scenario rate_scenario() {
    return {"rate", "topic", flags, max_workers, run};
}

}  // namespace stampede::load
