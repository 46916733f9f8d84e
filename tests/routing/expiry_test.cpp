// Reading expires, expiration, AMQ_SCHEDULED_DELAY and priority, and combining TTLs.

#include "stampede/routing/expiry.hpp"

#include <catch2/catch.hpp>
#include <limits>

using namespace stampede::routing;

TEST_CASE("expires is an absolute deadline and 0 means never", "[routing][expiry]") {
    CHECK(parse_expires(std::nullopt).value() == std::nullopt);
    CHECK(parse_expires("0").value() == std::nullopt);
    CHECK(parse_expires("1700000000000").value() == 1700000000000);
    for (const char* bad : {"", "-1", "soon", "1.5", " 5", "5 ", "99999999999999999999"}) {
        INFO(bad);
        const auto r = parse_expires(bad);
        REQUIRE(r.has_error());
        CHECK(r.error_info().code == errc::invalid_expires);
        CHECK(r.error_code() == make_error_code(errc::invalid_expires));
    }
    CHECK_THAT(parse_expires("soon").error_info().message,
               Catch::Contains("expires header 'soon'"));
}

TEST_CASE("expiration is a time to live in milliseconds", "[routing][expiry]") {
    CHECK(parse_ttl(std::nullopt).value() == std::nullopt);
    CHECK(parse_ttl("0").value() == 0);
    CHECK(parse_ttl("60000").value() == 60000);
    CHECK(parse_ttl("-5").has_error());
    CHECK(parse_ttl("1e3").has_error());
}

TEST_CASE("AMQ_SCHEDULED_DELAY is a delay in milliseconds and 0 means none", "[routing][expiry]") {
    CHECK(parse_delay(std::nullopt).value() == std::nullopt);
    CHECK(parse_delay("0").value() == std::nullopt);
    CHECK(parse_delay("1500").value() == 1500);
    CHECK(parse_delay("-1").error_info().code == errc::invalid_delay);
    CHECK(parse_delay("x").error_info().code == errc::invalid_delay);
}

TEST_CASE("priority defaults to 4 and is held to 0-9", "[routing][expiry]") {
    CHECK(parse_priority(std::nullopt).value() == 4);
    CHECK(parse_priority("0").value() == 0);
    CHECK(parse_priority("9").value() == 9);
    CHECK(parse_priority("10").value() == 9);
    CHECK(parse_priority("255").value() == 9);
    CHECK(parse_priority("-3").value() == 0);
    CHECK(parse_priority("high").error_info().code == errc::invalid_priority);
    CHECK(parse_priority("").has_error());
}

TEST_CASE("the earliest of expires, expiration and the destination TTL wins", "[routing][expiry]") {
    const expiry_policy none{};
    const expiry_policy minute{60000};
    CHECK(expiry_deadline(1000, std::nullopt, std::nullopt, none) == std::nullopt);
    CHECK(expiry_deadline(1000, 5000, std::nullopt, none) == 5000);
    CHECK(expiry_deadline(1000, std::nullopt, 100, none) == 1100);
    CHECK(expiry_deadline(1000, 5000, 100, none) == 1100);
    CHECK(expiry_deadline(1000, std::nullopt, std::nullopt, minute) == 61000);
    CHECK(expiry_deadline(1000, 5000, std::nullopt, minute) == 5000);
    CHECK(expiry_deadline(1000, std::nullopt, 120000, minute) == 61000);
    const auto far = std::numeric_limits<std::int64_t>::max();
    CHECK(expiry_deadline(1000, std::nullopt, far, none) == far);  // saturates
}

TEST_CASE("a message expires once the clock passes its deadline", "[routing][expiry]") {
    CHECK_FALSE(is_expired(std::nullopt, 1 << 30));
    CHECK_FALSE(is_expired(100, 99));
    CHECK_FALSE(is_expired(100, 100));
    CHECK(is_expired(100, 101));
    CHECK(now_epoch_ms() > 1600000000000);
}
