// bench_stack_probe: how deep a fiber stack goes, and how deep our loops go.
//
//   bench_stack_probe [--io uring|asio|both] [--sizes 16,32,64,128,256]
//
// Prints one JSON document, the tool to size fiber stacks with:
//
// - For each stack size (KiB), a child process runs one fiber on a stack of
//   that size that recurses with a fixed frame (a 512-byte local array) until
//   it hits the guard page. The recursion stores its depth and its frame's
//   address in a MAP_SHARED page at every frame, so the parent reads how deep
//   it got after the runtime's overflow guard has reported the fiber by name
//   ("stampede: fiber stack overflow: ...") and aborted the child. From that:
//   frames reached, bytes per frame, the bytes above the first frame (fiber
//   entry: Boost.Context's record and the runtime's entry frames), and whether
//   the child died the way it should (SIGABRT with the report).
// - The high-water mark (deepest resident stack page, via mincore: one-page
//   resolution) of a worker fiber running gen_server handlers, of an echo
//   connection fiber (receive/write loop on a tcp_stream) after traffic, of
//   the client fiber driving it, and of a fiber that only sleeps (the floor).
// - A recommendation: the smallest probed size that leaves both twice the
//   deepest measured loop and 16 KiB free.

#include <sys/mman.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "micro_support.hpp"
#include "stampede/runtime/actor.hpp"
#include "stampede/runtime/detail/thread_state.hpp"
#include "stampede/runtime/io.hpp"
#include "stampede/runtime/runtime.hpp"

namespace {

using namespace stampede::runtime;
using namespace stampede::bench;
using namespace std::chrono_literals;

constexpr std::size_t frame_local_bytes = 512;
constexpr std::size_t kib = 1024;

// ---- The recursion probe ----

/// Written by the recursing child, read by the parent after the child died.
struct probe_record {
    std::atomic<std::uint64_t> depth{0};           ///< deepest frame entered (1 = first)
    std::atomic<std::uintptr_t> stack_top{0};      ///< highest address of the fiber's stack
    std::atomic<std::uintptr_t> entry_local{0};    ///< a local of the fiber's entry function
    std::atomic<std::uintptr_t> first_frame{0};    ///< the local array of frame 1
    std::atomic<std::uintptr_t> second_frame{0};   ///< ... of frame 2
    std::atomic<std::uintptr_t> deepest_frame{0};  ///< ... of the deepest frame
};

probe_record* g_record = nullptr;

// Recurses until the guard page stops it. The asm statement after the call
// keeps the frame alive across the call (no tail call, no accumulator
// rewrite into a loop), and makes the array's bytes count as used.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winfinite-recursion"
[[gnu::noinline]] std::uint64_t recurse(std::uint64_t depth) {
    volatile char frame[frame_local_bytes];
    frame[0] = static_cast<char>(depth);
    frame[frame_local_bytes - 1] = static_cast<char>(depth);
    const auto here = reinterpret_cast<std::uintptr_t>(&frame[0]);
    g_record->depth.store(depth, std::memory_order_relaxed);
    g_record->deepest_frame.store(here, std::memory_order_relaxed);
    if (depth == 1) {
        g_record->first_frame.store(here, std::memory_order_relaxed);
    } else if (depth == 2) {
        g_record->second_frame.store(here, std::memory_order_relaxed);
    }
    const std::uint64_t below = recurse(depth + 1);
    asm volatile("" : : "r"(&frame[0]) : "memory");
    return below + static_cast<unsigned char>(frame[0]);
}
#pragma GCC diagnostic pop

struct probe_result {
    std::size_t stack_kib = 0;
    std::size_t usable_bytes = 0;
    std::uint64_t frames = 0;
    std::size_t bytes_per_frame = 0;
    std::size_t entry_bytes = 0;  ///< stack top down to the first frame
    std::size_t reached_bytes = 0;
    int signal = 0;
    bool reported = false;
    std::string report;
};

/// Recurses on a fiber with a `stack_kib` stack in a child process and reads
/// what the child recorded before its overflow guard aborted it.
probe_result probe(io_mode backend, std::size_t stack_kib) {
    void* page = ::mmap(nullptr, sizeof(probe_record), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        std::perror("mmap");
        std::exit(1);
    }
    auto* record = new (page) probe_record;
    int err_pipe[2];
    if (::pipe(err_pipe) != 0) {
        std::exit(1);
    }
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(err_pipe[1], STDERR_FILENO);
        ::close(err_pipe[0]);
        g_record = record;
        runtime_options options;
        options.schedulers = 1;
        options.io = backend;
        options.default_stack_size = stack_kib * kib;
        runtime rt(options);
        rt.start();
        rt.at(0).spawn(
            [] {
                volatile char entry = 0;
                g_record->entry_local.store(reinterpret_cast<std::uintptr_t>(&entry));
                g_record->stack_top.store(
                    reinterpret_cast<std::uintptr_t>(detail::current_fiber()->stack.top()));
                keep(recurse(1));
            },
            {stack_kib * kib, "probe"});
        std::this_thread::sleep_for(20s);  // the guard aborts us long before
        ::_exit(3);
    }
    ::close(err_pipe[1]);
    probe_result out;
    char buffer[4096];
    for (ssize_t n; (n = ::read(err_pipe[0], buffer, sizeof buffer)) > 0;) {
        out.report.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(err_pipe[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    out.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    const auto at = out.report.find("stampede: fiber stack overflow");
    out.reported = at != std::string::npos;
    if (out.reported) {
        out.report = out.report.substr(at, out.report.find('\n', at) - at);
    }
    out.stack_kib = stack_kib;
    out.usable_bytes = round_stack_size(stack_kib * kib);
    out.frames = record->depth.load();
    out.bytes_per_frame = record->first_frame.load() - record->second_frame.load();
    out.entry_bytes = record->stack_top.load() - record->first_frame.load();
    out.reached_bytes = record->stack_top.load() - record->deepest_frame.load();
    ::munmap(page, sizeof(probe_record));
    return out;
}

// ---- High-water marks of the loops we run ----

struct note {
    std::string text;
};
struct lookup {
    using reply_type = std::size_t;
    std::string key;
};
struct stack_high_water {
    using reply_type = std::size_t;
};

/// A gen_server doing what a broker actor does: keep strings in containers,
/// look them up, reply.
class keeper : public gen_server<keeper> {
  public:
    void handle_cast(note& n) {
        ++seen_[n.text];
        recent_.push_back(std::move(n.text));
        if (recent_.size() > 64) {
            recent_.erase(recent_.begin());
        }
    }
    call_result<std::size_t> handle_call(lookup& l, const from<std::size_t>&) {
        const auto it = seen_.find(l.key);
        return reply(it == seen_.end() ? std::size_t{0} : it->second);
    }
    call_result<std::size_t> handle_call(stack_high_water&, const from<std::size_t>&) {
        return reply(this_fiber::stack_high_water());
    }

  private:
    std::map<std::string, std::size_t> seen_;
    std::vector<std::string> recent_;
};

struct loop_marks {
    std::string backend;
    std::size_t stack_size = 0;
    std::size_t worker_from_handler = 0;         ///< asked inside handle_call
    std::map<std::string, std::size_t> by_kind;  ///< runtime::stack_stats max_high_water
    std::uint64_t echoed_bytes = 0;
};

void echo(tcp_stream stream) {
    for (;;) {
        auto data = stream.receive();
        if (!data || !stream.write(data->data())) {
            break;
        }
    }
}

/// The worker's mark, asked from inside a handler after 10,000 casts and 100 calls.
std::size_t actor_loop_mark(runtime& rt) {
    return rt.run_on(0, [&rt] {
        auto k = spawn<keeper>(rt.at(0), "keeper");
        for (int i = 0; i < 10000; ++i) {
            k.cast(note{"/topic/bench." + std::to_string(i % 512)});
            if (i % 100 == 0) {
                (void)call(k, lookup{"/topic/bench.7"});
            }
        }
        auto mark = call(k, stack_high_water{});
        return mark ? *mark : std::size_t{0};
    });
}

/// Shared by the echo client fiber and the main thread.
struct echo_traffic {
    std::uint16_t port = 0;
    std::atomic<bool> done{false};
    std::atomic<bool> release{false};
    std::atomic<bool> finished{false};
    std::atomic<std::uint64_t> echoed{0};
};

// 10,000 round trips of 1 KiB, then holds the connection open until released.
void echo_client(echo_traffic& t) {
    auto s = tcp_stream::connect(endpoint::loopback(t.port));
    std::vector<char> message(1024, 'm');
    std::vector<char> back(64 * 1024);
    for (int i = 0; s && i < 10000 && s->write(message); ++i) {
        std::size_t got = 0;
        while (got < message.size()) {
            auto n = s->read_some(back);
            if (!n) {
                break;
            }
            got += *n;
        }
        t.echoed.fetch_add(got, std::memory_order_relaxed);
    }
    t.done = true;
    while (!t.release) {
        (void)this_fiber::sleep_for(1ms);
    }
    t.finished = true;  // the last touch of `t`; the stream closes on return
}

/// Runs echo traffic, then reads the marks by fiber kind while the
/// connection (server fiber blocked in receive) is still open.
void echo_loop_marks(runtime& rt, loop_marks& out) {
    echo_traffic traffic;
    std::optional<tcp_listener> listener;
    traffic.port = rt.run_on(0, [&] {
        auto l = tcp_listener::listen(endpoint::loopback(0));
        if (!l) {
            return std::uint16_t{0};
        }
        listener.emplace(std::move(*l));
        this_scheduler()->spawn(
            [&] {
                (void)serve(*listener, rt, echo, {0, "echo-connection"});
            },
            {0, "acceptor"});
        return listener->local_endpoint().port();
    });
    rt.at(1).spawn([&traffic] { echo_client(traffic); }, {0, "echo-client"});
    while (!traffic.done) {
        std::this_thread::sleep_for(1ms);
    }
    for (const auto& s : rt.stack_stats()) {
        out.by_kind[s.kind] = s.max_high_water;
    }
    out.echoed_bytes = traffic.echoed.load();
    traffic.release = true;
    while (!traffic.finished) {
        std::this_thread::sleep_for(1ms);
    }
    rt.run_on(0, [&] { listener->close(); });
}

/// The floor: the mark of a fiber that has only slept.
std::size_t sleeping_fiber_mark(runtime& rt) {
    return rt.run_on(1, [] {
        std::size_t mark = 0;
        this_scheduler()->spawn([&mark] {
            (void)this_fiber::sleep_for(1ms);
            mark = this_fiber::stack_high_water();
        });
        while (mark == 0) {
            (void)this_fiber::sleep_for(1ms);
        }
        return mark;
    });
}

/// Drives a gen_server and an echo connection on a runtime with the default
/// 64 KiB stack and reads their high-water marks.
loop_marks measure_loops(io_mode backend) {
    runtime_options options;
    options.schedulers = 2;
    options.io = backend;
    runtime rt(options);
    rt.start();
    loop_marks out;
    out.backend = rt.io_backend_name();
    out.stack_size = options.default_stack_size;
    out.worker_from_handler = actor_loop_mark(rt);
    echo_loop_marks(rt, out);
    out.by_kind["sleeping-fiber"] = sleeping_fiber_mark(rt);
    rt.stop();
    return out;
}

std::vector<std::size_t> parse_sizes(const std::string& text) {
    std::vector<std::size_t> sizes;
    std::size_t at = 0;
    while (at < text.size()) {
        sizes.push_back(std::strtoull(text.c_str() + at, nullptr, 10));
        const auto comma = text.find(',', at);
        at = comma == std::string::npos ? text.size() : comma + 1;
    }
    return sizes;
}

}  // namespace

int main(int argc, char** argv) {
    const double load_at_start = load_average();
    const std::string io = option(argc, argv, "--io").value_or("both");
    std::vector<io_mode> backends;
    io_mode one = io_mode::uring;
    if (io == "both") {
        backends = {io_mode::uring, io_mode::asio};
    } else if (parse_io_mode(io, one)) {
        backends = {one};
    } else {
        std::fprintf(stderr,
                     "usage: bench_stack_probe [--io uring|asio|both] [--sizes 16,32,...]\n");
        return 2;
    }
    const auto sizes = parse_sizes(option(argc, argv, "--sizes").value_or("16,32,64,128,256"));

    // Children first, while this process runs no threads.
    std::vector<probe_result> probes;
    for (const std::size_t size : sizes) {
        probes.push_back(probe(backends.front(), size));
        progress("%zu KiB: %llu frames of %zu bytes", size,
                 static_cast<unsigned long long>(probes.back().frames),
                 probes.back().bytes_per_frame);
    }
    std::vector<loop_marks> marks;
    for (const io_mode backend : backends) {
        marks.push_back(measure_loops(backend));
    }

    std::size_t deepest = 0;
    for (const auto& m : marks) {
        deepest = std::max(deepest, m.worker_from_handler);
        for (const auto& [kind, mark] : m.by_kind) {
            deepest = std::max(deepest, mark);
        }
    }
    std::size_t recommended = 0;
    for (const auto& p : probes) {
        if (recommended == 0 && p.reached_bytes >= 2 * deepest &&
            p.reached_bytes >= deepest + 16 * kib) {
            recommended = p.stack_kib;
        }
    }

    json_writer j;
    j.open_object();
    j.field("benchmark", "bench_stack_probe");
    write_machine(j, load_at_start);
    j.field("build_type", STAMPEDE_BUILD_TYPE);
    j.open_object("config");
    j.field("probe_backend", to_string(backends.front()));
    j.field("probe_schedulers", 1);
    j.field("probe_frame_local_bytes", frame_local_bytes);
    j.field("loops_schedulers", 2);
    j.field("loops_stack_size", std::size_t{64 * kib});
    j.field("page_size", page_size());
    j.close_object();
    j.open_array("probes");
    for (const auto& p : probes) {
        j.open_object();
        j.field("stack_kib", p.stack_kib);
        j.field("usable_bytes", p.usable_bytes);
        j.field("frames_before_guard_page", p.frames);
        j.field("bytes_per_frame", p.bytes_per_frame);
        j.field("entry_bytes_above_first_frame", p.entry_bytes);
        j.field("bytes_reached", p.reached_bytes);
        j.field("child_signal", p.signal);
        j.field("died_by_sigabrt_with_report", p.signal == SIGABRT && p.reported);
        j.field("overflow_report", p.report);
        j.close_object();
    }
    j.close_array();
    j.open_array("high_water_marks");
    for (const auto& m : marks) {
        j.open_object();
        j.field("backend", m.backend);
        j.field("stack_size", m.stack_size);
        j.field("worker_running_gen_server_handler", m.worker_from_handler);
        j.open_object("by_fiber_kind");
        for (const auto& [kind, mark] : m.by_kind) {
            j.field(kind, mark);
        }
        j.close_object();
        j.field("echoed_bytes", m.echoed_bytes);
        j.field("resolution_bytes", page_size());
        j.close_object();
    }
    j.close_array();
    j.open_object("recommendation");
    j.field("deepest_loop_bytes", deepest);
    j.field("recommended_stack_kib", recommended);
    j.field("rule", "smallest probed size leaving both 2x the deepest loop and 16 KiB free");
    j.field("text", "The runtime's own loops (actor worker, echo connection, client) reach " +
                        std::to_string(deepest / kib) + " KiB. A " + std::to_string(recommended) +
                        " KiB stack covers them with room to spare; the default 64 KiB leaves " +
                        std::to_string((64 * kib - deepest) / kib) +
                        " KiB for what handlers themselves call. Size for the deepest handler, "
                        "not for these loops: read runtime::stack_stats() (max_high_water per "
                        "fiber kind) under real load and keep at least 2x of it. Stack memory "
                        "is paid per touched page, not per stack size: a bigger stack costs "
                        "address space, not RSS.");
    j.close_object();
    j.close_object();
    std::fputs(j.text().c_str(), stdout);
    return 0;
}
