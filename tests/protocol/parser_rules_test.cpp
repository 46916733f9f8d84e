// STOMP12.md items 1-8, one test each, plus the parser's own contract.

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <string_view>

#include "stampede/protocol/parser.hpp"
#include "test_support.hpp"

using namespace stampede::protocol;
using namespace stampede::protocol::test;
using namespace std::string_view_literals;

namespace {

/// Parses `data` whole in `mode` and returns the only frame, requiring nothing else but EOLs.
frame only_frame(std::string_view data, const parser_mode& mode) {
    const std::vector<event> events = parse_whole(data, mode);
    std::optional<frame> found;
    for (const event& e : events) {
        INFO("status " << static_cast<int>(e.status) << " error " << describe(e.error));
        REQUIRE((e.status == parse_status::complete || e.status == parse_status::heartbeat));
        if (e.parsed) {
            REQUIRE_FALSE(found);
            found = e.parsed;
        }
    }
    REQUIRE(found);
    return *found;
}

errc error_of(std::string_view data, const parser_mode& mode) {
    const std::vector<event> events = parse_whole(data, mode);
    REQUIRE_FALSE(events.empty());
    REQUIRE(events.back().status == parse_status::error);
    return events.back().error;
}

const parser_mode none{};
const parser_mode v10{version::v1_0, {}};
const parser_mode v11{version::v1_1, {}};
const parser_mode v12{version::v1_2, {}};
const parser_mode v12_strict{version::v1_2, strict_limits()};

}  // namespace

TEST_CASE("item 1: EOL is LF or CR LF in 1.2 and LF only in 1.0 and 1.1", "[protocol][stomp12]") {
    const auto lf = "SEND\ndestination:/q\nx:1\n\nbody\0"sv;
    const auto crlf = "SEND\r\ndestination:/q\r\nx:1\r\n\r\nbody\0"sv;
    for (const parser_mode& mode : {none, v10, v11, v12}) {
        const frame f = only_frame(lf, mode);
        CHECK(f.get("destination") == "/q");
        CHECK(f.get("x") == "1");
    }
    CHECK(only_frame(crlf, v12) == only_frame(lf, v12));
    CHECK(only_frame(crlf, none) == only_frame(lf, none));
    // In 1.0 and 1.1 the CR is an ordinary octet, so "SEND\r" is no command.
    CHECK(error_of(crlf, v11) == errc::unknown_command);
    CHECK(error_of(crlf, v10) == errc::unknown_command);
    // ... and inside a header line it belongs to the value.
    const frame raw = only_frame("SEND\ndestination:/q\r\n\nb\0"sv, v11);
    CHECK(raw.get("destination") == "/q\r");
    CHECK(error_of("SEND\ndestination:/q\rx\n\n\0"sv, v12) == errc::invalid_eol);
}

TEST_CASE("item 2: a frame ends with NUL and EOLs after it are heart-beats",
          "[protocol][stomp12]") {
    const auto data = "\nSEND\ndestination:/q\n\nhi\0\n\r\n\nBEGIN\ntransaction:t\n\n\0\n"sv;
    const std::vector<event> events = parse_whole(data, v12);
    REQUIRE(events.size() == 5);
    CHECK(events[0].status == parse_status::heartbeat);
    CHECK(events[0].size == 1);
    CHECK(events[1].status == parse_status::complete);
    CHECK(events[1].parsed->body == "hi");
    CHECK(events[2].status == parse_status::heartbeat);
    CHECK(events[2].size == 4);  // LF, CR LF, LF
    CHECK(events[3].parsed->cmd == command::begin);
    CHECK(events[4].status == parse_status::heartbeat);
    CHECK(events[4].size == 1);

    // One parse() reports a whole run of EOLs as one heart-beat, then stops.
    parser p;
    p.set_version(version::v1_2);
    std::string buf = "\n\r\n\nSEND";
    const parse_result r = p.parse(buf);
    CHECK(r.status == parse_status::heartbeat);
    CHECK(r.consumed == 4);
    // A CR LF heart-beat split after its CR waits for the LF.
    std::string cr = "\r";
    CHECK(p.parse(cr).status == parse_status::need_more);
}

TEST_CASE("item 3: commands and header names are case-sensitive", "[protocol][stomp12]") {
    CHECK(error_of("send\n\n\0"sv, v12) == errc::unknown_command);
    CHECK(error_of("Connect\n\n\0"sv, none) == errc::unknown_command);
    CHECK(error_of("FROB\n\n\0"sv, v12) == errc::unknown_command);
    const frame f = only_frame("SEND\nDestination:/a\ndestination:/b\n\n\0"sv, v12);
    CHECK(f.get("destination") == "/b");
    CHECK(f.get("Destination") == "/a");
    CHECK_FALSE(f.get("DESTINATION"));
}

TEST_CASE("item 4: escapes follow the version, CONNECT is never unescaped, nothing is trimmed",
          "[protocol][stomp12]") {
    const auto escaped = "SEND\na\\cb:x\\ny\\cz\\\\w\\r\n\n\0"sv;
    const frame f12 = only_frame(escaped, v12);
    CHECK(f12.get("a:b") == "x\ny:z\\w\r");
    CHECK(error_of(escaped, v11) == errc::invalid_escape);  // \r is 1.2 only
    const frame f11 = only_frame("SEND\na\\cb:x\\ny\\cz\\\\w\n\n\0"sv, v11);
    CHECK(f11.get("a:b") == "x\ny:z\\w");
    const frame f10 = only_frame(escaped, v10);
    CHECK(f10.get("a\\cb") == "x\\ny\\cz\\\\w\\r");
    CHECK(f10.get("a\\cb") == "x\\ny\\cz\\\\w\\r");

    const auto connect = "CONNECT\nlogin:a\\b\npasscode:\\t\\c\n\n\0"sv;
    for (const parser_mode& mode : {none, v10, v11, v12}) {
        const frame c = only_frame(connect, mode);
        CHECK(c.get("login") == "a\\b");
        CHECK(c.get("passcode") == "\\t\\c");
    }
    CHECK(only_frame("STOMP\nhost:a\\b\n\n\0"sv, none).get("host") == "a\\b");
    CHECK(only_frame("CONNECTED\nserver:a\\b\n\n\0"sv, v12).get("server") == "a\\b");
    CHECK(error_of("SEND\nd:\\x\n\n\0"sv, v12) == errc::invalid_escape);

    const frame untrimmed = only_frame("SEND\n key : value \n\n\0"sv, v12);
    REQUIRE(untrimmed.headers.size() == 1);
    CHECK(untrimmed.headers[0].first == " key ");
    CHECK(untrimmed.headers[0].second == " value ");
}

TEST_CASE("item 5: only SEND, MESSAGE and ERROR carry a body", "[protocol][stomp12]") {
    CHECK(only_frame("SEND\n\nbody\0"sv, v12).body == "body");
    CHECK(only_frame("MESSAGE\n\nbody\0"sv, v12).body == "body");
    CHECK(only_frame("ERROR\n\nbody\0"sv, v12).body == "body");
    for (const auto data : {"SUBSCRIBE\nid:1\n\nx\0"sv, "ACK\nid:1\n\n \0"sv, "CONNECT\n\nx\0"sv,
                            "DISCONNECT\n\n\nx\0"sv, "RECEIPT\nreceipt-id:1\n\nx\0"sv,
                            "COMMIT\ncontent-length:1\n\nx\0"sv}) {
        INFO(data);
        CHECK(error_of(data, v12) == errc::body_not_allowed);
        CHECK(error_of(data, v12_strict) == errc::body_not_allowed);
    }
    CHECK(only_frame("UNSUBSCRIBE\nid:1\ncontent-length:0\n\n\0"sv, v12).body.empty());
    // A body of EOLs only is refused when strict, skipped otherwise
    // (parser_leniency_test.cpp has the rest).
    CHECK(error_of("DISCONNECT\n\n\n\0"sv, v12_strict) == errc::body_not_allowed);
    CHECK(only_frame("DISCONNECT\n\n\n\0"sv, v12).body.empty());
}

TEST_CASE("item 6: content-length reads exactly that many octets, NULs included",
          "[protocol][stomp12]") {
    const frame f = only_frame("SEND\ncontent-length:5\n\na\0b\0c\0"sv, v12);
    CHECK(f.body == "a\0b\0c"sv);
    CHECK(only_frame("SEND\n\na\0"sv, v12).body == "a");
    CHECK(only_frame("SEND\ncontent-length:0003\n\na\0b\0"sv, v12).body == "a\0b"sv);
    CHECK(error_of("SEND\ncontent-length:1\n\nab\0"sv, v12) == errc::missing_null_after_body);
    // Without content-length the first NUL ends the frame; the rest is the next frame's.
    const std::vector<event> events = parse_whole("SEND\n\na\0b\0c\n"sv, v12);
    REQUIRE(events.size() == 2);
    CHECK(events[0].parsed->body == "a");
    CHECK(events[1].status == parse_status::error);
    CHECK(events[1].error == errc::unknown_command);  // "b\0c" is not a command
    // An oversized content-length fails at once, before any of the body.
    limits small;
    small.max_frame = 100;
    parser p(small);
    std::string head = "SEND\ncontent-length:100\n\n";
    const parse_result r = p.parse(head);
    CHECK(r.status == parse_status::error);
    CHECK(r.error == errc::frame_too_large);
}

TEST_CASE("item 7: a repeated header's first value wins", "[protocol][stomp12]") {
    parser p;
    p.set_version(version::v1_2);
    std::string data(
        "SEND\ndestination:/first\ndestination:/second\ncontent-length:1\n"
        "content-length:5\n\nx\0"sv);
    const parse_result r = p.parse(data);
    REQUIRE(r.status == parse_status::complete);
    CHECK(p.frame().get("destination") == "/first");
    CHECK(p.frame().get("content-length") == "1");
    CHECK(p.frame().body == "x");
    CHECK(p.frame().headers.size() == 4);  // every occurrence stays visible
}

TEST_CASE("item 8: every limit accepts its maximum and refuses one more", "[protocol][stomp12]") {
    limits l;
    l.max_command_line = 4;
    l.max_headers = 3;
    l.max_header_line = 10;
    l.max_frame = 64;
    const parser_mode mode{version::v1_2, l};
    CHECK(only_frame("SEND\n\n\0"sv, mode).cmd == command::send);
    CHECK(error_of("BEGIN\n\n\0"sv, mode) == errc::command_too_long);
    CHECK(only_frame("SEND\r\n\r\n\0"sv, mode).cmd == command::send);  // the CR is EOL

    CHECK(only_frame("SEND\na:1\nb:2\nc:3\n\n\0"sv, mode).headers.size() == 3);
    CHECK(error_of("SEND\na:1\nb:2\nc:3\nd:4\n\n\0"sv, mode) == errc::too_many_headers);

    CHECK(only_frame("SEND\nabcd:12345\n\n\0"sv, mode).get("abcd") == "12345");
    CHECK(only_frame("SEND\nabcd:12345\r\n\n\0"sv, mode).get("abcd") == "12345");
    CHECK(error_of("SEND\nabcd:123456\n\n\0"sv, mode) == errc::header_line_too_long);

    const std::string head = "SEND\n\n";
    const std::string at_limit = head + std::string(64 - head.size() - 1, 'b') + '\0';
    CHECK(only_frame(at_limit, mode).body.size() == 57);
    const std::string over = head + std::string(64 - head.size(), 'b') + '\0';
    CHECK(error_of(over, mode) == errc::frame_too_large);
    limits frame_only;
    frame_only.max_frame = 64;
    const parser_mode cl_mode{version::v1_2, frame_only};
    const std::string cl_at_limit = "SEND\ncontent-length:39\n\n" + std::string(39, 'b') + '\0';
    REQUIRE(cl_at_limit.size() == 64);
    CHECK(only_frame(cl_at_limit, cl_mode).body.size() == 39);
    CHECK(error_of("SEND\ncontent-length:40\n\n"sv, cl_mode) == errc::frame_too_large);

    // The defaults, and the tighter frame limit before CONNECT succeeds.
    const limits d;
    CHECK(d.max_command_line == 1024);
    CHECK(d.max_headers == 1000);
    CHECK(d.max_header_line == 10 * 1024);
    CHECK(d.max_frame == 4 * 1024 * 1024);
    const limits b = limits::before_connect();
    CHECK(b.max_frame == 64 * 1024);
    CHECK(b.max_headers == d.max_headers);
}

TEST_CASE("frame views point into the caller's buffer", "[protocol][parser]") {
    parser p;
    std::string data("SEND\ndestination:/q\ncontent-length:3\n\nabc\0\n"sv);
    const parse_result r = p.parse(data);
    REQUIRE(r.status == parse_status::complete);
    CHECK(r.consumed == data.size() - 1);
    const frame_view& f = p.frame();
    const char* begin = data.data();
    const char* end = begin + data.size();
    CHECK(f.body.data() == begin + data.find("abc"));
    for (const header& h : f.headers) {
        CHECK(h.name.data() >= begin);
        CHECK(h.value.data() + h.value.size() <= end);
    }
}

TEST_CASE("unescaping happens in place in the caller's buffer", "[protocol][parser]") {
    parser p;
    p.set_version(version::v1_2);
    std::string data("SEND\nk:a\\cb\n\n\0"sv);
    REQUIRE(p.parse(data).status == parse_status::complete);
    CHECK(p.frame().get("k") == "a:b");
    CHECK(p.frame().get("k")->data() == data.data() + 7);
    CHECK(data.substr(7, 3) == "a:b");
}

TEST_CASE("a resumed parse continues where it stopped instead of rescanning",
          "[protocol][parser]") {
    // White-box: the contract promises the same bytes again, so a byte
    // changed in the part already scanned must go unnoticed.
    parser p;
    p.set_version(version::v1_2);
    std::string first = "SEND\n\nabcdef";
    REQUIRE(p.parse(first).status == parse_status::need_more);
    std::string second("SEND\n\nab\0def\0"sv);
    const parse_result r = p.parse(second);
    REQUIRE(r.status == parse_status::complete);
    CHECK(r.consumed == 13);
    CHECK(p.frame().body == "ab\0def"sv);
}

TEST_CASE("header storage is reused from frame to frame", "[protocol][parser]") {
    parser p;
    p.set_version(version::v1_2);
    std::string data = "SEND\na:1\nb:2\n\n";
    data += '\0';
    REQUIRE(p.parse(data).status == parse_status::complete);
    const header* storage = p.frame().headers.data();
    for (int i = 0; i < 100; ++i) {
        std::string again = "SEND\nc:3\nd:4\n\n";
        again += '\0';
        REQUIRE(p.parse(again).status == parse_status::complete);
        CHECK(p.frame().headers.data() == storage);
        CHECK(p.frame().get("d") == "4");
    }
}

TEST_CASE("reset discards a partly parsed frame", "[protocol][parser]") {
    parser p;
    p.set_version(version::v1_2);
    std::string partial = "SEND\ndestination:/a\n";
    REQUIRE(p.parse(partial).status == parse_status::need_more);
    p.reset();
    std::string next = "BEGIN\ntransaction:t\n\n";
    next += '\0';
    const parse_result r = p.parse(next);
    REQUIRE(r.status == parse_status::complete);
    CHECK(p.frame().cmd == command::begin);
    CHECK(p.frame().headers.size() == 1);
    CHECK(p.current_version() == version::v1_2);
}

TEST_CASE("after an error the next call starts a new frame", "[protocol][parser]") {
    parser p;
    std::string bad = "NOPE\n\n";
    bad += '\0';
    CHECK(p.parse(bad).error == errc::unknown_command);
    std::string good = "CONNECT\naccept-version:1.2\n\n";
    good += '\0';
    REQUIRE(p.parse(good).status == parse_status::complete);
    CHECK(p.frame().get("accept-version") == "1.2");
}

TEST_CASE("an empty input needs more", "[protocol][parser]") {
    parser p;
    const parse_result r = p.parse({});
    CHECK(r.status == parse_status::need_more);
    CHECK(r.consumed == 0);
    CHECK(r.error == errc::ok);
}
