#include "roles.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "clock.hpp"
#include "stampede/runtime/scheduler.hpp"

namespace stampede::load {

namespace {

namespace rt = stampede::runtime;

// SENDs joined into one write. Large enough that a fast publisher makes few
// system calls, small enough that bench-ts (one per batch) stays honest.
constexpr std::size_t batch_frames = 512;
constexpr std::size_t batch_bytes = 128 * 1024;
constexpr double min_sleep_seconds = 0.0005;

std::optional<std::int64_t> parse_ts(std::string_view text) {
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return v;
}

}  // namespace

// ---- errors ----

void errors::add(std::string text) {
    ++count;
    if (samples.size() < keep) {
        samples.push_back(std::move(text));
    }
}

void errors::from_connection(std::string_view role, const connection* c) {
    if (c != nullptr && c->error()) {
        add(std::string(role) + ": " + *c->error());
    }
}

void errors::merge(const errors& other) {
    count += other.count;
    for (const auto& s : other.samples) {
        if (samples.size() < keep) {
            samples.push_back(s);
        }
    }
}

json merge_errors(const std::vector<const errors*>& parts,
                  const std::vector<std::string>& failures) {
    errors total;
    for (const errors* e : parts) {
        if (e != nullptr) {
            total.merge(*e);
        }
    }
    for (const auto& f : failures) {
        total.add(f);
    }
    json out;
    out["errors"] = total.count;
    out["error_samples"] = total.samples;
    return out;
}

// ---- latency ----

latency_sink::latency_sink(double interval_seconds)
    : interval_ns_(static_cast<std::int64_t>(interval_seconds * 1e9)), parts_(1) {}

void latency_sink::record(std::int64_t value, std::int64_t now) {
    std::size_t i = 0;
    if (interval_ns_ > 0 && t0_ns_ != 0 && now > t0_ns_) {
        i = static_cast<std::size_t>((now - t0_ns_) / interval_ns_);
    }
    if (i >= parts_.size()) {
        parts_.resize(i + 1);
    }
    parts_[i].record(value);
}

latency_histogram latency_sink::whole() const {
    latency_histogram out;
    for (const auto& p : parts_) {
        out.merge(p);
    }
    return out;
}

// ---- receiver ----

receiver::receiver(connection& conn, worker_counters& tally, counter key, latency_sink& latency,
                   bool ack)
    : conn_(conn), tally_(tally), key_(key), latency_(latency), ack_(ack) {
    conn.set_handler(this);
}

void receiver::on_message(connection& conn, const protocol::frame_view& frame) {
    const std::int64_t t = now_ns();
    std::optional<std::int64_t> sent;
    if (const auto ts = frame.get("bench-ts")) {
        if ((sent = parse_ts(*ts))) {
            const std::int64_t lat = t - *sent;
            latency_.record(lat, t);
            if (!first_latency_) {
                first_latency_ = lat;
            }
        }
    }
    if (!first_ns_) {
        first_ns_ = t;
    }
    last_ns_ = t;
    per_second_.add(t);
    // Progress counts distinct messages, so "everything arrived" is not
    // fooled by a duplicate.
    const auto id = parse_body_id(frame.body);
    bool first = false;
    if (id && (first = tracker_.record(id->stream, id->seq))) {
        tally_.add(key_);
    }
    if (hook_) {
        hook_(t, sent, id, first, frame);
    }
    if (ack_) {
        if (const auto ack_id = frame.get("ack")) {
            begin_frame(acks_, "ACK");
            add_header_escaped(acks_, "id", *ack_id, conn.version());
            end_frame(acks_);
        }
    }
}

void receiver::after_frames(connection& conn) {
    if (!acks_.empty()) {
        conn.send(acks_.bytes());
        acks_.clear();
    }
    if (limit_ > 0) {
        // A token bucket without savings: each message costs 1/limit_ of a
        // second from max(now, the last one's due time), so a consumer that
        // idled does not catch up faster than its rate afterwards.
        const std::int64_t now = now_ns();
        const std::uint64_t n = tracker_.total() - limited_;
        limited_ = tracker_.total();
        limit_next_ = std::max(limit_next_, std::max(now, limit_start_)) +
                      static_cast<std::int64_t>(static_cast<double>(n) * 1e9 / limit_);
        if (limit_next_ > now) {
            (void)rt::this_fiber::sleep_for(seconds(static_cast<double>(limit_next_ - now) / 1e9));
        }
    }
}

// ---- publisher ----

publisher::publisher(connection& conn, std::string destination, std::string stream,
                     std::size_t body_size, std::int64_t t0_ns, worker_counters& tally)
    : conn_(conn), destination_(std::move(destination)), stream_(std::move(stream)), tally_(tally) {
    spec_ = {destination_, {}, stream_, body_size};
    per_second_.set_origin(t0_ns);
}

void publisher::count_sent(std::int64_t t, std::uint64_t n) {
    if (!stats_.first_ns) {
        stats_.first_ns = t;
    }
    stats_.sent += n;
    tally_.add(counter::sent, n);
    per_second_.add(t, n);
    stats_.last_ns = t;
}

// The Python driver's Publisher.run: messages 0..count-2 in batches (as many
// as are due at the rate), then the last one with a receipt at its due time.
void publisher::run(std::uint64_t count, double rate, const link* stop, double receipt_timeout) {
    if (count == 0) {
        return;
    }
    const auto stopped = [&] { return stop != nullptr && stop->stopped(); };
    const std::int64_t start = now_ns();
    const double interval = rate > 0 ? 1e9 / rate : 0.0;
    const auto due_at = [&](std::uint64_t seq) {
        return static_cast<double>(start) + static_cast<double>(seq) * interval;
    };
    const std::uint64_t last = count - 1;
    std::uint64_t seq = 0;
    while (seq < last && conn_.alive() && !stopped()) {
        std::uint64_t due = last;
        if (interval > 0) {
            const double elapsed = static_cast<double>(now_ns() - start);
            due = std::min(last, static_cast<std::uint64_t>(elapsed / interval) + 1);
            if (due <= seq) {
                const double wait = (due_at(seq) - static_cast<double>(now_ns())) / 1e9;
                if (!rt::this_fiber::sleep_for(seconds(std::max(min_sleep_seconds, wait)))) {
                    return;
                }
                continue;
            }
        }
        seq = write_batch(seq, due);
        rt::this_fiber::yield();
    }
    if (seq == last && conn_.alive() && !stopped()) {
        if (interval > 0) {
            const double wait = (due_at(seq) - static_cast<double>(now_ns())) / 1e9;
            if (wait > 0 && !rt::this_fiber::sleep_for(seconds(wait))) {
                return;
            }
        }
        send_last(seq, receipt_timeout);
    }
}

std::uint64_t publisher::write_batch(std::uint64_t seq, std::uint64_t due) {
    batch_.clear();
    const std::int64_t t = now_ns();
    const std::uint64_t first = seq;
    while (seq < due && seq - first < batch_frames && batch_.size() < batch_bytes) {
        add_send(batch_, spec_, seq, t);
        ++seq;
    }
    count_sent(t, seq - first);
    conn_.send(batch_.bytes(), &stats_.blocked_ns);
    return seq;
}

void publisher::send_last(std::uint64_t seq, double receipt_timeout) {
    batch_.clear();
    const std::int64_t t = now_ns();
    const std::uint64_t receipt = conn_.next_receipt();
    add_send(batch_, spec_, seq, t, receipt);
    count_sent(t, 1);
    if (conn_.send(batch_.bytes(), &stats_.blocked_ns) &&
        conn_.wait_receipt(receipt, after(receipt_timeout))) {
        stats_.receipt_ns = now_ns();
    }
}

publisher_stats publisher::stats() const {
    publisher_stats out = stats_;
    out.per_second = per_second_.counts();
    return out;
}

// ---- connecting and closing ----

broker_address address_of(const args& a) {
    broker_address to;
    auto ep = rt::endpoint::parse(a.text("host") + ":" + std::to_string(a.integer("port")));
    if (!ep) {
        throw std::runtime_error("bad --host/--port: " + ep.error().message());
    }
    to.endpoint = *ep;
    to.vhost = a.text("vhost");
    to.login = a.optional_text("login");
    to.passcode = a.optional_text("passcode");
    to.connect_timeout = a.real("connect-timeout");
    to.host = a.text("host");
    to.websocket = a.text("transport") == "ws";
    to.ws_path = a.text("ws-path");
    return to;
}

indexed_connections connect_limited(const broker_address& to,
                                    const std::vector<std::size_t>& indexes, std::size_t limit,
                                    const setup_fn& setup, errors& errs, std::string_view role) {
    indexed_connections out;
    std::size_t next = 0;
    rt::wait_group group;
    const auto connector = [&] {
        while (next < indexes.size()) {
            const std::size_t i = indexes[next++];
            std::string why;
            auto conn = connection::open(to, why);
            if (conn && setup && !setup(i, *conn, why)) {
                conn->abort();
                conn.reset();
            }
            if (!conn) {
                errs.add(std::string(role) + " " + std::to_string(i) + ": " + why);
                continue;
            }
            out.emplace_back(i, std::move(conn));
        }
        group.done();
    };
    // Helpers on fibers of their own, and this fiber as one more, so that
    // something connects even when no fiber can be had.
    const std::size_t fibers = std::min(std::max<std::size_t>(1, limit), indexes.size());
    for (std::size_t k = 1; k < fibers; ++k) {
        group.add();
        if (!rt::this_scheduler()->spawn_here(connector, {0, "load.connector"})) {
            group.done();
        }
    }
    group.add();
    connector();
    while (group.pending() > 0) {
        if (!group.wait()) {
            rt::this_fiber::yield();  // the runtime is stopping; the connectors end soon
        }
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
}

void close_all(const std::vector<connection*>& conns, double timeout) {
    for (connection* c : conns) {
        c->begin_close();
    }
    const rt::time_point deadline = after(timeout);
    for (connection* c : conns) {
        c->finish_close(deadline);
    }
}

std::vector<connection*> pointers(const indexed_connections& conns) {
    std::vector<connection*> out;
    for (const auto& [i, c] : conns) {
        out.push_back(c.get());
    }
    return out;
}

}  // namespace stampede::load
