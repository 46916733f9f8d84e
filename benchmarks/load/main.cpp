// stampede-load: the native STOMP load driver (benchmarks/DRIVER.md).
//
//     stampede-load SCENARIO [common flags] [scenario flags]
//
// Runs one scenario against a broker on our runtime, one worker per
// scheduler, and prints one JSON object on stdout; progress goes to stderr.
// Exit status: 0 when the scenario ran and its checks held ("ok": true), 1
// when it ran and they did not, 2 for a bad command line or a broker that
// cannot be reached.

#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "clock.hpp"
#include "scenario.hpp"
#include "stampede/runtime/log.hpp"
#include "stampede/runtime/runtime.hpp"

namespace {

using namespace stampede::load;
namespace rt = stampede::runtime;

constexpr const char* driver_version = "1";
constexpr int exit_unreachable = 2;
constexpr int exit_usage = 2;
constexpr std::size_t recv_buffer_size = 64 * 1024;

const std::vector<scenario>& all_scenarios() {
    static const std::vector<scenario> table = {
        fanout_scenario(),        slow_scenario(),
        queue_scenario(),         soak_scenario(),
        conns_scenario(),         load_unload_scenario(),
        request_reply_scenario(), rate_scenario(),
        cliff_scenario(),         mixed_scenario(),
        burst_scenario(),         abuse_scenario(),
        crash_scenario(),         restart_scenario(),
        multiproc_scenario(),     multiproc_consumer_scenario(),
    };
    return table;
}

const scenario* find_scenario(std::string_view name) {
    for (const auto& s : all_scenarios()) {
        if (s.name == name) {
            return &s;
        }
    }
    return nullptr;
}

int usage(const char* why) {
    std::fprintf(stderr,
                 "stampede-load: %s\nusage: stampede-load SCENARIO [flags]\nscenarios:", why);
    for (const auto& s : all_scenarios()) {
        std::fprintf(stderr, " %.*s", static_cast<int>(s.name.size()), s.name.data());
    }
    std::fprintf(stderr, "\n(stampede-load SCENARIO --help lists its flags)\n");
    return exit_usage;
}

void raise_fd_limit() {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        (void)::setrlimit(RLIMIT_NOFILE, &lim);
    }
}

// The default destinations name the scenario and the run.
void fill_defaults(args& a, const scenario& sc) {
    const std::string suffix = "bench." + a.scenario + "." + a.text("run-id");
    if (!a.optional_text("destination")) {
        a.set("destination", "/" + std::string(sc.kind) + "/" + suffix);
    }
    if (a.has("queue") && !a.optional_text("queue")) {
        a.set("queue", "/queue/" + suffix);
    }
}

// --workers, or one per core and at most one per client.
unsigned worker_count(const args& a, const scenario& sc) {
    if (sc.single_worker) {
        return 1;
    }
    if (a.integer("workers") > 0) {
        return static_cast<unsigned>(a.integer("workers"));
    }
    const std::size_t cores = std::max(1u, std::thread::hardware_concurrency());
    return static_cast<unsigned>(std::max<std::size_t>(1, std::min(cores, sc.max_workers(a))));
}

struct probe_result {
    std::optional<std::string> server;
    std::string version;
    std::string error;
};

// One connection to learn the broker's name and STOMP version, and to fail
// fast with a clear message when it is not there.
probe_result probe(rt::runtime& runtime, const broker_address& to) {
    return runtime.run_on(0, [&to] {
        probe_result out;
        auto conn = connection::open(to, out.error);
        if (conn) {
            out.server = conn->server();
            out.version = conn->version_text();
            conn->begin_close();
            conn->finish_close(after(to.connect_timeout));
        }
        return out;
    });
}

std::optional<args> parse_command_line(int argc, char** argv, const scenario*& sc, int& status) {
    if (argc < 2) {
        status = usage("no scenario");
        return std::nullopt;
    }
    sc = find_scenario(argv[1]);
    if (sc == nullptr) {
        status = usage(("unknown scenario '" + std::string(argv[1]) + "'").c_str());
        return std::nullopt;
    }
    std::vector<std::string> rest(argv + 2, argv + argc);
    for (const auto& r : rest) {
        if (r == "--help" || r == "-h") {
            std::fputs(usage_of(argv[1], sc->flags()).c_str(), stdout);
            status = 0;
            return std::nullopt;
        }
    }
    std::string error;
    auto a = parse_args(argv[1], rest, sc->flags(), error);
    if (!a) {
        std::fprintf(stderr, "stampede-load: %s\n%s", error.c_str(),
                     usage_of(argv[1], sc->flags()).c_str());
        status = exit_usage;
        return std::nullopt;
    }
    fill_defaults(*a, *sc);
    return a;
}

int run(const args& a, const scenario& sc) {
    raise_fd_limit();
    const std::int64_t started = now_ns();
    const unsigned workers = worker_count(a, sc);
    rt::runtime_options options;
    options.schedulers = workers;
    (void)rt::parse_io_mode(a.text("io"), options.io);
    options.recv_buffer_size = recv_buffer_size;
    rt::runtime runtime(options);
    runtime.start();
    const broker_address to = address_of(a);
    const probe_result probed = probe(runtime, to);
    if (!probed.error.empty()) {
        std::fprintf(stderr, "stampede-load: cannot reach a STOMP broker at %s: %s\n",
                     to.endpoint.to_string().c_str(), probed.error.c_str());
        return exit_unreachable;
    }
    coordinator co(runtime, workers);
    run_context ctx{a, co, to, {}, std::nullopt};
    json out;
    out["driver"] = "native";
    out["driver_version"] = driver_version;
    out["scenario"] = a.scenario;
    out["params"] = a.params();
    out["workers"] = workers;
    out["server"] = or_null(probed.server);
    out["stomp_version"] = probed.version;
    out["started_ns"] = started;
    out["t0_ns"] = nullptr;
    json fields = sc.run(ctx);
    runtime.stop();
    out["t0_ns"] = or_null(ctx.t0_ns);
    update(out, fields);
    out["ended_ns"] = now_ns();
    out["elapsed_seconds"] =
        static_cast<double>(out["ended_ns"].get<std::int64_t>() - started) / 1e9;
    out["timed_out"] = ctx.report.timed_out;
    const bool ok =
        fields.value("ok", false) && !ctx.report.timed_out && ctx.report.failures.empty();
    out["ok"] = ok;
    std::cout << out.dump(-1, ' ', false, json::error_handler_t::replace) << std::endl;
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    ::signal(SIGPIPE, SIG_IGN);
    rt::log::set_level(rt::log::level::warn);
    const scenario* sc = nullptr;
    int status = 0;
    auto a = parse_command_line(argc, argv, sc, status);
    if (!a) {
        return status;
    }
    try {
        return run(*a, *sc);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "stampede-load: %s\n", e.what());
        return exit_usage;
    }
}
