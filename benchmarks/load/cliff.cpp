// cliff: offered load stepped up on an open-loop schedule until the broker
// stops keeping up.
//
// P publishers send to one topic with S subscribers at rate r_k = start x
// factor^k for --step-seconds each; between steps everything sent is let
// arrive (or --settle-timeout passes). A step holds when its p99 latency
// (measured from each message's scheduled send time, so no coordinated
// omission) stays under --p99-limit-ms and both the publishers' sends and
// the deliveries per subscriber within the step follow the offered rate to
// --follow. The knee is the highest offered rate before the first step that
// did not hold; --after-knee more steps show the cliff.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <memory>

#include "clock.hpp"
#include "open_loop.hpp"
#include "scenario.hpp"
#include "stampede/runtime/scheduler.hpp"

namespace stampede::load {

namespace {

namespace rt = stampede::runtime;

constexpr double start_delay_seconds = 0.05;
constexpr double settle_poll_seconds = 0.02;

struct step_stats {
    latency_histogram latency;
    std::uint64_t distinct = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t in_window = 0;  // arrivals before the step's end
    std::uint64_t planned = 0, sent = 0, sent_on_time = 0, behind = 0;
    std::int64_t blocked_ns = 0;
    std::int64_t start_ns = 0, end_ns = 0;
    bool judged_ok = true;
};

// The step of a stream named P<i>s<k>.
std::optional<std::size_t> step_of(std::string_view stream) {
    const auto s = stream.rfind('s');
    if (s == std::string_view::npos || s + 1 >= stream.size()) {
        return std::nullopt;
    }
    std::size_t k = 0;
    const auto [end, ec] = std::from_chars(stream.data() + s + 1, stream.data() + stream.size(), k);
    if (ec != std::errc{} || end != stream.data() + stream.size()) {
        return std::nullopt;
    }
    return k;
}

// Counts each step's arrivals and latencies on one subscription.
class cliff_receiver final : public message_handler {
  public:
    cliff_receiver(connection& conn, std::vector<step_stats>& steps, worker_counters& tally)
        : steps_(steps), tally_(tally) {
        conn.set_handler(this);
    }

    void on_message(connection&, const protocol::frame_view& frame) override {
        const std::int64_t t = now_ns();
        const auto id = parse_body_id(frame.body);
        if (!id) {
            return;
        }
        const auto k = step_of(id->stream);
        if (!k || *k >= steps_.size()) {
            return;
        }
        step_stats& s = steps_[*k];
        if (!tracker_.record(id->stream, id->seq)) {
            ++s.duplicates;
            return;
        }
        ++s.distinct;
        tally_.add(counter::received);
        if (const auto sent = sent_time_of(frame)) {
            s.latency.record(t - *sent);
        }
        if (s.end_ns == 0 || t < s.end_ns) {
            ++s.in_window;
        }
    }

  private:
    std::vector<step_stats>& steps_;
    worker_counters& tally_;
    sequence_tracker tracker_;
};

struct cliff_result {
    errors errs;
    std::optional<std::int64_t> t0;
    std::size_t subscribers = 0;
    std::vector<step_stats> steps;
    std::size_t steps_run = 0;
};

std::vector<flag_spec> flags() {
    return {
        {"publishers", flag_kind::integer, "2", {}},
        {"subscribers", flag_kind::integer, "4", {}},
        {"start-rate", flag_kind::real, "1000", {}},
        {"factor", flag_kind::real, "2", {}},
        {"max-rate", flag_kind::real, "1024000", {}},
        {"step-seconds", flag_kind::real, "5", {}},
        {"p99-limit-ms", flag_kind::real, "20", {}},
        {"follow", flag_kind::real, "0.9", {}},
        {"after-knee", flag_kind::integer, "1", {}},
        {"settle-timeout", flag_kind::real, "15", {}},
        {"settle-idle", flag_kind::real, "2", {}},
        {"body-size", flag_kind::integer, "1024", {}},
        {"destination", flag_kind::optional_text, "", {}},
    };
}

std::size_t n_of(const args& a, std::string_view k) {
    return static_cast<std::size_t>(a.integer(k));
}

std::size_t max_workers(const args& a) {
    return n_of(a, "publishers") + n_of(a, "subscribers");
}

std::vector<double> rates_of(const args& a) {
    std::vector<double> out;
    const double factor = std::max(1.01, a.real("factor"));
    for (double r = a.real("start-rate"); r <= a.real("max-rate") * (1 + 1e-9) && out.size() < 64;
         r *= factor) {
        out.push_back(r);
    }
    return out;
}

// Messages the publishers schedule in a step (over all of them).
std::uint64_t planned_of(const args& a, double rate) {
    const std::size_t p = std::max<std::size_t>(1, n_of(a, "publishers"));
    return planned_count(rate / static_cast<double>(p), a.real("step-seconds")) * p;
}

// Until this worker's subscribers have all of step k, or nothing arrived
// for --settle-idle seconds, or --settle-timeout passed.
void settle(const args& a, const link& l, const step_stats& s, std::uint64_t want) {
    const std::int64_t deadline =
        now_ns() + static_cast<std::int64_t>(a.real("settle-timeout") * 1e9);
    std::uint64_t last = s.distinct;
    std::int64_t since = now_ns();
    while (!l.stopped() && s.distinct < want && now_ns() < deadline) {
        if (s.distinct != last) {
            last = s.distinct;
            since = now_ns();
        } else if (static_cast<double>(now_ns() - since) / 1e9 > a.real("settle-idle")) {
            return;
        }
        if (!rt::this_fiber::sleep_for(seconds(settle_poll_seconds))) {
            return;
        }
    }
}

// This worker's view of whether step k held.
bool judge(const args& a, const step_stats& s, std::size_t subs, double rate) {
    const double follow = a.real("follow");
    const auto p99 = s.latency.percentile(0.99);
    const bool latency_ok =
        subs == 0 || (p99 && static_cast<double>(*p99) <= a.real("p99-limit-ms") * 1e6);
    const double window = a.real("step-seconds");
    const bool delivered_ok =
        subs == 0 ||
        static_cast<double>(s.in_window) / (window * static_cast<double>(subs)) >= follow * rate;
    const bool sent_ok = s.planned == 0 || static_cast<double>(s.sent_on_time) >=
                                               follow * static_cast<double>(s.planned);
    return latency_ok && delivered_ok && sent_ok;
}

void run_step(const args& a, link& l, std::vector<std::unique_ptr<scheduled_publisher>>& pubs,
              const std::vector<std::size_t>& pub_index, std::size_t k, double rate,
              step_stats& s) {
    const double per = rate / static_cast<double>(std::max<std::size_t>(1, n_of(a, "publishers")));
    std::vector<schedule_stats> before;
    std::vector<std::function<void()>> jobs;
    for (std::size_t j = 0; j < pubs.size(); ++j) {
        before.push_back(pubs[j]->stats());
        pubs[j]->set_stream("P" + std::to_string(pub_index[j]) + "s" + std::to_string(k));
        jobs.push_back([p = pubs[j].get(), &s, per, &l] { p->run(s.start_ns, s.end_ns, per, &l); });
    }
    run_all(std::move(jobs));
    for (std::size_t j = 0; j < pubs.size(); ++j) {
        const schedule_stats& now = pubs[j]->stats();
        s.planned += now.planned - before[j].planned;
        s.sent += now.sent - before[j].sent;
        s.sent_on_time += now.sent_on_time - before[j].sent_on_time;
        s.behind += now.behind - before[j].behind;
        s.blocked_ns += now.blocked_ns - before[j].blocked_ns;
    }
}

cliff_result worker(link& l, const args& a, const broker_address& to) {
    cliff_result r;
    const std::vector<double> rates = rates_of(a);
    r.steps.resize(rates.size());
    std::map<std::size_t, std::unique_ptr<cliff_receiver>> receivers;
    auto sub_conns = connect_limited(
        to, l.mine(n_of(a, "subscribers")), n_of(a, "connect-concurrency"),
        [&](std::size_t i, connection& c, std::string& why) {
            receivers[i] = std::make_unique<cliff_receiver>(c, r.steps, l.counters());
            return c.subscribe(a.text("destination"), name_of("s", i), "auto", 0,
                               a.real("connect-timeout"), why);
        },
        r.errs, "subscriber");
    r.subscribers = sub_conns.size();
    auto pub_conns =
        connect_limited(to, l.mine(n_of(a, "publishers")), 50, nullptr, r.errs, "publisher");
    r.t0 = l.barrier("subscribed");
    std::vector<std::unique_ptr<scheduled_publisher>> pubs;
    std::vector<std::size_t> pub_index;
    for (const auto& [i, conn] : pub_conns) {
        pubs.push_back(std::make_unique<scheduled_publisher>(
            *conn, a.text("destination"), name_of("P", i),
            static_cast<std::size_t>(a.integer("body-size")), "", r.t0.value_or(0), l.counters()));
        pub_index.push_back(i);
    }
    std::int64_t fails = 0;
    for (std::size_t k = 0; r.t0 && k < rates.size(); ++k) {
        const auto tk = l.barrier("step" + std::to_string(k));
        if (!tk) {
            break;
        }
        step_stats& s = r.steps[k];
        s.start_ns = *tk + static_cast<std::int64_t>(start_delay_seconds * 1e9);
        s.end_ns = s.start_ns + static_cast<std::int64_t>(a.real("step-seconds") * 1e9);
        run_step(a, l, pubs, pub_index, k, rates[k], s);
        settle(a, l, s, planned_of(a, rates[k]) * r.subscribers);
        s.judged_ok = judge(a, s, r.subscribers, rates[k]);
        const auto all = l.vote("judged" + std::to_string(k), s.judged_ok);
        r.steps_run = k + 1;
        if (!all) {
            break;
        }
        if (!*all && ++fails > a.integer("after-knee")) {
            break;
        }
    }
    for (const auto& [i, conn] : sub_conns) {
        r.errs.from_connection(name_of("subscriber ", i), conn.get());
    }
    for (const auto& [i, conn] : pub_conns) {
        r.errs.from_connection(name_of("publisher ", i), conn.get());
    }
    auto all = pointers(sub_conns);
    append(all, pointers(pub_conns));
    close_all(all);
    return r;
}

// ---- merging ----

json merge(const args& a, const std::vector<std::optional<cliff_result>>& results,
           const run_report& report) {
    const auto rs = live(results);
    const std::vector<double> rates = rates_of(a);
    std::size_t steps_run = rates.size();
    std::size_t subscribers = 0;
    for (const cliff_result* r : rs) {
        steps_run = std::min(steps_run, r->steps_run);
        subscribers += r->subscribers;
    }
    if (rs.empty()) {
        steps_run = 0;
    }
    const double window = a.real("step-seconds");
    const double follow = a.real("follow");
    const double limit_ns = a.real("p99-limit-ms") * 1e6;
    json steps = json::array();
    std::optional<double> knee;
    std::optional<std::string> knee_reason;
    bool failed_before = false;
    for (std::size_t k = 0; k < steps_run; ++k) {
        step_stats s;
        for (const cliff_result* r : rs) {
            const step_stats& w = r->steps[k];
            s.latency.merge(w.latency);
            s.distinct += w.distinct;
            s.duplicates += w.duplicates;
            s.in_window += w.in_window;
            s.planned += w.planned;
            s.sent += w.sent;
            s.sent_on_time += w.sent_on_time;
            s.behind += w.behind;
            s.blocked_ns += w.blocked_ns;
        }
        const double send_rate = static_cast<double>(s.sent_on_time) / window;
        const double delivered_rate = subscribers ? static_cast<double>(s.in_window) /
                                                        (window * static_cast<double>(subscribers))
                                                  : 0.0;
        const auto p99 = s.latency.percentile(0.99);
        std::string why;
        if (!p99 || static_cast<double>(*p99) > limit_ns) {
            why = "p99 over the limit";
        } else if (delivered_rate < follow * rates[k]) {
            why = "deliveries stopped following the offered rate";
        } else if (send_rate < follow * rates[k]) {
            why = "the publishers were held back";
        }
        const bool held = why.empty();
        if (!held && !failed_before) {
            failed_before = true;
            knee_reason = why;
        }
        if (held && !failed_before) {
            knee = rates[k];
        }
        json row;
        row["step"] = k;
        row["offered_rate"] = rates[k];
        row["planned"] = s.planned;
        row["sent"] = s.sent;
        row["send_rate"] = send_rate;
        row["behind"] = s.behind;
        row["publish_blocked_seconds"] = static_cast<double>(s.blocked_ns) / 1e9;
        row["delivered_rate"] = delivered_rate;
        row["expected_deliveries"] = s.sent * subscribers;
        row["delivered"] = s.distinct;
        row["missing"] = s.sent * subscribers > s.distinct ? s.sent * subscribers - s.distinct : 0;
        row["duplicates"] = s.duplicates;
        row["latency_ns"] = s.latency.summary();
        row["held"] = held;
        row["reason"] = held ? json(nullptr) : json(why);
        steps.push_back(std::move(row));
    }
    json out;
    out["steps"] = steps;
    out["knee_rate"] = or_null(knee);
    out["knee_reason"] = or_null(knee_reason);
    out["p99_limit_ms"] = a.real("p99-limit-ms");
    out["subscribers_connected"] = subscribers;
    update(out, merged_errors(results, report));
    out["ok"] = out["errors"] == 0 && steps_run > 0 && rs.size() == results.size();
    return out;
}

json run(run_context& ctx) {
    const args& a = ctx.a;
    auto show = [](const totals& t) {
        return "sent " + std::to_string(t[counter::sent]) + "  delivered " +
               std::to_string(t[counter::received]);
    };
    const broker_address to = ctx.to;
    auto results = run_workers<cliff_result>(
        ctx.co, ctx.settings({}, show), [&a, to](link& l) { return worker(l, a, to); }, ctx.report);
    ctx.t0_ns = min_t0(results);
    return merge(a, results, ctx.report);
}

}  // namespace

scenario cliff_scenario() {
    return {"cliff", "topic", flags, max_workers, run};
}

}  // namespace stampede::load
