// The stampede executable: flags over a JSON configuration, then the broker
// until SIGINT or SIGTERM; SIGHUP reloads the users, permissions and TLS certificates.

#include <signal.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "command_line.hpp"
#include "stampede/auth/password.hpp"
#include "stampede/broker/broker.hpp"
#include "stampede/broker/config.hpp"
#include "stampede/broker/version.hpp"
#include "stampede/runtime/log.hpp"

namespace {

using stampede::broker::config;
using stampede::broker::config_error;

// Blocks the stop and reload signals in every thread (threads inherit the
// mask), so that main() alone receives them, synchronously, with sigwait.
sigset_t block_stop_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);
    return set;
}

// The configuration file (if any) under the command line's flags, validated.
// Throws config_error. Also what SIGHUP reads again.
config read_config(const std::string& file,
                   const std::vector<std::pair<std::string, std::string>>& overrides) {
    config cfg;
    if (!file.empty()) {
        stampede::broker::parse_options options;
        for (const auto& [flag, value] : overrides) {
            if (flag == "--admin") {
                options.admin_off = value == "off";
            }
        }
        cfg = stampede::broker::load_config(file, options);
    }
    for (const auto& [flag, value] : overrides) {
        stampede::broker::apply_flag(cfg, flag, value);
    }
    stampede::broker::validate(cfg);
    return cfg;
}

}  // namespace

int main(int argc, char** argv) {
    config cfg;
    std::string config_file;
    std::vector<std::pair<std::string, std::string>> overrides;
    try {
        const auto line = stampede::broker::parse_command_line(argc, argv);
        if (line.help) {
            std::fputs(stampede::broker::usage_text().c_str(), stdout);
            return 0;
        }
        if (line.hash_password) {
            return stampede::auth::hash_password_main();
        }
        if (line.version) {
            std::printf("stampede %s\n", std::string(stampede::broker::version).c_str());
            return 0;
        }
        overrides = line.overrides;
        if (line.config_file) {
            config_file = *line.config_file;
        }
        cfg = read_config(config_file, line.overrides);
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
    for (;;) {
        sigwait(&stop_signals, &signal_number);
        if (signal_number != SIGHUP) {
            break;
        }
        stampede::runtime::log::info("received SIGHUP: reloading users, permissions and certificates",
                                     config_file.empty() ? " (no --config: nothing to read)" : "");
        b.reload_auth([&] { return read_config(config_file, overrides); });
        b.reload_tls();
    }
    stampede::runtime::log::info("received ", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    b.stop();
    return 0;
}
