#include "log_text.hpp"

#include <catch2/catch.hpp>

using namespace stampede::broker;

TEST_CASE("client text in a log line has its control characters escaped", "[log_text]") {
    CHECK(escape_for_log("plain text: /queue/a") == "plain text: /queue/a");
    CHECK(escape_for_log("two\nlines") == "two\\nlines");
    CHECK(escape_for_log("cr\rtab\t") == "cr\\rtab\\t");
    CHECK(escape_for_log("back\\slash") == "back\\\\slash");
    CHECK(escape_for_log(std::string_view("nul\0x", 5)) == "nul\\x00x");
    CHECK(escape_for_log("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m");
    CHECK(escape_for_log("del\x7f") == "del\\x7f");
    // Bytes past ASCII (UTF-8) are not control characters: kept as they are.
    CHECK(escape_for_log("caf\xc3\xa9") == "caf\xc3\xa9");
}

TEST_CASE("a forged log line cannot start a line of its own", "[log_text]") {
    const std::string forged = "x\n2026-01-01 00:00:00 [error] broker compromised";
    const std::string escaped = escape_for_log(forged);
    CHECK(escaped.find('\n') == std::string::npos);
    CHECK(escaped.find('\r') == std::string::npos);
}

TEST_CASE("long client text is cut with a note of its length", "[log_text]") {
    const std::string long_text(10'000, 'a');
    const std::string out = escape_for_log(long_text, 256);
    CHECK(out.size() < 300);
    CHECK(out.substr(0, 256) == std::string(256, 'a'));
    CHECK_THAT(out, Catch::EndsWith("...(10000 bytes)"));
    CHECK(escape_for_log(std::string(256, 'b'), 256) == std::string(256, 'b'));
    // Escapes count towards the budget: a flood of control characters is cut too.
    const std::string controls(10'000, '\x01');
    CHECK(escape_for_log(controls, 256).size() < 300);
}

TEST_CASE("the log budget lets a burst through, then counts what it holds back", "[log_text]") {
    log_budget budget(3);
    std::int64_t now = 1'000'000;
    std::uint64_t suppressed = 99;
    for (int i = 0; i < 3; ++i) {
        REQUIRE(budget.take_at(now, suppressed));
        CHECK(suppressed == 0);
    }
    for (int i = 0; i < 5; ++i) {
        CHECK_FALSE(budget.take_at(now + 999, suppressed));
    }
    // A new second: the next line goes out and reports the five held back.
    now += 1000;
    REQUIRE(budget.take_at(now, suppressed));
    CHECK(suppressed == 5);
    REQUIRE(budget.take_at(now, suppressed));
    CHECK(suppressed == 0);
}

TEST_CASE("the log budget bounds the lines of a flood to its rate", "[log_text]") {
    log_budget budget(20);
    std::uint64_t out = 0;
    std::uint64_t reported = 0;
    const std::uint64_t attempts = 100'000;
    // 100,000 client errors spread over ten seconds of fake time.
    for (std::uint64_t i = 0; i < attempts; ++i) {
        std::uint64_t suppressed = 0;
        if (budget.take_at(5'000'000 + static_cast<std::int64_t>(i / 10'000) * 1000, suppressed)) {
            ++out;
            reported += suppressed;
        }
    }
    CHECK(out == 10 * 20);
    // Every held-back line is reported by a later one, but those of the last second.
    CHECK(reported == attempts - out - (10'000 - 20));
}
