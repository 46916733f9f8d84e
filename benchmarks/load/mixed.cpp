// mixed: three classes of traffic at once, each compared with itself alone.
//
// topic: one publisher of small messages fanned out to S subscribers;
// bulk: producers of 64 KiB messages into a queue with competing consumers
// (client-individual acks); rr: request/reply through a request queue, the
// responder answering each request on its requester's reply queue. Every
// class sends on an open-loop schedule and measures latency from the
// scheduled send time (rr: the round trip). Stages: each class alone, then
// all three together; a class whose p99 together is more than
// --starved-factor times its p99 alone is starved.

#include <algorithm>
#include <array>
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
constexpr double settle_poll_seconds = 0.05;
constexpr std::size_t n_classes = 3;  // topic, bulk, rr
constexpr std::size_t n_stages = 4;   // topic alone, bulk alone, rr alone, all together
constexpr std::size_t together = 3;
constexpr std::array<const char*, n_classes> class_names = {"topic", "bulk", "rr"};
constexpr std::array<char, n_classes> class_tags = {'T', 'B', 'R'};

bool in_stage(std::size_t cls, std::size_t stage) {
    return stage == together || stage == cls;
}

struct cell {
    latency_histogram latency;
    std::uint64_t distinct = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t sent = 0;
};
using grid = std::array<std::array<cell, n_stages>, n_classes>;

// Sorts every arrival into its class and stage by the stream name: T<s>,
// B<s>p<i> or R<s>.
class class_receiver final : public message_handler {
  public:
    class_receiver(connection& conn, grid& g, bool ack, std::int64_t& last_arrival)
        : grid_(g), ack_(ack), last_arrival_(last_arrival) {
        conn.set_handler(this);
    }

    void on_message(connection& conn, const protocol::frame_view& frame) override {
        const std::int64_t t = now_ns();
        last_arrival_ = t;
        if (ack_) {
            if (const auto id = frame.get("ack")) {
                begin_frame(acks_, "ACK");
                add_header_escaped(acks_, "id", *id, conn.version());
                end_frame(acks_);
            }
        }
        const auto id = parse_body_id(frame.body);
        if (!id || id->stream.size() < 2) {
            return;
        }
        const auto tag = std::find(class_tags.begin(), class_tags.end(), id->stream[0]);
        const auto stage = static_cast<std::size_t>(id->stream[1] - '0');
        if (tag == class_tags.end() || stage >= n_stages) {
            return;
        }
        cell& c = grid_[static_cast<std::size_t>(tag - class_tags.begin())][stage];
        if (!tracker_.record(id->stream, id->seq)) {
            ++c.duplicates;
            return;
        }
        ++c.distinct;
        if (const auto sent = sent_time_of(frame)) {
            c.latency.record(t - *sent);
        }
    }

    void after_frames(connection& conn) override {
        if (!acks_.empty()) {
            conn.send(acks_.bytes());
            acks_.clear();
        }
    }

  private:
    grid& grid_;
    bool ack_;
    std::int64_t& last_arrival_;
    sequence_tracker tracker_;
    out_buffer acks_;
};

// Sends each request back to its bench-reply-to queue, bench-ts and body kept.
class echo_responder final : public message_handler {
  public:
    void on_message(connection& conn, const protocol::frame_view& frame) override {
        const auto reply_to = frame.get("bench-reply-to");
        if (!reply_to) {
            return;
        }
        begin_frame(out_, "SEND");
        add_header_escaped(out_, "destination", *reply_to, conn.version());
        add_header_escaped(out_, "bench-ts", frame.get("bench-ts").value_or("0"), conn.version());
        end_frame(out_, frame.body);
    }
    void after_frames(connection& conn) override {
        if (!out_.empty()) {
            conn.send(out_.bytes());
            out_.clear();
        }
    }

  private:
    out_buffer out_;
};

struct mixed_result {
    errors errs;
    std::optional<std::int64_t> t0;
    grid cells;
};

std::vector<flag_spec> flags() {
    return {
        {"stage-seconds", flag_kind::real, "10", {}},
        {"topic-subscribers", flag_kind::integer, "10", {}},
        {"topic-rate", flag_kind::real, "2000", {}},
        {"topic-body-size", flag_kind::integer, "256", {}},
        {"bulk-producers", flag_kind::integer, "1", {}},
        {"bulk-consumers", flag_kind::integer, "2", {}},
        {"bulk-rate", flag_kind::real, "50", {}},
        {"bulk-body-size", flag_kind::integer, "65536", {}},
        {"rr-rate", flag_kind::real, "200", {}},
        {"rr-body-size", flag_kind::integer, "128", {}},
        {"prefetch", flag_kind::integer, "10", {}},
        {"starved-factor", flag_kind::real, "3", {}},
        {"settle-idle", flag_kind::real, "1", {}},
        {"settle-timeout", flag_kind::real, "15", {}},
        {"destination", flag_kind::optional_text, "", {}},
    };
}

std::size_t n_of(const args& a, std::string_view k) {
    return static_cast<std::size_t>(a.integer(k));
}

std::size_t max_workers(const args& a) {
    return n_of(a, "topic-subscribers") + n_of(a, "bulk-producers") + n_of(a, "bulk-consumers") + 3;
}

std::string queue_of(const args& a, std::string_view what) {
    return "/queue/bench.mixed." + a.text("run-id") + "." + std::string(what);
}

// The indexes 0..n-1 of a role this worker runs, the role's first client on
// worker `offset` so that single clients of different roles spread out.
std::vector<std::size_t> mine_from(const link& l, std::size_t n, std::size_t offset) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < n; ++i) {
        if ((i + offset) % l.count() == l.index()) {
            out.push_back(i);
        }
    }
    return out;
}

struct mixed_clients {
    indexed_connections topic_subs, topic_pub, bulk_cons, bulk_prods, requester, responder;
    std::vector<std::unique_ptr<message_handler>> handlers;
    std::int64_t last_arrival = 0;
};

void connect_clients(link& l, const args& a, const broker_address& to, mixed_result& r,
                     mixed_clients& c) {
    const std::size_t limit = n_of(a, "connect-concurrency");
    const double timeout = a.real("connect-timeout");
    const auto recv = [&](bool ack) {
        return [&, ack](std::size_t, connection& conn) -> message_handler* {
            c.handlers.push_back(
                std::make_unique<class_receiver>(conn, r.cells, ack, c.last_arrival));
            return c.handlers.back().get();
        };
    };
    c.topic_subs = connect_limited(
        to, mine_from(l, n_of(a, "topic-subscribers"), 0), limit,
        [&](std::size_t i, connection& conn, std::string& why) {
            recv(false)(i, conn);
            return conn.subscribe(a.text("destination"), name_of("s", i), "auto", 0, timeout, why);
        },
        r.errs, "topic subscriber");
    c.bulk_cons = connect_limited(
        to, mine_from(l, n_of(a, "bulk-consumers"), 1), limit,
        [&](std::size_t i, connection& conn, std::string& why) {
            recv(true)(i, conn);
            return conn.subscribe(queue_of(a, "bulk"), name_of("c", i), "client-individual",
                                  static_cast<std::uint64_t>(a.integer("prefetch")), timeout, why);
        },
        r.errs, "bulk consumer");
    c.responder = connect_limited(
        to, mine_from(l, 1, 1), limit,
        [&](std::size_t, connection& conn, std::string& why) {
            c.handlers.push_back(std::make_unique<echo_responder>());
            conn.set_handler(c.handlers.back().get());
            return conn.subscribe(queue_of(a, "request"), "q", "auto", 0, timeout, why);
        },
        r.errs, "responder");
    c.requester = connect_limited(
        to, mine_from(l, 1, 0), limit,
        [&](std::size_t i, connection& conn, std::string& why) {
            recv(false)(i, conn);
            return conn.subscribe(queue_of(a, "reply"), "r", "auto", 0, timeout, why);
        },
        r.errs, "requester");
    c.topic_pub =
        connect_limited(to, mine_from(l, 1, 1), limit, nullptr, r.errs, "topic publisher");
    c.bulk_prods = connect_limited(to, mine_from(l, n_of(a, "bulk-producers"), 0), limit, nullptr,
                                   r.errs, "bulk producer");
}

// Until this worker's receivers saw nothing for --settle-idle seconds.
void settle(const args& a, const link& l, const std::int64_t& last_arrival, std::int64_t from) {
    const std::int64_t deadline =
        now_ns() + static_cast<std::int64_t>(a.real("settle-timeout") * 1e9);
    const auto idle = static_cast<std::int64_t>(a.real("settle-idle") * 1e9);
    while (!l.stopped() && now_ns() < deadline) {
        if (now_ns() - std::max(last_arrival, from) > idle) {
            return;
        }
        if (!rt::this_fiber::sleep_for(seconds(settle_poll_seconds))) {
            return;
        }
    }
}

struct sender {
    std::unique_ptr<scheduled_publisher> pub;
    std::size_t cls;
    std::size_t index;
    double rate;
};

std::vector<sender> make_senders(const args& a, link& l, mixed_clients& c, std::int64_t t0) {
    std::vector<sender> out;
    const auto add = [&](const indexed_connections& conns, std::size_t cls, std::string dest,
                         std::string_view body, std::string extra, double rate) {
        for (const auto& [i, conn] : conns) {
            out.push_back({std::make_unique<scheduled_publisher>(
                               *conn, dest, "", static_cast<std::size_t>(a.integer(body)), extra,
                               t0, l.counters()),
                           cls, i, rate});
        }
    };
    add(c.topic_pub, 0, a.text("destination"), "topic-body-size", "", a.real("topic-rate"));
    add(c.bulk_prods, 1, queue_of(a, "bulk"), "bulk-body-size", "",
        a.real("bulk-rate") /
            static_cast<double>(std::max<std::size_t>(1, n_of(a, "bulk-producers"))));
    add(c.requester, 2, queue_of(a, "request"), "rr-body-size",
        "bench-reply-to:" + queue_of(a, "reply") + "\n", a.real("rr-rate"));
    return out;
}

mixed_result worker(link& l, const args& a, const broker_address& to) {
    mixed_result r;
    mixed_clients c;
    connect_clients(l, a, to, r, c);
    r.t0 = l.barrier("subscribed");
    std::vector<sender> senders = make_senders(a, l, c, r.t0.value_or(0));
    for (std::size_t st = 0; r.t0 && st < n_stages; ++st) {
        const auto t = l.barrier("stage" + std::to_string(st));
        if (!t) {
            break;
        }
        const std::int64_t start = *t + static_cast<std::int64_t>(start_delay_seconds * 1e9);
        const std::int64_t end = start + static_cast<std::int64_t>(a.real("stage-seconds") * 1e9);
        std::vector<std::function<void()>> jobs;
        for (sender& s : senders) {
            if (!in_stage(s.cls, st)) {
                continue;
            }
            std::string stream(1, class_tags[s.cls]);
            stream += std::to_string(st);
            if (s.cls == 1) {
                stream += "p" + std::to_string(s.index);
            }
            s.pub->set_stream(stream);
            jobs.push_back([&s, &r, start, end, st, &l] {
                s.pub->run(start, end, s.rate, &l);
                r.cells[s.cls][st].sent += s.pub->stream_sent();
            });
        }
        run_all(std::move(jobs));
        (void)l.barrier("sent" + std::to_string(st));
        settle(a, l, c.last_arrival, now_ns());
        (void)l.barrier("settled" + std::to_string(st));
    }
    std::vector<connection*> all;
    for (const auto* set :
         {&c.topic_subs, &c.topic_pub, &c.bulk_cons, &c.bulk_prods, &c.requester, &c.responder}) {
        for (const auto& [i, conn] : *set) {
            r.errs.from_connection("client", conn.get());
        }
        append(all, pointers(*set));
    }
    close_all(all);
    return r;
}

// ---- merging ----

json stage_json(const cell& c, std::uint64_t expected) {
    json out;
    out["sent"] = c.sent;
    out["expected"] = expected;
    out["received"] = c.distinct;
    out["missing"] = expected > c.distinct ? expected - c.distinct : 0;
    out["duplicates"] = c.duplicates;
    out["latency_ns"] = c.latency.summary();
    return out;
}

json merge(const args& a, const std::vector<std::optional<mixed_result>>& results,
           const run_report& report) {
    const auto rs = live(results);
    grid g;
    for (const mixed_result* r : rs) {
        for (std::size_t k = 0; k < n_classes; ++k) {
            for (std::size_t st = 0; st < n_stages; ++st) {
                const cell& w = r->cells[k][st];
                g[k][st].latency.merge(w.latency);
                g[k][st].distinct += w.distinct;
                g[k][st].duplicates += w.duplicates;
                g[k][st].sent += w.sent;
            }
        }
    }
    json classes = json::object();
    json starved = json::array();
    std::uint64_t missing = 0;
    for (std::size_t k = 0; k < n_classes; ++k) {
        const std::uint64_t fan = k == 0 ? n_of(a, "topic-subscribers") : 1;
        json row;
        const cell& alone = g[k][k];
        const cell& mixed = g[k][together];
        row["alone"] = stage_json(alone, alone.sent * fan);
        row["mixed"] = stage_json(mixed, mixed.sent * fan);
        missing += row["alone"]["missing"].get<std::uint64_t>() +
                   row["mixed"]["missing"].get<std::uint64_t>();
        const auto p_alone = alone.latency.percentile(0.99);
        const auto p_mixed = mixed.latency.percentile(0.99);
        json ratio = nullptr;
        bool is_starved = !p_mixed.has_value() && mixed.sent > 0;
        if (p_alone && p_mixed && *p_alone > 0) {
            ratio = static_cast<double>(*p_mixed) / static_cast<double>(*p_alone);
            is_starved = ratio.get<double>() > a.real("starved-factor");
        }
        row["p99_ratio"] = ratio;
        row["starved"] = is_starved;
        if (is_starved) {
            starved.push_back(class_names[k]);
        }
        classes[class_names[k]] = std::move(row);
    }
    json out;
    out["classes"] = classes;
    out["starved_classes"] = starved;
    out["missing"] = missing;
    update(out, merged_errors(results, report));
    out["ok"] =
        starved.empty() && missing == 0 && out["errors"] == 0 && rs.size() == results.size();
    return out;
}

json run(run_context& ctx) {
    const args& a = ctx.a;
    auto show = [](const totals& t) { return "sent " + std::to_string(t[counter::sent]); };
    const broker_address to = ctx.to;
    auto results = run_workers<mixed_result>(
        ctx.co, ctx.settings({}, show), [&a, to](link& l) { return worker(l, a, to); }, ctx.report);
    ctx.t0_ns = min_t0(results);
    return merge(a, results, ctx.report);
}

}  // namespace

scenario mixed_scenario() {
    return {"mixed", "topic", flags, max_workers, run};
}

}  // namespace stampede::load
