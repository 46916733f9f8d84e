#include "stampede/protocol/negotiate.hpp"

#include <catch2/catch.hpp>
#include <string_view>

using namespace stampede::protocol;
using namespace std::string_view_literals;

TEST_CASE("the highest common version is chosen and no header means 1.0", "[protocol][negotiate]") {
    CHECK(negotiate_version(std::nullopt) == version::v1_0);
    CHECK(negotiate_version("1.0"sv) == version::v1_0);
    CHECK(negotiate_version("1.1"sv) == version::v1_1);
    CHECK(negotiate_version("1.0,1.1,1.2"sv) == version::v1_2);
    CHECK(negotiate_version("1.2,1.0"sv) == version::v1_2);
    CHECK(negotiate_version("1.1,1.0"sv) == version::v1_1);
    CHECK(negotiate_version("1.1,2.0"sv) == version::v1_1);
    CHECK(negotiate_version(" 1.0 , 1.1 "sv) == version::v1_1);
    CHECK(negotiate_version(",,1.2,"sv) == version::v1_2);
    CHECK_FALSE(negotiate_version("2.0"sv));
    CHECK_FALSE(negotiate_version(""sv));
    CHECK_FALSE(negotiate_version("1.2.0"sv));
    CHECK_FALSE(negotiate_version("12"sv));
    CHECK(supported_versions() == "1.0,1.1,1.2");
}

TEST_CASE("heart-beat values parse as two integers and a missing header is 0,0",
          "[protocol][negotiate]") {
    CHECK(parse_heart_beat(std::nullopt).ok());
    CHECK(parse_heart_beat(std::nullopt).value == heart_beat{0, 0});
    const heart_beat_result r = parse_heart_beat("10000,250"sv);
    CHECK(r.ok());
    CHECK(r.value == heart_beat{10000, 250});
    CHECK(parse_heart_beat("0,0"sv).value == heart_beat{0, 0});
    CHECK(parse_heart_beat("4294967295,007"sv).value == heart_beat{4294967295U, 7});
}

TEST_CASE("malformed heart-beat values are invalid_heart_beat", "[protocol][negotiate]") {
    for (const auto bad : {""sv, "10"sv, "10,"sv, ",10"sv, ","sv, "a,b"sv, "-1,5"sv, "+1,5"sv,
                           "1, 2"sv, " 1,2"sv, "1,2 "sv, "1,2,3"sv, "4294967296,0"sv,
                           "0,99999999999999999999"sv, "1.5,2"sv, "0x10,0"sv}) {
        INFO('"' << bad << '"');
        const heart_beat_result r = parse_heart_beat(bad);
        CHECK_FALSE(r.ok());
        CHECK(r.error == errc::invalid_heart_beat);
    }
}

TEST_CASE("heart-beat negotiation takes the larger interval when both sides want one",
          "[protocol][negotiate]") {
    // client (cx, cy), server (sx, sy)
    CHECK(negotiate_heart_beat({0, 0}, {5000, 5000}) == heart_beat_plan{0, 0});
    CHECK(negotiate_heart_beat({1000, 2000}, {5000, 300}) == heart_beat_plan{5000, 1000});
    CHECK(negotiate_heart_beat({1000, 0}, {5000, 5000}) == heart_beat_plan{0, 5000});
    CHECK(negotiate_heart_beat({0, 1000}, {5000, 5000}) == heart_beat_plan{5000, 0});
    CHECK(negotiate_heart_beat({1000, 1000}, {0, 0}) == heart_beat_plan{0, 0});
    CHECK(negotiate_heart_beat({1000, 20000}, {10000, 10000}) == heart_beat_plan{20000, 10000});
    CHECK(negotiate_heart_beat({30000, 1}, {10000, 10000}) == heart_beat_plan{10000, 30000});
}

TEST_CASE("the server's heart-beat header value is formatted as cx,cy", "[protocol][negotiate]") {
    CHECK(format_heart_beat({10000, 10000}) == "10000,10000");
    CHECK(format_heart_beat({0, 0}) == "0,0");
    CHECK(format_heart_beat({4294967295U, 1}) == "4294967295,1");
    CHECK(parse_heart_beat(format_heart_beat({123, 456})).value == heart_beat{123, 456});
}
