// bench_context_switch: nanoseconds per fiber switch on one scheduler.
//
//   bench_context_switch [--io uring|asio] [--yields N] [--reps R]
//
// Prints one JSON document. Fibers on one scheduler yield to each other in
// turn; one "switch" is one this_fiber::yield() that hands the core to the
// next ready fiber: the yielding fiber jumps to the scheduler's context, the
// scheduler loop picks the next fiber, and it jumps into that fiber (two
// Boost.Context jumps plus the loop's bookkeeping per switch). Measured with
// 2 fibers (the headline figure) and with 1,000 fibers (each switch lands on
// a different stack, as with many connections). For comparison the raw cost
// of one Boost.Context jump (fiber::resume between two contexts, no
// scheduler) is measured too. Each measurement is repeated (default 7) and
// reported as median, min and max.

#include <boost/context/fiber.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "micro_support.hpp"
#include "stampede/runtime/runtime.hpp"

namespace {

using namespace stampede::runtime;
using namespace stampede::bench;

struct switch_sample {
    std::uint64_t yields = 0;
    double seconds = 0;
};

/// `fibers` fibers (the calling one included) each yield `rounds` times on the
/// calling fiber's scheduler; returns every yield counted and the elapsed time.
switch_sample yield_round_robin(runtime& rt, unsigned fibers, std::uint64_t rounds) {
    return rt.run_on(0, [fibers, rounds] {
        // Same scheduler only: plain counters, no atomics needed.
        std::uint64_t yields = 0;
        unsigned finished = 0;
        for (unsigned f = 1; f < fibers; ++f) {
            this_scheduler()->spawn([&yields, &finished, rounds] {
                for (std::uint64_t r = 0; r < rounds; ++r) {
                    ++yields;
                    this_fiber::yield();
                }
                ++finished;
            });
        }
        // Let every fiber start (first entry is not a switch we want to time).
        this_fiber::yield();
        yields = 0;
        const auto start = bench_clock::now();
        for (std::uint64_t r = 0; r < rounds; ++r) {
            ++yields;
            this_fiber::yield();
        }
        while (finished + 1 < fibers) {
            ++yields;
            this_fiber::yield();
        }
        const double seconds = seconds_since(start);
        keep(yields);
        return switch_sample{yields, seconds};
    });
}

/// Raw Boost.Context: main and one fiber resume each other `round_trips` times.
switch_sample raw_boost_context(std::uint64_t round_trips) {
    namespace ctx = boost::context;
    std::uint64_t inside = 0;
    ctx::fiber other([&inside](ctx::fiber&& back) {
        for (;;) {
            ++inside;
            back = std::move(back).resume();
        }
        return std::move(back);
    });
    other = std::move(other).resume();  // first entry, untimed
    const auto start = bench_clock::now();
    for (std::uint64_t i = 0; i < round_trips; ++i) {
        other = std::move(other).resume();
    }
    const double seconds = seconds_since(start);
    keep(inside);
    // Unwinds the fiber (forced_unwind) on destruction.
    return switch_sample{2 * round_trips, seconds};
}

}  // namespace

int main(int argc, char** argv) {
    const double load_at_start = load_average();
    io_mode backend = io_mode::uring;
    if (const auto io = option(argc, argv, "--io"); io && !parse_io_mode(*io, backend)) {
        std::fprintf(stderr,
                     "usage: bench_context_switch [--io uring|asio] [--yields N] [--reps R]\n");
        return 2;
    }
    const auto total_yields =
        static_cast<std::uint64_t>(option_number(argc, argv, "--yields", 2'000'000));
    const int reps = static_cast<int>(option_number(argc, argv, "--reps", 7));

    runtime_options options;
    options.schedulers = 1;
    options.io = backend;
    runtime rt(options);
    rt.start();

    std::vector<measurement> results;
    for (const unsigned fibers : {2u, 1000u}) {
        const std::uint64_t rounds = total_yields / fibers;
        measurement m{"fiber_switch_" + std::to_string(fibers) + "_fibers",
                      "ns/switch",
                      {},
                      rounds * fibers,
                      "one this_fiber::yield() handing the scheduler to the next ready fiber "
                      "(fiber -> scheduler context -> next fiber: two Boost.Context jumps)",
                      fibers == 2 ? target{"at_most", 50} : target{}};
        (void)yield_round_robin(rt, fibers, rounds / 10 + 1);  // warm-up
        for (int rep = 0; rep < reps; ++rep) {
            const switch_sample s = yield_round_robin(rt, fibers, rounds);
            m.samples.push_back(s.seconds * 1e9 / static_cast<double>(s.yields));
        }
        progress("%s: median %.1f ns", m.name.c_str(), summarize(m.samples).median);
        results.push_back(std::move(m));
    }
    rt.stop();

    measurement raw{"boost_context_jump",
                    "ns/jump",
                    {},
                    total_yields,
                    "one boost::context::fiber::resume() from one context into another, no "
                    "scheduler (the floor under a fiber switch, which makes two of them)",
                    {}};
    (void)raw_boost_context(total_yields / 20);
    for (int rep = 0; rep < reps; ++rep) {
        const switch_sample s = raw_boost_context(total_yields / 2);
        raw.samples.push_back(s.seconds * 1e9 / static_cast<double>(s.yields));
    }
    progress("%s: median %.1f ns", raw.name.c_str(), summarize(raw.samples).median);
    results.push_back(std::move(raw));

    json_writer j;
    j.open_object();
    j.field("benchmark", "bench_context_switch");
    write_machine(j, load_at_start);
    j.field("build_type", STAMPEDE_BUILD_TYPE);
    j.open_object("config");
    j.field("backend", rt.io_backend_name());
    j.field("schedulers", options.schedulers);
    j.field("stack_size", options.default_stack_size);
    j.field("repetitions", reps);
    j.close_object();
    j.open_array("results");
    for (const auto& m : results) {
        write_measurement(j, m);
    }
    j.close_array();
    j.close_object();
    std::fputs(j.text().c_str(), stdout);
    return 0;
}
