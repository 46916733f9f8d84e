// The admin endpoint's reports: /stats pagination and the Prometheus text of
// /metrics, from hand-made snapshots (the shape compose_snapshot() gives).

#include "report.hpp"

#include <catch2/catch.hpp>
#include <limits>
#include <map>
#include <sstream>

using namespace stampede::broker;
using json = nlohmann::json;

namespace {

json destination(const std::string& name, std::uint64_t in, std::uint64_t out = 0,
                 const std::string& vhost = "/") {
    return {{"kind", name.rfind("/queue/", 0) == 0 ? "queue" : "topic"},
            {"vhost", vhost},
            {"name", name},
            {"messages_in", in},
            {"messages_out", out},
            {"bytes_in", in * 10},
            {"bytes_out", out * 10},
            {"dropped", 1},
            {"rejected", 0},
            {"redelivered", 0},
            {"dead_lettered", 0},
            {"depth", 2},
            {"depth_bytes", 20},
            {"paged", 0},
            {"paged_bytes", 0},
            {"unacked", 0},
            {"subscribers", 1},
            {"held_publishers", 0}};
}

json snapshot_with(json destinations, std::size_t connections = 0) {
    json conns = json::array();
    for (std::size_t i = 0; i < connections; ++i) {
        conns.push_back({{"id", i}, {"outbound_bytes", 0}});
    }
    return {{"broker", {{"version", "0.test"}, {"io_backend", "uring"}, {"uptime_ms", 1500}}},
            {"memory",
             {{"resident_bytes", 1 << 20},
              {"outbound_bytes", 0},
              {"socket_bytes", 0},
              {"alarm", false}}},
            {"destinations", std::move(destinations)},
            {"connections", std::move(conns)},
            {"stacks",
             json::array({{{"kind", "session.reader"}, {"fibers", 3}, {"max_high_water", 4096}}})}};
}

json many_destinations(std::size_t n) {
    json all = json::array();
    for (std::size_t i = 0; i < n; ++i) {
        all.push_back(destination("/topic/d" + std::to_string(i), i));
    }
    return all;
}

// The sample lines of `metric` (name{labels} value) in Prometheus text.
std::vector<std::string> samples_of(const std::string& text, const std::string& metric) {
    std::vector<std::string> out;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind(metric + "{", 0) == 0 || line.rfind(metric + " ", 0) == 0) {
            out.push_back(line);
        }
    }
    return out;
}

// The value of the sample of `metric` whose labels contain `label`.
double value_of(const std::string& text, const std::string& metric, const std::string& label) {
    for (const auto& line : samples_of(text, metric)) {
        if (line.find(label) != std::string::npos) {
            return std::stod(line.substr(line.rfind(' ') + 1));
        }
    }
    FAIL("no sample of " << metric << " with " << label);
    return 0;
}

}  // namespace

// ---- /stats pagination ----

TEST_CASE("a page of /stats says how many there are and where the next page starts",
          "[report][paginate]") {
    json s = snapshot_with(many_destinations(25), 7);
    paginate(s, 10, 10);
    REQUIRE(s["destinations"].size() == 10);
    CHECK(s["destinations"][0]["name"] == "/topic/d10");
    CHECK(s["pages"]["destinations"]["total"] == 25);
    CHECK(s["pages"]["destinations"]["offset"] == 10);
    CHECK(s["pages"]["destinations"]["limit"] == 10);
    CHECK(s["pages"]["destinations"]["next_offset"] == 20);
    // The connections list is paged alike: 7 in all, none from 10 on.
    CHECK(s["connections"].empty());
    CHECK(s["pages"]["connections"]["total"] == 7);
    CHECK(s["pages"]["connections"]["offset"] == 7);
    CHECK(s["pages"]["connections"]["next_offset"].is_null());
}

TEST_CASE("the last page has no next offset", "[report][paginate]") {
    json s = snapshot_with(many_destinations(25));
    paginate(s, 20, 10);
    CHECK(s["destinations"].size() == 5);
    CHECK(s["pages"]["destinations"]["next_offset"].is_null());
    json exact = snapshot_with(many_destinations(20));
    paginate(exact, 10, 10);
    CHECK(exact["pages"]["destinations"]["next_offset"].is_null());
}

TEST_CASE("walking the pages lists every entry once", "[report][paginate]") {
    std::map<std::string, int> seen;
    std::size_t offset = 0;
    for (int pages = 0; pages < 100; ++pages) {
        json s = snapshot_with(many_destinations(103));
        paginate(s, offset, 10);
        for (const auto& d : s["destinations"]) {
            ++seen[d["name"].get<std::string>()];
        }
        if (s["pages"]["destinations"]["next_offset"].is_null()) {
            break;
        }
        offset = s["pages"]["destinations"]["next_offset"].get<std::size_t>();
    }
    CHECK(seen.size() == 103);
    for (const auto& [name, count] : seen) {
        CHECK(count == 1);
    }
}

TEST_CASE("an offset past the end or a huge limit does not wrap", "[report][paginate]") {
    json past = snapshot_with(many_destinations(5));
    paginate(past, std::numeric_limits<std::size_t>::max(), 10);
    CHECK(past["destinations"].empty());
    CHECK(past["pages"]["destinations"]["offset"] == 5);
    CHECK(past["pages"]["destinations"]["next_offset"].is_null());

    json huge = snapshot_with(many_destinations(5));
    paginate(huge, 1, std::numeric_limits<std::size_t>::max());
    CHECK(huge["destinations"].size() == 4);
    CHECK(huge["pages"]["destinations"]["next_offset"].is_null());

    json none = snapshot_with(many_destinations(5));
    paginate(none, 0, 0);
    CHECK(none["destinations"].empty());
    CHECK(none["pages"]["destinations"]["next_offset"] == 0);
}

// ---- Prometheus text ----

TEST_CASE("the Prometheus text has a HELP and TYPE line per family and a value per sample",
          "[report][prometheus]") {
    const std::string text = to_prometheus(snapshot_with(many_destinations(3), 2), 100);
    std::istringstream lines(text);
    std::string line;
    std::string family;
    while (std::getline(lines, line)) {
        REQUIRE_FALSE(line.empty());
        if (line.rfind("# HELP ", 0) == 0) {
            family = line.substr(7, line.find(' ', 7) - 7);
            continue;
        }
        if (line.rfind("# TYPE ", 0) == 0) {
            CHECK(line.rfind("# TYPE " + family + " ", 0) == 0);
            const std::string type = line.substr(line.rfind(' ') + 1);
            CHECK((type == "counter" || type == "gauge"));
            continue;
        }
        INFO(line);
        CHECK(line.rfind(family, 0) == 0);  // every sample under its family
        const std::string value = line.substr(line.rfind(' ') + 1);
        CHECK_NOTHROW(std::stod(value));
    }
    CHECK(value_of(text, "stampede_connections", "") == 2);
    CHECK(value_of(text, "stampede_destinations", "") == 3);
    CHECK(value_of(text, "stampede_uptime_seconds", "") == 1.5);
    CHECK(value_of(text, "stampede_destination_messages_in_total", "name=\"/topic/d2\"") == 2);
    CHECK(value_of(text, "stampede_fibers", "kind=\"session.reader\"") == 3);
}

TEST_CASE("label values are escaped as the exposition format requires", "[report][prometheus]") {
    const std::string text = to_prometheus(
        snapshot_with(json::array({destination("/topic/a\"b\\c\nd", 1, 0, "v\"h")})), 100);
    CHECK_THAT(text, Catch::Contains(R"(vhost="v\"h",kind="topic",name="/topic/a\"b\\c\nd")"));
    CHECK(samples_of(text, "stampede_destination_depth").size() == 1);
}

TEST_CASE("/metrics has a series per destination for the busiest N only, the rest summed",
          "[report][prometheus]") {
    // 1000 destinations; destination i has seen i messages in and 2i out.
    json all = json::array();
    for (std::uint64_t i = 0; i < 1000; ++i) {
        all.push_back(destination("/queue/q" + std::to_string(i), i, 2 * i));
    }
    const std::size_t top = 10;
    const std::string text = to_prometheus(snapshot_with(all), top);
    for (const char* metric :
         {"stampede_destination_messages_in_total", "stampede_destination_messages_out_total",
          "stampede_destination_depth", "stampede_destination_subscribers",
          "stampede_destination_held_publishers"}) {
        INFO(metric);
        CHECK(samples_of(text, metric).size() == top + 1);
    }
    // The busiest are there by name; the others only in the sum.
    for (int i = 990; i < 1000; ++i) {
        CHECK_THAT(text, Catch::Contains("name=\"/queue/q" + std::to_string(i) + "\""));
    }
    CHECK_THAT(text, !Catch::Contains("name=\"/queue/q989\""));
    const double rest_in = 989.0 * 990.0 / 2.0;  // 0 + 1 + ... + 989
    CHECK(value_of(text, "stampede_destination_messages_in_total", "name=\"_other\"") == rest_in);
    CHECK(value_of(text, "stampede_destination_depth", "name=\"_other\"") == 2 * 990);
    CHECK(value_of(text, "stampede_destinations", "") == 1000);
}

TEST_CASE("/metrics stays bounded however many destinations exist", "[report][prometheus]") {
    const std::size_t small = to_prometheus(snapshot_with(many_destinations(100)), 20).size();
    const std::size_t large = to_prometheus(snapshot_with(many_destinations(20'000)), 20).size();
    // Only the values' digits may differ: the series are the same in number.
    CHECK(large < small + small / 10);
}

TEST_CASE("with no more destinations than N there is no summed series", "[report][prometheus]") {
    const std::string text = to_prometheus(snapshot_with(many_destinations(5)), 5);
    CHECK(samples_of(text, "stampede_destination_depth").size() == 5);
    CHECK_THAT(text, !Catch::Contains("_other"));
    const std::string none = to_prometheus(snapshot_with(many_destinations(5)), 0);
    CHECK(samples_of(none, "stampede_destination_depth").size() == 1);  // all summed
    CHECK(value_of(none, "stampede_destination_depth", "name=\"_other\"") == 10);
}
