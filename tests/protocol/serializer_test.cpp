#include "stampede/protocol/serializer.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "stampede/protocol/parser.hpp"
#include "test_support.hpp"

using namespace stampede::protocol;
using namespace stampede::protocol::test;
using namespace std::string_view_literals;

namespace {

constexpr version all_versions[] = {version::v1_0, version::v1_1, version::v1_2};

/// Parses exactly one frame from `wire` with a parser set to `v`.
frame parse_back(const std::string& wire, version v) {
    parser p;
    p.set_version(v);
    std::string copy = wire;
    const parse_result r = p.parse(copy);
    INFO(describe(r.error));
    REQUIRE(r.status == parse_status::complete);
    REQUIRE(r.consumed == wire.size());
    return frame::from(p.frame());
}

std::string write(command cmd, std::vector<header> headers, std::string_view body, version v) {
    const outgoing_frame f{cmd, headers, body};
    std::string out = serialize_to_string(f, v);
    CHECK(out.size() == serialized_size(f, v));
    return out;
}

/// A frame as it should come back: content-length, if the command carries a body, appended.
frame expected_back(command cmd, const std::vector<header>& headers, std::string_view body) {
    frame f;
    f.cmd = cmd;
    for (const header& h : headers) {
        f.headers.emplace_back(h.name, h.value);
    }
    if (carries_body(cmd)) {
        f.headers.emplace_back("content-length", std::to_string(body.size()));
    }
    f.body = body;
    return f;
}

}  // namespace

TEST_CASE("serialized frames parse back to the same frame in every version",
          "[protocol][serializer]") {
    struct sample {
        command cmd;
        std::vector<header> headers;
        std::string_view body;
    };
    const std::vector<sample> samples = {
        {command::connect,
         {{"accept-version", "1.0,1.1,1.2"}, {"host", "/"}, {"passcode", "a\\b"}},
         ""},
        {command::stomp, {{"accept-version", "1.2"}, {"host", "v"}}, ""},
        {command::connected, {{"version", "1.2"}, {"heart-beat", "0,0"}, {"server", "s/1"}}, ""},
        {command::send, {{"destination", "/queue/a"}, {"x", "y"}}, "hello\0world"sv},
        {command::send, {}, ""},
        {command::subscribe, {{"id", "0"}, {"destination", "/topic/t"}, {"ack", "client"}}, ""},
        {command::unsubscribe, {{"id", "0"}}, ""},
        {command::begin, {{"transaction", "tx"}}, ""},
        {command::commit, {{"transaction", "tx"}}, ""},
        {command::abort, {{"transaction", "tx"}}, ""},
        {command::ack, {{"id", "a-1"}}, ""},
        {command::nack, {{"id", "a-1"}}, ""},
        {command::disconnect, {{"receipt", "r1"}}, ""},
        {command::message,
         {{"destination", "/q"},
          {"message-id", "1"},
          {"subscription", "0"},
          {"a", "1"},
          {"a", "2"}},
         std::string_view("\0\0\n\r", 4)},
        {command::receipt, {{"receipt-id", "r1"}}, ""},
        {command::error, {{"message", "bad"}}, "details"},
    };
    for (const version v : all_versions) {
        for (const sample& s : samples) {
            INFO(to_string(v) << " " << to_string(s.cmd));
            const std::string wire = write(s.cmd, s.headers, s.body, v);
            CHECK(parse_back(wire, v) == expected_back(s.cmd, s.headers, s.body));
        }
    }
}

TEST_CASE("special characters round-trip where the version can escape them",
          "[protocol][serializer]") {
    const std::vector<header> hs = {{"k:e\\y", "v:\n\\x"}, {"plain", "colon:in:value"}};
    for (const version v : {version::v1_1, version::v1_2}) {
        INFO(to_string(v));
        const std::string wire = write(command::send, hs, "b", v);
        CHECK(parse_back(wire, v) == expected_back(command::send, hs, "b"));
    }
    const std::vector<header> with_cr = {{"k", "a\rb"}};
    for (const version v : {version::v1_1, version::v1_2}) {
        INFO(to_string(v));
        const std::string wire = write(command::message, with_cr, "", v);
        CHECK(parse_back(wire, v) == expected_back(command::message, with_cr, ""));
    }
}

TEST_CASE("escaping follows the version and the command", "[protocol][serializer]") {
    const std::vector<header> hs = {{"a:b", "1\r\n2\\3:4"}};
    CHECK(write(command::send, hs, "", version::v1_2) ==
          "SEND\na\\cb:1\\r\\n2\\\\3\\c4\ncontent-length:0\n\n\0"sv);
    CHECK(write(command::send, hs, "", version::v1_1) ==
          "SEND\na\\cb:1\r\\n2\\\\3\\c4\ncontent-length:0\n\n\0"sv);
    // 1.0 and CONNECT-like frames cannot escape: lossy spaces keep the frame parseable.
    CHECK(write(command::send, hs, "", version::v1_0) ==
          "SEND\na b:1  2\\3:4\ncontent-length:0\n\n\0"sv);
    CHECK(write(command::connect, hs, "", version::v1_2) == "CONNECT\na b:1  2\\3:4\n\n\0"sv);
    CHECK(write(command::connected, hs, "", version::v1_1) == "CONNECTED\na b:1  2\\3:4\n\n\0"sv);
    CHECK(write(command::stomp, {{"passcode", "p\\w"}}, "", version::v1_2) ==
          "STOMP\npasscode:p\\w\n\n\0"sv);
}

TEST_CASE("frames with a body always carry the computed content-length", "[protocol][serializer]") {
    for (const version v : all_versions) {
        for (const command c : {command::send, command::message, command::error}) {
            INFO(to_string(v) << " " << to_string(c));
            const std::string wire = write(c, {{"content-length", "999"}, {"x", "1"}}, "a\0b"sv, v);
            const frame f = parse_back(wire, v);
            CHECK(f.get("content-length") == "3");
            CHECK(f.body == "a\0b"sv);
            CHECK(f.headers.size() == 2);  // the caller's content-length was skipped
            CHECK(wire.find("999") == std::string::npos);
        }
    }
    // Frames without a body keep what the caller gave, content-length included.
    CHECK(write(command::ack, {{"id", "1"}, {"content-length", "0"}}, "", version::v1_2) ==
          "ACK\nid:1\ncontent-length:0\n\n\0"sv);
    CHECK(write(command::receipt, {{"receipt-id", "7"}}, "", version::v1_2) ==
          "RECEIPT\nreceipt-id:7\n\n\0"sv);
}

TEST_CASE("serialize writes exactly serialized_size bytes", "[protocol][serializer]") {
    const std::vector<header> hs = {{"destination", "/q:x"}, {"k", "\\\r\n"}};
    const std::string body(1000, 'z');
    for (const version v : all_versions) {
        const outgoing_frame f{command::message, hs, body};
        std::string out(serialized_size(f, v) + 16, '#');
        const std::size_t n = serialize(f, v, out);
        CHECK(n == serialized_size(f, v));
        CHECK(out[n - 1] == '\0');
        CHECK(out[n] == '#');
    }
}

TEST_CASE("message_template writes what the generic serializer writes", "[protocol][serializer]") {
    const std::vector<header> user = {
        {"content-type", "text/plain"}, {"x-key", "a:b\nc"}, {"x-n", "1"}, {"x-n", "2"}};
    const std::string body("payload\0with\0nuls", 17);
    const std::vector<header> extra = {{"redelivered", "true"}};
    struct delivery {
        std::string_view id, sub, ack;
        std::span<const header> extra;
    };
    const delivery deliveries[] = {
        {"m-1", "sub-0", "", {}},
        {"m-2", "sub:1", "ack\\2", {}},
        {"m\r3", "s", "a", extra},
    };
    for (const version v : all_versions) {
        const message_template t(v, "/topic/a:b", user, body);
        CHECK(t.frame_version() == v);
        for (const delivery& d : deliveries) {
            INFO(to_string(v) << " " << d.id);
            std::vector<header> hs = {
                {"destination", "/topic/a:b"}, {"message-id", d.id}, {"subscription", d.sub}};
            if (!d.ack.empty()) {
                hs.push_back({"ack", d.ack});
            }
            hs.insert(hs.end(), d.extra.begin(), d.extra.end());
            hs.insert(hs.end(), user.begin(), user.end());
            const std::string generic = write(command::message, hs, body, v);

            std::string out(t.size(d.id, d.sub, d.ack, d.extra), '#');
            CHECK(t.write(out, d.id, d.sub, d.ack, d.extra) == out.size());
            CHECK(out == generic);

            std::string head(t.head_size(d.id, d.sub, d.ack, d.extra), '#');
            CHECK(t.write_head(head, d.id, d.sub, d.ack, d.extra) == head.size());
            CHECK(head + std::string(t.body()) + std::string(t.tail()) == generic);
            CHECK(head.substr(head.size() - 2) == "\n\n");
        }
    }
}

TEST_CASE("message_template output parses as a MESSAGE with the right headers",
          "[protocol][serializer]") {
    const std::vector<header> user = {{"content-length", "77"}, {"priority", "4"}};
    const message_template t(version::v1_2, "/queue/q", user, "abc");
    std::string out(t.size("id-9", "sub-3", "ack-9"), '\0');
    out.resize(t.write(out, "id-9", "sub-3", "ack-9"));
    const frame f = parse_back(out, version::v1_2);
    CHECK(f.cmd == command::message);
    CHECK(f.get("destination") == "/queue/q");
    CHECK(f.get("message-id") == "id-9");
    CHECK(f.get("subscription") == "sub-3");
    CHECK(f.get("ack") == "ack-9");
    CHECK(f.get("priority") == "4");
    CHECK(f.get("content-length") == "3");  // computed; the user's 77 is skipped
    CHECK(f.headers.size() == 6);
    CHECK(f.body == "abc");
    CHECK(t.body() == "abc");
    CHECK(t.tail() == std::string_view("\0", 1));
}
