// crash and restart: persistent messages with a receipt each, to a queue
// whose broker goes away in the middle (issue 10).
//
// Producers send SENDs with persistent:true and a receipt each; consumers
// take them with client-individual acks, every batch of ACKs ending with one
// that asks for a receipt (an ACK is "confirmed" once a later receipt on its
// connection arrived). When --control-file is given the driver writes
// "kill <ns>" (crash: once --kill-at of the messages are receipted) or
// "restart <ns>" (restart: --restart-at into --duration) to it, and the
// harness SIGKILLs or gracefully restarts the broker on the same data.
// Clients whose connection was lost connect again (every 100 ms, up to
// --reconnect-timeout); crash's producers stop at the loss, restart's carry
// on with their schedule. Reported: receipted messages never delivered
// (lost), messages sent without a receipt (in doubt, delivered or not),
// duplicates, redeliveries of a message whose ACK was confirmed, corrupted
// bodies, the first delivery after the loss, and the longest gap in deliveries.

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <memory>
#include <unordered_map>

#include "clock.hpp"
#include "open_loop.hpp"
#include "scenario.hpp"
#include "stampede/runtime/scheduler.hpp"

namespace stampede::load {

namespace {

// The producer a body's stream names ("P<index>", name_of): every digit, not
// only the first (with 10 or more producers "P12" is producer 12, not 1).
// -1 when the stream is not a producer's.
long producer_of(std::string_view stream) noexcept {
    if (stream.size() < 2 || stream[0] != 'P') {
        return -1;
    }
    long p = 0;
    const auto [end, ec] = std::from_chars(stream.data() + 1, stream.data() + stream.size(), p);
    return ec == std::errc{} && end == stream.data() + stream.size() ? p : -1;
}

namespace rt = stampede::runtime;

constexpr double reconnect_every = 0.1;
constexpr double poll_seconds = 0.02;
constexpr std::size_t max_outstanding = 10000;

enum class sent_state : std::uint8_t { unsent, in_doubt, receipted };

// Everything known about every message, on the one worker.
struct ledger {
    std::vector<std::vector<sent_state>> sent;   // [producer][seq]
    std::vector<std::vector<std::uint8_t>> got;  // receptions, saturating
    std::vector<std::vector<bool>> ack_confirmed;
    std::uint64_t after_ack = 0;
    std::uint64_t flagged = 0;
    std::uint64_t corrupted = 0;
    std::uint64_t receptions = 0;
    std::vector<std::int64_t> arrivals;
    std::optional<std::int64_t> first_loss_ns, first_after_loss_ns;
    std::uint64_t losses = 0, reconnects = 0;
    std::size_t subscribed = 0;  // consumers that subscribed at least once
    std::uint64_t producer_timeouts = 0;
    latency_histogram latency;
    per_second sent_series, consumed_series;
};

std::vector<flag_spec> common() {
    return {
        {"producers", flag_kind::integer, "2", {}},
        {"consumers", flag_kind::integer, "2", {}},
        {"body-size", flag_kind::integer, "512", {}},
        {"prefetch", flag_kind::integer, "100", {}},
        {"window", flag_kind::integer, "100", {}},
        {"destination", flag_kind::optional_text, "", {}},
        {"control-file", flag_kind::optional_text, "", {}},
        {"reconnect-timeout", flag_kind::real, "120", {}},
        {"drain-timeout", flag_kind::real, "10", {}},
        {"receipt-timeout", flag_kind::real, "5", {}},
    };
}

std::vector<flag_spec> crash_flags() {
    auto f = common();
    f.push_back({"messages", flag_kind::integer, "20000", {}});
    f.push_back({"kill-at", flag_kind::real, "0.5", {}});
    // 0: consumers connect once the burst is over (so it is in the queue when
    // the broker dies); 1: they consume during the burst.
    f.push_back({"consume-during", flag_kind::integer, "0", {}});
    return f;
}

std::vector<flag_spec> restart_flags() {
    auto f = common();
    f.push_back({"rate", flag_kind::real, "1000", {}});
    f.push_back({"duration", flag_kind::real, "30", {}});
    f.push_back({"restart-at", flag_kind::real, "0.5", {}});
    return f;
}

std::size_t one_worker(const args&) {
    return 1;
}

std::size_t n_of(const args& a, std::string_view k) {
    return static_cast<std::size_t>(a.integer(k));
}

// Tells the harness (once) that it is time to end the broker.
void signal_harness(const args& a, const char* word) {
    const auto path = a.optional_text("control-file");
    if (!path || path->empty()) {
        return;
    }
    if (std::FILE* f = std::fopen(path->c_str(), "a")) {
        std::fprintf(f, "%s %lld\n", word, static_cast<long long>(now_ns()));
        std::fclose(f);
    }
}

// Connects, retrying every 100 ms until the deadline (the broker restarting).
std::unique_ptr<connection> connect_again(const broker_address& to, std::int64_t deadline,
                                          const link& l, std::string& why) {
    while (!l.stopped()) {
        auto c = connection::open(to, why);
        if (c || now_ns() >= deadline) {
            return c;
        }
        (void)rt::this_fiber::sleep_for(seconds(reconnect_every));
    }
    return nullptr;
}

// A producer's receipts: each SEND's receipt number names its sequence.
class receipt_book final : public message_handler {
  public:
    receipt_book(std::vector<sent_state>& states) : states_(states) {}
    void on_message(connection&, const protocol::frame_view&) override {}
    void on_receipt(connection&, std::uint64_t n) override {
        if (const auto it = pending_.find(n); it != pending_.end()) {
            states_[it->second.first] = sent_state::receipted;
            pending_.erase(it);
        }
        event_.notify_all();
    }
    void expect(std::uint64_t receipt, std::uint64_t seq) {
        pending_.emplace(receipt, std::pair{seq, now_ns()});
    }
    /// When the oldest SEND still waiting for its receipt was sent.
    std::optional<std::int64_t> oldest() const {
        return pending_.empty() ? std::nullopt : std::optional(pending_.begin()->second.second);
    }
    std::size_t outstanding() const noexcept { return pending_.size(); }
    void forget() { pending_.clear(); }  // the connection is gone: those stay in doubt
    rt::event& event() noexcept { return event_; }

  private:
    std::vector<sent_state>& states_;
    std::map<std::uint64_t, std::pair<std::uint64_t, std::int64_t>>
        pending_;  // receipt -> (seq, sent)
    rt::event event_;
};

// A consumer: checks every body, ACKs each message, confirms its ACKs.
class checker final : public message_handler {
  public:
    checker(ledger& lg, const args& a, worker_counters& tally) : lg_(lg), a_(a), tally_(tally) {}

    void on_message(connection& conn, const protocol::frame_view& frame) override {
        const std::int64_t t = now_ns();
        lg_.arrivals.push_back(t);
        lg_.consumed_series.add(t);
        ++lg_.receptions;
        if (lg_.first_loss_ns && !lg_.first_after_loss_ns) {
            lg_.first_after_loss_ns = t;
        }
        if (const auto sent = sent_time_of(frame)) {
            lg_.latency.record(t - *sent);
        }
        if (frame.get("redelivered").value_or("") == "true") {
            ++lg_.flagged;
        }
        const auto id = parse_body_id(frame.body);
        if (id && producer_of(id->stream) >= 0) {
            record(*id, frame.body);
        } else {
            ++lg_.corrupted;
        }
        if (const auto ack = frame.get("ack")) {
            begin_frame(acks_, "ACK");
            add_header_escaped(acks_, "id", *ack, conn.version());
            end_frame(acks_);
            batch_.emplace_back(id ? static_cast<int>(producer_of(id->stream)) : -1, id ? id->seq : 0);
        }
    }

    void after_frames(connection& conn) override {
        if (acks_.empty()) {
            return;
        }
        // The batch's last ACK asks for a receipt: it confirms all of them.
        const std::uint64_t r = conn.next_receipt();
        const std::size_t cut = acks_.size() - 2;  // before the frame's blank line and NUL
        std::string tail = "receipt:r" + std::to_string(r) + "\n\n";
        out_buffer out;
        out.append({acks_.bytes().data(), cut});
        out.append(tail);
        out.append('\0');
        pending_[r] = std::move(batch_);
        batch_.clear();
        acks_.clear();
        conn.send(out.bytes());
    }

    void on_receipt(connection&, std::uint64_t n) override {
        for (auto it = pending_.begin(); it != pending_.end() && it->first <= n;) {
            for (const auto& [p, seq] : it->second) {
                if (p >= 0 && static_cast<std::size_t>(p) < lg_.ack_confirmed.size() &&
                    seq < lg_.ack_confirmed[p].size()) {
                    lg_.ack_confirmed[p][seq] = true;
                }
            }
            it = pending_.erase(it);
        }
    }

    void forget() {
        pending_.clear();
        batch_.clear();
        acks_.clear();
    }

  private:
    void record(const body_id& id, std::string_view body) {
        const auto p = static_cast<std::size_t>(producer_of(id.stream));
        if (p >= lg_.got.size() || id.seq >= lg_.got[p].size()) {
            ++lg_.corrupted;
            return;
        }
        std::string want(
            body_size(id.stream, id.seq, static_cast<std::size_t>(a_.integer("body-size"))), '\0');
        write_body(want.data(), id.stream, id.seq,
                   static_cast<std::size_t>(a_.integer("body-size")));
        if (body != want) {
            ++lg_.corrupted;
        }
        auto& c = lg_.got[p][id.seq];
        if (c == 0) {
            tally_.add(counter::received);
        }
        if (lg_.ack_confirmed[p][id.seq]) {
            ++lg_.after_ack;
        }
        c = static_cast<std::uint8_t>(std::min(255, c + 1));
    }

    ledger& lg_;
    const args& a_;
    worker_counters& tally_;
    out_buffer acks_;
    std::vector<std::pair<int, std::uint64_t>> batch_;
    std::map<std::uint64_t, std::vector<std::pair<int, std::uint64_t>>> pending_;
};

struct durable_result {
    errors errs;
    std::optional<std::int64_t> t0;
    json fields;
};

// One consumer for the whole run: connects, subscribes, and after a loss
// does both again until the run ends.
void consume(const args& a, const broker_address& to, link& l, ledger& lg, std::size_t i,
             const bool& done, errors& errs, rt::event& subscribed) {
    checker check(lg, a, l.counters());
    bool first = true;
    while (!done && !l.stopped()) {
        std::string why;
        auto conn = connect_again(
            to, now_ns() + static_cast<std::int64_t>(a.real("reconnect-timeout") * 1e9), l, why);
        if (!conn) {
            errs.add("consumer " + std::to_string(i) + " could not connect again: " + why);
            return;
        }
        check.forget();
        conn->set_handler(&check);
        if (!conn->subscribe(a.text("destination"), name_of("c", i), "client-individual",
                             static_cast<std::uint64_t>(a.integer("prefetch")),
                             a.real("connect-timeout"), why)) {
            conn->abort();
            continue;
        }
        if (!first) {
            ++lg.reconnects;
        } else {
            ++lg.subscribed;
        }
        first = false;
        subscribed.notify_all();
        while (!done && !l.stopped() && conn->alive()) {
            (void)rt::this_fiber::sleep_for(seconds(poll_seconds));
        }
        if (!conn->alive() && !done) {
            ++lg.losses;
            lg.first_loss_ns = lg.first_loss_ns.value_or(now_ns());
        }
        if (done || l.stopped()) {
            conn->begin_close();
            conn->finish_close(after(5.0));
        } else {
            conn->abort();
        }
    }
}

// Sends this producer's messages: crash as fast as the receipt window allows
// until the connection is lost; restart at --rate/P, connecting again after a loss.
void produce(const args& a, const broker_address& to, link& l, ledger& lg, std::size_t p,
             bool crash, std::int64_t t0, errors& errs) {
    auto& states = lg.sent[p];
    const std::string stream = name_of("P", p);
    const send_spec spec{a.text("destination"), "persistent:true\n", stream,
                         static_cast<std::size_t>(a.integer("body-size"))};
    const auto window = static_cast<std::size_t>(a.integer("window"));
    const double interval =
        crash ? 0 : 1e9 * static_cast<double>(n_of(a, "producers")) / a.real("rate");
    std::uint64_t seq = 0;
    out_buffer out;
    while (seq < states.size() && !l.stopped()) {
        std::string why;
        auto conn = connect_again(
            to, now_ns() + static_cast<std::int64_t>(a.real("reconnect-timeout") * 1e9), l, why);
        if (!conn) {
            errs.add("producer " + std::to_string(p) + " could not connect again: " + why);
            return;
        }
        receipt_book book(states);
        conn->set_handler(&book);
        while (seq < states.size() && conn->alive() && !l.stopped()) {
            // A broker that stopped answering without closing (no heart-beats
            // here): give the connection up as a client with heart-beats would.
            if (const auto old = book.oldest();
                old && static_cast<double>(now_ns() - *old) / 1e9 > a.real("receipt-timeout")) {
                ++lg.producer_timeouts;
                break;
            }
            if (crash ? book.outstanding() >= window : book.outstanding() >= max_outstanding) {
                (void)book.event().wait(after(poll_seconds));
                continue;
            }
            if (!crash) {
                const double due = static_cast<double>(t0) + static_cast<double>(seq) * interval;
                if (static_cast<double>(now_ns()) < due) {
                    (void)rt::this_fiber::sleep_for(
                        seconds((due - static_cast<double>(now_ns())) / 1e9));
                    continue;
                }
            }
            const std::uint64_t r = conn->next_receipt();
            out.clear();
            add_send(out, spec, seq, now_ns(), r);
            book.expect(r, seq);
            states[seq] = sent_state::in_doubt;
            lg.sent_series.add(now_ns());
            l.counters().add(counter::sent);
            if (!conn->send(out.bytes())) {
                break;
            }
            ++seq;
        }
        if (conn->alive() && seq >= states.size()) {
            // Wait for the last receipts before leaving.
            const std::int64_t until = now_ns() + 10'000'000'000;
            while (book.outstanding() > 0 && conn->alive() && now_ns() < until) {
                (void)book.event().wait(after(poll_seconds));
            }
            close_all({conn.get()});
            return;
        }
        book.forget();
        conn->abort();
        lg.first_loss_ns = lg.first_loss_ns.value_or(now_ns());
        if (crash) {
            return;  // the burst ends with the broker
        }
    }
}

std::uint64_t receipted_count(const ledger& lg) {
    std::uint64_t n = 0;
    for (const auto& s : lg.sent) {
        n += static_cast<std::uint64_t>(std::count(s.begin(), s.end(), sent_state::receipted));
    }
    return n;
}

// Fires the control-file line at the right moment.
void watch_for_action(const args& a, const link& l, const ledger& lg, bool crash, std::int64_t t0,
                      const bool& done) {
    const std::uint64_t total = crash ? static_cast<std::uint64_t>(a.integer("messages")) : 0;
    const std::int64_t when =
        crash ? 0 : t0 + static_cast<std::int64_t>(a.real("restart-at") * a.real("duration") * 1e9);
    while (!done && !l.stopped()) {
        const bool now = crash ? static_cast<double>(receipted_count(lg)) >=
                                     a.real("kill-at") * static_cast<double>(total)
                               : now_ns() >= when;
        if (now) {
            signal_harness(a, crash ? "kill" : "restart");
            return;
        }
        (void)rt::this_fiber::sleep_for(seconds(crash ? 0.001 : poll_seconds));
    }
}

// Until everything sent has arrived, or the consumers, connected, saw nothing
// new for --drain-timeout.
void drain(const args& a, const link& l, const ledger& lg, std::uint64_t sent) {
    std::uint64_t last = lg.receptions;
    std::int64_t since = now_ns();
    const std::int64_t hard =
        now_ns() +
        static_cast<std::int64_t>((a.real("reconnect-timeout") + a.real("drain-timeout")) * 1e9);
    while (!l.stopped() && now_ns() < hard) {
        std::uint64_t distinct = 0;
        for (const auto& g : lg.got) {
            distinct += static_cast<std::uint64_t>(
                std::count_if(g.begin(), g.end(), [](auto c) { return c > 0; }));
        }
        if (distinct >= sent) {
            return;
        }
        if (lg.receptions != last) {
            last = lg.receptions;
            since = now_ns();
        } else if (static_cast<double>(now_ns() - since) / 1e9 > a.real("drain-timeout")) {
            return;
        }
        (void)rt::this_fiber::sleep_for(seconds(0.05));
    }
}

json verdict(const ledger& lg, const std::vector<std::uint64_t>& consumed_series) {
    std::uint64_t sent = 0, receipted = 0, lost = 0, doubt = 0, doubt_got = 0, distinct = 0;
    for (std::size_t p = 0; p < lg.sent.size(); ++p) {
        for (std::size_t s = 0; s < lg.sent[p].size(); ++s) {
            const auto st = lg.sent[p][s];
            const bool got = lg.got[p][s] > 0;
            distinct += got ? 1 : 0;
            if (st == sent_state::unsent) {
                continue;
            }
            ++sent;
            if (st == sent_state::receipted) {
                ++receipted;
                lost += got ? 0 : 1;
            } else {
                ++doubt;
                doubt_got += got ? 1 : 0;
            }
        }
    }
    std::vector<std::int64_t> arr = lg.arrivals;
    std::sort(arr.begin(), arr.end());
    std::int64_t gap = 0, gap_at = 0;
    for (std::size_t k = 1; k < arr.size(); ++k) {
        if (arr[k] - arr[k - 1] > gap) {
            gap = arr[k] - arr[k - 1];
            gap_at = arr[k - 1];
        }
    }
    json out;
    out["published"] = sent;
    out["receipted"] = receipted;
    out["receipted_lost"] = lost;
    out["in_doubt"] = doubt;
    out["in_doubt_delivered"] = doubt_got;
    out["in_doubt_lost"] = doubt - doubt_got;
    out["consumed"] = distinct;
    out["duplicates"] = lg.receptions - distinct;
    out["redelivered_flagged"] = lg.flagged;
    out["redelivered_after_ack"] = lg.after_ack;
    out["corrupted"] = lg.corrupted;
    out["delivery_gap_seconds"] = static_cast<double>(gap) / 1e9;
    out["delivery_gap_start_ns"] = gap_at;
    out["first_loss_ns"] = or_null(lg.first_loss_ns);
    out["first_delivery_after_loss_ns"] = or_null(lg.first_after_loss_ns);
    out["connection_losses"] = lg.losses;
    out["reconnects"] = lg.reconnects;
    out["producer_receipt_timeouts"] = lg.producer_timeouts;
    out["latency_ns"] = lg.latency.summary();
    out["per_second"] = {{"published", lg.sent_series.counts()}, {"consumed", consumed_series}};
    return out;
}

durable_result worker(link& l, const args& a, const broker_address& to, bool crash) {
    durable_result r;
    ledger lg;
    const std::size_t producers = n_of(a, "producers");
    const std::uint64_t total = crash ? static_cast<std::uint64_t>(a.integer("messages"))
                                      : planned_count(a.real("rate"), a.real("duration"));
    for (const auto share : split_evenly(total, producers)) {
        lg.sent.emplace_back(share, sent_state::unsent);
        lg.got.emplace_back(share, 0);
        lg.ack_confirmed.emplace_back(share, false);
    }
    bool done = false;
    rt::event subscribed;
    rt::wait_group consumers;
    const auto start_consumers = [&] {
        for (std::size_t i = 0; i < n_of(a, "consumers"); ++i) {
            consumers.add();
            (void)rt::this_scheduler()->spawn_here(
                [&, i] {
                    consume(a, to, l, lg, i, done, r.errs, subscribed);
                    consumers.done();
                },
                {0, "load.consumer"});
        }
        // Every consumer subscribed once (or gave up) before going on.
        const std::int64_t by =
            now_ns() + static_cast<std::int64_t>(
                           (a.real("connect-timeout") + a.real("reconnect-timeout")) * 1e9);
        while (lg.subscribed < n_of(a, "consumers") && consumers.pending() > 0 && now_ns() < by) {
            (void)subscribed.wait(after(0.5));
        }
    };
    const bool consume_during = !crash || a.integer("consume-during") != 0;
    if (consume_during) {
        start_consumers();
    }
    r.t0 = l.barrier("subscribed");
    const std::int64_t t0 = r.t0.value_or(now_ns());
    lg.sent_series.set_origin(t0);
    lg.consumed_series.set_origin(t0);
    bool produced = false;
    rt::wait_group watcher;
    watcher.add();
    (void)rt::this_scheduler()->spawn_here(
        [&] {
            watch_for_action(a, l, lg, crash, t0, produced);
            watcher.done();
        },
        {0, "load.watch"});
    std::vector<std::function<void()>> jobs;
    for (std::size_t p = 0; p < producers; ++p) {
        jobs.push_back([&, p] { produce(a, to, l, lg, p, crash, t0, r.errs); });
    }
    run_all(std::move(jobs));
    produced = true;
    const std::int64_t produced_ns = now_ns();  // every producer has its last RECEIPT
    if (!consume_during) {
        start_consumers();  // after a kill: connecting again while the broker restarts
    }
    while (watcher.pending() > 0 && watcher.wait()) {
    }
    std::uint64_t sent = 0;
    for (const auto& s : lg.sent) {
        sent += static_cast<std::uint64_t>(
            std::count_if(s.begin(), s.end(), [](auto x) { return x != sent_state::unsent; }));
    }
    drain(a, l, lg, sent);
    done = true;
    while (consumers.pending() > 0 && consumers.wait()) {
    }
    r.fields = verdict(lg, lg.consumed_series.counts());
    // The burst's own rate (the persistent phase's headline): receipted SENDs
    // over the time from the start to the last producer's last RECEIPT.
    const double publish_seconds = static_cast<double>(produced_ns - t0) / 1e9;
    r.fields["publish_seconds"] = publish_seconds;
    r.fields["publish_rate"] =
        publish_seconds > 0 ? static_cast<double>(r.fields.value("receipted", std::uint64_t{0})) /
                                  publish_seconds
                            : 0.0;
    return r;
}

json merge_one(const std::vector<std::optional<durable_result>>& results,
               const run_report& report) {
    json out = results[0] ? results[0]->fields : json::object();
    update(out, merged_errors(results, report));
    out["ok"] = results[0].has_value() && out.value("receipted_lost", 1) == 0 &&
                out.value("redelivered_after_ack", 1) == 0 && out.value("corrupted", 1) == 0 &&
                out["errors"] == 0;
    return out;
}

json run_mode(run_context& ctx, bool crash) {
    const args& a = ctx.a;
    auto show = [](const totals& t) {
        return "sent " + std::to_string(t[counter::sent]) + "  consumed " +
               std::to_string(t[counter::received]);
    };
    const broker_address to = ctx.to;
    auto results = run_workers<durable_result>(
        ctx.co, ctx.settings({}, show),
        [&a, to, crash](link& l) { return worker(l, a, to, crash); }, ctx.report);
    ctx.t0_ns = min_t0(results);
    return merge_one(results, ctx.report);
}

json run_crash(run_context& ctx) {
    return run_mode(ctx, true);
}

json run_restart(run_context& ctx) {
    return run_mode(ctx, false);
}

}  // namespace

scenario crash_scenario() {
    return {"crash", "queue", crash_flags, one_worker, run_crash, /*single_worker=*/true};
}

scenario restart_scenario() {
    return {"restart", "queue", restart_flags, one_worker, run_restart, /*single_worker=*/true};
}

}  // namespace stampede::load
