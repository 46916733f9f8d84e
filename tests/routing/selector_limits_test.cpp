// What a hostile selector can do: nest deeply, chain a hundred thousand terms, or feed LIKE
// a pattern that would make a backtracking matcher take forever.

#include <string>

#include "selector_support.hpp"

using namespace routing_test;
using stampede::routing::compile_options;
using stampede::routing::errc;

TEST_CASE("10,000 nested parentheses give a clear error", "[routing][selector][limits]") {
    const std::string text = std::string(10000, '(') + "a = 1" + std::string(10000, ')');
    auto s = selector::compile(text);
    REQUIRE_FALSE(s);
    CHECK(s.error_info().code == errc::selector_too_deep);
    CHECK(s.error_info().position == 256);
    CHECK_THAT(s.error_info().message, Catch::Contains("nested more than 256 levels"));
}

TEST_CASE("10,000 nested parentheses compile and evaluate when the limit allows them",
          "[routing][selector][limits]") {
    compile_options options;
    options.max_depth = 20000;
    const std::string text = std::string(10000, '(') + "a = 1" + std::string(10000, ')');
    auto s = selector::compile(text, options);
    REQUIRE(s);
    CHECK(s->evaluate(headers{{"a", "1"}}) == T);
}

TEST_CASE("deep right-nested ORs evaluate on a heap stack", "[routing][selector][limits]") {
    // a = 0 OR (a = 1 OR (a = 2 OR ...)): each pending OR keeps a value on the stack.
    compile_options options;
    options.max_depth = 10000;
    const int depth = 3000;
    std::string text;
    for (int i = 0; i < depth; ++i) {
        text += "a = " + std::to_string(i) + " OR (";
    }
    text += "a = -1" + std::string(depth, ')');
    auto s = selector::compile(text, options);
    REQUIRE(s);
    CHECK(s->max_stack() > 1000);
    CHECK(s->evaluate(headers{{"a", "-1"}}) == T);
    CHECK(s->evaluate(headers{{"a", "2999"}}) == T);
    CHECK(s->evaluate(headers{{"a", "5000"}}) == F);
    CHECK(s->evaluate(headers{}) == U);
}

TEST_CASE("a 100,000-term OR chain compiles and evaluates with a small stack",
          "[routing][selector][limits]") {
    compile_options options;
    options.max_length = 4 << 20;
    std::string text = "a = 0";
    for (int i = 1; i < 100000; ++i) {
        text += " OR a = " + std::to_string(i);
    }
    auto s = selector::compile(text, options);
    REQUIRE(s);
    CHECK(s->max_stack() == 2);
    CHECK(s->evaluate(headers{{"a", "99999"}}) == T);
    CHECK(s->evaluate(headers{{"a", "0"}}) == T);
    CHECK(s->evaluate(headers{{"a", "100000"}}) == F);
}

TEST_CASE("a long chain of NOTs and unary minuses counts against the depth limit",
          "[routing][selector][limits]") {
    std::string nots;
    for (int i = 0; i < 1000; ++i) {
        nots += "NOT ";
    }
    CHECK(compile_error(nots + "TRUE").code == errc::selector_too_deep);
    std::string minuses;
    for (int i = 0; i < 1000; ++i) {
        minuses += "- ";  // not "--", which starts a comment
    }
    CHECK(compile_error(minuses + "1 = 1").code == errc::selector_too_deep);
    CHECK(eval("NOT NOT NOT NOT TRUE") == T);
}

TEST_CASE("a selector longer than the limit is refused before parsing",
          "[routing][selector][limits]") {
    compile_options options;
    options.max_length = 10;
    auto s = selector::compile("a = 1 AND b = 2", options);
    REQUIRE_FALSE(s);
    CHECK(s.error_info().code == errc::selector_too_long);
    CHECK(selector::compile("a = 1", options).has_value());
}

TEST_CASE("LIKE patterns that make backtracking matchers exponential finish",
          "[routing][selector][limits][like]") {
    // A backtracking matcher takes about 2^n steps on these; ours at most n x m.
    const std::string value(10000, 'a');
    const headers h = {{"v", value}};
    std::string pattern;
    for (int i = 0; i < 30; ++i) {
        pattern += "%a";
    }
    CHECK(eval("v LIKE '" + pattern + "b'", h) == F);
    CHECK(eval("v LIKE '" + pattern + "'", h) == T);
    CHECK(eval("v LIKE '%" + std::string(500, '_') + "b%'", h) == F);
    CHECK(eval("v LIKE '%_a_a_a_a_a_a_a_a_a_a_a_a_a_a_a_a_a_a_a_a_b'", h) == F);
}
