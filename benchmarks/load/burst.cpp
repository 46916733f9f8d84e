// burst: a queue under a sustained rate, then --factor times that rate for
// --burst-seconds, then the sustained rate again.
//
// Producers send on an open-loop schedule; consumers (client-individual
// acks) take at most --consume-rate messages/s in all (0: as fast as they
// can), so a burst above it leaves a backlog in the broker however fast the
// broker is. Reported: the backlog (sent minus consumed) every 100 ms, its
// peak, the time from the burst's end until it is back to its level before
// the burst, latency (from the scheduled send time) before, during and after
// the burst, and the windows in which the harness reads the broker's idle
// RSS: --idle-before seconds with every client connected before the load,
// and --idle-after seconds after every client has gone.

#include <algorithm>
#include <array>
#include <map>
#include <memory>

#include "clock.hpp"
#include "open_loop.hpp"
#include "queue_parts.hpp"
#include "stampede/runtime/scheduler.hpp"

namespace stampede::load {

namespace {

namespace rt = stampede::runtime;

constexpr double start_delay_seconds = 0.05;
constexpr std::int64_t slice_ns = 100'000'000;

struct burst_times {
    std::int64_t start = 0, burst_start = 0, burst_end = 0, end = 0;
};

struct burst_result {
    errors errs;
    std::optional<std::int64_t> t0;
    std::optional<std::int64_t> idle_before_start, idle_before_end;
    std::optional<std::int64_t> idle_after_start, idle_after_end;
    burst_times times;
    std::array<latency_histogram, 3> latency;          // before, during, after (by scheduled time)
    std::vector<latency_histogram> latency_by_second;  // by scheduled second since start
    std::vector<std::uint64_t> sent_slices, consumed_slices;
    std::vector<std::uint64_t> sent_per_second, consumed_per_second;
    std::vector<std::pair<std::string, std::uint64_t>> sent_by_stream;
    sequence_tracker consumed;
};

std::vector<flag_spec> flags() {
    return {
        {"producers", flag_kind::integer, "2", {}},
        {"consumers", flag_kind::integer, "2", {}},
        {"base-rate", flag_kind::real, "2000", {}},
        {"factor", flag_kind::real, "3", {}},
        {"before-seconds", flag_kind::real, "10", {}},
        {"burst-seconds", flag_kind::real, "10", {}},
        {"after-seconds", flag_kind::real, "20", {}},
        {"consume-rate", flag_kind::real, "0", {}},
        {"body-size", flag_kind::integer, "1024", {}},
        {"prefetch", flag_kind::integer, "100", {}},
        {"ack", flag_kind::text, "client-individual", {"client-individual", "client", "auto"}},
        {"idle-before", flag_kind::real, "3", {}},
        {"idle-after", flag_kind::real, "10", {}},
        {"destination", flag_kind::optional_text, "", {}},
        {"drain-timeout", flag_kind::real, "30", {}},
    };
}

std::size_t n_of(const args& a, std::string_view k) {
    return static_cast<std::size_t>(a.integer(k));
}

std::size_t max_workers(const args& a) {
    return n_of(a, "producers") + n_of(a, "consumers");
}

std::int64_t ns_of(double s) {
    return static_cast<std::int64_t>(s * 1e9);
}

burst_times times_of(const args& a, std::int64_t t0) {
    burst_times t;
    t.start = t0 + ns_of(start_delay_seconds);
    t.burst_start = t.start + ns_of(a.real("before-seconds"));
    t.burst_end = t.burst_start + ns_of(a.real("burst-seconds"));
    t.end = t.burst_end + ns_of(a.real("after-seconds"));
    return t;
}

std::uint64_t planned_total(const args& a) {
    const double p = static_cast<double>(std::max<std::size_t>(1, n_of(a, "producers")));
    const double base = a.real("base-rate") / p;
    return (planned_count(base, a.real("before-seconds")) +
            planned_count(base * a.real("factor"), a.real("burst-seconds")) +
            planned_count(base, a.real("after-seconds"))) *
           static_cast<std::uint64_t>(p);
}

// Latency by the message's scheduled time: which part of the run, and which second.
void record_latency(burst_result& r, std::int64_t now, std::int64_t sent) {
    const std::size_t part = sent < r.times.burst_start ? 0 : sent < r.times.burst_end ? 1 : 2;
    r.latency[part].record(now - sent);
    const auto sec =
        static_cast<std::size_t>(std::max<std::int64_t>(0, sent - r.times.start) / 1'000'000'000);
    if (sec >= r.latency_by_second.size()) {
        r.latency_by_second.resize(sec + 1);
    }
    r.latency_by_second[sec].record(now - sent);
}

void publish(link& l, const args& a, const indexed_connections& producers, burst_result& r) {
    const double base =
        a.real("base-rate") / static_cast<double>(std::max<std::size_t>(1, n_of(a, "producers")));
    std::vector<std::unique_ptr<scheduled_publisher>> pubs;
    std::vector<std::function<void()>> jobs;
    for (const auto& [i, conn] : producers) {
        pubs.push_back(std::make_unique<scheduled_publisher>(
            *conn, a.text("destination"), name_of("P", i),
            static_cast<std::size_t>(a.integer("body-size")), "", *r.t0, l.counters()));
        jobs.push_back([p = pubs.back().get(), &r, &a, &l, base] {
            p->run(r.times.start, r.times.burst_start, base, &l);
            p->run(r.times.burst_start, r.times.burst_end, base * a.real("factor"), &l);
            p->run(r.times.burst_end, r.times.end, base, &l);
        });
    }
    run_all(std::move(jobs));
    for (const auto& p : pubs) {
        const schedule_stats& s = p->stats();
        add_into(r.sent_slices, s.slices);
        add_into(r.sent_per_second, s.per_second);
        r.sent_by_stream.emplace_back(p->stream(), p->stream_sent());
    }
}

burst_result worker(link& l, const args& a, const broker_address& to) {
    burst_result r;
    latency_sink unused;
    consumer_set consumers = subscribe_consumers(l, a, to, n_of(a, "consumers"), unused, r.errs);
    const indexed_connections producers =
        connect_limited(to, l.mine(n_of(a, "producers")), n_of(a, "connect-concurrency"), nullptr,
                        r.errs, "producer");
    r.idle_before_start = l.barrier("connected");
    if (r.idle_before_start) {
        (void)rt::this_fiber::sleep_for(seconds(a.real("idle-before")));
        r.idle_before_end = now_ns();
        r.t0 = l.barrier("go");
    }
    time_series consumed(slice_ns);
    if (r.t0) {
        r.times = times_of(a, *r.t0);
        consumed.set_origin(*r.t0);
        const double per_consumer =
            a.real("consume-rate") /
            static_cast<double>(std::max<std::size_t>(1, n_of(a, "consumers")));
        for (auto& [i, rc] : consumers.receivers) {
            rc->set_origin(*r.t0);
            if (per_consumer > 0) {
                rc->limit_rate(per_consumer, r.times.start);
            }
            rc->set_hook([&r, &consumed](std::int64_t now, std::optional<std::int64_t> sent,
                                         const std::optional<body_id>&, bool,
                                         const protocol::frame_view&) {
                consumed.add(now);
                if (sent) {
                    record_latency(r, now, *sent);
                }
            });
        }
        publish(l, a, producers, r);
        (void)l.barrier("published");
        l.wait_stop();
    }
    consumers.report_errors(r.errs);
    for (const auto& [i, rc] : consumers.receivers) {
        r.consumed.merge(rc->tracker());
        add_into(r.consumed_per_second, rc->series().counts());
    }
    r.consumed_slices = consumed.counts();
    auto all = pointers(consumers.conns);
    append(all, pointers(producers));
    close_all(all);
    consumers.receivers.clear();
    consumers.conns.clear();
    r.idle_after_start = now_ns();
    (void)rt::this_fiber::sleep_for(seconds(a.real("idle-after")));
    r.idle_after_end = now_ns();
    return r;
}

// ---- merging ----

// The first slice at or after `from` whose backlog is at most `level`.
std::optional<double> drain_seconds(const std::vector<std::int64_t>& backlog, std::int64_t t0,
                                    std::int64_t from, std::int64_t level) {
    for (std::size_t i = 0; i < backlog.size(); ++i) {
        const std::int64_t at = t0 + static_cast<std::int64_t>(i) * slice_ns;
        if (at + slice_ns > from && backlog[i] <= level) {
            return std::max<double>(0, static_cast<double>(at + slice_ns - from) / 1e9);
        }
    }
    return std::nullopt;
}

json merge(const args& a, const std::vector<std::optional<burst_result>>& results,
           const run_report& report) {
    const auto rs = live(results);
    std::array<latency_histogram, 3> latency;
    std::vector<latency_histogram> by_second;
    std::vector<std::uint64_t> sent, consumed, sent_ps, consumed_ps;
    expectation expected;
    sequence_tracker all_consumed;
    burst_times times;
    std::optional<std::int64_t> t0, ib_start, ib_end, ia_start, ia_end;
    for (const burst_result* r : rs) {
        for (std::size_t k = 0; k < 3; ++k) {
            latency[k].merge(r->latency[k]);
        }
        if (r->latency_by_second.size() > by_second.size()) {
            by_second.resize(r->latency_by_second.size());
        }
        for (std::size_t k = 0; k < r->latency_by_second.size(); ++k) {
            by_second[k].merge(r->latency_by_second[k]);
        }
        add_into(sent, r->sent_slices);
        add_into(consumed, r->consumed_slices);
        add_into(sent_ps, r->sent_per_second);
        add_into(consumed_ps, r->consumed_per_second);
        append(expected, r->sent_by_stream);
        all_consumed.merge(r->consumed);
        if (r->t0) {
            t0 = r->t0;
            times = r->times;
        }
        ib_start = std::max(ib_start.value_or(0), r->idle_before_start.value_or(0));
        ib_end = std::min(ib_end.value_or(INT64_MAX), r->idle_before_end.value_or(INT64_MAX));
        ia_start = std::max(ia_start.value_or(0), r->idle_after_start.value_or(0));
        ia_end = std::min(ia_end.value_or(INT64_MAX), r->idle_after_end.value_or(INT64_MAX));
    }
    // The backlog every slice: everything sent so far minus everything consumed.
    const std::size_t n = std::max(sent.size(), consumed.size());
    sent.resize(n, 0);
    consumed.resize(n, 0);
    std::vector<std::int64_t> backlog(n, 0);
    std::int64_t s = 0, c = 0, peak = 0, before_level = 0;
    std::optional<double> peak_at;
    for (std::size_t i = 0; i < n; ++i) {
        s += static_cast<std::int64_t>(sent[i]);
        c += static_cast<std::int64_t>(consumed[i]);
        backlog[i] = s - c;
        const std::int64_t at = t0.value_or(0) + static_cast<std::int64_t>(i) * slice_ns;
        if (backlog[i] > peak) {
            peak = backlog[i];
            peak_at = static_cast<double>(at - times.start) / 1e9;
        }
        // The steady level before the burst (past its first second).
        if (at >= times.start + 1'000'000'000 && at + slice_ns <= times.burst_start) {
            before_level = std::max(before_level, backlog[i]);
        }
    }
    const auto level =
        std::max<std::int64_t>(before_level, static_cast<std::int64_t>(a.real("base-rate") * 0.1));
    json p99s = json::array();
    for (const auto& h : by_second) {
        p99s.push_back(or_null(h.percentile(0.99)));
    }
    json out = queue_loss(expected, all_consumed);
    std::uint64_t published = 0;
    for (const auto& [k, v] : expected) {
        published += v;
    }
    out["published"] = published;
    out["planned"] = planned_total(a);
    out["backlog_peak"] = peak;
    out["backlog_peak_at_seconds"] = or_null(peak_at);
    out["backlog_before"] = before_level;
    out["drain_seconds"] =
        or_null(t0 ? drain_seconds(backlog, *t0, times.burst_end, level) : std::nullopt);
    out["latency_before_ns"] = latency[0].summary();
    out["latency_during_ns"] = latency[1].summary();
    out["latency_after_ns"] = latency[2].summary();
    out["latency_p99_by_second"] = p99s;
    out["load_start_ns"] = times.start;
    out["burst_start_ns"] = times.burst_start;
    out["burst_end_ns"] = times.burst_end;
    out["load_end_ns"] = times.end;
    out["idle_before_start_ns"] = or_null(ib_start);
    out["idle_before_end_ns"] = or_null(ib_end);
    out["idle_after_start_ns"] = or_null(ia_start);
    out["idle_after_end_ns"] = or_null(ia_end);
    out["slice_seconds"] = static_cast<double>(slice_ns) / 1e9;
    out["backlog"] = backlog;
    out["per_second"] = {{"published", sent_ps}, {"consumed", consumed_ps}};
    update(out, merged_errors(results, report));
    out["ok"] = out["lost"] == 0 && out["duplicates"] == 0 && published == planned_total(a) &&
                out["errors"] == 0 && rs.size() == results.size();
    return out;
}

json run(run_context& ctx) {
    const args& a = ctx.a;
    auto stop =
        done_or_idle("published", {counter::received}, planned_total(a), a.real("drain-timeout"));
    auto show = [](const totals& t) {
        return "sent " + std::to_string(t[counter::sent]) + "  consumed " +
               std::to_string(t[counter::received]);
    };
    const broker_address to = ctx.to;
    auto results = run_workers<burst_result>(
        ctx.co, ctx.settings(stop, show), [&a, to](link& l) { return worker(l, a, to); },
        ctx.report);
    ctx.t0_ns = min_t0(results);
    return merge(a, results, ctx.report);
}

}  // namespace

scenario burst_scenario() {
    return {"burst", "queue", flags, max_workers, run};
}

}  // namespace stampede::load
