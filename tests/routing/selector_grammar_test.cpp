// Selector grammar: precedence, literals, identifiers, comments, and the errors compile()
// reports for what is not in the grammar, with their positions.

#include "selector_support.hpp"

using namespace routing_test;
using stampede::routing::errc;

TEST_CASE("AND binds tighter than OR", "[routing][selector]") {
    // TRUE OR (FALSE AND FALSE) is TRUE; (TRUE OR FALSE) AND FALSE would be FALSE.
    CHECK(eval("TRUE OR FALSE AND FALSE") == T);
    CHECK(eval("(TRUE OR FALSE) AND FALSE") == F);
    CHECK(eval("FALSE AND FALSE OR TRUE") == T);
}

TEST_CASE("NOT binds looser than a comparison and tighter than AND", "[routing][selector]") {
    const headers h = {{"a", "1"}};
    CHECK(eval("NOT a = 2", h) == T);  // NOT (a = 2), not (NOT a) = 2
    CHECK(eval("NOT a = 1", h) == F);
    CHECK(eval("NOT FALSE AND FALSE") == F);  // (NOT FALSE) AND FALSE
    CHECK(eval("NOT NOT TRUE") == T);
    CHECK(eval("NOT NOT NOT TRUE") == F);
}

TEST_CASE("multiplication binds tighter than addition, and both tighter than comparison",
          "[routing][selector]") {
    CHECK(eval("1 + 2 * 3 = 7") == T);
    CHECK(eval("(1 + 2) * 3 = 9") == T);
    CHECK(eval("10 - 4 - 3 = 3") == T);  // left-associative
    CHECK(eval("100 / 10 / 5 = 2") == T);
    CHECK(eval("7 % 4 = 3") == T);
    CHECK(eval("-2 * -3 = 6") == T);
    CHECK(eval("- - 2 = 2") == T);
    CHECK(eval("+2 = 2") == T);
    CHECK(eval("2 - -2 = 4") == T);
}

TEST_CASE("equality binds looser than ordering comparisons", "[routing][selector]") {
    CHECK(eval("1 < 2 = TRUE") == T);  // (1 < 2) = TRUE
    CHECK(eval("2 < 1 = FALSE") == T);
    CHECK(eval("1 < 2 = 2 > 1") == T);
}

TEST_CASE("BETWEEN takes its own AND and leaves the logical one alone", "[routing][selector]") {
    const headers h = {{"a", "5"}, {"b", "x"}};
    CHECK(eval("a BETWEEN 1 AND 9 AND b = 'x'", h) == T);
    CHECK(eval("a BETWEEN 1 AND 9 AND b = 'y'", h) == F);
    CHECK(eval("b = 'x' AND a BETWEEN 6 AND 9", h) == F);
    CHECK(eval("a BETWEEN 1 + 1 AND 2 * 3", h) == T);
    CHECK(eval("a BETWEEN -1 AND 4 OR a NOT BETWEEN 6 AND 7", h) == T);
    CHECK(eval("NOT a BETWEEN 1 AND 9", h) == F);
    CHECK(eval("(a BETWEEN 1 AND 4) = FALSE", h) == T);
}

TEST_CASE("keywords are case-insensitive and identifiers case-sensitive", "[routing][selector]") {
    const headers h = {{"Color", "red"}};
    CHECK(eval("Color = 'red' and not Color is null", h) == T);
    CHECK(eval("Color LiKe 'r%' Or fAlSe", h) == T);
    CHECK(eval("color IS NULL", h) == T);
    CHECK(eval("true") == T);
}

TEST_CASE("numeric literals are read as ActiveMQ reads them", "[routing][selector]") {
    CHECK(eval("42 = 42") == T);
    CHECK(eval("42L = 42") == T);
    CHECK(eval("0x2A = 42") == T);
    CHECK(eval("0X2a = 42") == T);
    CHECK(eval("052 = 42") == T);  // octal
    CHECK(eval("0 = 0") == T);
    CHECK(eval("1.5 = 1.5") == T);
    CHECK(eval("5. = 5") == T);
    CHECK(eval(".5 = 0.5") == T);
    CHECK(eval("1e3 = 1000") == T);
    CHECK(eval("1.5E-1 = 0.15") == T);
    CHECK(eval("2.5e+2 = 250") == T);
    CHECK(eval("9223372036854775807 > 0") == T);
}

TEST_CASE("string literals double a quote to contain it", "[routing][selector]") {
    CHECK(eval("n = 'it''s'", {{"n", "it's"}}) == T);
    CHECK(eval("n = ''''", {{"n", "'"}}) == T);
    CHECK(eval("n = ''", {{"n", ""}}) == T);
    CHECK(eval("n = 'a\"b'", {{"n", "a\"b"}}) == T);
    CHECK(eval("n = 'Grüße'", {{"n", "Grüße"}}) == T);
}

TEST_CASE("identifiers may hold letters, digits, underscores and dollars", "[routing][selector]") {
    CHECK(eval("_a$1 = 'x'", {{"_a$1", "x"}}) == T);
    CHECK(eval("$x = 'y'", {{"$x", "y"}}) == T);
}

TEST_CASE("a double-quoted identifier names a header with any characters", "[routing][selector]") {
    const headers h = {{"content-type", "text/plain"}, {"x\"y", "1"}};
    CHECK(eval("\"content-type\" = 'text/plain'", h) == T);
    CHECK(eval("\"x\"\"y\" = 1", h) == T);
    // Unquoted, content-type is content minus type: both absent, so NULL = ... is UNKNOWN.
    CHECK(eval("content-type = 'text/plain'", h) == U);
}

TEST_CASE("JMS header names read the STOMP headers they correspond to", "[routing][selector]") {
    const headers h = {
        {"correlation-id", "c1"}, {"priority", "7"},           {"type", "t"},
        {"message-id", "m"},      {"timestamp", "5"},          {"expires", "0"},
        {"reply-to", "/queue/r"}, {"destination", "/queue/d"}, {"redelivered", "true"}};
    CHECK(eval("JMSCorrelationID = 'c1'", h) == T);
    CHECK(eval("JMSPriority > 4", h) == T);
    CHECK(eval("JMSType = 't' AND JMSMessageID = 'm'", h) == T);
    CHECK(eval("JMSTimestamp = 5 AND JMSExpiration = 0", h) == T);
    CHECK(eval("JMSReplyTo = '/queue/r' AND JMSDestination = '/queue/d'", h) == T);
    CHECK(eval("JMSRedelivered", h) == T);
    CHECK(eval("jmspriority IS NULL", h) == T);  // aliases are case-sensitive, as identifiers
}

TEST_CASE("comments are skipped like blanks", "[routing][selector]") {
    CHECK(eval("/* leading */ a = 1 -- trailing", {{"a", "1"}}) == T);
    CHECK(eval("a = /* inside */ 1", {{"a", "1"}}) == T);
    CHECK(eval("a = 1 -- first line\n AND b = 2", {{"a", "1"}, {"b", "2"}}) == T);
    CHECK(eval("\t a\r\n=\f1 ", {{"a", "1"}}) == T);
}

TEST_CASE("a syntax error names what was expected and where", "[routing][selector]") {
    auto e = compile_error("a = ");
    CHECK(e.code == errc::selector_syntax);
    CHECK(e.position == 4);
    CHECK_THAT(e.message, Catch::Contains("expected an identifier, a literal, '(' or NOT") &&
                              Catch::Contains("the end of the selector") &&
                              Catch::Contains("column 5"));

    e = compile_error("a = 1 b = 2");
    CHECK(e.position == 6);
    CHECK_THAT(e.message, Catch::Contains("identifier 'b'"));

    e = compile_error("(a = 1");
    CHECK(e.position == 6);
    CHECK_THAT(e.message, Catch::Contains("expected ')' to close the '(' at column 1"));

    e = compile_error("a = 1)");
    CHECK(e.position == 5);
    CHECK_THAT(e.message, Catch::Contains("')' without a matching '('"));

    e = compile_error("a BETWEEN 1 OR 2");
    CHECK(e.position == 12);
    CHECK_THAT(e.message, Catch::Contains("AND between the bounds of BETWEEN"));

    e = compile_error("a NOT = 1");
    CHECK(e.position == 6);
    CHECK_THAT(e.message, Catch::Contains("LIKE, IN or BETWEEN after NOT"));

    e = compile_error("a IS 1");
    CHECK(e.position == 5);
    e = compile_error("a IS NOT 1");
    CHECK(e.position == 9);
    e = compile_error("a LIKE b");
    CHECK(e.position == 7);
    CHECK_THAT(e.message, Catch::Contains("string literal pattern after LIKE"));
    e = compile_error("a IN 'x'");
    CHECK(e.position == 5);
    e = compile_error("a IN ('x' 'y')");
    CHECK(e.position == 10);
    e = compile_error("a IN ('x', 1)");
    CHECK(e.position == 11);
    e = compile_error("a IN ()");
    CHECK(e.position == 6);
}

TEST_CASE("bad tokens are reported at their first character", "[routing][selector]") {
    auto e = compile_error("a = 'open");
    CHECK(e.position == 4);
    CHECK_THAT(e.message, Catch::Contains("unterminated string literal"));
    e = compile_error("a != 1");
    CHECK(e.position == 2);
    CHECK_THAT(e.message, Catch::Contains("use <>"));
    e = compile_error("a = 1 & b");
    CHECK(e.position == 6);
    e = compile_error("a = 0x");
    CHECK(e.position == 4);
    e = compile_error("a = 09");
    CHECK(e.position == 4);
    CHECK_THAT(e.message, Catch::Contains("octal"));
    e = compile_error("a = 99999999999999999999");
    CHECK_THAT(e.message, Catch::Contains("out of range"));
    e = compile_error("a = 1 /* never closed");
    CHECK(e.position == 6);
    e = compile_error("\"\" = 1");
    CHECK(e.position == 0);
    e = compile_error("\"open = 1");
    CHECK(e.position == 0);
}

TEST_CASE("an empty selector is a syntax error", "[routing][selector]") {
    CHECK(compile_error("").code == errc::selector_syntax);
    CHECK(compile_error("   ").position == 3);
    CHECK(compile_error("-- only a comment").code == errc::selector_syntax);
}

TEST_CASE("operands of the wrong type are type errors at the operand", "[routing][selector]") {
    auto e = compile_error("a > 'x'");
    CHECK(e.code == errc::selector_type);
    CHECK(e.position == 4);
    CHECK_THAT(e.message, Catch::Contains("needs numbers, not a string literal"));

    CHECK(compile_error("TRUE < 1").code == errc::selector_type);
    CHECK(compile_error("(a = 1) > 0").code == errc::selector_type);
    CHECK(compile_error("'x' + 1 = 2").code == errc::selector_type);
    CHECK(compile_error("NOT 3").code == errc::selector_type);
    CHECK(compile_error("a = 1 AND 3").code == errc::selector_type);
    CHECK(compile_error("3 OR a = 1").code == errc::selector_type);
    CHECK(compile_error("-'x' = 1").code == errc::selector_type);
    CHECK(compile_error("-TRUE = 1").code == errc::selector_type);
    CHECK(compile_error("a BETWEEN 'a' AND 'z'").code == errc::selector_type);
    CHECK(compile_error("3 LIKE '3'").code == errc::selector_type);
    CHECK(compile_error("'x' IN ('x')").code == errc::selector_type);
    CHECK(compile_error("a + 1").code == errc::selector_type);
    CHECK(compile_error("'x'").code == errc::selector_type);
    CHECK(compile_error("NULL").code == errc::selector_type);

    e = compile_error("a = NULL");
    CHECK(e.code == errc::selector_type);
    CHECK(e.position == 4);
    CHECK_THAT(e.message, Catch::Contains("use IS NULL"));
    CHECK(compile_error("NULL <> a").code == errc::selector_type);
}

TEST_CASE("ESCAPE must be one character", "[routing][selector]") {
    CHECK(compile_error("a LIKE 'x' ESCAPE ''").code == errc::selector_escape);
    auto e = compile_error("a LIKE 'x' ESCAPE 'ab'");
    CHECK(e.code == errc::selector_escape);
    CHECK(e.position == 18);
    CHECK(compile_error("a LIKE 'x' ESCAPE 1").code == errc::selector_syntax);
    // One character may be several bytes of UTF-8.
    CHECK(eval("a LIKE 'x§%' ESCAPE '§'", {{"a", "x%"}}) == T);
}

TEST_CASE("compile keeps the text and reports the size of the compiled form",
          "[routing][selector]") {
    auto s = selector::compile("a = 1 AND b = 2");
    REQUIRE(s);
    CHECK(s->text() == "a = 1 AND b = 2");
    CHECK(s->instruction_count() == 4);  // a=1 jump_false b=2 and
    CHECK(s->max_stack() == 2);
    const selector copy = *s;
    CHECK(copy.evaluate(headers{{"a", "1"}, {"b", "2"}}) == T);
}
