// The stampede executable: flags over a JSON configuration, then the broker
// until SIGINT or SIGTERM.

#include <signal.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "stampede/broker/broker.hpp"
#include "stampede/broker/config.hpp"
#include "stampede/broker/version.hpp"
#include "stampede/runtime/log.hpp"

namespace {

using stampede::broker::config;
using stampede::broker::config_error;

constexpr const char* usage = R"(usage: stampede [options]

A STOMP 1.2 message broker.

options:
  --config FILE        JSON configuration (every key and its default: README.md)
  --listen HOST:PORT   address to listen on (default 127.0.0.1:61613)
  --schedulers N       scheduler threads, 0 = one per core (default 0)
  --io MODE            auto, uring or asio (default auto)
  --stack-size BYTES   fiber stack size, K and M suffixes allowed (default 64K)
  --log-level LEVEL    trace, debug, info, warn, error or off (default info)
  --admin HOST:PORT    admin HTTP endpoint (/healthz, /stats, /metrics), or "off"
                       (default 127.0.0.1:61614)
  --help               print this and exit
  --version            print the version and exit

Flags override the configuration file. SIGINT or SIGTERM stops the broker:
connections are closed cleanly within shutdown_timeout_ms, then it exits 0.
)";

std::optional<std::uint64_t> parse_size(std::string_view text) {
    std::uint64_t multiplier = 1;
    if (!text.empty() && (text.back() == 'K' || text.back() == 'k')) {
        multiplier = 1024;
        text.remove_suffix(1);
    } else if (!text.empty() && (text.back() == 'M' || text.back() == 'm')) {
        multiplier = 1024 * 1024;
        text.remove_suffix(1);
    }
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value * multiplier;
}

struct flags {
    std::optional<std::string> config_file;
    std::vector<std::pair<std::string, std::string>> overrides;  // (flag, value) in order
};

// Applies one flag over the configuration; throws config_error naming it.
void apply(config& cfg, const std::string& flag, const std::string& value) {
    if (flag == "--listen") {
        cfg.listen = value;
    } else if (flag == "--schedulers") {
        const auto n = parse_size(value);
        if (!n || *n > 1024) {
            throw config_error("--schedulers must be a number from 0 to 1024, not '" + value + "'");
        }
        cfg.schedulers = static_cast<unsigned>(*n);
    } else if (flag == "--io") {
        if (!stampede::runtime::parse_io_mode(value, cfg.io)) {
            throw config_error("--io must be auto, uring or asio, not '" + value + "'");
        }
    } else if (flag == "--stack-size") {
        const auto n = parse_size(value);
        if (!n || *n < 16 * 1024 || *n > 64 * 1024 * 1024) {
            throw config_error("--stack-size must be between 16K and 64M, not '" + value + "'");
        }
        cfg.stack_size = *n;
    } else if (flag == "--log-level") {
        cfg.log_level = value;
    } else if (flag == "--admin") {
        cfg.admin.enabled = value != "off";
        if (cfg.admin.enabled) {
            cfg.admin.listen = value;
        }
        cfg.admin.required = cfg.admin.enabled;
    }
}

flags parse_flags(int argc, char** argv) {
    flags out;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(usage, stdout);
            std::exit(0);
        }
        if (arg == "--version") {
            std::printf("stampede %s\n", std::string(stampede::broker::version).c_str());
            std::exit(0);
        }
        const bool takes_value = arg == "--config" || arg == "--listen" || arg == "--schedulers" ||
                                 arg == "--io" || arg == "--stack-size" || arg == "--log-level" ||
                                 arg == "--admin";
        if (!takes_value) {
            throw config_error("unknown option '" + arg + "' (see --help)");
        }
        if (i + 1 >= argc) {
            throw config_error(arg + " needs a value");
        }
        if (arg == "--config") {
            out.config_file = argv[++i];
        } else {
            out.overrides.emplace_back(arg, argv[++i]);
        }
    }
    return out;
}

// Blocks the stop signals in every thread (threads inherit the mask), so that
// main() alone receives them, synchronously, with sigwait.
sigset_t block_stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);
    return set;
}

}  // namespace

int main(int argc, char** argv) {
    config cfg;
    try {
        const flags f = parse_flags(argc, argv);
        if (f.config_file) {
            cfg = stampede::broker::load_config(*f.config_file);
        }
        for (const auto& [flag, value] : f.overrides) {
            apply(cfg, flag, value);
        }
        stampede::broker::validate(cfg);
    } catch (const config_error& e) {
        std::fprintf(stderr, "stampede: %s\n", e.what());
        return 2;
    }
    stampede::runtime::log::level level{};
    stampede::runtime::log::parse_level(cfg.log_level, level);
    stampede::runtime::log::set_level(level);

    const sigset_t stop_signals = block_stop_signals();
    stampede::broker::broker b(cfg);
    try {
        b.start();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "stampede: cannot start: %s\n", e.what());
        return 1;
    }
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    stampede::runtime::log::info("received ", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    b.stop();
    return 0;
}
