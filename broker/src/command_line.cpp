#include "command_line.hpp"

#include <boost/program_options.hpp>
#include <charconv>
#include <sstream>

namespace stampede::broker {

namespace po = boost::program_options;

namespace {

const char* const value_flags[] = {"config",     "listen",    "schedulers", "io",
                                   "stack-size", "log-level", "admin",      "data-dir"};

po::options_description describe() {
    po::options_description options("options");
    options.add_options()("config", po::value<std::string>()->value_name("FILE"),
                          "JSON configuration (every key and its default: README.md)")(
        "listen", po::value<std::string>()->value_name("HOST:PORT"),
        "address to listen on (default 127.0.0.1:61613)")(
        "schedulers", po::value<std::string>()->value_name("N"),
        "scheduler threads, 0 = one per core (default 0)")(
        "io", po::value<std::string>()->value_name("MODE"), "auto, uring or asio (default auto)")(
        "stack-size", po::value<std::string>()->value_name("BYTES"),
        "fiber stack size, K and M suffixes allowed (default 64K)")(
        "log-level", po::value<std::string>()->value_name("LEVEL"),
        "trace, debug, info, warn, error or off (default info)")(
        "admin", po::value<std::string>()->value_name("HOST:PORT"),
        "admin HTTP endpoint (/healthz, /stats, /metrics), or \"off\" (default 127.0.0.1:61680)")(
        "data-dir", po::value<std::string>()->value_name("DIR"),
        "journal directory for persistent messages and durable subscriptions, locked while "
        "the broker runs (default: data, under the working directory); none: memory only")(
        "hash-password", "read a passcode from stdin, print its argon2id string for \"users\", exit")(
        "help,h", "print this and exit")("version", "print the version and exit");
    return options;
}

// Digits only, then an optional suffix from `suffixes` (K or M, either case).
std::optional<std::uint64_t> strict_number(std::string_view text, bool suffixes) {
    std::uint64_t multiplier = 1;
    if (suffixes && !text.empty() && (text.back() == 'K' || text.back() == 'k')) {
        multiplier = 1024;
        text.remove_suffix(1);
    } else if (suffixes && !text.empty() && (text.back() == 'M' || text.back() == 'm')) {
        multiplier = 1024 * 1024;
        text.remove_suffix(1);
    }
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() ||
        value > UINT64_MAX / multiplier) {
        return std::nullopt;
    }
    return value * multiplier;
}

}  // namespace

std::string usage_text() {
    std::ostringstream out;
    out << "usage: stampede [options]\n\nA STOMP 1.2 message broker.\n\n"
        << describe()
        << "\nFlags override the configuration file. SIGINT or SIGTERM stops the broker:\n"
           "connections are closed cleanly within shutdown_timeout_ms, then it exits 0.\n";
    return out.str();
}

command_line parse_command_line(int argc, const char* const* argv) {
    po::variables_map given;
    try {
        po::store(
            po::command_line_parser(argc, argv)
                .options(describe())
                .style(po::command_line_style::unix_style & ~po::command_line_style::allow_guessing)
                .run(),
            given);
    } catch (const po::error& e) {
        throw config_error(std::string(e.what()) + " (see --help)");
    }
    command_line out;
    out.help = given.count("help") > 0;
    out.version = given.count("version") > 0;
    out.hash_password = given.count("hash-password") > 0;
    if (given.count("config")) {
        out.config_file = given["config"].as<std::string>();
    }
    for (const char* flag : value_flags) {
        if (std::string_view(flag) != "config" && given.count(flag)) {
            out.overrides.emplace_back(std::string("--") + flag, given[flag].as<std::string>());
        }
    }
    return out;
}

void apply_flag(config& cfg, const std::string& flag, const std::string& value) {
    if (flag == "--listen") {
        set_plain_listen(cfg, value);
    } else if (flag == "--schedulers") {
        const auto n = strict_number(value, false);
        if (!n || *n > 1024) {
            throw config_error("--schedulers must be a whole number from 0 to 1024, not '" + value +
                               "'");
        }
        cfg.schedulers = static_cast<unsigned>(*n);
    } else if (flag == "--io") {
        if (!runtime::parse_io_mode(value, cfg.io)) {
            throw config_error("--io must be auto, uring or asio, not '" + value + "'");
        }
    } else if (flag == "--stack-size") {
        const auto n = strict_number(value, true);
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
    } else if (flag == "--data-dir") {
        cfg.data_dir = parse_data_dir(value, "--data-dir");
    } else {
        throw config_error("unknown option '" + flag + "' (see --help)");
    }
}

}  // namespace stampede::broker
