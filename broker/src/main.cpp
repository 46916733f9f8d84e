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

#include "command_line.hpp"
#include "stampede/broker/broker.hpp"
#include "stampede/broker/config.hpp"
#include "stampede/broker/version.hpp"
#include "stampede/runtime/log.hpp"

namespace {

using stampede::broker::config;
using stampede::broker::config_error;

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
        const auto line = stampede::broker::parse_command_line(argc, argv);
        if (line.help) {
            std::fputs(stampede::broker::usage_text().c_str(), stdout);
            return 0;
        }
        if (line.version) {
            std::printf("stampede %s\n", std::string(stampede::broker::version).c_str());
            return 0;
        }
        if (line.config_file) {
            cfg = stampede::broker::load_config(*line.config_file);
        }
        for (const auto& [flag, value] : line.overrides) {
            stampede::broker::apply_flag(cfg, flag, value);
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
