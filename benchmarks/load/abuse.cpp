// abuse: one hostile client beside a bystander publisher/subscriber pair
// (issue 9). --case picks the hostile:
//
//   receipts      never reads its socket (SO_RCVBUF 4 KiB) and sends --count
//                 BEGIN/ABORT pairs, each asking for a RECEIPT with an 8 KiB id
//   unacked       subscribes to a topic with ack:client and prefetch-count:1,
//                 reads everything, never ACKs, while --count x 1 KiB are
//                 published to that topic
//   destinations  --count SENDs, each to a new /topic/ name of about 1 KiB
//   transactions  --count transactions with 64 KiB SENDs into them without
//                 end (until --max-bytes, an ERROR, a close, or the broker
//                 stops reading for the rest of --case-seconds)
//   preconnect    before CONNECT: one endless header list, one endless
//                 header line (each up to --max-bytes / 2), then --count
//                 connections that never finish their CONNECT
//
// The bystander publishes at --bystander-rate on its own topic throughout and
// must receive every message in order. Reported: what the hostile did, what
// happened to its connection (ERROR text, closed, still open), the
// bystander's verdict, and the window in which the hostile was active (the
// harness reads the broker's RSS peak over it).

#include <algorithm>
#include <map>
#include <memory>

#include "clock.hpp"
#include "hostile.hpp"
#include "open_loop.hpp"
#include "scenario.hpp"
#include "stampede/runtime/scheduler.hpp"

namespace stampede::load {

namespace {

namespace rt = stampede::runtime;

constexpr int tiny_rcvbuf = 4096;
constexpr std::size_t receipt_id_size = 8192;
constexpr std::size_t destination_size = 1024;
constexpr std::size_t tx_body_size = 64 * 1024;
constexpr std::size_t hostile_body_size = 1024;
constexpr double quiet_seconds = 1.0;
constexpr double read_back_seconds = 10.0;

struct bystander_view {
    std::uint64_t out_of_order = 0;
    std::optional<std::uint64_t> last_seq;
};

struct abuse_result {
    errors errs;
    std::optional<std::int64_t> t0;
    json hostile = json::object();
    std::int64_t hostile_start = 0, hostile_end = 0;
    std::uint64_t bystander_sent = 0;
    std::uint64_t bystander_received = 0;
    std::uint64_t bystander_duplicates = 0;
    std::uint64_t bystander_out_of_order = 0;
    std::optional<std::string> bystander_error;
    latency_histogram bystander_latency;
    std::vector<std::uint64_t> bystander_per_second, hostile_per_second;
};

std::vector<flag_spec> flags() {
    return {
        {"case",
         flag_kind::text,
         "receipts",
         {"receipts", "unacked", "destinations", "transactions", "preconnect"}},
        {"count", flag_kind::integer, "0", {}},
        {"max-bytes", flag_kind::integer, "1073741824", {}},
        {"case-seconds", flag_kind::real, "60", {}},
        {"bystander-rate", flag_kind::real, "100", {}},
        {"body-size", flag_kind::integer, "256", {}},
        {"destination", flag_kind::optional_text, "", {}},
        {"settle", flag_kind::real, "2", {}},
        {"drain-timeout", flag_kind::real, "10", {}},
    };
}

std::size_t max_workers(const args&) {
    return 1;
}

// The count a case uses when --count is 0 (issue 9's figures).
std::uint64_t count_of(const args& a) {
    if (a.integer("count") > 0) {
        return static_cast<std::uint64_t>(a.integer("count"));
    }
    const std::string& c = a.text("case");
    return c == "receipts"       ? 20000
           : c == "unacked"      ? 200000
           : c == "destinations" ? 100000
           : c == "transactions" ? 16
                                 : 2000;
}

std::string base_of(const args& a) {
    return "bench.abuse." + a.text("run-id");
}

std::int64_t deadline_of(const args& a) {
    return now_ns() + static_cast<std::int64_t>(a.real("case-seconds") * 1e9);
}

const char* end_name(write_end e) {
    return e == write_end::done   ? "all written"
           : e == write_end::held ? "held: the broker stopped reading"
                                  : "closed while writing";
}

// A raw connection that has sent CONNECT (the hostile speaks to the broker
// itself; it may never read what comes back).
rt::unique_fd raw_stomp(const broker_address& to, int rcvbuf, std::string& why) {
    rt::unique_fd fd = raw_connect(to.endpoint, rcvbuf);
    if (!fd.valid()) {
        why = std::string("connect: ") + std::strerror(errno);
        return fd;
    }
    out_buffer out;
    begin_frame(out, "CONNECT");
    add_header(out, "accept-version", "1.2");
    add_header(out, "host", to.vhost);
    add_header(out, "heart-beat", "0,0");
    if (to.login) {
        add_header(out, "login", *to.login);
        add_header(out, "passcode", to.passcode.value_or(""));
    }
    end_frame(out);
    std::uint64_t w = 0;
    if (raw_write(fd.get(), out.bytes(), now_ns() + 5'000'000'000, w) != write_end::done) {
        why = "could not send CONNECT";
        return rt::unique_fd();
    }
    return fd;
}

// (a) Never reads; BEGIN/ABORT pairs with 8 KiB receipt ids.
json receipts_case(const args& a, const broker_address& to, worker_counters& tally) {
    json h;
    std::string why;
    rt::unique_fd fd = raw_stomp(to, tiny_rcvbuf, why);
    if (!fd.valid()) {
        h["outcome"] = "could not connect";
        h["error"] = why;
        return h;
    }
    const std::uint64_t n = count_of(a);
    const std::int64_t deadline = deadline_of(a);
    const std::string pad(receipt_id_size - 16, 'r');
    std::uint64_t written = 0, pairs = 0;
    write_end end = write_end::done;
    out_buffer out;
    while (pairs < n && end == write_end::done) {
        out.clear();
        for (std::uint64_t k = 0; k < 16 && pairs + k < n; ++k) {
            const std::string tx = "t" + std::to_string(pairs + k);
            for (const char* cmd : {"BEGIN", "ABORT"}) {
                begin_frame(out, cmd);
                add_header(out, "transaction", tx);
                add_header(out, "receipt", tx + cmd[0] + pad);
                end_frame(out);
            }
        }
        const std::uint64_t before = written;
        end = raw_write(fd.get(), out.bytes(), deadline, written);
        pairs += written - before == out.size() ? std::min<std::uint64_t>(16, n - pairs) : 0;
        tally.add(counter::slow, 1);
    }
    const peer_said said = read_what_came(
        fd.get(), quiet_seconds, now_ns() + static_cast<std::int64_t>(read_back_seconds * 1e9));
    h["pairs_sent"] = pairs;
    h["bytes_written"] = written;
    h["write"] = end_name(end);
    h["receipts_read_back"] = said.receipts;
    h["bytes_read_back"] = said.bytes;
    h["error"] = or_null(said.error);
    h["closed"] = said.closed || end == write_end::closed;
    h["outcome"] = end == write_end::held && !said.error && !said.closed
                       ? std::string("held (still open)")
                       : outcome_of(said.error, h["closed"].get<bool>());
    h["summary"] = std::to_string(pairs) + " of " + std::to_string(n) + " pairs sent (" +
                   end_name(end) + "); " + std::to_string(said.receipts) +
                   " receipts read back afterwards";
    return h;
}

// Counts what a never-acking subscriber gets.
class hoarder final : public message_handler {
  public:
    std::uint64_t got = 0;
    worker_counters* tally = nullptr;
    void on_message(connection&, const protocol::frame_view&) override {
        ++got;
        tally->add(counter::slow);
    }
};

// (b) ack:client, prefetch 1, reads everything, never ACKs.
json unacked_case(const args& a, const broker_address& to, worker_counters& tally) {
    json h;
    std::string why;
    auto hostile = connection::open(to, why);
    auto loader = hostile ? connection::open(to, why) : nullptr;
    if (!hostile || !loader) {
        h["outcome"] = "could not connect";
        h["error"] = why;
        return h;
    }
    hoarder hold;
    hold.tally = &tally;
    hostile->set_handler(&hold);
    const std::string topic = "/topic/" + base_of(a) + ".hoard";
    if (!hostile->subscribe(topic, "h", "client", 1, a.real("connect-timeout"), why)) {
        h["outcome"] = "subscribe failed";
        h["error"] = why;
        return h;
    }
    const std::uint64_t n = count_of(a);
    publisher pub(*loader, topic, "H0", hostile_body_size, now_ns(), tally);
    // A broker that holds publishers would keep this one forever: give up at the deadline.
    bool done = false;
    rt::wait_group g;
    g.add();
    auto* loader_conn = loader.get();
    (void)rt::this_scheduler()->spawn_here(
        [&, loader_conn] {
            const std::int64_t deadline = deadline_of(a);
            while (!done && now_ns() < deadline) {
                (void)rt::this_fiber::sleep_for(seconds(0.05));
            }
            if (!done) {
                loader_conn->abort();
            }
            g.done();
        },
        {0, "load.watchdog"});
    pub.run(n, 0, nullptr, a.real("case-seconds"));
    done = true;
    while (g.pending() > 0 && g.wait()) {
    }
    // What arrived after the last SEND's receipt.
    (void)rt::this_fiber::sleep_for(seconds(quiet_seconds));
    const publisher_stats s = pub.stats();
    h["published"] = s.sent;
    h["publish_confirmed"] = s.receipt_ns.has_value();
    h["hostile_received"] = hold.got;
    h["error"] = or_null(hostile->error());
    h["closed"] = hostile->closed();
    h["outcome"] = outcome_of(hostile->error(), hostile->closed() || !hostile->alive());
    h["summary"] = "received " + std::to_string(hold.got) + " of " + std::to_string(s.sent) +
                   " published without acking" +
                   (s.receipt_ns ? "" : "; the publisher was held or cut off");
    hostile->abort();
    close_all({loader.get()});
    return h;
}

// (c) A new /topic/ name of about 1 KiB for every SEND.
json destinations_case(const args& a, const broker_address& to, worker_counters& tally) {
    json h;
    std::string why;
    auto conn = connection::open(to, why);
    if (!conn) {
        h["outcome"] = "could not connect";
        h["error"] = why;
        return h;
    }
    const std::uint64_t n = count_of(a);
    const std::int64_t deadline = deadline_of(a);
    const std::string prefix = "/topic/" + base_of(a) + ".d";
    const std::string pad(destination_size - prefix.size() - 12, 'd');
    std::uint64_t written = 0, sent = 0;
    write_end end = write_end::done;
    out_buffer out;
    while (sent < n && end == write_end::done && conn->alive()) {
        out.clear();
        const std::uint64_t batch = std::min<std::uint64_t>(64, n - sent);
        for (std::uint64_t k = 0; k < batch; ++k) {
            begin_frame(out, "SEND");
            add_header(out, "destination", prefix + std::to_string(sent + k) + "." + pad);
            end_frame(out, "x");
        }
        const std::uint64_t before = written;
        end = raw_write(conn->fd(), out.bytes(), deadline, written);
        if (written - before == out.size()) {
            sent += batch;
            tally.add(counter::slow, batch);
        }
    }
    // A last SEND with a receipt: everything before it was taken.
    bool confirmed = false;
    if (end == write_end::done && conn->alive()) {
        out.clear();
        const std::uint64_t r = conn->next_receipt();
        begin_frame(out, "SEND");
        add_header(out, "destination", prefix + "last");
        out.append("receipt:r");
        out.append_uint(r);
        out.append('\n');
        end_frame(out, "x");
        confirmed = raw_write(conn->fd(), out.bytes(), deadline, written) == write_end::done &&
                    conn->wait_receipt(r, after(a.real("case-seconds")));
    }
    (void)rt::this_fiber::sleep_for(seconds(quiet_seconds));
    h["sends"] = sent;
    h["write"] = end_name(end);
    h["confirmed"] = confirmed;
    h["error"] = or_null(conn->error());
    h["closed"] = conn->closed();
    h["outcome"] = end == write_end::held && !conn->error()
                       ? std::string("held (still open)")
                       : outcome_of(conn->error(), conn->closed());
    h["summary"] = std::to_string(sent) + " of " + std::to_string(n) + " SENDs to new topics (" +
                   end_name(end) + (confirmed ? ", receipt for the last" : ", no receipt") + ")";
    conn->abort();
    return h;
}

// (d) Transactions that never end, 64 KiB SENDs into them.
json transactions_case(const args& a, const broker_address& to, worker_counters& tally) {
    json h;
    std::string why;
    auto conn = connection::open(to, why);
    if (!conn) {
        h["outcome"] = "could not connect";
        h["error"] = why;
        return h;
    }
    const std::uint64_t txs = std::max<std::uint64_t>(1, count_of(a));
    const auto max_bytes = static_cast<std::uint64_t>(a.integer("max-bytes"));
    const std::int64_t deadline = deadline_of(a);
    const std::string queue = "/queue/" + base_of(a) + ".tx";
    std::uint64_t written = 0, sends = 0;
    out_buffer out;
    for (std::uint64_t t = 0; t < txs; ++t) {
        begin_frame(out, "BEGIN");
        add_header(out, "transaction", "t" + std::to_string(t));
        end_frame(out);
    }
    write_end end = raw_write(conn->fd(), out.bytes(), deadline, written);
    const std::string body(tx_body_size, 'b');
    while (end == write_end::done && written < max_bytes && conn->alive()) {
        out.clear();
        for (std::uint64_t k = 0; k < 4; ++k) {
            begin_frame(out, "SEND");
            add_header(out, "destination", queue);
            add_header(out, "transaction", "t" + std::to_string((sends + k) % txs));
            end_frame(out, body);
        }
        const std::uint64_t before = written;
        end = raw_write(conn->fd(), out.bytes(), deadline, written);
        if (written - before == out.size()) {
            sends += 4;
            tally.add(counter::slow, 4);
        }
    }
    (void)rt::this_fiber::sleep_for(seconds(quiet_seconds));
    h["transactions"] = txs;
    h["sends"] = sends;
    h["bytes_written"] = written;
    h["write"] = written >= max_bytes ? "stopped at --max-bytes" : end_name(end);
    h["error"] = or_null(conn->error());
    h["closed"] = conn->closed();
    h["outcome"] = end == write_end::held && !conn->error()
                       ? std::string("held (still open)")
                       : outcome_of(conn->error(), conn->closed());
    h["summary"] = std::to_string(sends) + " SENDs of 64 KiB (" + std::to_string(written >> 20) +
                   " MiB) into " + std::to_string(txs) + " open transactions (" +
                   h["write"].get<std::string>() + ")";
    conn->abort();
    return h;
}

// One pre-CONNECT flood: `head` once, then `unit` repeated until closed,
// held or `max_bytes`; then what the broker said.
json flood(const broker_address& to, std::string_view head, std::string_view unit,
           std::uint64_t max_bytes, std::int64_t deadline) {
    json h;
    rt::unique_fd fd = raw_connect(to.endpoint, 0);
    if (!fd.valid()) {
        h["outcome"] = "could not connect";
        return h;
    }
    std::string chunk;
    while (chunk.size() < 64 * 1024) {
        chunk += unit;
    }
    std::uint64_t written = 0;
    write_end end = raw_write(fd.get(), {head.data(), head.size()}, deadline, written);
    while (end == write_end::done && written < max_bytes) {
        end = raw_write(fd.get(), {chunk.data(), chunk.size()}, deadline, written);
    }
    const peer_said said = read_what_came(fd.get(), quiet_seconds, now_ns() + 5'000'000'000);
    h["bytes_written"] = written;
    h["write"] = written >= max_bytes ? "stopped at --max-bytes" : end_name(end);
    h["error"] = or_null(said.error);
    h["closed"] = said.closed || end == write_end::closed;
    h["outcome"] = end == write_end::held && !said.error && !said.closed
                       ? std::string("held (still open)")
                       : outcome_of(said.error, h["closed"].get<bool>());
    return h;
}

// Connections that start a CONNECT and never finish it, held for a while.
json unauthenticated(const broker_address& to, std::uint64_t n, std::int64_t deadline,
                     worker_counters& tally) {
    std::vector<rt::unique_fd> fds;
    std::uint64_t failed = 0;  // the connect or the first write failed
    const std::string_view part = "CONNECT\naccept-version:1.2\n";
    for (std::uint64_t i = 0; i < n && now_ns() < deadline; ++i) {
        rt::unique_fd fd = raw_connect(to.endpoint, 0, 2.0);
        std::uint64_t w = 0;
        if (!fd.valid() ||
            raw_write(fd.get(), {part.data(), part.size()}, deadline, w) != write_end::done) {
            ++failed;
            continue;
        }
        fds.push_back(std::move(fd));
        tally.add(counter::slow);
    }
    (void)rt::this_fiber::sleep_for(seconds(2.0));
    // A broker that enforces a cap accepts the TCP connection (the kernel
    // does, before the broker sees it), answers with an ERROR and closes: that
    // is a refusal as much as a failed connect is.
    std::uint64_t open = 0, closed = 0, errored = 0, refused_by_broker = 0;
    std::optional<std::string> first_error;
    for (auto& fd : fds) {
        const peer_said said = read_what_came(fd.get(), 0.0, now_ns() + 50'000'000);
        if (said.error) {
            ++errored;
            first_error = first_error ? first_error : said.error;
        }
        if (said.closed) {
            ++closed;
        } else {
            ++open;
        }
        if (said.error && said.closed) {
            ++refused_by_broker;
        }
    }
    json h;
    h["asked"] = n;
    h["connected"] = fds.size();
    h["failed_to_connect"] = failed;
    h["refused_with_error"] = refused_by_broker;
    h["refused"] = failed + refused_by_broker;
    h["still_open"] = open;
    h["closed"] = closed;
    h["got_error"] = errored;
    h["error"] = or_null(first_error);
    return h;
}

// (e) The three pre-CONNECT floods, one after the other.
json preconnect_case(const args& a, const broker_address& to, worker_counters& tally) {
    const auto max_bytes = static_cast<std::uint64_t>(a.integer("max-bytes")) / 2;
    const double third = a.real("case-seconds") / 3;
    const auto until = [&] { return now_ns() + static_cast<std::int64_t>(third * 1e9); };
    json h;
    h["headers"] = flood(to, "CONNECT\naccept-version:1.2\n", "h:v\n", max_bytes, until());
    h["header_line"] = flood(to, "CONNECT\naccept-version:1.2\nx:", "aaaaaaaa", max_bytes, until());
    h["unauthenticated"] = unauthenticated(to, count_of(a), until(), tally);
    const json u = h["unauthenticated"];  // a copy: h grows below
    h["outcome"] = "headers: " + h["headers"]["outcome"].get<std::string>() +
                   "; header line: " + h["header_line"]["outcome"].get<std::string>() + "; " +
                   std::to_string(u["still_open"].get<std::uint64_t>()) + " of " +
                   std::to_string(u["asked"].get<std::uint64_t>()) + " half-CONNECTs open";
    json err = h["headers"]["error"];
    if (err.is_null()) {
        err = h["header_line"]["error"];
    }
    if (err.is_null()) {
        err = u["error"];
    }
    h["error"] = err;
    h["summary"] =
        "header flood " + std::to_string(h["headers"].value("bytes_written", 0ULL) >> 10) +
        " KiB, header line " + std::to_string(h["header_line"].value("bytes_written", 0ULL) >> 10) +
        " KiB, " + std::to_string(u["connected"].get<std::uint64_t>()) +
        " unauthenticated connections (" + std::to_string(u["refused"].get<std::uint64_t>()) +
        " refused: " + std::to_string(u["refused_with_error"].get<std::uint64_t>()) +
        " with an ERROR, " + std::to_string(u["failed_to_connect"].get<std::uint64_t>()) +
        " at connect)";
    return h;
}

json run_case(const args& a, const broker_address& to, worker_counters& tally) {
    const std::string& c = a.text("case");
    json h = c == "receipts"       ? receipts_case(a, to, tally)
             : c == "unacked"      ? unacked_case(a, to, tally)
             : c == "destinations" ? destinations_case(a, to, tally)
             : c == "transactions" ? transactions_case(a, to, tally)
                                   : preconnect_case(a, to, tally);
    h["case"] = c;
    if (!h.contains("summary")) {
        h["summary"] = h.value("outcome", "");
    }
    return h;
}

// Waits until the bystander has everything or nothing arrives for --drain-timeout.
void drain_bystander(const args& a, const receiver& r, std::uint64_t sent) {
    std::uint64_t last = r.tracker().distinct();
    std::int64_t since = now_ns();
    while (r.tracker().distinct() < sent && r.conn().alive()) {
        if (r.tracker().distinct() != last) {
            last = r.tracker().distinct();
            since = now_ns();
        } else if (static_cast<double>(now_ns() - since) / 1e9 > a.real("drain-timeout")) {
            return;
        }
        if (!rt::this_fiber::sleep_for(seconds(0.05))) {
            return;
        }
    }
}

abuse_result worker(link& l, const args& a, const broker_address& to) {
    abuse_result r;
    std::string why;
    auto sub = connection::open(to, why);
    auto pub_conn = sub ? connection::open(to, why) : nullptr;
    if (!sub || !pub_conn) {
        r.errs.add("bystander: " + why);
        return r;
    }
    latency_sink lat;
    receiver by(*sub, l.counters(), counter::received, lat, false);
    bystander_view order;
    by.set_hook([&order](std::int64_t, std::optional<std::int64_t>,
                         const std::optional<body_id>& id, bool, const protocol::frame_view&) {
        if (id) {
            if (order.last_seq && id->seq <= *order.last_seq) {
                ++order.out_of_order;
            }
            order.last_seq = std::max(order.last_seq.value_or(0), id->seq);
        }
    });
    if (!sub->subscribe(a.text("destination"), "b", "auto", 0, a.real("connect-timeout"), why)) {
        r.errs.add("bystander subscribe: " + why);
        return r;
    }
    r.t0 = l.barrier("subscribed");
    const std::int64_t t0 = r.t0.value_or(now_ns());
    by.set_origin(t0);
    scheduled_publisher pub(*pub_conn, a.text("destination"), "P0",
                            static_cast<std::size_t>(a.integer("body-size")), "", t0, l.counters());
    bool hostile_done = false;
    rt::wait_group g;
    g.add();
    (void)rt::this_scheduler()->spawn_here(
        [&] {
            // One second at a time, until the hostile is done and --settle passed.
            std::int64_t s = t0;
            std::optional<std::int64_t> stop_at;
            while (!l.stopped() && pub_conn->alive() && (!stop_at || s < *stop_at)) {
                pub.run(s, s + 1'000'000'000, a.real("bystander-rate"), &l);
                s += 1'000'000'000;
                if (hostile_done && !stop_at) {
                    stop_at = now_ns() + static_cast<std::int64_t>(a.real("settle") * 1e9);
                }
            }
            g.done();
        },
        {0, "load.bystander"});
    // A second of calm first, so the harness sees the broker's level before.
    (void)rt::this_fiber::sleep_for(seconds(1.0));
    r.hostile_start = now_ns();
    r.hostile = run_case(a, to, l.counters());
    r.hostile_end = now_ns();
    hostile_done = true;
    while (g.pending() > 0 && g.wait()) {
    }
    r.bystander_sent = pub.stats().sent;
    drain_bystander(a, by, r.bystander_sent);
    r.bystander_received = by.tracker().distinct();
    r.bystander_duplicates = by.tracker().duplicates();
    r.bystander_out_of_order = order.out_of_order;
    r.bystander_error = sub->error() ? sub->error() : pub_conn->error();
    r.bystander_latency = lat.whole();
    r.bystander_per_second = by.series().counts();
    r.hostile_per_second = {};
    close_all({sub.get(), pub_conn.get()});
    return r;
}

json merge(const args&, const std::vector<std::optional<abuse_result>>& results,
           const run_report& report) {
    json out;
    if (!results[0]) {
        out["ok"] = false;
        update(out, merged_errors(results, report));
        return out;
    }
    const abuse_result& r = *results[0];
    json by;
    by["sent"] = r.bystander_sent;
    by["received"] = r.bystander_received;
    by["missing"] =
        r.bystander_sent > r.bystander_received ? r.bystander_sent - r.bystander_received : 0;
    by["duplicates"] = r.bystander_duplicates;
    by["out_of_order"] = r.bystander_out_of_order;
    by["error"] = or_null(r.bystander_error);
    by["latency_ns"] = r.bystander_latency.summary();
    by["ok"] = by["missing"] == 0 && r.bystander_out_of_order == 0 && r.bystander_duplicates == 0 &&
               !r.bystander_error && r.bystander_sent > 0;
    out["hostile"] = r.hostile;
    out["bystander"] = by;
    out["hostile_start_ns"] = r.hostile_start;
    out["hostile_end_ns"] = r.hostile_end;
    out["per_second"] = {{"bystander", r.bystander_per_second}};
    update(out, merged_errors(results, report));
    // The hostile's fate is reported, not judged (it is the broker's policy);
    // the bystander must be untouched.
    out["ok"] = by["ok"] && out["errors"] == 0;
    return out;
}

json run(run_context& ctx) {
    const args& a = ctx.a;
    auto show = [](const totals& t) {
        return "hostile " + std::to_string(t[counter::slow]) + "  bystander sent " +
               std::to_string(t[counter::sent]) + " got " + std::to_string(t[counter::received]);
    };
    const broker_address to = ctx.to;
    auto results = run_workers<abuse_result>(
        ctx.co, ctx.settings({}, show), [&a, to](link& l) { return worker(l, a, to); }, ctx.report);
    ctx.t0_ns = min_t0(results);
    return merge(a, results, ctx.report);
}

}  // namespace

scenario abuse_scenario() {
    return {"abuse", "topic", flags, max_workers, run, /*single_worker=*/true};
}

}  // namespace stampede::load
