// request-reply: round-trip latency through the broker (Apollo's
// stomp-benchmark request/response).
//
// Responders consume a request queue and answer each request at the queue
// its `bench-reply-to` header names (a custom header, so that no broker's
// own reply-to handling applies). Each requester has its own reply queue and
// one request in flight at a time; the round trip is measured from its send.

#include <map>
#include <memory>

#include "clock.hpp"
#include "scenario.hpp"
#include "stampede/runtime/sync.hpp"

namespace stampede::load {

namespace {

namespace rt = stampede::runtime;

struct reqreply_result {
    errors errs;
    std::optional<std::int64_t> t0;
    latency_histogram latency;
    std::int64_t start_ns = 0;
    std::optional<std::int64_t> end_ns;
    std::uint64_t sent = 0;
    std::uint64_t replies = 0;
    std::uint64_t timeouts = 0;
};

std::vector<flag_spec> flags() {
    return {
        {"requesters", flag_kind::integer, "1", {}},
        {"responders", flag_kind::integer, "1", {}},
        {"requests", flag_kind::integer, "5000", {}},
        {"body-size", flag_kind::integer, "64", {}},
        {"reply-timeout", flag_kind::real, "5", {}},
        {"destination", flag_kind::optional_text, "", {}},
    };
}

std::size_t max_workers(const args& a) {
    return static_cast<std::size_t>(a.integer("requesters") + a.integer("responders"));
}

std::string reply_queue(const args& a, std::size_t i) {
    return "/queue/bench.reply." + a.text("run-id") + "." + std::to_string(i);
}

// Sends every request's body back to its bench-reply-to queue, the replies
// of one received buffer in one write.
class responder final : public message_handler {
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

// One request in flight at a time; round trips go to a shared histogram.
class requester final : public message_handler {
  public:
    requester(std::size_t index, connection& conn, const args& a, latency_histogram& latency,
              worker_counters& tally)
        : conn_(conn),
          a_(a),
          latency_(latency),
          tally_(tally),
          stream_(name_of("R", index)),
          reply_to_(reply_queue(a, index)) {
        conn.set_handler(this);
    }

    void on_message(connection&, const protocol::frame_view& frame) override {
        // A late reply to a request that already timed out is not this one's.
        const auto id = parse_body_id(frame.body);
        if (waiting_ && !arrived_ && id && id->stream == stream_ && id->seq == seq_) {
            arrived_ = now_ns();
            replied_.notify_all();
        }
    }

    void run(std::uint64_t count, const link& l) {
        for (seq_ = 0; seq_ < count; ++seq_) {
            if (l.stopped() || !conn_.alive()) {
                break;
            }
            const std::int64_t sent = send_request();
            const rt::time_point deadline = after(a_.real("reply-timeout"));
            while (!arrived_ && replied_.wait(deadline)) {
            }
            waiting_ = false;
            if (!arrived_) {
                ++timeouts_;
                continue;
            }
            latency_.record(*arrived_ - sent);
            tally_.add(counter::received);
        }
    }

    std::uint64_t timeouts() const noexcept { return timeouts_; }

  private:
    std::int64_t send_request() {
        arrived_.reset();
        waiting_ = true;
        const std::size_t size =
            body_size(stream_, seq_, static_cast<std::size_t>(a_.integer("body-size")));
        body_.resize(size);
        write_body(body_.data(), stream_, seq_, static_cast<std::size_t>(a_.integer("body-size")));
        out_.clear();
        const std::int64_t sent = now_ns();
        begin_frame(out_, "SEND");
        add_header(out_, "destination", a_.text("destination"));
        add_header(out_, "bench-ts", static_cast<std::uint64_t>(sent));
        add_header(out_, "bench-reply-to", reply_to_);
        end_frame(out_, body_);
        conn_.send(out_.bytes());
        tally_.add(counter::sent);
        return sent;
    }

    connection& conn_;
    const args& a_;
    latency_histogram& latency_;
    worker_counters& tally_;
    std::string stream_;
    std::string reply_to_;
    std::string body_;
    out_buffer out_;
    std::uint64_t seq_ = 0;
    bool waiting_ = false;
    std::optional<std::int64_t> arrived_;
    rt::event replied_;
    std::uint64_t timeouts_ = 0;
};

reqreply_result worker(link& l, const args& a, const broker_address& to) {
    reqreply_result r;
    const auto limit = static_cast<std::size_t>(a.integer("connect-concurrency"));
    const double timeout = a.real("connect-timeout");
    std::map<std::size_t, std::unique_ptr<responder>> answer;
    auto responders = connect_limited(
        to, l.mine(static_cast<std::size_t>(a.integer("responders"))), limit,
        [&](std::size_t i, connection& c, std::string& why) {
            answer[i] = std::make_unique<responder>();
            c.set_handler(answer[i].get());
            return c.subscribe(a.text("destination"), name_of("q", i), "auto", 0, timeout, why);
        },
        r.errs, "responder");
    auto req_conns = connect_limited(
        to, l.mine(static_cast<std::size_t>(a.integer("requesters"))), limit,
        [&](std::size_t i, connection& c, std::string& why) {
            return c.subscribe(reply_queue(a, i), name_of("r", i), "auto", 0, timeout, why);
        },
        r.errs, "requester");
    std::vector<std::unique_ptr<requester>> requesters;
    for (const auto& [i, c] : req_conns) {
        requesters.push_back(std::make_unique<requester>(i, *c, a, r.latency, l.counters()));
    }
    const auto counts = split_evenly(static_cast<std::uint64_t>(a.integer("requests")),
                                     static_cast<std::size_t>(a.integer("requesters")));
    r.t0 = l.barrier("subscribed");
    r.start_ns = now_ns();
    std::int64_t end = r.start_ns;
    if (r.t0) {
        std::vector<std::function<void()>> jobs;
        for (std::size_t k = 0; k < requesters.size(); ++k) {
            jobs.push_back([&, k] { requesters[k]->run(counts[req_conns[k].first], l); });
        }
        run_all(std::move(jobs));
        end = now_ns();
        (void)l.barrier("done");
    }
    for (const auto& [i, c] : responders) {
        r.errs.from_connection(name_of("client ", i), c.get());
    }
    for (const auto& [i, c] : req_conns) {
        r.errs.from_connection(name_of("client ", i), c.get());
    }
    auto all = pointers(responders);
    append(all, pointers(req_conns));
    close_all(all);
    r.end_ns = requesters.empty() ? std::nullopt : std::optional(end);
    r.sent = l.counters().get(counter::sent);
    r.replies = l.counters().get(counter::received);
    for (const auto& q : requesters) {
        r.timeouts += q->timeouts();
    }
    return r;
}

json merge(const args& a, const std::vector<std::optional<reqreply_result>>& results,
           const run_report& report) {
    const auto rs = live(results);
    latency_histogram latency;
    std::optional<std::int64_t> first, last;
    std::uint64_t sent = 0, replies = 0, timeouts = 0;
    for (const reqreply_result* r : rs) {
        latency.merge(r->latency);
        first = std::min(first.value_or(r->start_ns), r->start_ns);
        if (r->end_ns) {
            last = std::max(last.value_or(*r->end_ns), *r->end_ns);
        }
        sent += r->sent;
        replies += r->replies;
        timeouts += r->timeouts;
    }
    const std::optional<double> seconds =
        last ? std::optional(static_cast<double>(*last - *first) / 1e9) : std::nullopt;
    json out;
    out["requests"] = sent;
    out["replies"] = replies;
    out["timeouts"] = timeouts;
    out["seconds"] = or_null(seconds);
    out["rate"] = rate(static_cast<double>(replies), seconds);
    out["rtt_ns"] = latency.summary();
    update(out, merged_errors(results, report));
    out["ok"] = replies == static_cast<std::uint64_t>(a.integer("requests")) &&
                out["errors"] == 0 && rs.size() == results.size();
    return out;
}

json run(run_context& ctx) {
    const args& a = ctx.a;
    auto stop = [](const totals&, const std::set<std::string>& passed) {
        return passed.count("done") != 0;
    };
    auto show = [](const totals& t) {
        return "requests " + std::to_string(t[counter::sent]) + "  replies " +
               std::to_string(t[counter::received]);
    };
    const broker_address to = ctx.to;
    auto results = run_workers<reqreply_result>(
        ctx.co, ctx.settings(stop, show), [&a, to](link& l) { return worker(l, a, to); },
        ctx.report);
    ctx.t0_ns = min_t0(results);
    return merge(a, results, ctx.report);
}

}  // namespace

scenario request_reply_scenario() {
    return {"request-reply", "queue", flags, max_workers, run};
}

}  // namespace stampede::load
