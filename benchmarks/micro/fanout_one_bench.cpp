// bench_fanout_one: the cost per delivery of building and queueing one topic
// MESSAGE for K subscribers, without sockets.
//
//   bench_fanout_one [--quick] [--reps R] [--rep-ms MS] [--drain-bytes N] [--no-trim]
//                    [--untuned] [--body-bytes N]
//
// Prints one JSON document. For K in {1, 10, 100, 1000} subscribers, bodies
// of 64 B, 1 KiB, 4 KiB and 64 KiB, and both fan-out modes:
//
// - copy: each subscriber's outbound_queue gets the complete MESSAGE bytes,
//   written by protocol::message_template::write;
// - shared: the queue gets the head (command and headers, write_head) and
//   the outbound_entry references the message, whose body the writer sends
//   from the message itself.
//
// One iteration is what a relay does with one published message
// (relay_actor::handle_cast(relay_fanout)): a template_cache for the message,
// then for each subscriber what session::deliver_topic and
// session::write_topic_message do (delivery number, message-id
// "<session id>-<delivery>", the subscription's id, reserve, write, commit).
// The real broker classes do the work: message, template_cache,
// message_template, outbound_queue. After the fan-out, every queue holding
// at least the drain threshold is drained as session::writer_loop would:
// take(), the iovecs gathered for shared bodies, clear(), release_memory()
// and the 64 KiB batch rule; only the write itself is left out. That cost is
// inside the timed loop, and keeps the memory bounded. Two thresholds: 1 byte
// (every writer keeps up and drains after each message) and 32 KiB (writers
// take batches); --drain-bytes N runs only N.
//
// Each cell runs in a fresh child process, with the allocator set up as the
// broker sets it up (broker::tune_allocator(), issue 14). --untuned leaves
// malloc as it comes (glibc then trims its heap top inside free(), and a
// 64 KiB fan-out faults the pages back on every message); --no-trim sets
// glibc's M_TRIM_THRESHOLD to 1 GiB, to tell those faults from the work.
//
// Left out: building the message from the SEND (once per publish, not per
// delivery), the topic -> relay cast, the writer fiber's wake-up and the
// socket write.

#include <malloc.h>
#include <sys/resource.h>
#include <sys/uio.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "flow.hpp"
#include "message.hpp"
#include "micro_support.hpp"
#include "outbound.hpp"
#include "stampede/protocol/serializer.hpp"
#include "topic.hpp"

namespace {

using namespace stampede::bench;
namespace broker = stampede::broker;
namespace protocol = stampede::protocol;

constexpr std::string_view topic_name = "/topic/bench.fanout";
constexpr protocol::version frame_version = protocol::version::v1_2;
/// session::writer_loop frees a drained batch larger than this.
constexpr std::size_t writer_batch_keep = 64 * 1024;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "bench_fanout_one: %s\n", what);
    std::exit(1);
}

// ---- One subscriber ----

/// One subscribed connection, reduced to what a delivery touches: the
/// session's id and delivery counter, its subscription, its outbound queue
/// and counters, and the locals of its writer loop.
struct subscriber {
    std::string id_text;  // session::id_text_
    std::string sub_id;   // subscription::id (ack mode automatic)
    std::uint32_t slot = 1;
    std::uint64_t next_delivery = 1;
    std::uint64_t messages_out = 0;
    std::size_t outbound_bytes = 0;
    broker::outbound_queue out;
    broker::byte_buffer batch;
    std::vector<broker::outbound_entry> entries;
    std::vector<iovec> iovecs;
    std::uint64_t written_total = 0;
};

/// session::message_id: "<session id>-<delivery>".
std::string_view message_id(const subscriber& s, std::uint64_t delivery,
                            std::span<char, 48> scratch) {
    char* at = std::copy(s.id_text.begin(), s.id_text.end(), scratch.data());
    *at++ = '-';
    at = std::to_chars(at, scratch.data() + scratch.size(), delivery).ptr;
    return {scratch.data(), static_cast<std::size_t>(at - scratch.data())};
}

/// session::write_topic_message for an automatic-ack subscription, not a redelivery.
void write_topic_message(subscriber& s, const protocol::message_template& tmpl,
                         std::uint64_t delivery, const broker::message_ptr& shared_body) {
    char scratch[48];
    const std::string_view id = message_id(s, delivery, scratch);
    const std::string_view ack;                     // ack mode automatic
    const std::span<const protocol::header> extra;  // not redelivered
    broker::outbound_entry entry{0,      0,        broker::entry_kind::topic_message,
                                 s.slot, delivery, nullptr};
    if (shared_body) {
        const std::size_t head = tmpl.head_size(id, s.sub_id, ack, extra);
        tmpl.write_head(s.out.reserve(head), id, s.sub_id, ack, extra);
        entry.inline_size = static_cast<std::uint32_t>(head);
        entry.size = static_cast<std::uint32_t>(head + shared_body->body().size() + 1);
        entry.body = shared_body;
    } else {
        const std::size_t size = tmpl.size(id, s.sub_id, ack, extra);
        tmpl.write(s.out.reserve(size), id, s.sub_id, ack, extra);
        entry.size = entry.inline_size = static_cast<std::uint32_t>(size);
    }
    s.out.commit(std::move(entry));
    ++s.messages_out;
    s.outbound_bytes = s.out.bytes();
}

/// session::deliver_topic; returns the bytes queued.
std::size_t deliver_topic(subscriber& s, const broker::message_ptr& msg,
                          broker::template_cache& templates, bool shared) {
    const std::uint64_t delivery = s.next_delivery++;
    const std::size_t before = s.out.bytes();
    // The same conditional as the session (it copies the pointer in shared mode).
    write_topic_message(s, templates.get(frame_version), delivery, shared ? msg : nullptr);
    const std::size_t queued = s.out.bytes() - before;
    s.outbound_bytes = s.out.bytes();  // check_outbound's bookkeeping
    return queued;
}

/// One pass of session::writer_loop, without the write.
void drain(subscriber& s) {
    s.out.take(s.batch, s.entries);
    std::size_t bytes = s.batch.size();
    if (broker::has_shared_bodies(s.entries)) {
        broker::gather_iovecs(s.batch, s.entries, s.iovecs);
        bytes = 0;
        for (const iovec& v : s.iovecs) {
            bytes += v.iov_len;
        }
    }
    s.written_total += bytes;
    s.batch.clear();
    s.entries.clear();  // drops the shared bodies' references
    s.outbound_bytes = s.out.bytes();
    if (s.out.empty()) {
        s.out.release_memory();
        if (s.batch.capacity() > writer_batch_keep) {
            s.batch.release();
        }
    }
}

// ---- One cell: K subscribers, one body size, one mode ----

struct cell {
    bool shared = false;
    std::size_t body_size = 0;
    std::size_t drain_bytes = 0;
    broker::message_ptr msg;
    std::vector<std::unique_ptr<subscriber>> subs;  // separate objects, like sessions
    std::uint64_t relay_messages_out = 0;
    std::uint64_t relay_bytes_out = 0;
    std::uint64_t drains = 0;
};

/// The message a SEND to the topic with a content-type header and `size` bytes of body makes.
broker::message_ptr make_message(std::size_t size) {
    std::string body(size, 'x');
    for (std::size_t i = 0; i < size; i += 61) {
        body[i] = static_cast<char>('a' + i % 26);
    }
    const protocol::header headers[] = {{"destination", topic_name},
                                        {"content-type", "application/octet-stream"}};
    const protocol::frame_view send{protocol::command::send, headers, body};
    return broker::message::from_send(send, topic_name, "boot-1-1");
}

std::unique_ptr<subscriber> make_subscriber(std::size_t index) {
    auto s = std::make_unique<subscriber>();
    s->id_text = std::to_string(index + 1);  // session ids count from 1
    s->sub_id = "sub-" + std::to_string(index);
    return s;
}

/// relay_actor::handle_cast(relay_fanout) for one message, then the writers.
void fan_out(cell& c) {
    broker::template_cache templates(*c.msg);
    for (const auto& s : c.subs) {
        const std::size_t written = deliver_topic(*s, c.msg, templates, c.shared);
        if (written > 0) {
            ++c.relay_messages_out;
            c.relay_bytes_out += written;
        }
    }
    for (const auto& s : c.subs) {
        if (s->out.bytes() >= c.drain_bytes) {
            drain(*s);
            ++c.drains;
        }
    }
}

/// The bytes one delivery puts on the wire, as the writer would send them.
std::string wire_bytes(const subscriber& s) {
    std::string wire;
    std::size_t at = 0;
    for (const auto& e : s.entries) {
        wire.append(s.batch.data() + at, e.inline_size);
        at += e.inline_size;
        if (e.body) {
            wire.append(e.body->body()).push_back('\0');
        }
    }
    return wire;
}

/// Checks that one delivery queues exactly the MESSAGE serialize() writes.
void check_frame(const cell& c) {
    cell probe{c.shared, c.body_size, 0, c.msg, {}, 0, 0, 0};
    probe.subs.push_back(make_subscriber(0));
    subscriber& s = *probe.subs.front();
    broker::template_cache templates(*c.msg);
    (void)deliver_topic(s, c.msg, templates, c.shared);
    s.out.take(s.batch, s.entries);
    const protocol::header headers[] = {{"destination", topic_name},
                                        {"message-id", "1-1"},
                                        {"subscription", s.sub_id},
                                        {"content-type", "application/octet-stream"}};
    const std::string expected = protocol::serialize_to_string(
        {protocol::command::message, headers, c.msg->body()}, frame_version);
    if (wire_bytes(s) != expected || s.entries.size() != 1 ||
        s.entries.front().size != expected.size()) {
        fail("a delivery does not queue the MESSAGE serialize() writes");
    }
}

// ---- Timing (in a child process per cell) ----

struct settings {
    int reps = 7;
    double rep_seconds = 0.1;
    /// Drain a queue holding at least this many bytes; 1: every queue after every fan-out.
    std::vector<std::size_t> drain_policies = {1, 32 * 1024};
    bool no_trim = false;  ///< glibc never gives the heap top back (diagnosis only)
    bool untuned = false;  ///< malloc as it comes, without broker::tune_allocator()
    std::vector<std::size_t> body_sizes{64, 1024, 4096, 65536};  ///< --body-bytes N: only N
    bool quick = false;
};

struct cell_params {
    bool shared = false;
    std::size_t subscribers = 0;
    std::size_t body_size = 0;
    std::size_t drain_bytes = 0;
};

/// What one repetition measured.
struct rep_sample {
    double ns_per_delivery = 0;
    double deliveries_per_second = 0;
    double wire_bytes_per_second = 0;
    double faults_per_delivery = 0;
};

struct cell_result {
    cell_params params;
    std::uint64_t iterations = 0;
    std::uint64_t wire_bytes_per_delivery = 0;
    std::uint64_t inline_bytes_per_delivery = 0;
    std::uint64_t drains_per_repetition = 0;
    std::vector<rep_sample> reps;
};

/// Minor page faults of this process so far.
std::uint64_t minor_faults() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<std::uint64_t>(usage.ru_minflt);
}

cell make_cell(const cell_params& p) {
    cell c{p.shared, p.body_size, p.drain_bytes, make_message(p.body_size), {}, 0, 0, 0};
    c.subs.reserve(p.subscribers);
    for (std::size_t i = 0; i < p.subscribers; ++i) {
        c.subs.push_back(make_subscriber(i));
    }
    return c;
}

double run_iterations(cell& c, std::uint64_t n) {
    const auto start = bench_clock::now();
    for (std::uint64_t i = 0; i < n; ++i) {
        fan_out(c);
    }
    return seconds_since(start);
}

/// Warms up (queues reach their steady size) and returns the iterations for one repetition.
std::uint64_t calibrate(cell& c, double rep_seconds) {
    std::uint64_t n = 1;
    double t = run_iterations(c, n);
    while (t < rep_seconds / 4) {
        n *= 2;
        t = run_iterations(c, n);
    }
    const double per_iteration = t / static_cast<double>(n);
    return std::max<std::uint64_t>(1, static_cast<std::uint64_t>(rep_seconds / per_iteration));
}

/// One repetition of `n` iterations; updates the per-delivery figures of `r`.
rep_sample time_repetition(cell& c, std::uint64_t n, cell_result& r) {
    const std::uint64_t deliveries = n * c.subs.size();
    const std::uint64_t bytes_before = c.relay_bytes_out;
    const std::uint64_t drains_before = c.drains;
    const std::uint64_t faults_before = minor_faults();
    const double t = run_iterations(c, n);
    const std::uint64_t faults = minor_faults() - faults_before;
    const std::uint64_t bytes = c.relay_bytes_out - bytes_before;
    r.wire_bytes_per_delivery = bytes / deliveries;
    // Shared: all but the body and its NUL went into the queue's buffer.
    r.inline_bytes_per_delivery = r.wire_bytes_per_delivery - (c.shared ? c.body_size + 1 : 0);
    r.drains_per_repetition = c.drains - drains_before;
    const auto d = static_cast<double>(deliveries);
    return {t * 1e9 / d, d / t, static_cast<double>(bytes) / t, static_cast<double>(faults) / d};
}

/// The figures a child hands back: four scalars, then four per repetition.
std::vector<double> encode(const cell_result& r) {
    std::vector<double> v{static_cast<double>(r.iterations),
                          static_cast<double>(r.wire_bytes_per_delivery),
                          static_cast<double>(r.inline_bytes_per_delivery),
                          static_cast<double>(r.drains_per_repetition)};
    for (const rep_sample& x : r.reps) {
        v.insert(v.end(), {x.ns_per_delivery, x.deliveries_per_second, x.wire_bytes_per_second,
                           x.faults_per_delivery});
    }
    return v;
}

void decode(const std::vector<double>& v, cell_result& r) {
    if (v.size() < 4 || (v.size() - 4) % 4 != 0) {
        fail("a child process handed back malformed figures");
    }
    r.iterations = static_cast<std::uint64_t>(v[0]);
    r.wire_bytes_per_delivery = static_cast<std::uint64_t>(v[1]);
    r.inline_bytes_per_delivery = static_cast<std::uint64_t>(v[2]);
    r.drains_per_repetition = static_cast<std::uint64_t>(v[3]);
    for (std::size_t i = 4; i < v.size(); i += 4) {
        r.reps.push_back({v[i], v[i + 1], v[i + 2], v[i + 3]});
    }
}

/// In a child process: sets up the cell, checks a frame, warms up and times it.
std::vector<double> measure_cell(const cell_params& p, const settings& s) {
    // libstdc++ makes shared_ptr counts non-atomic while a process has never had
    // a second thread; the broker always has several.
    std::thread([] {}).join();
    if (s.no_trim) {
        ::mallopt(M_TRIM_THRESHOLD, 1 << 30);
    } else if (!s.untuned) {
        broker::tune_allocator();  // as the broker's memory monitor does at start
    }
    cell c = make_cell(p);
    cell_result r;
    check_frame(c);
    r.iterations = calibrate(c, s.rep_seconds);
    for (int rep = 0; rep < s.reps; ++rep) {
        r.reps.push_back(time_repetition(c, r.iterations, r));
    }
    for (const auto& sub : c.subs) {
        drain(*sub);
    }
    return encode(r);
}

cell_result run_cell(const cell_params& p, const settings& s) {
    const auto values = in_child([&] { return measure_cell(p, s); });
    if (!values) {
        fail("a child process failed");
    }
    cell_result r;
    r.params = p;
    decode(*values, r);
    return r;
}

// ---- Output ----

/// One column of the repetitions' samples.
std::vector<double> column(const cell_result& r, double rep_sample::*field) {
    std::vector<double> v;
    v.reserve(r.reps.size());
    for (const rep_sample& x : r.reps) {
        v.push_back(x.*field);
    }
    return v;
}

std::string cell_name(const cell_params& p) {
    return std::string("fanout_") + (p.shared ? "shared" : "copy") + "_k" +
           std::to_string(p.subscribers) + "_body" + std::to_string(p.body_size) + "_drain" +
           std::to_string(p.drain_bytes);
}

void write_result(json_writer& j, const cell_result& r) {
    const cell_params& p = r.params;
    const measurement ns{cell_name(p),
                         "ns/delivery",
                         column(r, &rep_sample::ns_per_delivery),
                         r.iterations,
                         "one published message fanned out to every subscriber's queue (K "
                         "deliveries), then the drains it triggered",
                         {}};
    j.open_object();
    j.field("mode", p.shared ? "shared" : "copy");
    j.field("subscribers", p.subscribers);
    j.field("body_bytes", p.body_size);
    j.field("drain_at_queue_bytes", p.drain_bytes);
    j.field("wire_bytes_per_delivery", r.wire_bytes_per_delivery);
    j.field("bytes_written_into_queue_per_delivery", r.inline_bytes_per_delivery);
    write_measurement_fields(j, ns);
    write_summary(j, "deliveries_per_second", column(r, &rep_sample::deliveries_per_second));
    write_summary(j, "wire_bytes_per_second", column(r, &rep_sample::wire_bytes_per_second));
    write_summary(j, "minor_page_faults_per_delivery", column(r, &rep_sample::faults_per_delivery));
    j.field("drains_in_last_repetition", r.drains_per_repetition);
    j.close_object();
}

void write_config(json_writer& j, const settings& s) {
    j.open_object("config");
    j.field("quick", s.quick);
    j.field("repetitions", s.reps);
    j.field("seconds_per_repetition_target", s.rep_seconds);
    j.open_array("drain_at_queue_bytes");
    for (const std::size_t d : s.drain_policies) {
        j.item(d);
    }
    j.close_array();
    j.field("drain_policy",
            "after each fan-out, every queue holding at least drain_at_queue_bytes is drained "
            "(1: every queue after every message, as when each writer keeps up; 32768: the writer "
            "takes batches of about 32 KiB)");
    j.field("protocol_version", "1.2");
    j.field("destination", topic_name);
    j.field("user_headers", "content-type:application/octet-stream");
    j.field("subscription_ack_mode", "auto");
    j.field("message_id", "<session id>-<delivery number>, session ids 1..K");
    j.field("subscription_id", "sub-<index>");
    j.field("malloc_trim_disabled", s.no_trim);
    j.field("allocator", broker::allocator_name());
    j.field("allocator_tuned_as_broker", !s.no_trim && !s.untuned);
    j.field("cells_in_fresh_child_processes", true);
    j.close_object();
}

const char* const top_note =
    "Cost per delivery of building and queueing a MESSAGE for K subscribers, without sockets, "
    "one thread, with the broker's own message, template_cache, message_template and "
    "outbound_queue. Per iteration: one template_cache for the message (the body is copied into "
    "the template once per fan-out, in both modes, as the relay does), then per subscriber "
    "session::deliver_topic/write_topic_message (copy: whole frame written into the queue; "
    "shared: head written, body referenced by the entry). Then every queue holding at least "
    "drain_at_queue_bytes is drained as the writer loop does (take, gather_iovecs for shared "
    "bodies, clear, release_memory, batch > 64 KiB freed): that cost is included in the figures. "
    "Not included: building the message from the SEND, the topic->relay cast, waking the writer "
    "fiber, the socket write. Each cell runs in a fresh child process (an empty heap), which "
    "starts and joins a helper thread first so that shared_ptr reference counts are atomic, "
    "as in the multi-threaded broker. minor_page_faults_per_delivery shows where glibc gave "
    "freed queue buffers back to the kernel (heap trim) and they were faulted in again. "
    "ns/delivery is the median "
    "of the repetitions (min and max alongside); deliveries/s and wire bytes/s are per "
    "repetition. Each delivery's bytes are checked once against protocol::serialize().";

settings parse_settings(int argc, char** argv) {
    settings s;
    s.quick = std::any_of(argv + 1, argv + argc,
                          [](const char* a) { return std::string_view(a) == "--quick"; });
    if (s.quick) {
        s.reps = 5;
        s.rep_seconds = 0.01;
    }
    s.reps = std::max(1, static_cast<int>(option_number(argc, argv, "--reps", s.reps)));
    s.rep_seconds = option_number(argc, argv, "--rep-ms", s.rep_seconds * 1e3) / 1e3;
    if (const double d = option_number(argc, argv, "--drain-bytes", 0); d >= 1) {
        s.drain_policies = {static_cast<std::size_t>(d)};
    }
    if (const double b = option_number(argc, argv, "--body-bytes", 0); b >= 1) {
        s.body_sizes = {static_cast<std::size_t>(b)};
    }
    s.no_trim = std::any_of(argv + 1, argv + argc,
                            [](const char* a) { return std::string_view(a) == "--no-trim"; });
    s.untuned = std::any_of(argv + 1, argv + argc,
                            [](const char* a) { return std::string_view(a) == "--untuned"; });
    return s;
}

std::vector<cell_result> run_all(const settings& s) {
    std::vector<cell_result> results;
    for (const std::size_t drain_bytes : s.drain_policies) {
        for (const bool shared : {false, true}) {
            for (const std::size_t k : {1, 10, 100, 1000}) {
                for (const std::size_t size : s.body_sizes) {
                    results.push_back(run_cell({shared, k, size, drain_bytes}, s));
                    progress(
                        "drain %zu %s K=%zu body=%zu: median %.1f ns/delivery", drain_bytes,
                        shared ? "shared" : "copy", k, size,
                        summarize(column(results.back(), &rep_sample::ns_per_delivery)).median);
                }
            }
        }
    }
    return results;
}

}  // namespace

int main(int argc, char** argv) {
    const double load_at_start = load_average();
    const settings s = parse_settings(argc, argv);
    const std::vector<cell_result> results = run_all(s);

    json_writer j;
    j.open_object();
    j.field("benchmark", "bench_fanout_one");
    j.field("bench", "fanout_one");
    write_machine(j, load_at_start);
    j.field("build_type", STAMPEDE_BUILD_TYPE);
    write_config(j, s);
    j.field("note", top_note);
    j.open_array("results");
    for (const auto& r : results) {
        write_result(j, r);
    }
    j.close_array();
    j.close_object();
    std::fputs(j.text().c_str(), stdout);
    return 0;
}
