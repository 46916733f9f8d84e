// bench_gen_server: gen_server casts and calls, idle fibers and idle actors.
//
//   bench_gen_server [--io uring|asio] [--reps R] [--casts N] [--calls N]
//                    [--window W] [--soak-casts N] [--idle-fibers N]
//                    [--idle-actors N] [--only SECTION]
//
// Prints one JSON document. On a runtime of 2 schedulers (64 KiB stacks):
//
// - casts/s: one producer fiber on scheduler 0 casts N messages into one
//   actor, on the same scheduler and on the other one, then calls the actor
//   for its total (which must equal the sum sent). The clock runs from the
//   first cast to that reply, so every cast was also handled. The producer
//   keeps at most `window` casts unhandled, as a producer bounded by a mailbox
//   limit would: the actor hands back credit every window/4 casts (posting to
//   the producer's scheduler), and the producer waits on an event while the
//   window is full (it blocks; it does not spin).
// - call round trip: a fiber calls an actor N times in a row (request,
//   handle_call, reply, caller resumed), same scheduler and across; the mean
//   per call, plus a pass that times every call on its own for percentiles.
// - a soak: ten million casts into one actor, with the high-water mark of the
//   worker fiber's stack asked (by a call, answered from inside the handler)
//   before and after.
// - idle fibers: N fibers on 64 KiB stacks each block in an event wait; VmRSS
//   before and after, per fiber. Each repetition runs in a fresh child process.
// - idle actors: N actors spawned from a fiber on scheduler 0, homed there (and
//   spread over both schedulers); the time until every init() has run, and
//   VmRSS per actor. Each repetition runs in a fresh child process.
//
// SECTION is one of idle_fibers, idle_actors, casts, calls, soak (for profiling).

#include <atomic>
#include <cinttypes>
#include <string>
#include <vector>

#include "micro_support.hpp"
#include "stampede/runtime/actor.hpp"
#include "stampede/runtime/runtime.hpp"
#include "stampede/runtime/sync.hpp"

namespace {

using namespace stampede::runtime;
using namespace stampede::bench;
using namespace std::chrono_literals;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "bench_gen_server: %s\n", what);
    std::exit(1);
}

// ---- The actors ----

struct bump {
    std::uint64_t n;
};
struct get_total {
    using reply_type = std::uint64_t;
};
struct ping {
    using reply_type = std::uint64_t;
    std::uint64_t n;
};
struct stack_high_water {
    using reply_type = std::size_t;
};
struct quit {
    using reply_type = ok;
};

/// Where an actor hands back credit: a counter and an event on the producer's
/// scheduler, touched only there.
struct credit_line {
    scheduler* home = nullptr;
    std::uint64_t handled = 0;
    event opened;
    std::uint64_t every = 1024;

    /// From the actor's handler: `n` casts handled so far.
    void grant(std::uint64_t n) {
        if (this_scheduler() == home) {
            handled = n;
            opened.notify_one();
            return;
        }
        home->execute([this, n] {
            handled = n;
            opened.notify_one();
        });
    }
};

/// Sums what it is cast, handing back credit every `credit->every` casts.
class sink : public gen_server<sink> {
  public:
    explicit sink(credit_line* credit) : credit_(credit) {}

    void handle_cast(bump& m) {
        total_ += m.n;
        if (++count_ % credit_->every == 0) {
            credit_->grant(count_);
        }
    }
    call_result<std::uint64_t> handle_call(get_total&, const from<std::uint64_t>&) {
        return reply(total_);
    }
    call_result<std::uint64_t> handle_call(ping& p, const from<std::uint64_t>&) {
        return reply(p.n + 1);
    }
    call_result<std::size_t> handle_call(stack_high_water&, const from<std::size_t>&) {
        return reply(this_fiber::stack_high_water());
    }
    call_result<ok> handle_call(quit&, const from<ok>&) { return reply_and_stop(ok{}); }

  private:
    credit_line* credit_;
    std::uint64_t total_ = 0;
    std::uint64_t count_ = 0;
};

/// An actor that only starts: counts its init() and then waits for mail.
class idle_actor : public gen_server<idle_actor> {
  public:
    explicit idle_actor(std::atomic<std::uint64_t>* started) : started_(started) {}
    bool init(exit_reason&) {
        started_->fetch_add(1, std::memory_order_relaxed);
        return true;
    }
    void handle_cast(bump& m) { keep(m.n); }

  private:
    std::atomic<std::uint64_t>* started_;
};

runtime_options bench_options(io_mode backend) {
    runtime_options options;
    options.schedulers = 2;
    options.io = backend;
    return options;
}

// ---- Casts ----

struct cast_sample {
    double seconds = 0;
    std::size_t high_water_before = 0;
    std::size_t high_water_after = 0;
};

/// Casts `n` messages from a fiber on scheduler 0 into a new actor on
/// `actor_home`, with at most `window` unhandled; stops at the reply to a call
/// that follows the last cast. Checks the actor's total.
cast_sample cast_run(runtime& rt, unsigned actor_home, std::uint64_t n, std::uint64_t window) {
    return rt.run_on(0, [&rt, actor_home, n, window] {
        credit_line credit;
        credit.home = this_scheduler();
        credit.every = std::max<std::uint64_t>(1, window / 4);
        auto target = spawn<sink>(rt.at(actor_home), "sink", &credit);
        cast_sample out;
        auto before = call(target, stack_high_water{});
        if (!before) {
            fail("stack_high_water call failed");
        }
        out.high_water_before = *before;
        const auto start = bench_clock::now();
        for (std::uint64_t i = 0; i < n; ++i) {
            target.cast(bump{i});
            while (i + 1 - credit.handled > window) {
                (void)credit.opened.wait();
            }
        }
        auto total = call(target, get_total{}, 60s);
        out.seconds = seconds_since(start);
        if (!total || *total != n * (n - 1) / 2) {
            fail("the actor's total does not match what was cast");
        }
        auto after = call(target, stack_high_water{});
        out.high_water_after = after ? *after : 0;
        // Every grant was posted to this scheduler before the replies above,
        // through the same queue, so none can reach `credit` after we return.
        (void)call(target, quit{});
        return out;
    });
}

// ---- Calls ----

/// Calls a new actor on `actor_home` `n` times from a fiber on scheduler 0;
/// returns the seconds for all of them (with `each`: also every call's ns).
double call_run(runtime& rt, unsigned actor_home, std::uint64_t n,
                std::vector<double>* each = nullptr) {
    return rt.run_on(0, [&rt, actor_home, n, each] {
        credit_line unused;
        unused.home = this_scheduler();
        unused.every = ~std::uint64_t{0};
        auto target = spawn<sink>(rt.at(actor_home), "sink", &unused);
        (void)call(target, get_total{});  // started
        std::uint64_t sum = 0;
        const auto start = bench_clock::now();
        for (std::uint64_t i = 0; i < n; ++i) {
            const auto t0 = each != nullptr ? bench_clock::now() : bench_clock::time_point{};
            auto r = call(target, ping{i});
            if (!r) {
                fail("a call failed");
            }
            sum += *r;
            if (each != nullptr) {
                each->push_back(
                    std::chrono::duration<double, std::nano>(bench_clock::now() - t0).count());
            }
        }
        const double seconds = seconds_since(start);
        if (sum != n * (n - 1) / 2 + n) {
            fail("call replies do not add up");
        }
        (void)call(target, quit{});
        return seconds;
    });
}

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

// ---- Idle fibers and actors (in child processes) ----

/// In a child: {VmRSS per fiber, resident stack bytes per fiber, page-table
/// bytes per fiber, seconds to spawn all until blocked, mappings added}.
std::vector<double> idle_fibers_child(io_mode backend, std::size_t count) {
    runtime rt(bench_options(backend));
    rt.start();
    rt.run_on(0, [] {});
    event release;
    std::size_t waiting = 0;
    std::size_t done = 0;
    const std::size_t rss_before = rss_bytes();
    const std::size_t pte_before = page_table_bytes();
    const std::size_t maps_before = mapping_count();
    const double spawn_seconds = rt.run_on(0, [&] {
        const auto start = bench_clock::now();
        for (std::size_t i = 0; i < count; ++i) {
            auto spawned = this_scheduler()->spawn_here(
                [&] {
                    ++waiting;
                    (void)release.wait();
                    ++done;
                },
                {0, "idle"});
            if (!spawned) {
                fail("cannot spawn an idle fiber (vm.max_map_count?)");
            }
        }
        while (waiting < count) {
            this_fiber::yield();
        }
        return seconds_since(start);
    });
    const std::size_t rss_after = rss_bytes();
    const std::size_t pte_after = page_table_bytes();
    const std::size_t maps_after = mapping_count();
    std::size_t stack_resident = 0;
    for (const auto& s : rt.stack_stats()) {
        if (s.kind == std::string("idle")) {
            stack_resident = s.resident_bytes;
        }
    }
    rt.run_on(0, [&] {
        release.notify_all();
        while (done < count) {
            this_fiber::yield();
        }
    });
    rt.stop();
    const auto n = static_cast<double>(count);
    return {(static_cast<double>(rss_after) - static_cast<double>(rss_before)) / n,
            static_cast<double>(stack_resident) / n,
            (static_cast<double>(pte_after) - static_cast<double>(pte_before)) / n, spawn_seconds,
            static_cast<double>(maps_after) - static_cast<double>(maps_before)};
}

/// In a child: {seconds until every init() ran, seconds in the spawn loop,
/// VmRSS per actor, seconds to stop the runtime}. `spread`: homes alternate
/// between the two schedulers (half the spawns cross threads).
std::vector<double> idle_actors_child(io_mode backend, std::size_t count, bool spread) {
    runtime rt(bench_options(backend));
    rt.start();
    rt.run_on(0, [] {});
    rt.run_on(1, [] {});
    std::atomic<std::uint64_t> started{0};
    std::vector<actor_ref<idle_actor>> refs;
    refs.reserve(count);  // the benchmark's own bookkeeping, outside the RSS delta
    const std::size_t rss_before = rss_bytes();
    const auto [all_started, spawn_loop] = rt.run_on(0, [&] {
        const auto start = bench_clock::now();
        for (std::size_t i = 0; i < count; ++i) {
            scheduler& home = spread ? rt.at(static_cast<unsigned>(i % 2)) : rt.at(0);
            refs.push_back(spawn<idle_actor>(home, "idle-" + std::to_string(i), &started));
        }
        const double loop = seconds_since(start);
        while (started.load(std::memory_order_relaxed) < count) {
            this_fiber::yield();
        }
        return std::pair{seconds_since(start), loop};
    });
    const std::size_t rss_after = rss_bytes();
    refs.clear();
    const auto stop_start = bench_clock::now();
    rt.stop();
    return {all_started, spawn_loop,
            (static_cast<double>(rss_after) - static_cast<double>(rss_before)) /
                static_cast<double>(count),
            seconds_since(stop_start)};
}

/// Runs `child` `reps` times, each in a fresh process; column i of the results.
template <class Child>
std::vector<std::vector<double>> repeat_in_children(int reps, Child child) {
    std::vector<std::vector<double>> columns;
    for (int rep = 0; rep < reps; ++rep) {
        auto values = in_child(child);
        if (!values) {
            fail("a child process failed");
        }
        columns.resize(values->size());
        for (std::size_t i = 0; i < values->size(); ++i) {
            columns[i].push_back((*values)[i]);
        }
    }
    return columns;
}

// ---- Sections ----

struct settings {
    io_mode backend = io_mode::uring;
    int reps = 7;
    int child_reps = 5;
    std::uint64_t casts = 2'000'000;
    std::uint64_t calls = 200'000;
    std::uint64_t window = 4096;
    std::uint64_t soak = 10'000'000;
    std::size_t idle_fibers = 10'000;
    std::size_t idle_actors = 100'000;
};

void idle_fiber_section(const settings& s, std::vector<measurement>& out) {
    progress("idle fibers: %zu per repetition", s.idle_fibers);
    const auto c = repeat_in_children(s.child_reps,
                                      [&] { return idle_fibers_child(s.backend, s.idle_fibers); });
    const std::size_t n = s.idle_fibers;
    out.push_back({"idle_fiber_rss",
                   "bytes/fiber",
                   c[0],
                   n,
                   "one fiber (64 KiB stack) blocked in event::wait; VmRSS delta / fibers",
                   {"at_most", 8192}});
    out.push_back({"idle_fiber_stack_resident",
                   "bytes/fiber",
                   c[1],
                   n,
                   "resident stack pages of one blocked fiber (runtime::stack_stats)",
                   {}});
    out.push_back({"idle_fiber_page_tables",
                   "bytes/fiber",
                   c[2],
                   n,
                   "VmPTE delta / fibers (kernel page tables, not counted in VmRSS)",
                   {}});
    out.push_back({"idle_fiber_spawn_until_blocked",
                   "s",
                   c[3],
                   n,
                   "spawning all the fibers until every one is blocked",
                   {}});
    out.push_back({"idle_fiber_mappings_added",
                   "mappings",
                   c[4],
                   n,
                   "lines added to /proc/self/maps (vm.max_map_count counts these)",
                   {}});
}

void idle_actor_section(const settings& s, std::vector<measurement>& out) {
    for (const bool spread : {false, true}) {
        progress("idle actors: %zu per repetition%s", s.idle_actors, spread ? ", spread" : "");
        const auto c = repeat_in_children(
            s.child_reps, [&] { return idle_actors_child(s.backend, s.idle_actors, spread); });
        const std::string suffix = spread ? "_spread_over_2_schedulers" : "_on_one_scheduler";
        const std::size_t n = s.idle_actors;
        out.push_back({"idle_actors_spawn_and_init" + suffix,
                       "s",
                       c[0],
                       n,
                       "spawn<idle_actor>() from a fiber on scheduler 0 until every actor's "
                       "init() has run",
                       {"at_most", 1.0}});
        out.push_back(
            {"idle_actors_spawn_loop" + suffix, "s", c[1], n, "the spawn<>() calls alone", {}});
        out.push_back({"idle_actor_rss" + suffix,
                       "bytes/actor",
                       c[2],
                       n,
                       "VmRSS delta / actors, all initialised and idle",
                       {}});
        out.push_back({"idle_actors_runtime_stop" + suffix,
                       "s",
                       c[3],
                       n,
                       "runtime::stop() ending every actor",
                       {}});
    }
}

void cast_section(runtime& rt, const settings& s, std::vector<measurement>& out) {
    for (const unsigned home : {0u, 1u}) {
        measurement m{
            std::string("casts_per_second_") + (home == 0 ? "same_scheduler" : "across_schedulers"),
            "casts/s",
            {},
            s.casts,
            "one cast sent and handled (the clock stops at the reply to a call queued "
            "after the last cast)",
            home == 0 ? target{"at_least", 5e6} : target{"at_least", 2e6}};
        (void)cast_run(rt, home, s.casts / 10, s.window);
        for (int rep = 0; rep < s.reps; ++rep) {
            m.samples.push_back(static_cast<double>(s.casts) /
                                cast_run(rt, home, s.casts, s.window).seconds);
        }
        progress("%s: median %.3g", m.name.c_str(), summarize(m.samples).median);
        out.push_back(std::move(m));
    }
}

/// Calls, same scheduler and across; returns every call's time of the percentile passes.
std::vector<std::vector<double>> call_section(runtime& rt, const settings& s,
                                              std::vector<measurement>& out) {
    std::vector<std::vector<double>> latencies;
    for (const unsigned home : {0u, 1u}) {
        // Crossing threads costs wake-ups; fewer calls keep the run short.
        const std::uint64_t n = home == 0 ? s.calls : s.calls / 10;
        measurement m{
            std::string("call_round_trip_") + (home == 0 ? "same_scheduler" : "across_schedulers"),
            "ns/call",
            {},
            n,
            "call(actor, ping) from a fiber: request, handle_call, reply, caller resumed",
            home == 0 ? target{"at_most", 1000} : target{}};
        (void)call_run(rt, home, n / 10);
        for (int rep = 0; rep < s.reps; ++rep) {
            m.samples.push_back(call_run(rt, home, n) * 1e9 / static_cast<double>(n));
        }
        progress("%s: median %.0f ns", m.name.c_str(), summarize(m.samples).median);
        out.push_back(std::move(m));
        std::vector<double> each;
        each.reserve(n);
        (void)call_run(rt, home, n, &each);
        latencies.push_back(std::move(each));
    }
    return latencies;
}

void write_latencies(json_writer& j, const std::vector<std::vector<double>>& latencies) {
    j.open_array("call_latency_percentiles");
    for (std::size_t i = 0; i < latencies.size(); ++i) {
        const auto& v = latencies[i];
        j.open_object();
        j.field("name", i == 0 ? "call_same_scheduler" : "call_across_schedulers");
        j.field("unit", "ns");
        j.field("calls", v.size());
        j.field("p50", percentile(v, 0.50));
        j.field("p90", percentile(v, 0.90));
        j.field("p99", percentile(v, 0.99));
        j.field("max", percentile(v, 1.0));
        j.field("note", "each call timed on its own (two clock reads added per call)");
        j.close_object();
    }
    j.close_array();
}

void write_soak(json_writer& j, const settings& s, const cast_sample& soaked, runtime& rt) {
    std::size_t worker_high_water = 0;
    std::size_t worker_stack = 0;
    for (const auto& k : rt.stack_stats()) {
        if (k.kind == std::string("worker")) {
            worker_high_water = k.max_high_water;
            worker_stack = k.stack_size;
        }
    }
    j.open_object("soak");
    j.field("casts", s.soak);
    j.field("seconds", soaked.seconds);
    j.field("casts_per_second", static_cast<double>(s.soak) / soaked.seconds);
    j.field("actor_stack_high_water_before", soaked.high_water_before);
    j.field("actor_stack_high_water_after", soaked.high_water_after);
    j.field("worker_stack_size", worker_stack);
    j.field("worker_max_high_water_all_workers", worker_high_water);
    j.field("high_water_resolution", "one page (4096 bytes): resident pages via mincore");
    j.field("note",
            "the actor owns no stack; its handlers run on the scheduler's worker fibers, so this "
            "is the high-water mark of the worker that ran the handler");
    j.close_object();
}

}  // namespace

int main(int argc, char** argv) {
    const double load_at_start = load_average();
    settings s;
    if (const auto io = option(argc, argv, "--io"); io && !parse_io_mode(*io, s.backend)) {
        std::fprintf(stderr, "usage: bench_gen_server [--io uring|asio] [--reps R] ...\n");
        return 2;
    }
    s.reps = static_cast<int>(option_number(argc, argv, "--reps", s.reps));
    s.child_reps = std::min(s.reps, 5);
    const auto count = [&](const char* name, auto fallback) {
        return static_cast<decltype(fallback)>(
            option_number(argc, argv, name, static_cast<double>(fallback)));
    };
    s.casts = count("--casts", s.casts);
    s.calls = count("--calls", s.calls);
    s.window = count("--window", s.window);
    s.soak = count("--soak-casts", s.soak);
    s.idle_fibers = count("--idle-fibers", s.idle_fibers);
    s.idle_actors = count("--idle-actors", s.idle_actors);
    const std::string only = option(argc, argv, "--only").value_or("");
    const auto wanted = [&only](const char* section) { return only.empty() || only == section; };

    std::vector<measurement> results;
    // Child processes first, while this process has no threads of its own.
    if (wanted("idle_fibers")) {
        idle_fiber_section(s, results);
    }
    if (wanted("idle_actors")) {
        idle_actor_section(s, results);
    }
    const runtime_options options = bench_options(s.backend);
    runtime rt(options);
    rt.start();
    if (wanted("casts")) {
        cast_section(rt, s, results);
    }
    std::vector<std::vector<double>> latencies;
    if (wanted("calls")) {
        latencies = call_section(rt, s, results);
    }
    cast_sample soaked;
    if (wanted("soak")) {
        progress("soak: %" PRIu64 " casts into one actor", s.soak);
        soaked = cast_run(rt, 0, s.soak, s.window);
    }

    json_writer j;
    j.open_object();
    j.field("benchmark", "bench_gen_server");
    write_machine(j, load_at_start);
    j.field("build_type", STAMPEDE_BUILD_TYPE);
    j.open_object("config");
    j.field("backend", rt.io_backend_name());
    j.field("schedulers", options.schedulers);
    j.field("stack_size", options.default_stack_size);
    j.field("repetitions", s.reps);
    j.field("repetitions_in_child_processes", s.child_reps);
    j.field("cast_window", s.window);
    j.field("cast_credit_every", std::max<std::uint64_t>(1, s.window / 4));
    j.field("producer", "a fiber on scheduler 0; the actor on scheduler 0 (same) or 1 (across)");
    j.close_object();
    j.open_array("results");
    for (const auto& m : results) {
        write_measurement(j, m);
    }
    j.close_array();
    if (!latencies.empty()) {
        write_latencies(j, latencies);
    }
    if (wanted("soak")) {
        write_soak(j, s, soaked, rt);
    }
    j.close_object();
    rt.stop();
    std::fputs(j.text().c_str(), stdout);
    return 0;
}
