// One test per errc value: an input that produces it, and a describe() text
// that names the rule or limit, as an ERROR frame's message header would.

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "stampede/protocol/errc.hpp"
#include "stampede/protocol/negotiate.hpp"
#include "test_support.hpp"

using namespace stampede::protocol;
using namespace stampede::protocol::test;
using namespace std::string_view_literals;

namespace {

/// Parses `data` whole (in `mode`) and requires that it fails with `expected`.
void require_error(std::string_view data, errc expected, const parser_mode& mode = {}) {
    const std::vector<event> events = parse_whole(data, mode);
    REQUIRE_FALSE(events.empty());
    CHECK(events.back().status == parse_status::error);
    CHECK(events.back().error == expected);
}

/// Requires describe(e) to be a non-empty sentence containing `rule`.
void require_described(errc e, std::string_view rule) {
    const std::string_view text = describe(e);
    INFO(text);
    REQUIRE_FALSE(text.empty());
    CHECK(text.find(rule) != std::string_view::npos);
    CHECK(make_error_code(e).message() == text);
    CHECK(std::string_view(make_error_code(e).category().name()) == "stomp");
}

parser_mode v12() {
    return {version::v1_2, {}};
}

}  // namespace

TEST_CASE("errc converts to an error_code of the stomp category", "[protocol][errc]") {
    const std::error_code ec = errc::frame_too_large;
    CHECK(ec.category() == stomp_category());
    CHECK(ec.value() == static_cast<int>(errc::frame_too_large));
    CHECK(ec);
    CHECK_FALSE(make_error_code(errc::ok));
    for (const errc e : all_errors()) {
        CHECK_FALSE(describe(e).empty());
        CHECK(describe(e).find('\n') == std::string_view::npos);
        CHECK(describe(e).find(':') == std::string_view::npos);  // no escaping needed
    }
}

TEST_CASE("a command line over the limit is command_too_long", "[protocol][errc]") {
    limits l;
    l.max_command_line = 8;
    require_error("DISCONNECT\n\n\0"sv, errc::command_too_long, {version::v1_2, l});
    require_error(std::string(2000, 'A'), errc::command_too_long, v12());
    require_described(errc::command_too_long, "maximum command line length");
}

TEST_CASE("an unknown command is unknown_command", "[protocol][errc]") {
    require_error("FOO\n\n\0"sv, errc::unknown_command, v12());
    require_error("GET / HTTP/1.1\r\nHost: x\r\n\r\n"sv, errc::unknown_command);
    require_described(errc::unknown_command, "unknown command");
}

TEST_CASE("a header line without a colon or name is malformed_header", "[protocol][errc]") {
    require_error("SEND\ndestination\n\n\0"sv, errc::malformed_header, v12());
    require_error("SEND\n:value\n\n\0"sv, errc::malformed_header, v12());
    require_described(errc::malformed_header, "colon");
}

TEST_CASE("a header line over the limit is header_line_too_long", "[protocol][errc]") {
    const std::string long_line = "SEND\nx:" + std::string(10 * 1024 - 1, 'v') + "\n\n";
    require_error(long_line + '\0', errc::header_line_too_long, v12());
    require_error("SEND\nx:" + std::string(20 * 1024, 'v'), errc::header_line_too_long, v12());
    require_described(errc::header_line_too_long, "maximum header line length");
}

TEST_CASE("more headers than the limit is too_many_headers", "[protocol][errc]") {
    std::string data = "SEND\n";
    for (int i = 0; i < 1001; ++i) {
        data += "h:" + std::to_string(i) + "\n";
    }
    require_error(data + "\n" + '\0', errc::too_many_headers, v12());
    require_described(errc::too_many_headers, "maximum number of headers");
}

TEST_CASE("an undefined escape is invalid_escape", "[protocol][errc]") {
    require_error("SEND\ndestination:a\\tb\n\n\0"sv, errc::invalid_escape, v12());
    require_error("SEND\nd:\\r\n\n\0"sv, errc::invalid_escape, {version::v1_1, {}});
    require_described(errc::invalid_escape, "escape sequence");
}

TEST_CASE("a frame over the limit is frame_too_large", "[protocol][errc]") {
    require_error("SEND\n\n" + std::string(4 * 1024 * 1024, 'b'), errc::frame_too_large, v12());
    require_error("SEND\n\n" + std::string(64 * 1024, 'b'), errc::frame_too_large,
                  {std::nullopt, limits::before_connect()});
    require_described(errc::frame_too_large, "maximum frame size");
}

TEST_CASE("a content-length that is not a decimal count is invalid_content_length",
          "[protocol][errc]") {
    require_error("SEND\ncontent-length:0x10\n\n\0"sv, errc::invalid_content_length, v12());
    require_error("SEND\ncontent-length:18446744073709551616\n\n\0"sv, errc::invalid_content_length,
                  v12());
    require_described(errc::invalid_content_length, "content-length");
}

TEST_CASE("content-length octets not followed by NUL is missing_null_after_body",
          "[protocol][errc]") {
    require_error("SEND\ncontent-length:3\n\nabcd\0"sv, errc::missing_null_after_body, v12());
    require_described(errc::missing_null_after_body, "not followed by NUL");
}

TEST_CASE("a body on a frame that carries none is body_not_allowed", "[protocol][errc]") {
    require_error("BEGIN\ntransaction:t\n\nx\0"sv, errc::body_not_allowed, v12());
    require_described(errc::body_not_allowed, "only SEND, MESSAGE and ERROR");
}

TEST_CASE("a bare CR where CR LF ends lines is invalid_eol", "[protocol][errc]") {
    require_error("SEND\r\ndestination:/q\r\r\n\r\n\0"sv, errc::invalid_eol, v12());
    require_error("CONNECT\rhost:x\r\n\r\n\0"sv, errc::invalid_eol);
    require_described(errc::invalid_eol, "carriage return not followed by line feed");
}

TEST_CASE("a heart-beat header that is not two integers is invalid_heart_beat",
          "[protocol][errc]") {
    CHECK(parse_heart_beat("1000"sv).error == errc::invalid_heart_beat);
    CHECK(parse_heart_beat("1000,x"sv).error == errc::invalid_heart_beat);
    require_described(errc::invalid_heart_beat, "heart-beat");
}

TEST_CASE("an accept-version with no common version is unsupported_version", "[protocol][errc]") {
    // negotiate_version() reports it as nullopt; the broker answers with this errc.
    CHECK_FALSE(negotiate_version("2.0,3.1"sv));
    require_described(errc::unsupported_version, "accept-version");
}
