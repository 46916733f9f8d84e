// bench_tls: TLS against plain TCP on the runtime's streams, in one process.
//
//   bench_tls [--io uring|asio] [--reps R] [--seconds S] [--handshakes N] [--idle N]
//
// Prints one JSON document with three parts:
//
// handshakes  A client fiber on scheduler 0 connects, handshakes, reads one
//             byte (so a TLS 1.3 ticket arrives) and closes, N times in a row;
//             the server on scheduler 1 accepts, handshakes, writes the byte.
//             Per certificate key (EC P-256, RSA 2048), full and resumed
//             (ticket): handshakes per second of wall time, and the server
//             thread's CPU time per handshake (its handshakes per core-second).
// bulk        One connection, a writer on scheduler 0 sending batches of
//             messages (64 x 1 KiB, or 1 x 64 KiB, per write_messages) for S
//             seconds, a reader on scheduler 1 counting them. Plain and TLS
//             take turns, R times. MB/s at the reader and the process's CPU
//             time per MB; the ratio TLS/plain is of medians within this run.
// idle_rss    A child process opens N connections and leaves them idle; the
//             server (this process: 2 schedulers, a fiber per connection
//             blocked in receive(), as a broker's reader is) reports its RSS
//             growth per connection, for plain TCP and for TLS.
//
// The machine is shared: compare the figures within one run, not across runs.

#include <malloc.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "micro_support.hpp"
#include "stampede/runtime/io.hpp"
#include "stampede/runtime/runtime.hpp"
#include "stampede/runtime/sync.hpp"
#include "stampede/transport/stream.hpp"
#include "stampede/transport/tls.hpp"
#include "tls_pki.hpp"

extern char** environ;

namespace {

using namespace stampede;
using namespace stampede::bench;
using namespace std::chrono_literals;
using transport::stream;
using transport::tls_context;

double thread_cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

runtime::runtime_options options_for(runtime::io_mode io, unsigned schedulers) {
    runtime::runtime_options options;
    options.schedulers = schedulers;
    options.io = io;
    return options;
}

std::shared_ptr<const tls_context> server_context(const transport::test::test_pki& pki) {
    return tls_context::server(
        {pki.server.cert, pki.server.key, "", transport::verify_client::none});
}

std::shared_ptr<const tls_context> client_context(const transport::test::test_pki& pki,
                                                  bool resume) {
    transport::tls_client_options options;
    options.ca = pki.ca;
    options.resume_sessions = resume;
    return tls_context::client(options);
}

// A listener on scheduler 1, for a server loop spawned there.
struct server_side {
    runtime::tcp_listener listener;
    std::uint16_t port = 0;
};

std::unique_ptr<server_side> listen_on_1(runtime::runtime& rt) {
    auto side = std::make_unique<server_side>();
    rt.run_on(1, [&] {
        side->listener = std::move(*runtime::tcp_listener::listen(runtime::endpoint::loopback(0)));
        side->port = side->listener.local_endpoint().port();
    });
    return side;
}

runtime::result<std::unique_ptr<stream>> connect(std::uint16_t port,
                                                 std::shared_ptr<const tls_context> context) {
    auto tcp = runtime::tcp_stream::connect(runtime::endpoint::loopback(port),
                                            runtime::deadline_after(10s));
    if (!tcp) {
        return tcp.error();
    }
    if (!context) {
        return transport::make_tcp_stream(std::move(*tcp));
    }
    return transport::tls_connect(std::move(*tcp), std::move(context), "localhost",
                                  runtime::deadline_after(10s));
}

// ---- handshakes ----

struct handshake_sample {
    double per_second = 0;      // wall time, client and server together
    double server_cpu_us = 0;   // the server thread's CPU per handshake
    std::uint64_t resumed = 0;  // handshakes the server saw resumed
    std::uint64_t failures = 0;
};

handshake_sample run_handshakes(runtime::io_mode io, std::shared_ptr<const tls_context> server,
                                std::shared_ptr<const tls_context> client, int count) {
    runtime::runtime rt(options_for(io, 2));
    rt.start();
    auto side = listen_on_1(rt);
    handshake_sample out;
    std::atomic<bool> server_done{false};
    double server_cpu = 0;
    rt.at(1).spawn([&] {
        const double cpu0 = thread_cpu_seconds();
        for (int i = 0; i < count; ++i) {
            auto fd = side->listener.accept();
            if (!fd) {
                break;
            }
            auto s = transport::tls_accept(std::move(*runtime::tcp_stream::adopt(std::move(*fd))),
                                           server, runtime::deadline_after(10s));
            if (!s) {
                ++out.failures;
                continue;
            }
            out.resumed += transport::tls_info(**s)->resumed ? 1 : 0;
            const char byte = 'x';
            iovec part{const_cast<char*>(&byte), 1};
            const std::uint32_t size = 1;
            (void)(**s).write_messages({&part, 1}, {&size, 1}, runtime::deadline_after(10s));
            (void)(**s).receive(runtime::deadline_after(10s));  // the client's close
        }
        server_cpu = thread_cpu_seconds() - cpu0;
        server_done = true;
    });
    const double wall = rt.run_on(0, [&] {
        const auto start = bench_clock::now();
        for (int i = 0; i < count; ++i) {
            auto s = connect(side->port, client);
            if (!s) {
                continue;
            }
            (void)(**s).receive(runtime::deadline_after(10s));
            (**s).shutdown_send();  // close_notify keeps the session resumable
        }
        return seconds_since(start);
    });
    while (!server_done) {
        std::this_thread::sleep_for(1ms);
    }
    rt.run_on(1, [&] { side->listener.close(); });
    rt.stop();
    out.per_second = count / wall;
    out.server_cpu_us = server_cpu / count * 1e6;
    return out;
}

// ---- bulk ----

struct bulk_sample {
    double mb_per_second = 0;
    double cpu_seconds_per_gb = 0;
};

bulk_sample run_bulk(runtime::io_mode io, std::shared_ptr<const tls_context> server,
                     std::shared_ptr<const tls_context> client, std::size_t message,
                     double seconds) {
    runtime::runtime rt(options_for(io, 2));
    rt.start();
    auto side = listen_on_1(rt);
    std::atomic<bool> server_done{false};
    std::uint64_t received = 0;
    double receive_seconds = 0;
    rt.at(1).spawn([&] {
        auto fd = side->listener.accept();
        auto tcp = runtime::tcp_stream::adopt(std::move(*fd));
        runtime::result<std::unique_ptr<stream>> s =
            server ? transport::tls_accept(std::move(*tcp), server, runtime::deadline_after(10s))
                   : runtime::result<std::unique_ptr<stream>>(
                         transport::make_tcp_stream(std::move(*tcp)));
        if (s) {
            bench_clock::time_point start{};
            for (;;) {
                auto data = (**s).receive();
                if (!data) {
                    break;
                }
                if (received == 0) {
                    start = bench_clock::now();
                }
                received += data->size();
            }
            receive_seconds = seconds_since(start);
        }
        server_done = true;
    });
    const double cpu0 = process_cpu_seconds();
    rt.run_on(0, [&] {
        auto s = connect(side->port, client);
        if (!s) {
            return;
        }
        const std::size_t per_batch = std::max<std::size_t>(1, 64 * 1024 / message);
        std::vector<char> bytes(message * per_batch, 'b');
        std::vector<iovec> parts(per_batch);
        const std::vector<std::uint32_t> sizes(per_batch, static_cast<std::uint32_t>(message));
        const auto until = bench_clock::now() + std::chrono::duration<double>(seconds);
        while (bench_clock::now() < until) {
            for (std::size_t i = 0; i < per_batch; ++i) {
                parts[i] = {bytes.data() + i * message, message};
            }
            if (!(**s).write_messages(parts, sizes, runtime::deadline_after(10s))) {
                break;
            }
        }
        (**s).shutdown_send();
        (void)(**s).receive(runtime::deadline_after(10s));  // until the server closes
    });
    while (!server_done) {
        std::this_thread::sleep_for(1ms);
    }
    const double cpu = process_cpu_seconds() - cpu0;
    rt.run_on(1, [&] { side->listener.close(); });
    rt.stop();
    bulk_sample out;
    out.mb_per_second = static_cast<double>(received) / 1e6 / receive_seconds;
    out.cpu_seconds_per_gb = cpu / (static_cast<double>(received) / 1e9);
    return out;
}

// ---- idle connections ----

// The child: opens `count` connections (TLS when `ca` is not "-"), then
// waits for its stdin to close.
int idle_client(std::uint16_t port, int count, const std::string& ca) {
    runtime::runtime rt(options_for(runtime::io_mode::automatic, 1));
    rt.start();
    std::shared_ptr<const tls_context> context;
    if (ca != "-") {
        transport::tls_client_options options;
        options.ca = ca;
        context = tls_context::client(options);
    }
    std::vector<std::unique_ptr<stream>> held;
    const int opened = rt.run_on(0, [&] {
        for (int i = 0; i < count; ++i) {
            auto s = connect(port, context);
            if (!s) {
                progress("idle client: connection %d: %s", i, s.error().message().c_str());
                break;
            }
            held.push_back(std::move(*s));
        }
        return static_cast<int>(held.size());
    });
    char byte = 0;
    while (::read(STDIN_FILENO, &byte, 1) > 0) {
    }
    rt.run_on(0, [&] { held.clear(); });
    rt.stop();
    return opened == count ? 0 : 1;
}

struct child_process {
    pid_t pid = -1;
    int stdin_fd = -1;

    // Ends the child (it closes its connections) and waits for it.
    void finish() {
        if (stdin_fd >= 0) {
            ::close(stdin_fd);
            stdin_fd = -1;
        }
        if (pid > 0) {
            int status = 0;
            ::waitpid(pid, &status, 0);
            pid = -1;
        }
    }
};

child_process spawn_idle_client(std::uint16_t port, int count, const std::string& ca) {
    int fds[2];
    if (::pipe(fds) != 0) {
        return {};
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[0], STDIN_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[1]);
    const std::string port_text = std::to_string(port);
    const std::string count_text = std::to_string(count);
    const char* argv[] = {"bench_tls",        "--idle-client", port_text.c_str(),
                          count_text.c_str(), ca.c_str(),      nullptr};
    child_process child;
    if (::posix_spawn(&child.pid, "/proc/self/exe", &actions, nullptr,
                      const_cast<char* const*>(argv), environ) != 0) {
        child.pid = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[0]);
    child.stdin_fd = fds[1];
    return child;
}

struct idle_sample {
    double bytes_per_connection = 0;
    double heap_per_connection = 0;   // malloc'ed bytes in use (mallinfo2, all arenas)
    double stack_per_connection = 0;  // resident fiber stack pages
    double stack_high_water = 0;      // deepest a connection fiber went (the handshake)
    std::size_t connections = 0;
};

std::size_t heap_in_use() {
    return ::mallinfo2().uordblks;
}

// Server RSS growth per idle connection. Warms up with a small batch first
// (OpenSSL's tables, the stack pool, malloc arenas), measures the baseline
// after it has closed, then holds `count` connections.
idle_sample run_idle(runtime::io_mode io, const transport::test::test_pki& pki, bool tls,
                     int count) {
    runtime::runtime rt(options_for(io, 2));
    rt.start();
    auto listener = rt.run_on(0, [] {
        return std::move(*runtime::tcp_listener::listen(runtime::endpoint::loopback(0)));
    });
    const std::uint16_t port = listener.local_endpoint().port();
    const auto context = tls ? server_context(pki) : nullptr;
    std::atomic<int> connected{0};
    std::atomic<int> live{0};
    rt.at(0).spawn([&] {
        (void)runtime::serve(listener, rt, [&](runtime::tcp_stream tcp) {
            ++live;
            runtime::result<std::unique_ptr<stream>> s =
                context
                    ? transport::tls_accept(std::move(tcp), context, runtime::deadline_after(10s))
                    : runtime::result<std::unique_ptr<stream>>(
                          transport::make_tcp_stream(std::move(tcp)));
            if (s) {
                ++connected;
                while ((**s).receive()) {  // idle until the client goes
                }
            }
            --live;
        });
    });
    const std::string ca = tls ? pki.ca : "-";
    const auto wait_for = [&](auto predicate) {
        const auto until = bench_clock::now() + 120s;
        while (!predicate() && bench_clock::now() < until) {
            std::this_thread::sleep_for(10ms);
        }
    };
    child_process warm = spawn_idle_client(port, 64, ca);
    wait_for([&] { return connected.load() >= 64; });
    warm.finish();
    wait_for([&] { return live.load() == 0; });
    std::this_thread::sleep_for(500ms);
    const std::size_t before = rss_bytes();
    const std::size_t heap_before = heap_in_use();
    connected = 0;
    child_process child = spawn_idle_client(port, count, ca);
    wait_for([&] { return connected.load() >= count; });
    std::this_thread::sleep_for(1s);  // let the last handshakes' fibers park
    const std::size_t after = rss_bytes();
    const std::size_t heap_after = heap_in_use();
    idle_sample out;
    for (const auto& kind : rt.stack_stats()) {
        if (kind.kind == "connection") {
            out.stack_per_connection = static_cast<double>(kind.resident_bytes) /
                                       static_cast<double>(std::max<std::size_t>(1, kind.fibers));
            out.stack_high_water = static_cast<double>(kind.max_high_water);
        }
    }
    out.heap_per_connection = (static_cast<double>(heap_after) - static_cast<double>(heap_before)) /
                              static_cast<double>(std::max(1, connected.load()));
    out.connections = static_cast<std::size_t>(connected.load());
    out.bytes_per_connection =
        static_cast<double>(after - before) / static_cast<double>(std::max(1, connected.load()));
    child.finish();
    wait_for([&] { return live.load() == 0; });
    rt.run_on(0, [&] { listener.close(); });
    rt.stop();
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 5 && std::string_view(argv[1]) == "--idle-client") {
        return idle_client(static_cast<std::uint16_t>(std::stoi(argv[2])), std::stoi(argv[3]),
                           argv[4]);
    }
    const double load_at_start = load_average();
    runtime::io_mode io = runtime::io_mode::uring;
    if (const auto text = option(argc, argv, "--io")) {
        runtime::parse_io_mode(*text, io);
    }
    const int reps = static_cast<int>(option_number(argc, argv, "--reps", 3));
    const double seconds = option_number(argc, argv, "--seconds", 2);
    const int handshakes = static_cast<int>(option_number(argc, argv, "--handshakes", 300));
    const int idle = static_cast<int>(option_number(argc, argv, "--idle", 2000));

    const transport::test::test_pki ec_pki(transport::test::key_kind::ec_p256);
    const transport::test::test_pki rsa_pki(transport::test::key_kind::rsa_2048);

    json_writer j;
    j.open_object();
    j.field("benchmark", "bench_tls");
    j.field("build_type", STAMPEDE_BUILD_TYPE);
    j.field("io", runtime::to_string(io));

    j.open_array("handshakes");
    for (const auto* pki : {&ec_pki, &rsa_pki}) {
        for (const bool resume : {false, true}) {
            std::vector<double> rate, cpu;
            std::uint64_t resumed = 0, failures = 0;
            for (int r = 0; r < reps; ++r) {
                const handshake_sample s = run_handshakes(io, server_context(*pki),
                                                          client_context(*pki, resume), handshakes);
                rate.push_back(s.per_second);
                cpu.push_back(s.server_cpu_us);
                resumed += s.resumed;
                failures += s.failures;
            }
            progress("handshakes %s %s: %.0f/s, server %.0f us CPU each",
                     pki == &ec_pki ? "ec" : "rsa", resume ? "resumed" : "full",
                     summarize(rate).median, summarize(cpu).median);
            j.open_object();
            j.field("certificate", pki == &ec_pki ? "EC P-256" : "RSA 2048");
            j.field("resumption", resume);
            j.field("handshakes_per_repetition", handshakes);
            j.field("resumed", resumed);
            j.field("failures", failures);
            write_summary(j, "per_second_wall", rate);
            write_summary(j, "server_cpu_us_each", cpu);
            j.close_object();
        }
    }
    j.close_array();

    j.open_array("bulk");
    for (const std::size_t message : {std::size_t{1024}, std::size_t{64 * 1024}}) {
        std::vector<double> plain_rate, tls_rate, plain_cpu, tls_cpu;
        for (int r = 0; r < reps; ++r) {
            const bulk_sample p = run_bulk(io, nullptr, nullptr, message, seconds);
            const bulk_sample t = run_bulk(io, server_context(ec_pki),
                                           client_context(ec_pki, false), message, seconds);
            plain_rate.push_back(p.mb_per_second);
            plain_cpu.push_back(p.cpu_seconds_per_gb);
            tls_rate.push_back(t.mb_per_second);
            tls_cpu.push_back(t.cpu_seconds_per_gb);
        }
        const double ratio = summarize(tls_rate).median / summarize(plain_rate).median;
        progress("bulk %zu B: plain %.0f MB/s, TLS %.0f MB/s (%.2f)", message,
                 summarize(plain_rate).median, summarize(tls_rate).median, ratio);
        j.open_object();
        j.field("message_bytes", message);
        write_summary(j, "plain_mb_per_second", plain_rate);
        write_summary(j, "tls_mb_per_second", tls_rate);
        write_summary(j, "plain_cpu_seconds_per_gb", plain_cpu);
        write_summary(j, "tls_cpu_seconds_per_gb", tls_cpu);
        j.field("tls_over_plain_median", ratio);
        j.close_object();
    }
    j.close_array();

    j.open_object("idle_rss");
    j.field("connections", idle);
    for (const bool tls : {false, true}) {
        std::vector<double> per, heap, stack, high;
        for (int r = 0; r < reps; ++r) {
            const idle_sample s = run_idle(io, ec_pki, tls, idle);
            per.push_back(s.bytes_per_connection);
            heap.push_back(s.heap_per_connection);
            stack.push_back(s.stack_per_connection);
            high.push_back(s.stack_high_water);
        }
        progress("idle %s: %.0f bytes RSS per connection (heap %.0f, stack %.0f, high water %.0f)",
                 tls ? "tls" : "tcp", summarize(per).median, summarize(heap).median,
                 summarize(stack).median, summarize(high).median);
        j.open_object(tls ? "tls" : "tcp");
        write_summary(j, "rss_bytes_per_connection", per);
        write_summary(j, "heap_bytes_per_connection", heap);
        write_summary(j, "stack_resident_bytes_per_connection", stack);
        write_summary(j, "stack_high_water_bytes", high);
        j.close_object();
    }
    j.close_object();

    write_machine(j, load_at_start);
    j.close_object();
    std::fputs(j.text().c_str(), stdout);
    return 0;
}
