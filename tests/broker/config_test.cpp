#include "stampede/broker/config.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "command_line.hpp"

using namespace stampede::broker;

namespace {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t GiB = 1024 * MiB;
constexpr std::uint64_t TiB = 1024 * GiB;
constexpr std::uint64_t hour_ms = 3'600'000;
constexpr std::uint64_t day_ms = 24 * hour_ms;

// Every numeric key with its range, as README.md documents them. A key added
// to config.cpp without a line here is not covered; one whose range changes
// fails here until README and this table agree.
struct ranged_key {
    const char* path;  // dotted
    std::uint64_t min;
    std::uint64_t max;
    const char* context = "";  // keys set beside it (cross-field rules)
};

const std::vector<ranged_key> ranged_keys = {
    {"schedulers", 0, 1024},
    {"stack_size", 16 * KiB, 64 * MiB},
    {"idle_destination_ms", 1, day_ms},
    {"shutdown_timeout_ms", 0, hour_ms},
    {"limits.max_command_line", 16, MiB},
    {"limits.max_headers", 1, 100'000},
    {"limits.max_header_line", 16, 16 * MiB},
    {"limits.max_frame", 64, GiB, R"("max_frame_before_connect": 64)"},
    {"limits.max_frame_before_connect", 64, 16 * MiB, R"("max_frame": 1073741824)"},
    {"limits.max_headers_before_connect", 1, 100'000},
    {"limits.max_header_line_before_connect", 16, 16 * MiB},
    {"limits.connect_timeout_ms", 1, hour_ms},
    {"limits.max_transactions", 1, 10'000},
    {"limits.max_frames_per_transaction", 1, 10'000'000},
    {"limits.max_transaction_bytes", KiB, TiB},
    {"limits.max_subscriptions", 1, 1'000'000},
    {"limits.max_unacked_bytes", KiB, TiB},
    {"limits.max_destinations", 1, 100'000'000},
    {"limits.max_new_destinations_per_second", 1, 10'000'000},
    {"limits.max_connections", 1, 10'000'000},
    {"limits.max_unauthenticated_per_ip", 1, 10'000'000},
    {"heartbeat.send_ms", 0, day_ms},
    {"heartbeat.receive_ms", 0, day_ms},
    {"queues.prefetch", 1, 1'000'000, R"("max_prefetch": 1000000)"},
    {"queues.max_prefetch", 1, 1'000'000, R"("prefetch": 1)"},
    {"queues.max_deliveries", 1, 1'000'000},
    {"queues.max_length", 1, 1'000'000'000'000},
    {"queues.max_bytes", 1, 1024 * TiB},
    {"topics.prefetch", 1, 1'000'000},
    {"admin.metrics_destinations", 0, 100'000},
    {"outbound.max_bytes", 4096, TiB},
    {"outbound.grace_ms", 1, hour_ms},
    {"outbound.min_drain_rate", 0, TiB},
    {"outbound.socket_send_buffer", 4096, 64 * MiB},
    {"publishers.window_messages", 1, 1'000'000'000},
    {"publishers.window_bytes", 4096, TiB},
    {"memory.check_interval_ms", 1, hour_ms},
};

// The JSON document that sets `path` to `value` (raw JSON text), with
// `context` (raw members) beside it in the same object.
std::string document(const std::string& path, const std::string& value,
                     const std::string& context = "") {
    const auto dot = path.find('.');
    const std::string member = context.empty() ? "" : context + ", ";
    if (dot == std::string::npos) {
        return "{" + member + "\"" + path + "\": " + value + "}";
    }
    return "{\"" + path.substr(0, dot) + "\": {" + member + "\"" + path.substr(dot + 1) +
           "\": " + value + "}}";
}

// The message of the config_error that parsing `json` throws ("" if none).
std::string error_of(const std::string& json) {
    try {
        (void)parse_config(json);
    } catch (const config_error& e) {
        return e.what();
    }
    return "";
}

std::string range_text(const ranged_key& k) {
    return "between " + std::to_string(k.min) + " and " + std::to_string(k.max);
}

}  // namespace

TEST_CASE("the defaults parse from an empty document", "[config]") {
    const config c = parse_config("{}");
    CHECK(c.limits.max_frame == 4 * MiB);
    CHECK(c.limits.max_transaction_bytes == 16 * MiB);
    CHECK(c.limits.max_destinations == 100'000);
    CHECK(c.limits.max_new_destinations_per_second == 1000);
    CHECK(c.limits.max_connections == 100'000);
    CHECK(c.limits.max_unauthenticated_per_ip == 1000);
    CHECK(c.limits.max_headers_before_connect == 100);
    CHECK(c.limits.max_header_line_before_connect == 4 * KiB);
    CHECK(c.limits.max_frame_before_connect == 64 * KiB);
    CHECK(c.outbound.throttle);
    CHECK(c.outbound.socket_send_buffer == 256 * KiB);
    CHECK(c.admin.metrics_destinations == 100);
    CHECK(c.default_virtual_host == "/");
}

TEST_CASE("every numeric key takes the ends of its range", "[config]") {
    for (const auto& k : ranged_keys) {
        for (const std::uint64_t v : {k.min, k.max}) {
            INFO(k.path << " = " << v);
            CHECK(error_of(document(k.path, std::to_string(v), k.context)).empty());
        }
    }
}

TEST_CASE("a value past either end of its range stops start-up naming the key and the range",
          "[config]") {
    for (const auto& k : ranged_keys) {
        std::vector<std::string> outside = {std::to_string(k.max + 1), "-1"};
        if (k.min > 0) {
            outside.push_back(std::to_string(k.min - 1));
        }
        for (const auto& v : outside) {
            INFO(k.path << " = " << v);
            const std::string message = error_of(document(k.path, v, k.context));
            CHECK_THAT(message, Catch::Contains("'" + std::string(k.path) + "'"));
            CHECK_THAT(message, Catch::Contains(range_text(k)));
        }
    }
}

TEST_CASE("a number that is not a whole number, or too big for 64 bits, names the range",
          "[config]") {
    for (const char* v : {"1.5", "1e30", "18446744073709551616", "\"100\"", "true", "null"}) {
        INFO(v);
        const std::string message = error_of(document("limits.max_frame", v));
        CHECK_THAT(message, Catch::Contains("'limits.max_frame'"));
        CHECK_THAT(message, Catch::Contains("between 64 and 1073741824"));
    }
}

TEST_CASE("an unknown key is refused by its full name, at every level", "[config]") {
    CHECK_THAT(error_of(R"({"no_such_key": 1})"), Catch::Contains("'no_such_key'"));
    for (const char* section :
         {"limits", "heartbeat", "queues", "topics", "admin", "outbound", "publishers", "memory"}) {
        INFO(section);
        CHECK_THAT(
            error_of(std::string("{\"") + section + "\": {\"typo\": 1}}"),
            Catch::Contains("unknown configuration key '" + std::string(section) + ".typo'"));
    }
    CHECK_THAT(error_of(R"({"outbound": {"policies": [{"destination": "/topic/a", "oops": 1}]}})"),
               Catch::Contains("'outbound.policies[0].oops'"));
}

TEST_CASE("values of the wrong type or choice name the key", "[config]") {
    CHECK_THAT(error_of(R"({"outbound": {"throttle": 1}})"),
               Catch::Contains("'outbound.throttle' must be true or false"));
    CHECK_THAT(error_of(R"({"outbound": {"slow_consumer": "maybe"}})"),
               Catch::Contains("'outbound.slow_consumer' must be one of drop, disconnect, block"));
    CHECK_THAT(error_of(R"({"queues": {"overflow": "x"}})"), Catch::Contains("'queues.overflow'"));
    CHECK_THAT(error_of(R"({"limits": 5})"), Catch::Contains("'limits' must be an object"));
    CHECK_THAT(error_of(R"({"memory": {"high_water": 0}})"),
               Catch::Contains("'memory.high_water'"));
    CHECK_THAT(error_of(R"({"memory": {"high_water": 2e15}})"),
               Catch::Contains("'memory.high_water'"));
    CHECK_THAT(error_of("{not json"), Catch::Contains("not valid JSON"));
}

TEST_CASE("the default virtual host must be one of the virtual hosts", "[config]") {
    CHECK_THAT(error_of(R"({"virtual_hosts": ["a", "b"], "default_virtual_host": "c"})"),
               Catch::Contains("'default_virtual_host' must be one of 'virtual_hosts'"));
    const config c = parse_config(R"({"virtual_hosts": ["a", "b"], "default_virtual_host": "b"})");
    CHECK(c.default_virtual_host == "b");
    CHECK(c.default_virtual_host_explicit);
    CHECK_FALSE(parse_config(R"({"virtual_hosts": ["a"]})").default_virtual_host_explicit);
}

TEST_CASE("cross-field rules are checked", "[config]") {
    CHECK_THAT(error_of(R"({"limits": {"max_frame": 70000, "max_frame_before_connect": 80000}})"),
               Catch::Contains("'limits.max_frame_before_connect' cannot exceed"));
    CHECK_THAT(error_of(R"({"queues": {"prefetch": 20, "max_prefetch": 10}})"),
               Catch::Contains("'queues.prefetch' cannot exceed"));
    CHECK_THAT(error_of(R"({"virtual_hosts": []})"), Catch::Contains("'virtual_hosts'"));
    CHECK_THAT(error_of(R"({"virtual_hosts": ["a\u0001"]})"), Catch::Contains("printable"));
    CHECK_THAT(error_of(R"({"listen": "example.org:1"})"), Catch::Contains("'listen'"));
    CHECK_THAT(error_of(R"({"log_level": "loud"})"), Catch::Contains("'log_level'"));
    CHECK_THAT(error_of(R"({"outbound": {"policies": [{"destination": ""}]}})"),
               Catch::Contains("'outbound.policies[0].destination'"));
}

// ---- glob patterns of slow-consumer rules ----

TEST_CASE("a glob matches literally except for '*', which matches any run", "[config][glob]") {
    CHECK(glob_match("", ""));
    CHECK_FALSE(glob_match("", "a"));
    CHECK(glob_match("*", ""));
    CHECK(glob_match("*", "/topic/anything"));
    CHECK(glob_match("/topic/a", "/topic/a"));
    CHECK_FALSE(glob_match("/topic/a", "/topic/ab"));
    CHECK_FALSE(glob_match("/topic/ab", "/topic/a"));
    CHECK(glob_match("/topic/cut.*", "/topic/cut.x"));
    CHECK(glob_match("/topic/cut.*", "/topic/cut."));
    CHECK_FALSE(glob_match("/topic/cut.*", "/topic/cut"));
    CHECK(glob_match("*.orders", "/queue/eu.orders"));
    CHECK_FALSE(glob_match("*.orders", "/queue/eu.orders.old"));
    CHECK(glob_match("/a/*/c/*", "/a/b/c/d"));
    CHECK(glob_match("a*b*c", "aXXbYYbZZc"));
    CHECK_FALSE(glob_match("a*b*c", "aXXbYYbZZ"));
    CHECK(glob_match("**", "x"));
    CHECK(glob_match("a**b", "ab"));
    // '?' and '[' are ordinary characters.
    CHECK(glob_match("/topic/?", "/topic/?"));
    CHECK_FALSE(glob_match("/topic/?", "/topic/x"));
    CHECK(glob_match("[x]", "[x]"));
}

TEST_CASE("a glob with many stars against a long name finishes at once (no backtracking blow-up)",
          "[config][glob]") {
    const std::string pattern = std::string(50, '*') + "b";
    const std::string text(100'000, 'a');
    CHECK_FALSE(glob_match(pattern, text));
    CHECK(glob_match(pattern, text + "b"));
}

TEST_CASE("the slow-consumer policy of a destination is the first matching rule's",
          "[config][glob]") {
    const config c = parse_config(R"({"outbound": {"slow_consumer": "drop", "policies": [
        {"destination": "/topic/cut.*", "slow_consumer": "disconnect"},
        {"destination": "/topic/*", "slow_consumer": "block"}]}})");
    CHECK(policy_for(c.outbound, "/topic/cut.a") == slow_consumer_policy::disconnect);
    CHECK(policy_for(c.outbound, "/topic/other") == slow_consumer_policy::block);
    CHECK(policy_for(c.outbound, "/queue/q") == slow_consumer_policy::drop);
}

// ---- the command line ----

namespace {

std::string flag_error(const std::string& flag, const std::string& value) {
    config c;
    try {
        apply_flag(c, flag, value);
    } catch (const config_error& e) {
        return e.what();
    }
    return "";
}

std::string parse_error(std::vector<const char*> args) {
    args.insert(args.begin(), "stampede");
    try {
        (void)parse_command_line(static_cast<int>(args.size()), args.data());
    } catch (const config_error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("command-line numbers are parsed strictly and name the flag and its range",
          "[config][command_line]") {
    for (const char* bad :
         {"1K", "", "-1", "+2", " 2", "2 ", "0x10", "1025", "99999999999999999999", "2.0"}) {
        INFO("--schedulers " << bad);
        const std::string message = flag_error("--schedulers", bad);
        CHECK_THAT(message, Catch::Contains("--schedulers"));
        CHECK_THAT(message, Catch::Contains("0 to 1024"));
    }
    config c;
    apply_flag(c, "--schedulers", "1024");
    CHECK(c.schedulers == 1024);
    apply_flag(c, "--schedulers", "0");
    CHECK(c.schedulers == 0);
}

TEST_CASE("the stack-size flag takes K and M suffixes within its range", "[config][command_line]") {
    config c;
    apply_flag(c, "--stack-size", "64K");
    CHECK(c.stack_size == 64 * KiB);
    apply_flag(c, "--stack-size", "1m");
    CHECK(c.stack_size == MiB);
    for (const char* bad : {"15K", "65M", "1G", "K", "12KK", "-64K", "18014398509481984K"}) {
        INFO("--stack-size " << bad);
        CHECK_THAT(flag_error("--stack-size", bad), Catch::Contains("between 16K and 64M"));
    }
}

TEST_CASE("other flags check their values too", "[config][command_line]") {
    CHECK_THAT(flag_error("--io", "fast"), Catch::Contains("--io"));
    CHECK_THAT(flag_error("--nope", "1"), Catch::Contains("unknown option"));
    config c;
    apply_flag(c, "--admin", "off");
    CHECK_FALSE(c.admin.enabled);
    apply_flag(c, "--admin", "127.0.0.1:1");
    CHECK(c.admin.enabled);
    CHECK(c.admin.required);
}

TEST_CASE("the command line refuses unknown, incomplete, repeated and abbreviated options",
          "[config][command_line]") {
    CHECK_THAT(parse_error({"--bogus"}), Catch::Contains("bogus"));
    CHECK_FALSE(parse_error({"--schedulers"}).empty());
    CHECK_FALSE(parse_error({"--schedulers", "1", "--schedulers", "2"}).empty());
    CHECK_FALSE(parse_error({"--sched", "1"}).empty());
    const char* args[] = {"stampede", "--schedulers", "2", "--config", "x.json", "--io", "asio"};
    const command_line cl = parse_command_line(7, args);
    CHECK(cl.config_file == "x.json");
    REQUIRE(cl.overrides.size() == 2);
}

TEST_CASE("a number past a double's range is a configuration error, not a crash",
          "[config]") {
    // Found by config_fuzz: nlohmann::json throws out_of_range, not parse_error.
    REQUIRE_THROWS_AS(parse_config(R"({"schedulers": 1e400})"), config_error);
}

TEST_CASE("the data directory is data/ by default; none or null means memory only",
          "[config][command_line]") {
    const config defaults;
    CHECK(defaults.data_dir == "data");
    CHECK(parse_config("{}").data_dir == "data");
    CHECK(parse_config(R"({"data_dir": null})").data_dir.empty());
    CHECK(parse_config(R"({"data_dir": "none"})").data_dir.empty());
    CHECK(parse_config(R"({"data_dir": "/var/lib/stampede"})").data_dir == "/var/lib/stampede");
    CHECK(parse_config(R"({"data_dir": "./none"})").data_dir == "./none");
    for (const char* bad : {R"({"data_dir": ""})", R"({"data_dir": 1})", R"({"data_dir": []})"}) {
        INFO(bad);
        try {
            (void)parse_config(bad);
            FAIL("accepted");
        } catch (const config_error& e) {
            CHECK_THAT(e.what(), Catch::Contains("data_dir"));
        }
    }
    config c;
    apply_flag(c, "--data-dir", "none");
    CHECK(c.data_dir.empty());
    apply_flag(c, "--data-dir", "/tmp/x");
    CHECK(c.data_dir == "/tmp/x");
    CHECK_THAT(flag_error("--data-dir", ""), Catch::Contains("--data-dir"));
}
