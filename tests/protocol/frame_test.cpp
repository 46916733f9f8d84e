#include "stampede/protocol/frame.hpp"

#include <catch2/catch.hpp>

using namespace stampede::protocol;

namespace {

constexpr command all_commands[] = {
    command::connect,   command::stomp,       command::connected, command::send,
    command::subscribe, command::unsubscribe, command::begin,     command::commit,
    command::abort,     command::ack,         command::nack,      command::disconnect,
    command::message,   command::receipt,     command::error,
};

}  // namespace

TEST_CASE("every command round-trips through its wire name", "[protocol][frame]") {
    for (const command c : all_commands) {
        const std::string_view name = to_string(c);
        INFO(name);
        REQUIRE(parse_command(name) == c);
    }
    CHECK(to_string(command::send) == "SEND");
    CHECK(to_string(command::unsubscribe) == "UNSUBSCRIBE");
    CHECK(to_string(command::connected) == "CONNECTED");
}

TEST_CASE("command names are case-sensitive and exact", "[protocol][frame]") {
    CHECK_FALSE(parse_command("send"));
    CHECK_FALSE(parse_command("Send"));
    CHECK_FALSE(parse_command("SEND "));
    CHECK_FALSE(parse_command("SENDX"));
    CHECK_FALSE(parse_command(""));
    CHECK_FALSE(parse_command("CONNECTE"));
}

TEST_CASE("only SEND, MESSAGE and ERROR carry a body", "[protocol][frame]") {
    for (const command c : all_commands) {
        INFO(to_string(c));
        const bool expected = c == command::send || c == command::message || c == command::error;
        CHECK(carries_body(c) == expected);
    }
}

TEST_CASE("versions have their wire names", "[protocol][frame]") {
    CHECK(to_string(version::v1_0) == "1.0");
    CHECK(to_string(version::v1_1) == "1.1");
    CHECK(to_string(version::v1_2) == "1.2");
    CHECK(parse_version("1.2") == version::v1_2);
    CHECK(parse_version("1.0") == version::v1_0);
    CHECK_FALSE(parse_version("1.3"));
    CHECK_FALSE(parse_version(" 1.2"));
}

TEST_CASE("a frame's first header of a name wins in views and owned copies", "[protocol][frame]") {
    const header hs[] = {{"a", "1"}, {"b", "2"}, {"a", "3"}, {"", "empty"}};
    const frame_view view{command::send, hs, "body"};
    CHECK(view.get("a") == "1");
    CHECK(view.get("b") == "2");
    CHECK_FALSE(view.get("A"));
    CHECK_FALSE(view.get("c"));

    const frame owned = frame::from(view);
    CHECK(owned.cmd == command::send);
    CHECK(owned.body == "body");
    REQUIRE(owned.headers.size() == 4);
    CHECK(owned.get("a") == "1");
    CHECK(owned.headers[2] == std::pair<std::string, std::string>("a", "3"));

    const std::vector<header> views = owned.header_views();
    REQUIRE(views.size() == 4);
    CHECK(views[1].name == "b");
    CHECK(views[1].value == "2");
    CHECK(views[1].value.data() == owned.headers[1].second.data());
}
