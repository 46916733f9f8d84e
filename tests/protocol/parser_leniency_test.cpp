// Leniency (limits::strict false, the default): EOL-only bodies on frames that
// carry none and NULs between frames are skipped and counted; with
// limits::strict they are the errors the spec makes them. Every case is fed
// whole, split at every offset and byte by byte, against a guard page.

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "stampede/protocol/parser.hpp"
#include "test_support.hpp"

using namespace stampede::protocol;
using namespace stampede::protocol::test;
using namespace std::string_literals;
using namespace std::string_view_literals;

namespace {

parser_mode lenient(std::optional<version> v, limits l = {}) {
    l.strict = false;
    return {v, l};
}

parser_mode strict(std::optional<version> v, limits l = {}) {
    l.strict = true;
    return {v, l};
}

/// What parsing `data` gives, requiring that every way of delivering it gives the
/// same events and counts: whole, in two chunks cut at every offset, byte by byte,
/// in moving heap copies and against a guard page.
std::vector<event> parse_every_way(std::string_view data, const parser_mode& mode,
                                   leniency_counts& counts) {
    const std::vector<event> whole = parse_whole(data, mode);
    heap_placement heap;
    guard_placement guard(data.size());
    const std::size_t all[] = {data.size()};
    REQUIRE(parse_stream(data, mode, all, heap, &counts) == whole);
    const std::vector<std::size_t> bytes = byte_by_byte(data.size());
    for (placement* where : {static_cast<placement*>(&heap), static_cast<placement*>(&guard)}) {
        leniency_counts c;
        REQUIRE(parse_stream(data, mode, bytes, *where, &c) == whole);
        REQUIRE(c == counts);
        for (std::size_t k = 0; k <= data.size(); ++k) {
            INFO("split at " << k << " of " << data.size());
            const std::size_t cuts[] = {k, data.size()};
            REQUIRE(parse_stream(data, mode, cuts, *where, &c) == whole);
            REQUIRE(c == counts);
        }
    }
    return whole;
}

/// Requires `data` to parse (every way) into exactly one frame and nothing else; returns it.
frame one_frame(std::string_view data, const parser_mode& mode, leniency_counts& counts) {
    const std::vector<event> events = parse_every_way(data, mode, counts);
    REQUIRE(events.size() == 1);
    REQUIRE(events[0].status == parse_status::complete);
    CHECK(events[0].size == data.size());
    return *events[0].parsed;
}

/// Requires `data` to fail (every way) with `expected`; returns the counts at the failure.
leniency_counts fails_with(std::string_view data, const parser_mode& mode, errc expected) {
    leniency_counts counts;
    const std::vector<event> events = parse_every_way(data, mode, counts);
    REQUIRE_FALSE(events.empty());
    CHECK(events.back().status == parse_status::error);
    CHECK(events.back().error == expected);
    return counts;
}

const std::string_view bodiless_frames[] = {
    "SUBSCRIBE\nid:1\ndestination:/q\n\n"sv,
    "UNSUBSCRIBE\nid:1\n\n"sv,
    "BEGIN\ntransaction:t\n\n"sv,
    "COMMIT\ntransaction:t\n\n"sv,
    "ABORT\ntransaction:t\n\n"sv,
    "ACK\nid:1\n\n"sv,
    "NACK\nid:1\n\n"sv,
    "DISCONNECT\nreceipt:r\n\n"sv,
    "RECEIPT\nreceipt-id:r\n\n"sv,
};

}  // namespace

TEST_CASE("an EOL-only body on a frame that carries none is dropped and counted",
          "[protocol][leniency]") {
    for (const std::string_view head : bodiless_frames) {
        for (const std::string_view eols : {"\n"sv, "\n\n"sv, "\r\n"sv, "\n\r\n\n\r\n"sv}) {
            const std::string data = std::string(head) + std::string(eols) + '\0';
            INFO(data);
            leniency_counts counts;
            const frame f = one_frame(data, lenient(version::v1_2), counts);
            CHECK(f.body.empty());
            CHECK(f.headers.size() ==
                  static_cast<std::size_t>(std::count(head.begin(), head.end(), ':')));
            CHECK(counts.eol_bodies == 1);
            CHECK(counts.stray_nuls == 0);
        }
    }
}

TEST_CASE("a CONNECT with an EOL-only body connects, with LF or CR LF, before any version",
          "[protocol][leniency]") {
    for (const std::string_view data :
         {"CONNECT\naccept-version:1.2\nhost:/\n\n\n\0"sv,
          "CONNECT\r\naccept-version:1.2\r\nhost:/\r\n\r\n\r\n\0"sv,
          "STOMP\naccept-version:1.1,1.2\n\n\n\n\n\0"sv, "CONNECTED\nversion:1.2\n\n\n\0"sv}) {
        INFO(data);
        leniency_counts counts;
        const frame f = one_frame(data, lenient(std::nullopt), counts);
        CHECK(f.body.empty());
        CHECK(f.headers.size() >= 1);
        CHECK(counts.eol_bodies == 1);
    }
}

TEST_CASE("in 1.0 and 1.1 a CR before the NUL is an octet, so such a body is refused",
          "[protocol][leniency]") {
    for (const version v : {version::v1_0, version::v1_1}) {
        fails_with("DISCONNECT\n\n\r\n\0"sv, lenient(v), errc::body_not_allowed);
        leniency_counts counts;
        CHECK(one_frame("DISCONNECT\n\n\n\n\0"sv, lenient(v), counts).body.empty());
        CHECK(counts.eol_bodies == 1);
    }
}

TEST_CASE("a body of EOLs and anything else is still refused", "[protocol][leniency]") {
    for (const std::string_view data :
         {"BEGIN\ntransaction:t\n\n\nx\0"sv, "BEGIN\ntransaction:t\n\n\n \n\0"sv,
          "BEGIN\ntransaction:t\n\n\r\r\n\0"sv, "BEGIN\ntransaction:t\n\n\r\0"sv,
          "ACK\nid:1\n\n\t\0"sv}) {
        INFO(data);
        CHECK(fails_with(data, lenient(version::v1_2), errc::body_not_allowed).eol_bodies == 0);
    }
}

TEST_CASE("content-length still means exactly that many octets, then NUL", "[protocol][leniency]") {
    fails_with("DISCONNECT\ncontent-length:0\n\n\n\0"sv, lenient(version::v1_2),
               errc::missing_null_after_body);
    fails_with("DISCONNECT\ncontent-length:1\n\n\n\0"sv, lenient(version::v1_2),
               errc::body_not_allowed);
}

TEST_CASE("SEND, MESSAGE and ERROR keep an EOL-only body as their body", "[protocol][leniency]") {
    for (const std::string_view data :
         {"SEND\ndestination:/q\n\n\n\n\0"sv, "MESSAGE\ndestination:/q\n\n\n\n\0"sv,
          "ERROR\nmessage:m\n\n\n\n\0"sv}) {
        INFO(data);
        leniency_counts counts;
        CHECK(one_frame(data, lenient(version::v1_2), counts).body == "\n\n");
        CHECK(counts == leniency_counts{});
    }
}

TEST_CASE("an EOL-only body counts toward the frame limit", "[protocol][leniency]") {
    limits l;
    l.max_frame = 32;
    const std::string head = "DISCONNECT\n\n";  // 12 bytes
    const std::string at_limit = head + std::string(32 - head.size() - 1, '\n') + '\0';
    leniency_counts counts;
    CHECK(one_frame(at_limit, lenient(version::v1_2, l), counts).body.empty());
    CHECK(counts.eol_bodies == 1);
    const std::string over = head + std::string(32 - head.size(), '\n') + '\0';
    fails_with(over, lenient(version::v1_2, l), errc::frame_too_large);
    // Endless EOLs fail at the limit, without waiting for a NUL.
    fails_with(head + std::string(40, '\n'), lenient(version::v1_2, l), errc::frame_too_large);
    // A CR LF that would straddle the limit: its LF cannot be followed by a NUL in time.
    const std::string straddle = head + std::string(32 - head.size() - 1, '\n');
    fails_with(straddle.substr(0, 31) + "\r\n\0", lenient(version::v1_2, l), errc::frame_too_large);
}

TEST_CASE("NULs between frames are skipped as heart-beats and counted", "[protocol][leniency]") {
    const auto data =
        "\0\0CONNECT\naccept-version:1.2\n\n\0\0\n\0SEND\ndestination:/q\n\nhi\0\0\r\n\0"
        "DISCONNECT\n\n\0\n"sv;
    leniency_counts counts;
    const std::vector<event> events = parse_every_way(data, lenient(std::nullopt), counts);
    REQUIRE(events.size() == 7);
    CHECK(events[0].status == parse_status::heartbeat);
    CHECK(events[0].size == 2);
    CHECK(events[1].parsed->cmd == command::connect);
    CHECK(events[2].status == parse_status::heartbeat);
    CHECK(events[2].size == 3);
    CHECK(events[3].parsed->body == "hi");
    CHECK(events[4].status == parse_status::heartbeat);
    CHECK(events[4].size == 4);  // NUL, CR LF, NUL
    CHECK(events[5].parsed->cmd == command::disconnect);
    CHECK(events[6].status == parse_status::heartbeat);
    CHECK(counts.stray_nuls == 6);
    CHECK(counts.eol_bodies == 0);
}

TEST_CASE("a NUL-only stream is heart-beats, however it arrives", "[protocol][leniency]") {
    leniency_counts counts;
    const std::string nuls(50, '\0');
    const std::vector<event> events = parse_every_way(nuls, lenient(version::v1_2), counts);
    REQUIRE(events.size() == 1);
    CHECK(events[0].status == parse_status::heartbeat);
    CHECK(events[0].size == 50);
    CHECK(counts.stray_nuls == 50);
}

TEST_CASE("strict parsing refuses EOL-only bodies and stray NULs as the spec does",
          "[protocol][leniency]") {
    for (const std::string_view head : bodiless_frames) {
        const std::string data = std::string(head) + "\n\0"s;
        INFO(data);
        CHECK(fails_with(data, strict(version::v1_2), errc::body_not_allowed) == leniency_counts{});
    }
    fails_with("CONNECT\naccept-version:1.2\n\n\n\0"sv, strict(std::nullopt),
               errc::body_not_allowed);
    fails_with("\0CONNECT\naccept-version:1.2\n\n\0"sv, strict(std::nullopt),
               errc::unknown_command);
    const std::vector<event> after =
        parse_whole("SEND\ndestination:/q\n\nhi\0\0SEND\n\n\0"sv, strict(version::v1_2));
    REQUIRE(after.size() == 2);
    CHECK(after[0].parsed->body == "hi");
    CHECK(after[1].error == errc::unknown_command);
    // A frame without either is parsed alike in both modes.
    const auto clean = "\nBEGIN\ntransaction:t\n\n\0\r\nSEND\ndestination:/q\n\nx\0"sv;
    CHECK(parse_whole(clean, strict(version::v1_2)) == parse_whole(clean, lenient(version::v1_2)));
}

TEST_CASE("the counts accumulate over frames, survive reset, and stay zero when strict",
          "[protocol][leniency]") {
    parser p;
    p.set_version(version::v1_2);
    for (int i = 1; i <= 3; ++i) {
        std::string data("\0\0ACK\nid:1\n\n\n\0"sv);
        parse_result r = p.parse(data);
        REQUIRE(r.status == parse_status::heartbeat);
        r = p.parse(std::span<char>(data).subspan(r.consumed));
        REQUIRE(r.status == parse_status::complete);
        CHECK(p.leniency().eol_bodies == static_cast<std::uint64_t>(i));
        CHECK(p.leniency().stray_nuls == static_cast<std::uint64_t>(2 * i));
    }
    std::string partial = "ACK\nid:1\n";
    REQUIRE(p.parse(partial).status == parse_status::need_more);
    p.reset();
    CHECK(p.leniency() == leniency_counts{3, 6});

    parser s(strict_limits());
    std::string nul("\0"sv);
    CHECK(s.parse(nul).status == parse_status::need_more);  // the start of a command line
    CHECK(s.leniency() == leniency_counts{});
}

TEST_CASE("limits::strict can change between frames", "[protocol][leniency]") {
    parser p;
    p.set_version(version::v1_2);
    std::string data("BEGIN\ntransaction:t\n\n\n\0"sv);
    REQUIRE(p.parse(data).status == parse_status::complete);
    p.set_limits(strict_limits());
    std::string again("BEGIN\ntransaction:t\n\n\n\0"sv);
    const parse_result r = p.parse(again);
    CHECK(r.status == parse_status::error);
    CHECK(r.error == errc::body_not_allowed);
}
