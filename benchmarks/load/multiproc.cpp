// multiproc: competing consumers of one queue in several processes that
// join and leave during the run.
//
// The driver starts --processes copies of itself (`stampede-load
// multiproc-consumer`), each one consumer with client-individual acks,
// steered over its stdin ("join", "leave") and reporting on its stdout
// ("joined <ns>", "got <n>", then its JSON). The first processes - --churn
// consume from the start; each of the --churn others joins at
// duration x (j+1)/(churn+2) and leaves half a duration later. A leaving
// consumer stops acking, then DISCONNECTs with a receipt, so every ACK it
// sent was taken; what it received after that is for the broker to deliver
// again. Producers publish --rate messages/s (open loop) for --duration.
// Reported: lost (never acked by anyone), duplicates after an ack (acked
// twice: the broker redelivered an acknowledged message), redelivered (left
// unacked by a leaver and delivered again, as it should be), and fairness:
// min/max of the consumers' acked messages per second while present.

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "clock.hpp"
#include "open_loop.hpp"
#include "scenario.hpp"
#include "stampede/runtime/scheduler.hpp"

extern char** environ;

namespace stampede::load {

namespace {

namespace rt = stampede::runtime;

constexpr double progress_seconds = 0.2;

std::size_t n_of(const args& a, std::string_view k) {
    return static_cast<std::size_t>(a.integer(k));
}

// ===================== the consumer process =====================

struct consumer_state {
    std::atomic<bool> join{false}, leave{false};
};

struct child_result {
    errors errs;
    std::optional<std::int64_t> t0;
    json fields;
};

// Receptions by stream, split by whether their ACK went out before the leave.
class tally_consumer final : public message_handler {
  public:
    std::map<std::string, std::vector<std::uint64_t>, std::less<>> acked, unacked;
    latency_histogram latency;
    std::uint64_t got = 0;
    bool acking = true;

    void on_message(connection& conn, const protocol::frame_view& frame) override {
        const std::int64_t t = now_ns();
        ++got;
        if (const auto sent = sent_time_of(frame)) {
            latency.record(t - *sent);
        }
        const auto id = parse_body_id(frame.body);
        const auto ack = frame.get("ack");
        if (!acking || !ack) {
            if (id) {
                find(unacked, id->stream).push_back(id->seq);
            }
            return;
        }
        begin_frame(acks_, "ACK");
        add_header_escaped(acks_, "id", *ack, conn.version());
        end_frame(acks_);
        if (id) {
            find(acked, id->stream).push_back(id->seq);
        }
    }
    void after_frames(connection& conn) override {
        if (!acks_.empty()) {
            conn.send(acks_.bytes());
            acks_.clear();
        }
    }

  private:
    static std::vector<std::uint64_t>& find(
        std::map<std::string, std::vector<std::uint64_t>, std::less<>>& m, std::string_view s) {
        auto it = m.find(s);
        if (it == m.end()) {
            it = m.emplace(std::string(s), std::vector<std::uint64_t>{}).first;
        }
        return it->second;
    }
    out_buffer acks_;
};

void say(const std::string& line) {
    static std::mutex m;
    std::lock_guard lock(m);
    std::cout << line << '\n' << std::flush;
}

child_result child_worker(link& l, const args& a, const broker_address& to, consumer_state& st) {
    child_result r;
    r.t0 = now_ns();
    while (!st.join && !st.leave && !l.stopped()) {
        (void)rt::this_fiber::sleep_for(seconds(0.005));
    }
    json out;
    if (!st.join) {
        out["joined_ns"] = nullptr;
        r.fields = out;
        return r;
    }
    std::string why;
    auto conn = connection::open(to, why);
    tally_consumer tc;
    if (!conn ||
        (conn->set_handler(&tc), !conn->subscribe(a.text("destination"), "c", "client-individual",
                                                  static_cast<std::uint64_t>(a.integer("prefetch")),
                                                  a.real("connect-timeout"), why))) {
        r.errs.add("consumer: " + why);
        say("joined 0");
        r.fields = out;
        return r;
    }
    const std::int64_t joined = now_ns();
    say("joined " + std::to_string(joined));
    std::int64_t next = now_ns();
    while (!st.leave && conn->alive() && !l.stopped()) {
        if (now_ns() >= next) {
            say("got " + std::to_string(tc.got));
            next += static_cast<std::int64_t>(progress_seconds * 1e9);
        }
        (void)rt::this_fiber::sleep_for(seconds(0.01));
    }
    // Leave: no more ACKs, then DISCONNECT with a receipt (the broker has
    // taken every ACK sent before it).
    tc.acking = false;
    const std::int64_t left = now_ns();
    r.errs.from_connection("consumer", conn.get());
    conn->begin_close();
    conn->finish_close(after(10.0));
    out["joined_ns"] = joined;
    out["left_ns"] = left;
    out["received"] = tc.got;
    json acked = json::object(), unacked = json::object();
    std::uint64_t n_acked = 0, n_unacked = 0;
    for (const auto& [s, v] : tc.acked) {
        acked[s] = v;
        n_acked += v.size();
    }
    for (const auto& [s, v] : tc.unacked) {
        unacked[s] = v;
        n_unacked += v.size();
    }
    out["acked_count"] = n_acked;
    out["unacked_count"] = n_unacked;
    out["acked"] = acked;
    out["unacked"] = unacked;
    out["latency_ns"] = tc.latency.summary();
    r.fields = out;
    return r;
}

json run_child(run_context& ctx) {
    const args& a = ctx.a;
    consumer_state st;
    // stdin steers the consumer; its end means leave.
    std::thread input([&st] {
        std::string line;
        while (std::getline(std::cin, line)) {
            if (line == "join") {
                st.join = true;
            } else if (line == "leave") {
                break;
            }
        }
        st.leave = true;
    });
    input.detach();  // blocked in read(2) until the parent closes the pipe
    const broker_address to = ctx.to;
    auto results = run_workers<child_result>(
        ctx.co, ctx.settings({}, {}), [&a, to, &st](link& l) { return child_worker(l, a, to, st); },
        ctx.report);
    json out = results[0] ? results[0]->fields : json::object();
    update(out, merged_errors(results, ctx.report));
    out["ok"] = out["errors"] == 0;
    return out;
}

std::vector<flag_spec> child_flags() {
    return {
        {"prefetch", flag_kind::integer, "10", {}},
        {"destination", flag_kind::optional_text, "", {}},
    };
}

std::size_t one(const args&) {
    return 1;
}

// ===================== the parent =====================

struct child {
    pid_t pid = -1;
    int in = -1;   // its stdin
    int out = -1;  // its stdout
    std::string buffer;
    std::optional<std::int64_t> joined_ns;
    std::uint64_t got = 0;
    std::string result;
    bool eof = false;
    bool churner = false;
    double join_at = 0, leave_at = 0;
    bool sent_join = false, sent_leave = false;
};

std::vector<std::string> child_argv(const args& a) {
    std::vector<std::string> v = {"stampede-load", "multiproc-consumer",
                                  "--host",        a.text("host"),
                                  "--port",        std::to_string(a.integer("port")),
                                  "--vhost",       a.text("vhost"),
                                  "--destination", a.text("destination"),
                                  "--prefetch",    std::to_string(a.integer("prefetch")),
                                  "--io",          a.text("io"),
                                  "--timeout",     std::to_string(a.real("timeout"))};
    if (const auto login = a.optional_text("login")) {
        v.insert(v.end(),
                 {"--login", *login, "--passcode", a.optional_text("passcode").value_or("")});
    }
    return v;
}

bool spawn_child(const std::vector<std::string>& argv, child& c) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
        return false;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    std::vector<char*> cargv;
    for (const auto& s : argv) {
        cargv.push_back(const_cast<char*>(s.c_str()));
    }
    cargv.push_back(nullptr);
    const int rc = ::posix_spawn(&c.pid, "/proc/self/exe", &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(in[0]);
    ::close(out[1]);
    c.in = in[1];
    c.out = out[0];
    return rc == 0;
}

void tell(child& c, const char* what) {
    const std::string line = std::string(what) + "\n";
    (void)!::write(c.in, line.data(), line.size());
}

// Reads whatever the children printed; lines update their state.
void read_children(std::vector<child>& kids, int timeout_ms) {
    std::vector<pollfd> fds;
    for (auto& c : kids) {
        fds.push_back({c.eof ? -1 : c.out, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), timeout_ms) <= 0) {
        return;
    }
    char buf[65536];
    for (std::size_t i = 0; i < kids.size(); ++i) {
        if ((fds[i].revents & (POLLIN | POLLHUP)) == 0) {
            continue;
        }
        const ssize_t n = ::read(kids[i].out, buf, sizeof buf);
        if (n <= 0) {
            kids[i].eof = true;
            continue;
        }
        kids[i].buffer.append(buf, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = kids[i].buffer.find('\n')) != std::string::npos) {
            const std::string line = kids[i].buffer.substr(0, nl);
            kids[i].buffer.erase(0, nl + 1);
            if (line.rfind("joined ", 0) == 0) {
                kids[i].joined_ns = std::stoll(line.substr(7));
            } else if (line.rfind("got ", 0) == 0) {
                kids[i].got = std::stoull(line.substr(4));
            } else if (!line.empty() && line[0] == '{') {
                kids[i].result = line;
            }
        }
    }
}

struct parent_result {
    errors errs;
    std::optional<std::int64_t> t0;
    std::vector<schedule_stats> pubs;
    std::vector<std::pair<std::string, std::uint64_t>> sent;
};

parent_result produce(link& l, const args& a, const broker_address& to) {
    parent_result r;
    auto conns = connect_limited(to, l.mine(n_of(a, "producers")), 50, nullptr, r.errs, "producer");
    r.t0 = l.barrier("ready");
    if (!r.t0) {
        return r;
    }
    const double per =
        a.real("rate") / static_cast<double>(std::max<std::size_t>(1, n_of(a, "producers")));
    const std::int64_t start = *r.t0 + 50'000'000;
    const std::int64_t end = start + static_cast<std::int64_t>(a.real("duration") * 1e9);
    std::vector<std::unique_ptr<scheduled_publisher>> pubs;
    std::vector<std::function<void()>> jobs;
    for (const auto& [i, c] : conns) {
        pubs.push_back(std::make_unique<scheduled_publisher>(
            *c, a.text("destination"), name_of("P", i),
            static_cast<std::size_t>(a.integer("body-size")), "", *r.t0, l.counters()));
        jobs.push_back(
            [p = pubs.back().get(), start, end, per, &l] { p->run(start, end, per, &l); });
    }
    run_all(std::move(jobs));
    for (const auto& p : pubs) {
        r.pubs.push_back(p->stats());
        r.sent.emplace_back(p->stream(), p->stream_sent());
    }
    for (const auto& [i, c] : conns) {
        r.errs.from_connection(name_of("producer ", i), c.get());
    }
    close_all(pointers(conns));
    return r;
}

json verdict(const args& a, const std::vector<child>& kids,
             const std::vector<std::pair<std::string, std::uint64_t>>& sent, std::int64_t t0,
             std::int64_t end_ns, errors& errs) {
    // Per message: acked receptions and unacked ones, over every consumer.
    std::map<std::string, std::vector<std::pair<std::uint8_t, std::uint8_t>>> seen;
    for (const auto& [s, n] : sent) {
        seen[s].assign(n, {0, 0});
    }
    latency_histogram latency;
    json consumers = json::array();
    std::vector<double> rates;
    std::uint64_t unexpected = 0;
    for (std::size_t i = 0; i < kids.size(); ++i) {
        json row;
        row["process"] = i;
        json res = json::parse(kids[i].result.empty() ? "{}" : kids[i].result, nullptr, false);
        if (res.is_discarded() || !res.contains("joined_ns")) {
            row["error"] = "no result from the process";
            errs.add("consumer process " + std::to_string(i) + ": no result");
            consumers.push_back(row);
            continue;
        }
        for (const auto& e : res.value("error_samples", json::array())) {
            errs.add("process " + std::to_string(i) + ": " + e.get<std::string>());
        }
        if (res["joined_ns"].is_null()) {
            consumers.push_back(row);
            continue;
        }
        const auto joined = res["joined_ns"].get<std::int64_t>();
        const auto left = res["left_ns"].is_number() ? res["left_ns"].get<std::int64_t>() : end_ns;
        for (const char* kind : {"acked", "unacked"}) {
            const json lists = res.value(kind, json::object());  // kept: items() views it
            for (const auto& [s, seqs] : lists.items()) {
                auto it = seen.find(s);
                for (const auto& q : seqs) {
                    const auto seq = q.get<std::uint64_t>();
                    if (it == seen.end() || seq >= it->second.size()) {
                        ++unexpected;
                        continue;
                    }
                    auto& slot = kind[0] == 'a' ? it->second[seq].first : it->second[seq].second;
                    slot = static_cast<std::uint8_t>(std::min(255, slot + 1));
                }
            }
        }
        const json histogram = res["latency_ns"].value("histogram", json::array());
        for (const auto& b : histogram) {
            for (std::uint64_t k = 0; k < b[1].get<std::uint64_t>(); ++k) {
                latency.record(b[0].get<std::int64_t>());
            }
        }
        // Present while messages flowed: the drain after the load would dilute it.
        const double present =
            static_cast<double>(std::min(left, end_ns) - std::max(joined, t0)) / 1e9;
        const auto acked = res.value("acked_count", 0ULL);
        row["joined_s"] = static_cast<double>(joined - t0) / 1e9;
        row["left_s"] = static_cast<double>(left - t0) / 1e9;
        row["acked"] = acked;
        row["unacked"] = res.value("unacked_count", 0ULL);
        row["rate"] = present > 0 ? json(static_cast<double>(acked) / present) : json(nullptr);
        row["churner"] = kids[i].churner;
        if (present >= 1.0) {
            rates.push_back(static_cast<double>(acked) / present);
        }
        consumers.push_back(row);
    }
    std::uint64_t lost = 0, after_ack = 0, redelivered = 0, consumed = 0, published = 0;
    for (const auto& [s, v] : seen) {
        for (const auto& [acked, unacked] : v) {
            ++published;
            consumed += acked > 0 ? 1 : 0;
            lost += acked == 0 ? 1 : 0;
            after_ack += acked > 1 ? acked - 1 : 0;
            redelivered += acked > 0 ? unacked : 0;
        }
    }
    json out;
    out["published"] = published;
    out["consumed"] = consumed;
    out["lost"] = lost;
    out["duplicates_after_ack"] = after_ack;
    out["redelivered"] = redelivered;
    out["unexpected"] = unexpected;
    out["fairness"] = rates.size() > 1 ? json(*std::min_element(rates.begin(), rates.end()) /
                                              *std::max_element(rates.begin(), rates.end()))
                                       : json(nullptr);
    out["consumers"] = consumers;
    out["latency_ns"] = latency.summary();
    (void)a;
    return out;
}

// Steers the children until the producers are done and the queue drained.
void steer(const args& a, std::vector<child>& kids, std::int64_t t0,
           const std::atomic<bool>& published, const std::atomic<std::uint64_t>& sent_total) {
    std::uint64_t last = 0;
    std::int64_t since = now_ns();
    for (;;) {
        read_children(kids, 20);
        const double t = static_cast<double>(now_ns() - t0) / 1e9;
        for (auto& c : kids) {
            if (c.churner && !c.sent_join && t >= c.join_at) {
                tell(c, "join");
                c.sent_join = true;
            }
            if (c.churner && c.sent_join && !c.sent_leave && t >= c.leave_at) {
                tell(c, "leave");
                c.sent_leave = true;
            }
        }
        if (!published) {
            continue;
        }
        std::uint64_t got = 0;
        for (const auto& c : kids) {
            got += c.got;
        }
        if (got != last) {
            last = got;
            since = now_ns();
        }
        const bool idle = static_cast<double>(now_ns() - since) / 1e9 > a.real("drain-timeout");
        // Deliveries count redeliveries too, so "everything" is a lower bound.
        if (idle || (got >= sent_total && static_cast<double>(now_ns() - since) / 1e9 > 1.0)) {
            return;
        }
    }
}

json run_parent(run_context& ctx) {
    const args& a = ctx.a;
    const std::size_t n = n_of(a, "processes");
    const std::size_t churn = std::min(n, n_of(a, "churn"));
    const double d = a.real("duration");
    std::vector<child> kids(n);
    const auto argv = child_argv(a);
    for (std::size_t i = 0; i < n; ++i) {
        if (!spawn_child(argv, kids[i])) {
            throw std::runtime_error(std::string("could not start a consumer process: ") +
                                     std::strerror(errno));
        }
        if (i >= n - churn) {
            const std::size_t j = i - (n - churn);
            kids[i].churner = true;
            kids[i].join_at = d * static_cast<double>(j + 1) / static_cast<double>(churn + 2);
            kids[i].leave_at = kids[i].join_at + d / 2;
        } else {
            tell(kids[i], "join");
            kids[i].sent_join = true;
        }
    }
    // The steady consumers subscribed before anything is sent.
    const std::int64_t by = now_ns() + static_cast<std::int64_t>(a.real("connect-timeout") * 1e9);
    while (now_ns() < by && std::any_of(kids.begin(), kids.end(), [](const child& c) {
               return !c.churner && !c.joined_ns && !c.eof;
           })) {
        read_children(kids, 50);
    }
    std::atomic<bool> published{false};
    std::atomic<std::uint64_t> sent_total{0};
    const std::int64_t t0 = now_ns();
    std::thread steering([&] { steer(a, kids, t0, published, sent_total); });
    const broker_address to = ctx.to;
    auto results = run_workers<parent_result>(
        ctx.co,
        ctx.settings({},
                     [](const totals& t) { return "sent " + std::to_string(t[counter::sent]); }),
        [&a, to](link& l) { return produce(l, a, to); }, ctx.report);
    std::vector<std::pair<std::string, std::uint64_t>> sent;
    std::vector<std::uint64_t> published_ps;
    errors errs;
    for (const auto& r : results) {
        if (r) {
            append(sent, r->sent);
            errs.merge(r->errs);
            for (const auto& p : r->pubs) {
                add_into(published_ps, p.per_second);
            }
        }
    }
    std::uint64_t total = 0;
    for (const auto& [s, k] : sent) {
        total += k;
    }
    sent_total = total;
    published = true;
    steering.join();
    std::int64_t load_end = t0;
    for (const auto& r : results) {
        for (const auto& p : r ? r->pubs : std::vector<schedule_stats>{}) {
            load_end = std::max(load_end, p.last_ns.value_or(t0));
        }
    }
    const std::int64_t end = load_end;
    for (auto& c : kids) {
        tell(c, "leave");
        ::close(c.in);
    }
    while (std::any_of(kids.begin(), kids.end(), [](const child& c) { return !c.eof; })) {
        read_children(kids, 1000);
    }
    for (auto& c : kids) {
        int status = 0;
        ::waitpid(c.pid, &status, 0);
        ::close(c.out);
    }
    ctx.t0_ns = t0;
    json out = verdict(a, kids, sent, t0, end, errs);
    out["per_second"] = {{"published", published_ps}, {"consumed", json::array()}};
    std::vector<const errors*> parts = {&errs};
    update(out, merge_errors(parts, ctx.report.failures));
    out["ok"] = out["lost"] == 0 && out["duplicates_after_ack"] == 0 && out["unexpected"] == 0 &&
                out["errors"] == 0;
    return out;
}

std::vector<flag_spec> parent_flags() {
    return {
        {"processes", flag_kind::integer, "4", {}},
        {"churn", flag_kind::integer, "2", {}},
        {"producers", flag_kind::integer, "2", {}},
        {"rate", flag_kind::real, "2000", {}},
        {"duration", flag_kind::real, "30", {}},
        {"body-size", flag_kind::integer, "512", {}},
        {"prefetch", flag_kind::integer, "10", {}},
        {"destination", flag_kind::optional_text, "", {}},
        {"drain-timeout", flag_kind::real, "10", {}},
    };
}

std::size_t producers_of(const args& a) {
    return n_of(a, "producers");
}

}  // namespace

scenario multiproc_scenario() {
    return {"multiproc", "queue", parent_flags, producers_of, run_parent};
}

scenario multiproc_consumer_scenario() {
    return {"multiproc-consumer", "queue", child_flags, one, run_child, /*single_worker=*/true};
}

}  // namespace stampede::load
