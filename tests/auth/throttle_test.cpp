// The login throttle over a fake clock: failures counted per address in a
// sliding window, a block after too many, failure delays, and bounded memory.

#include "stampede/auth/throttle.hpp"

#include <catch2/catch.hpp>

using namespace stampede::auth;
using namespace std::chrono_literals;

namespace {

struct fake_clock {
    login_throttle::time_point now{std::chrono::hours(1000)};
    login_throttle::clock_fn fn() {
        return [this] { return now; };
    }
};

}  // namespace

TEST_CASE("the sixth failure within ten seconds blocks the address for a while",
          "[auth][throttle]") {
    fake_clock clock;
    login_throttle throttle({}, clock.fn());
    for (int i = 0; i < 5; ++i) {
        CHECK(throttle.admit("10.0.0.1:4000"));
        throttle.record_failure("10.0.0.1:4000");
        clock.now += 1s;
    }
    CHECK(throttle.admit("10.0.0.1:4001"));  // five failures are allowed
    throttle.record_failure("10.0.0.1:4001");
    CHECK_FALSE(throttle.admit("10.0.0.1:4002"));  // any port of that address
    CHECK(throttle.blocked("10.0.0.1:9"));
    CHECK(throttle.admit("10.0.0.2:4000"));  // other addresses are not affected
    clock.now += 59s;
    CHECK_FALSE(throttle.admit("10.0.0.1:4003"));
    clock.now += 1s;  // the block (60 s by default) is over
    CHECK(throttle.admit("10.0.0.1:4004"));
    const auto stats = throttle.stats();
    CHECK(stats.failures == 6);
    CHECK(stats.blocks == 1);
    CHECK(stats.refused == 2);
}

TEST_CASE("failures spread wider than the window never block", "[auth][throttle]") {
    fake_clock clock;
    login_throttle throttle({}, clock.fn());
    for (int i = 0; i < 100; ++i) {
        throttle.record_failure("192.0.2.7:1");
        clock.now += 2s;  // at most five inside any ten seconds
    }
    CHECK(throttle.admit("192.0.2.7:1"));
    CHECK(throttle.stats().blocks == 0);
}

TEST_CASE("a failed login's ERROR waits for the failure delay", "[auth][throttle]") {
    fake_clock clock;
    throttle_options options;
    options.failure_delay = 1500ms;
    login_throttle throttle(options, clock.fn());
    CHECK(throttle.record_failure("203.0.113.5:80") == clock.now + 1500ms);
}

TEST_CASE("IPv6 clients are counted by their /64 and v4-mapped ones by their IPv4",
          "[auth][throttle]") {
    CHECK(throttle_key("127.0.0.1:61613") == "127.0.0.1");
    CHECK(throttle_key("[2001:db8:1:2:3:4:5:6]:5000") == "2001:db8:1:2::/64");
    CHECK(throttle_key("[::ffff:192.0.2.1]:5000") == "192.0.2.1");
    fake_clock clock;
    throttle_options options;
    options.max_failures = 1;
    login_throttle throttle(options, clock.fn());
    throttle.record_failure("[2001:db8:1:2::1]:1");
    throttle.record_failure("[2001:db8:1:2::99]:2");  // same /64: the second failure blocks
    CHECK_FALSE(throttle.admit("[2001:db8:1:2:ffff::1]:3"));
    CHECK(throttle.admit("[2001:db8:1:3::1]:3"));
}

TEST_CASE("the throttle remembers a bounded number of addresses", "[auth][throttle]") {
    fake_clock clock;
    throttle_options options;
    options.max_tracked = 100;
    options.max_failures = 1;
    login_throttle throttle(options, clock.fn());
    // Block one address, then fail from 1,000 others: the blocked one is the
    // least recently failed and is forgotten first, but memory stays bounded.
    throttle.record_failure("198.51.100.1:1");
    throttle.record_failure("198.51.100.1:1");
    CHECK_FALSE(throttle.admit("198.51.100.1:1"));
    for (int i = 0; i < 1000; ++i) {
        throttle.record_failure("10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256) +
                                ":1");
    }
    CHECK(throttle.stats().tracked <= 100);
    // After the window the remembered addresses are stale: they make room
    // for new failures, and a fresh block survives them.
    clock.now += 11s;
    throttle.record_failure("203.0.113.9:1");
    throttle.record_failure("203.0.113.9:1");
    for (int i = 0; i < 50; ++i) {
        throttle.record_failure("172.16.0." + std::to_string(i) + ":1");
    }
    CHECK_FALSE(throttle.admit("203.0.113.9:1"));
    CHECK(throttle.stats().tracked <= 100);
}
