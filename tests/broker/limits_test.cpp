// Limits that hold outside a session: token buckets (new destinations per
// second), the connection limiter, the parser's limits before and after
// CONNECT and the names a broken one is reported by.

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "admission.hpp"
#include "connection_limits.hpp"
#include "test_support.hpp"
#include "token_bucket.hpp"

using namespace stampede::broker;
using namespace std::chrono_literals;
using stampede::broker::testing::fake_clock;
namespace protocol = stampede::protocol;

// ---- token bucket ----

TEST_CASE("a token bucket allows a burst, then its rate", "[limits][token_bucket]") {
    fake_clock clock;
    token_bucket b(10, 5);  // 10 per second, bursts of 5
    for (int i = 0; i < 5; ++i) {
        CHECK(b.take(clock.now()));
    }
    CHECK_FALSE(b.available(clock.now()));
    CHECK_FALSE(b.take(clock.now()));
    clock.advance(99ms);
    CHECK_FALSE(b.take(clock.now()));
    clock.advance(1ms);  // a tenth of a second: one more
    CHECK(b.take(clock.now()));
    CHECK_FALSE(b.take(clock.now()));
}

TEST_CASE("a token bucket never saves up more than its burst", "[limits][token_bucket]") {
    fake_clock clock;
    token_bucket b(1000, 3);
    CHECK(b.take(clock.now()));
    clock.advance(1h);
    int taken = 0;
    while (b.take(clock.now())) {
        ++taken;
    }
    CHECK(taken == 3);
}

TEST_CASE("available() takes nothing", "[limits][token_bucket]") {
    fake_clock clock;
    token_bucket b(1, 1);
    CHECK(b.available(clock.now()));
    CHECK(b.available(clock.now()));
    CHECK(b.take(clock.now()));
    CHECK_FALSE(b.available(clock.now()));
}

TEST_CASE("a clock that steps back refills nothing", "[limits][token_bucket]") {
    fake_clock clock;
    token_bucket b(1000, 1);
    clock.advance(1s);
    CHECK(b.take(clock.now()));
    CHECK_FALSE(b.take(clock.now() - 500ms));
    CHECK_FALSE(b.take(clock.now() - 400ms));
}

// ---- connection limiter ----

TEST_CASE("the connection limiter admits up to max_connections in all", "[limits][limiter]") {
    connection_limiter l(3, 100);
    CHECK(l.on_open("10.0.0.1") == connection_limiter::verdict::admitted);
    CHECK(l.on_open("10.0.0.2") == connection_limiter::verdict::admitted);
    CHECK(l.on_open("10.0.0.3") == connection_limiter::verdict::admitted);
    CHECK(l.on_open("10.0.0.4") == connection_limiter::verdict::too_many_connections);
    CHECK(l.open() == 3);
    l.on_close("10.0.0.2", true);
    CHECK(l.on_open("10.0.0.4") == connection_limiter::verdict::admitted);
}

TEST_CASE(
    "the connection limiter admits up to max_unauthenticated_per_ip per address, and "
    "authenticated ones do not count",
    "[limits][limiter]") {
    connection_limiter l(100, 2);
    const std::string ip = "192.0.2.7";
    CHECK(l.on_open(ip) == connection_limiter::verdict::admitted);
    CHECK(l.on_open(ip) == connection_limiter::verdict::admitted);
    CHECK(l.on_open(ip) == connection_limiter::verdict::too_many_unauthenticated);
    CHECK(l.open() == 2);  // the refused one is not counted
    CHECK(l.on_open("192.0.2.8") == connection_limiter::verdict::admitted);  // another address

    l.on_authenticated(ip);  // one of the two sent CONNECT
    CHECK(l.on_open(ip) == connection_limiter::verdict::admitted);
    CHECK(l.on_open(ip) == connection_limiter::verdict::too_many_unauthenticated);
    l.on_close(ip, false);  // the authenticated one ends: no room made before CONNECT
    CHECK(l.on_open(ip) == connection_limiter::verdict::too_many_unauthenticated);
    l.on_close(ip, true);
    CHECK(l.on_open(ip) == connection_limiter::verdict::admitted);
}

TEST_CASE("the connection limiter counts exactly under concurrent use", "[limits][limiter]") {
    // Two threads per address, each with at most one connection open: never
    // more than two unauthenticated per address, so none is ever refused.
    connection_limiter l(100, 2);
    std::atomic<int> refused{0};  // (Catch2 assertions are for the main thread)
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&l, &refused, t] {
            const std::string ip = "10.0.0." + std::to_string(t % 2);
            for (int i = 0; i < 10'000; ++i) {
                if (l.on_open(ip) != connection_limiter::verdict::admitted) {
                    ++refused;
                    continue;
                }
                if (i % 2 == 0) {
                    l.on_authenticated(ip);
                    l.on_close(ip, false);
                } else {
                    l.on_close(ip, true);
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(refused == 0);
    CHECK(l.open() == 0);
    // Every per-address count came back to exactly zero.
    for (const char* ip : {"10.0.0.0", "10.0.0.1"}) {
        CHECK(l.on_open(ip) == connection_limiter::verdict::admitted);
        CHECK(l.on_open(ip) == connection_limiter::verdict::admitted);
        CHECK(l.on_open(ip) == connection_limiter::verdict::too_many_unauthenticated);
    }
}

TEST_CASE("the IP of a peer address is its host part", "[limits]") {
    CHECK(ip_of("127.0.0.1:61613") == "127.0.0.1");
    CHECK(ip_of("[::1]:61613") == "::1");
    CHECK(ip_of("[2001:db8::7]:1") == "2001:db8::7");
    CHECK(ip_of("?") == "?");
}

// ---- parser limits ----

TEST_CASE("before CONNECT the parser's limits are the tighter ones", "[limits][parser]") {
    config c;
    const protocol::limits before = parser_limits_before_connect(c);
    const protocol::limits after = parser_limits_connected(c);
    CHECK(before.max_headers == 100);
    CHECK(before.max_header_line == 4 * 1024);
    CHECK(before.max_frame == 64 * 1024);
    CHECK(after.max_headers == 1000);
    CHECK(after.max_header_line == 10 * 1024);
    CHECK(after.max_frame == 4 * 1024 * 1024);
    // A connected limit configured tighter than the pre-CONNECT one wins before CONNECT too.
    c.limits.max_headers = 8;
    c.limits.max_header_line = 100;
    CHECK(parser_limits_before_connect(c).max_headers == 8);
    CHECK(parser_limits_before_connect(c).max_header_line == 100);
}

TEST_CASE("a broken parser limit is named by its configuration key, before and after CONNECT",
          "[limits][parser]") {
    const config c;
    struct example {
        protocol::errc error;
        bool connected;
        const char* key;
        const char* value;
    };
    for (const auto& e : {
             example{protocol::errc::frame_too_large, true, "(limits.max_frame)", "4194304"},
             example{protocol::errc::frame_too_large, false, "(limits.max_frame_before_connect)",
                     "65536"},
             example{protocol::errc::command_too_long, true, "(limits.max_command_line)", "1024"},
             example{protocol::errc::header_line_too_long, true, "(limits.max_header_line)",
                     "10240"},
             example{protocol::errc::header_line_too_long, false,
                     "(limits.max_header_line_before_connect)", "4096"},
             example{protocol::errc::too_many_headers, true, "(limits.max_headers)", "1000"},
             example{protocol::errc::too_many_headers, false, "(limits.max_headers_before_connect)",
                     "100"},
         }) {
        const std::string text = limit_broken(e.error, c, e.connected);
        INFO(text);
        CHECK_THAT(text, Catch::Contains(e.key));
        CHECK_THAT(text, Catch::Contains(e.value));
        if (!e.connected) {
            CHECK_THAT(text, Catch::Contains("before CONNECT"));
        }
    }
    CHECK(limit_broken(protocol::errc::invalid_heart_beat, c, true).empty());
}
