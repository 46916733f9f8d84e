// bench_echo: loopback TCP echo, io_uring against Asio, in one process.
//
//   bench_echo [--io uring|asio|both] [--seconds S] [--reps R] [--window W]
//              [--sizes 64,1024,16384] [--connections 1,16]
//              [--writer per-message|batched|both] [--congestion cubic|bbr|reno]
//              [--recv-buffers N] [--multishot on|off]
//
// Prints one JSON document. One runtime of 2 schedulers per backend runs both
// ends: an echo server (a fiber per connection: receive(), then write() what
// arrived) and the clients. Connection i's server fiber runs on scheduler
// i % 2 and its client on the other one, so every message crosses between
// the two threads. A client is two fibers on one scheduler: a writer that
// keeps up to `window` messages unanswered (pipelined, so the figure is the
// engine's throughput rather than round trips), and a reader that counts the
// echoed bytes and checks one marker byte per message. The writer either
// writes one message per write() call ("per-message", the headline: a client
// sending frame after frame) or everything the window allows in one write()
// ("batched": what the broker's writer loop does with what is queued).
//
// A cell is (writer, message size, connections). Within a cell the backends
// take turns, one interval each, `reps` times: connect, warm up a quarter
// interval, count the messages echoed over `seconds`, stop the writers, drain,
// check every byte came back, close. Turn-taking puts the machine's noise on
// both backends alike; each interval is one sample. Besides messages/s each
// sample records the process CPU time per message and how many messages one
// server receive() and one client read_some() carried (the batching).

#include <linux/tcp.h>  // tcp_info with tcpi_pacing_rate (glibc's copy is older)
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "micro_support.hpp"
#include "stampede/runtime/io.hpp"
#include "stampede/runtime/runtime.hpp"
#include "stampede/runtime/sync.hpp"

namespace {

using namespace stampede::runtime;
using namespace stampede::bench;
using namespace std::chrono_literals;

constexpr unsigned schedulers = 2;

/// TCP congestion control for every benchmark socket (--congestion); empty:
/// the system's default (net.ipv4.tcp_congestion_control).
std::string g_congestion;

void set_congestion(int fd) {
    if (!g_congestion.empty()) {
        (void)::setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, g_congestion.data(),
                           static_cast<socklen_t>(g_congestion.size()));
    }
}

/// The marker byte at the start of message `k` of a connection.
char marker(std::uint64_t k) {
    return static_cast<char>(k * 131 + 17);
}

// ---- Counting I/O calls ----

/// Calls made, per scheduler thread (each slot written by its own thread only).
struct alignas(64) io_calls {
    std::atomic<std::uint64_t> server_receives{0};
    std::atomic<std::uint64_t> client_reads{0};
};
io_calls g_calls[schedulers];

void count(std::atomic<std::uint64_t> io_calls::*which) {
    auto& slot = g_calls[this_scheduler()->index()].*which;
    slot.store(slot.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

std::uint64_t total(std::atomic<std::uint64_t> io_calls::*which) {
    std::uint64_t sum = 0;
    for (auto& slot : g_calls) {
        sum += (slot.*which).load(std::memory_order_relaxed);
    }
    return sum;
}

// ---- Server ----

void echo(tcp_stream stream) {
    for (;;) {
        count(&io_calls::server_receives);
        auto data = stream.receive();
        if (!data || !stream.write(data->data())) {
            break;
        }
    }
    stream.shutdown_send();
}

/// The listener and its accept loop: connection i's server fiber goes to scheduler i % 2.
struct server {
    std::optional<tcp_listener> listener;
    std::atomic<unsigned> accepted{0};
    std::uint16_t port = 0;

    void start(runtime& rt) {
        port = rt.run_on(0, [this, &rt] {
            auto l = tcp_listener::listen(endpoint::loopback(0));
            if (!l) {
                return std::uint16_t{0};
            }
            listener.emplace(std::move(*l));
            this_scheduler()->spawn([this, &rt] { accept_loop(rt); }, {0, "acceptor"});
            return listener->local_endpoint().port();
        });
        if (port == 0) {
            std::fprintf(stderr, "bench_echo: cannot listen on loopback\n");
            std::exit(1);
        }
    }
    void accept_loop(runtime& rt) {
        for (;;) {
            auto fd = listener->accept();
            if (!fd) {
                return;
            }
            set_congestion(fd->get());
            const unsigned home = accepted.fetch_add(1) % schedulers;
            rt.at(home).spawn(
                [fd = std::move(*fd)]() mutable {
                    if (auto s = tcp_stream::adopt(std::move(fd))) {
                        echo(std::move(*s));
                    }
                },
                {0, "echo-connection"});
        }
    }
    void stop(runtime& rt) {
        rt.run_on(0, [this] { listener->close(); });
    }
};

// ---- Clients ----

struct cell_spec {
    bool batched = false;
    std::size_t size = 0;
    unsigned connections = 0;
    std::uint64_t window = 0;

    std::string name() const {
        return std::string(batched ? "batched_" : "per_message_") + std::to_string(size) + "B_" +
               std::to_string(connections) + "conn";
    }
};

/// One client connection, shared by its two fibers and the main thread.
struct client_state {
    explicit client_state(const cell_spec& s) : spec(s) {}
    const cell_spec spec;
    std::atomic<std::uint64_t> received_bytes{0};  ///< read by the main thread
    std::atomic<bool> stop{false};
    std::uint64_t sent = 0;  ///< messages written (fiber-only)
    std::uint64_t mismatches = 0;
    bool failed = false;
    event progress;  ///< the reader tells the writer that the window opened
    std::optional<tcp_stream> stream;
    std::atomic<int> fd{-1};  ///< for TCP_INFO from the main thread, before `stop`
};

// The writer: while the window allows, one message per write(), or (batched)
// every message the window allows in one write().
void write_messages(client_state& c) {
    const std::size_t size = c.spec.size;
    std::vector<char> messages(size * c.spec.window, 'e');
    for (;;) {
        std::uint64_t room = 0;
        while (!c.stop.load(std::memory_order_relaxed)) {
            const std::uint64_t echoed = c.received_bytes.load(std::memory_order_relaxed) / size;
            room = c.spec.window - (c.sent - echoed);
            if (room > 0) {
                break;
            }
            (void)c.progress.wait(deadline_after(50ms));
        }
        if (c.stop.load(std::memory_order_relaxed)) {
            break;
        }
        const std::uint64_t n = c.spec.batched ? room : 1;
        for (std::uint64_t k = 0; k < n; ++k) {
            messages[k * size] = marker(c.sent + k);
        }
        if (!c.stream->write({messages.data(), n * size})) {
            c.failed = true;
            break;
        }
        c.sent += n;
    }
    c.stream->shutdown_send();
}

// The reader: counts echoed bytes, checks each message's marker byte.
void read_echoes(client_state& c) {
    const std::size_t size = c.spec.size;
    std::vector<char> buffer(64 * 1024);
    std::uint64_t offset = 0;
    for (;;) {
        count(&io_calls::client_reads);
        auto n = c.stream->read_some(buffer);
        if (!n) {
            c.failed = n.error() != errc::end_of_stream;
            break;
        }
        for (std::uint64_t k = (offset + size - 1) / size; k * size < offset + *n; ++k) {
            c.mismatches += buffer[k * size - offset] != marker(k) ? 1 : 0;
        }
        offset += *n;
        c.received_bytes.store(offset, std::memory_order_relaxed);
        c.progress.notify_one();
    }
}

// A client's main fiber: connects, starts its writer, reads until the echo ends.
void run_client(client_state* c, std::uint16_t port, std::atomic<unsigned>& connected,
                std::atomic<unsigned>& finished) {
    auto s = tcp_stream::connect(endpoint::loopback(port));
    if (!s) {
        c->failed = true;
        ++connected;
        ++finished;
        return;
    }
    c->stream.emplace(std::move(*s));
    c->fd = c->stream->native_handle();
    set_congestion(c->fd);
    ++connected;
    bool writer_done = false;
    this_scheduler()->spawn(
        [c, &writer_done] {
            write_messages(*c);
            writer_done = true;
        },
        {0, "echo-writer"});
    read_echoes(*c);
    while (!writer_done) {
        (void)this_fiber::sleep_for(1ms);
    }
    c->stream->close();
    ++finished;
}

// ---- One interval ----

struct interval_sample {
    double rate = 0;    ///< messages echoed per second
    double cpu_ns = 0;  ///< process CPU time per message
    double per_receive = 0;
    double per_read = 0;
    double rtt_us = 0;       ///< clients' smoothed RTT (TCP_INFO), mean over connections
    double pacing_mbps = 0;  ///< clients' TCP pacing rate, mean over connections
    std::uint64_t messages = 0;
    bool intact = true;
};

/// Reads the kernel's view of a client socket. From the main thread while the
/// client runs (its fd stays open until it has seen `stop`).
void add_tcp_info(const client_state& c, interval_sample& out, double share) {
    ::tcp_info info{};
    socklen_t len = sizeof info;
    const int fd = c.fd.load();
    if (fd < 0 || ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) {
        return;
    }
    out.rtt_us += static_cast<double>(info.tcpi_rtt) * share;
    out.pacing_mbps += static_cast<double>(info.tcpi_pacing_rate) * 8 / 1e6 * share;
}

/// What the clients have counted so far, and when.
struct counters {
    std::uint64_t bytes = 0;
    std::uint64_t receives = 0;
    std::uint64_t reads = 0;
    double cpu = 0;
    bench_clock::time_point time;

    static counters read(const std::vector<std::unique_ptr<client_state>>& clients) {
        counters c;
        for (const auto& client : clients) {
            c.bytes += client->received_bytes.load(std::memory_order_relaxed);
        }
        c.receives = total(&io_calls::server_receives);
        c.reads = total(&io_calls::client_reads);
        c.cpu = process_cpu_seconds();
        c.time = bench_clock::now();
        return c;
    }
};

/// Connects the cell's clients, measures one interval of `seconds`, drains and closes.
interval_sample run_interval(runtime& rt, server& srv, const cell_spec& spec, double seconds) {
    std::vector<std::unique_ptr<client_state>> clients;
    std::atomic<unsigned> connected{0};
    std::atomic<unsigned> finished{0};
    srv.accepted = 0;
    for (unsigned i = 0; i < spec.connections; ++i) {
        clients.push_back(std::make_unique<client_state>(spec));
        client_state* c = clients.back().get();
        const std::uint16_t port = srv.port;
        rt.at((i + 1) % schedulers)
            .spawn([c, port, &connected, &finished] { run_client(c, port, connected, finished); },
                   {0, "echo-client"});
        // One at a time, so that accept order (hence placement) is connection order.
        while (connected.load() <= i) {
            std::this_thread::sleep_for(100us);
        }
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds / 4));  // warm-up
    const counters before = counters::read(clients);
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    const counters after = counters::read(clients);
    interval_sample out;
    for (const auto& c : clients) {
        add_tcp_info(*c, out, 1.0 / spec.connections);
    }
    for (auto& c : clients) {
        c->stop = true;
    }
    while (finished.load() < spec.connections) {
        std::this_thread::sleep_for(1ms);
    }

    const double elapsed = std::chrono::duration<double>(after.time - before.time).count();
    const double messages =
        static_cast<double>(after.bytes - before.bytes) / static_cast<double>(spec.size);
    out.messages = static_cast<std::uint64_t>(messages);
    out.rate = messages / elapsed;
    out.cpu_ns = (after.cpu - before.cpu) * 1e9 / messages;
    out.per_receive = messages / static_cast<double>(after.receives - before.receives);
    out.per_read = messages / static_cast<double>(after.reads - before.reads);
    for (const auto& c : clients) {
        out.intact = out.intact && !c->failed && c->mismatches == 0 &&
                     c->received_bytes.load() == c->sent * spec.size;
    }
    return out;
}

// ---- Cells ----

struct backend_run {
    runtime* rt;
    server* srv;
};

struct cell_figures {
    cell_spec spec;
    double load_before = 0;
    std::vector<std::vector<interval_sample>> samples;  ///< per backend, per repetition
};

/// Runs every cell; within a cell the backends take turns, one interval each.
std::vector<cell_figures> run_cells(const std::vector<backend_run>& backends,
                                    const std::vector<cell_spec>& specs, double seconds, int reps) {
    std::vector<cell_figures> cells;
    for (const cell_spec& spec : specs) {
        cell_figures cell{spec, load_average(),
                          std::vector<std::vector<interval_sample>>(backends.size())};
        for (int rep = 0; rep < reps; ++rep) {
            for (std::size_t b = 0; b < backends.size(); ++b) {
                cell.samples[b].push_back(
                    run_interval(*backends[b].rt, *backends[b].srv, spec, seconds));
            }
        }
        for (std::size_t b = 0; b < backends.size(); ++b) {
            std::vector<double> rates;
            std::vector<double> cpu;
            for (const auto& s : cell.samples[b]) {
                rates.push_back(s.rate);
                cpu.push_back(s.cpu_ns);
            }
            progress("%s %s: median %.0f messages/s, %.0f CPU ns/message",
                     backends[b].rt->io_backend_name().c_str(), spec.name().c_str(),
                     summarize(rates).median, summarize(cpu).median);
        }
        cells.push_back(std::move(cell));
    }
    return cells;
}

template <class Field>
std::vector<double> column(const std::vector<interval_sample>& samples, Field field) {
    std::vector<double> out;
    for (const auto& s : samples) {
        out.push_back(s.*field);
    }
    return out;
}

void write_cell(json_writer& j, const cell_figures& cell, const std::string& backend,
                const std::vector<interval_sample>& samples) {
    measurement m{"echo_" + backend + "_" + cell.spec.name(),
                  "messages/s",
                  column(samples, &interval_sample::rate),
                  0,
                  "one message of the given size written by a client and read back from the "
                  "echo server",
                  {}};
    bool intact = true;
    for (const auto& s : samples) {
        m.iterations_per_repetition = std::max(m.iterations_per_repetition, s.messages);
        intact = intact && s.intact;
    }
    j.open_object();
    write_measurement_fields(j, m);
    j.field("backend", backend);
    j.field("writer", cell.spec.batched ? "batched" : "per-message");
    j.field("message_bytes", cell.spec.size);
    j.field("connections", cell.spec.connections);
    j.field("intact", intact);
    j.field("megabytes_per_second_median",
            summarize(m.samples).median * static_cast<double>(cell.spec.size) / 1e6);
    write_summary(j, "cpu_ns_per_message", column(samples, &interval_sample::cpu_ns));
    write_summary(j, "messages_per_server_receive", column(samples, &interval_sample::per_receive));
    write_summary(j, "messages_per_client_read", column(samples, &interval_sample::per_read));
    write_summary(j, "client_tcp_rtt_us", column(samples, &interval_sample::rtt_us));
    write_summary(j, "client_tcp_pacing_rate_mbit", column(samples, &interval_sample::pacing_mbps));
    j.field("loadavg_1min_before_cell", cell.load_before);
    j.close_object();
}

/// The target is uring ahead of asio: the ratio of medians per cell, how
/// many paired intervals (run back to back) uring won, and the CPU ratio.
void write_comparison(json_writer& j, const std::vector<cell_figures>& cells) {
    j.open_array("uring_over_asio");
    for (const auto& cell : cells) {
        const auto u = column(cell.samples[0], &interval_sample::rate);
        const auto a = column(cell.samples[1], &interval_sample::rate);
        std::size_t won = 0;
        for (std::size_t i = 0; i < u.size(); ++i) {
            won += u[i] > a[i] ? 1 : 0;
        }
        const double ratio = summarize(u).median / summarize(a).median;
        j.open_object();
        j.field("cell", cell.spec.name());
        j.field("throughput_ratio_of_medians", ratio);
        j.field("uring_ahead", ratio > 1);
        j.field("paired_intervals_uring_won", won);
        j.field("paired_intervals", u.size());
        j.field("cpu_per_message_ratio",
                summarize(column(cell.samples[0], &interval_sample::cpu_ns)).median /
                    summarize(column(cell.samples[1], &interval_sample::cpu_ns)).median);
        j.close_object();
    }
    j.close_array();
}

std::vector<std::size_t> parse_list(const std::string& text) {
    std::vector<std::size_t> values;
    std::size_t at = 0;
    while (at < text.size()) {
        values.push_back(std::strtoull(text.c_str() + at, nullptr, 10));
        const auto comma = text.find(',', at);
        at = comma == std::string::npos ? text.size() : comma + 1;
    }
    return values;
}

[[noreturn]] void usage() {
    std::fprintf(stderr,
                 "usage: bench_echo [--io uring|asio|both] [--seconds S] [--reps R] [--window W]\n"
                 "                  [--sizes 64,1024,16384] [--connections 1,16]\n"
                 "                  [--writer per-message|batched|both] [--congestion NAME]\n"
                 "                  [--recv-buffers N] [--multishot on|off]\n");
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    const double load_at_start = load_average();
    const std::string io = option(argc, argv, "--io").value_or("both");
    std::vector<io_mode> modes;
    io_mode one = io_mode::uring;
    if (io == "both") {
        modes = {io_mode::uring, io_mode::asio};
    } else if (parse_io_mode(io, one) && one != io_mode::automatic) {
        modes = {one};
    } else {
        usage();
    }
    const std::string writer = option(argc, argv, "--writer").value_or("both");
    if (writer != "both" && writer != "per-message" && writer != "batched") {
        usage();
    }
    const double seconds = option_number(argc, argv, "--seconds", 0.25);
    const int reps = static_cast<int>(option_number(argc, argv, "--reps", 5));
    const auto window = static_cast<std::uint64_t>(option_number(argc, argv, "--window", 32));
    const auto sizes = parse_list(option(argc, argv, "--sizes").value_or("64,1024,16384"));
    const auto conns = parse_list(option(argc, argv, "--connections").value_or("1,16"));
    g_congestion = option(argc, argv, "--congestion").value_or("");

    std::vector<cell_spec> specs;
    for (const bool batched : {false, true}) {
        if (writer != "both" && batched != (writer == "batched")) {
            continue;
        }
        for (const std::size_t size : sizes) {
            for (const std::size_t c : conns) {
                specs.push_back({batched, size, static_cast<unsigned>(c), window});
            }
        }
    }

    // One runtime per backend, all started at once; only one runs an
    // interval at any time (the others' threads sleep in their poll).
    runtime_options options;
    options.schedulers = schedulers;
    options.recv_buffer_count = static_cast<std::size_t>(option_number(
        argc, argv, "--recv-buffers", static_cast<double>(options.recv_buffer_count)));
    const std::string multishot = option(argc, argv, "--multishot").value_or("on");
    if (multishot != "on" && multishot != "off") {
        usage();
    }
    options.uring_multishot_receive = multishot == "on";
    std::vector<std::unique_ptr<runtime>> runtimes;
    std::vector<std::unique_ptr<server>> servers;
    std::vector<backend_run> backends;
    for (const io_mode mode : modes) {
        options.io = mode;
        runtimes.push_back(std::make_unique<runtime>(options));
        runtimes.back()->start();
        servers.push_back(std::make_unique<server>());
        servers.back()->start(*runtimes.back());
        backends.push_back({runtimes.back().get(), servers.back().get()});
    }
    const auto cells = run_cells(backends, specs, seconds, reps);
    for (const auto& b : backends) {
        b.srv->stop(*b.rt);
        b.rt->stop();
    }

    json_writer j;
    j.open_object();
    j.field("benchmark", "bench_echo");
    write_machine(j, load_at_start);
    j.field("build_type", STAMPEDE_BUILD_TYPE);
    j.open_object("config");
    std::string names;
    for (const auto& b : backends) {
        names += (names.empty() ? "" : ",") + b.rt->io_backend_name();
    }
    j.field("backends", names);
    j.field("schedulers_per_runtime", schedulers);
    j.field("stack_size", options.default_stack_size);
    j.field("repetitions", reps);
    j.field("seconds_per_repetition", seconds);
    j.field("window_messages_per_connection", window);
    j.field("recv_buffer_size", options.recv_buffer_size);
    j.field("recv_buffer_count", options.recv_buffer_count);
    j.field("uring_multishot_receive", options.uring_multishot_receive);
    j.field("tcp_congestion_control",
            g_congestion.empty() ? first_line_of("/proc/sys/net/ipv4/tcp_congestion_control")
                                 : g_congestion);
    j.field("placement",
            "connection i: server fiber on scheduler i % 2, client (writer + reader fibers) on "
            "the other; one runtime per backend; the backends take turns interval by interval, "
            "with fresh connections each interval");
    j.close_object();
    j.open_array("results");
    for (const auto& cell : cells) {
        for (std::size_t b = 0; b < backends.size(); ++b) {
            write_cell(j, cell, backends[b].rt->io_backend_name(), cell.samples[b]);
        }
    }
    j.close_array();
    if (backends.size() == 2) {
        write_comparison(j, cells);
    }
    j.close_object();
    std::fputs(j.text().c_str(), stdout);
    return 0;
}
