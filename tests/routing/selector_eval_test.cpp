// Selector evaluation: every operator, three-valued logic, and how string headers meet
// numbers and booleans.

#include <map>
#include <string>

#include "selector_support.hpp"

using namespace routing_test;

namespace {

// Headers standing for the three truth values: t is "true", f is "false", u is absent.
const headers truth_headers = {{"t", "true"}, {"f", "false"}};

truth from_name(char c) {
    return c == 't' ? T : c == 'f' ? F : U;
}

truth and3(truth a, truth b) {
    if (a == F || b == F) {
        return F;
    }
    return a == U || b == U ? U : T;
}

truth or3(truth a, truth b) {
    if (a == T || b == T) {
        return T;
    }
    return a == U || b == U ? U : F;
}

}  // namespace

TEST_CASE("AND, OR and NOT follow the JMS truth tables", "[routing][selector][logic]") {
    for (const char a : {'t', 'f', 'u'}) {
        CHECK(eval(std::string("NOT ") + a, truth_headers) == (from_name(a) == U   ? U
                                                               : from_name(a) == T ? F
                                                                                   : T));
        for (const char b : {'t', 'f', 'u'}) {
            const std::string x(1, a);
            const std::string y(1, b);
            INFO(x << " and " << y);
            CHECK(eval(x + " AND " + y, truth_headers) == and3(from_name(a), from_name(b)));
            CHECK(eval(x + " OR " + y, truth_headers) == or3(from_name(a), from_name(b)));
        }
    }
}

TEST_CASE("short-circuiting gives the same answers as the truth tables in long chains",
          "[routing][selector][logic]") {
    CHECK(eval("u AND f AND u", truth_headers) == F);
    CHECK(eval("u OR t OR u", truth_headers) == T);
    CHECK(eval("f OR u OR f", truth_headers) == U);
    CHECK(eval("t AND u AND t", truth_headers) == U);
    CHECK(eval("(u OR f) AND (t OR u)", truth_headers) == U);
    CHECK(eval("(f AND u) OR (t AND t)", truth_headers) == T);
    CHECK(eval("NOT (u AND f)", truth_headers) == T);
    CHECK(eval("NOT (u OR f)", truth_headers) == U);
}

TEST_CASE("a comparison with an absent header is UNKNOWN, and so is its negation",
          "[routing][selector][logic]") {
    for (const char* op : {"=", "<>", "<", "<=", ">", ">="}) {
        INFO(op);
        CHECK(eval(std::string("missing ") + op + " 3") == U);
        CHECK(eval(std::string("NOT missing ") + op + " 3") == U);
        CHECK(eval(std::string("3 ") + op + " missing") == U);
    }
    CHECK(eval("missing = 'x'") == U);
    CHECK(eval("missing <> 'x'") == U);
    CHECK(eval("missing BETWEEN 1 AND 2") == U);
    CHECK(eval("missing NOT BETWEEN 1 AND 2") == U);
    CHECK(eval("missing IN ('a')") == U);
    CHECK(eval("missing NOT IN ('a')") == U);
    CHECK(eval("missing LIKE 'a%'") == U);
    CHECK(eval("missing NOT LIKE 'a%'") == U);
    CHECK(eval("missing + 1 = 2") == U);
    CHECK(eval("-missing = 2") == U);
    CHECK(eval("missing") == U);
}

TEST_CASE("IS NULL and IS NOT NULL are never UNKNOWN", "[routing][selector][logic]") {
    const headers h = {{"a", "1"}, {"empty", ""}};
    CHECK(eval("a IS NULL", h) == F);
    CHECK(eval("a IS NOT NULL", h) == T);
    CHECK(eval("missing IS NULL", h) == T);
    CHECK(eval("missing IS NOT NULL", h) == F);
    CHECK(eval("empty IS NOT NULL", h) == T);  // an empty value is a value
    CHECK(eval("missing + 1 IS NULL", h) == T);
    CHECK(eval("(missing > 1) IS NULL", h) == T);  // UNKNOWN counts as NULL
    CHECK(eval("(a > 0) IS NOT NULL", h) == T);
}

TEST_CASE("a numeric header compares numerically with a numeric literal",
          "[routing][selector][coercion]") {
    const headers h = {
        {"size", "10"}, {"ratio", "2.5"}, {"neg", "-3"}, {"exp", "1e2"}, {"plus", "+4"}};
    CHECK(eval("size > 3", h) == T);  // not '10' < '3' as strings
    CHECK(eval("size = 10", h) == T);
    CHECK(eval("size = 10.0", h) == T);
    CHECK(eval("size <> 10", h) == F);
    CHECK(eval("size >= 10 AND size <= 10", h) == T);
    CHECK(eval("size < 9", h) == F);
    CHECK(eval("ratio > 2", h) == T);
    CHECK(eval("ratio < 3", h) == T);
    CHECK(eval("ratio = 2.5", h) == T);
    CHECK(eval("neg < 0", h) == T);
    CHECK(eval("exp = 100", h) == T);
    CHECK(eval("plus = 4", h) == T);
    CHECK(eval("3 < size", h) == T);
    CHECK(eval("size BETWEEN 9 AND 11", h) == T);
    CHECK(eval("size * 2 + 1 = 21", h) == T);
    CHECK(eval("size / 4 = 2", h) == T);  // integer division, as in Java
    CHECK(eval("size / 4.0 = 2.5", h) == T);
    CHECK(eval("ratio * 2 = 5", h) == T);
}

TEST_CASE("a header that is not a number is unlike any number", "[routing][selector][coercion]") {
    const headers h = {{"word", "ten"}, {"padded", " 10"}, {"hex", "0x10"}, {"inf", "inf"},
                       {"nan", "nan"},  {"empty", ""},     {"dot", "."}};
    for (const char* name : {"word", "padded", "hex", "inf", "nan", "empty", "dot"}) {
        INFO(name);
        const std::string n(name);
        CHECK(eval(n + " = 10", h) == F);
        CHECK(eval(n + " <> 10", h) == T);  // NOT (=), as ActiveMQ
        CHECK(eval(n + " > 0", h) == F);
        CHECK(eval(n + " < 0", h) == F);
        CHECK(eval(n + " BETWEEN 0 AND 100", h) == F);
        CHECK(eval(n + " + 1 IS NULL", h) == T);  // arithmetic on a non-number is NULL
    }
}

TEST_CASE("strings compare byte-wise with = and <>", "[routing][selector][coercion]") {
    const headers h = {{"a", "abc"}, {"b", "abc"}, {"c", "ABC"}, {"n", "10"}, {"m", "10.0"}};
    CHECK(eval("a = 'abc'", h) == T);
    CHECK(eval("a = 'ABC'", h) == F);
    CHECK(eval("a <> 'abd'", h) == T);
    CHECK(eval("a = b", h) == T);
    CHECK(eval("a = c", h) == F);
    CHECK(eval("n = '10'", h) == T);
    CHECK(eval("n = m", h) == F);  // two headers compare as strings with =
    CHECK(eval("'abc' = 'abc'") == T);
    CHECK(eval("n = '10.0'", h) == F);
}

TEST_CASE("two headers order numerically when both are numbers, else byte-wise",
          "[routing][selector][coercion]") {
    const headers h = {{"nine", "9"}, {"ten", "10"}, {"apple", "apple"}, {"pear", "pear"}};
    CHECK(eval("nine < ten", h) == T);
    CHECK(eval("apple < pear", h) == T);
    CHECK(eval("pear <= apple", h) == F);
    CHECK(eval("ten < apple", h) == T);  // '1' < 'a'
}

TEST_CASE("true and false headers meet boolean literals in any case",
          "[routing][selector][coercion]") {
    const headers h = {{"yes", "TRUE"}, {"no", "false"}, {"other", "yes"}};
    CHECK(eval("yes = TRUE", h) == T);
    CHECK(eval("no = FALSE", h) == T);
    CHECK(eval("no = TRUE", h) == F);
    CHECK(eval("other = TRUE", h) == F);
    CHECK(eval("other = FALSE", h) == F);
    CHECK(eval("other <> FALSE", h) == T);
    CHECK(eval("yes", h) == T);
    CHECK(eval("no", h) == F);
    CHECK(eval("other", h) == F);
    CHECK(eval("NOT other", h) == T);
    CHECK(eval("(1 < 2) = TRUE") == T);
    CHECK(eval("TRUE = 1") == F);
    CHECK(eval("TRUE <> 1") == T);
}

TEST_CASE("every comparison operator orders numbers", "[routing][selector]") {
    struct row {
        const char* text;
        truth expected;
    };
    const row rows[] = {
        {"1 = 1", T},  {"1 = 2", F},           {"1 <> 2", T},
        {"1 <> 1", F}, {"1 < 2", T},           {"2 < 1", F},
        {"1 < 1", F},  {"1 <= 1", T},          {"2 <= 1", F},
        {"2 > 1", T},  {"1 > 1", F},           {"1 >= 1", T},
        {"0 >= 1", F}, {"1 = 1.0", T},         {"1 < 1.5", T},
        {"-1 < 0", T}, {"0.1 + 0.2 > 0.3", T}, {"1e308 * 10 > 1e308", T},
    };
    for (const row& r : rows) {
        INFO(r.text);
        CHECK(eval(r.text) == r.expected);
    }
}

TEST_CASE("integer arithmetic overflows into double and divides by zero into NULL",
          "[routing][selector]") {
    CHECK(eval("9223372036854775807 + 1 > 0") == T);  // no wrap-around
    CHECK(eval("-9223372036854775807 - 2 < 0") == T);
    CHECK(eval("4294967296 * 4294967296 > 0") == T);
    CHECK(eval("1 / 0 IS NULL") == T);
    CHECK(eval("1 % 0 IS NULL") == T);
    CHECK(eval("1 / 0 = 1") == U);
    CHECK(eval("1.0 / 0 > 1e308") == T);  // double division follows IEEE
    CHECK(eval("-7 / 2 = -3") == T);      // truncates toward zero
    CHECK(eval("-7 % 2 = -1") == T);
    CHECK(eval("7.5 % 2 = 1.5") == T);
}

TEST_CASE("BETWEEN includes both bounds and NOT BETWEEN excludes them", "[routing][selector]") {
    for (const char* v : {"1", "2", "3"}) {
        INFO(v);
        CHECK(eval("x BETWEEN 1 AND 3", {{"x", v}}) == T);
        CHECK(eval("x NOT BETWEEN 1 AND 3", {{"x", v}}) == F);
    }
    CHECK(eval("x BETWEEN 1 AND 3", {{"x", "0"}}) == F);
    CHECK(eval("x BETWEEN 1 AND 3", {{"x", "4"}}) == F);
    CHECK(eval("x NOT BETWEEN 1 AND 3", {{"x", "4"}}) == T);
    CHECK(eval("x BETWEEN 3 AND 1", {{"x", "2"}}) == F);
    // A NULL bound makes the answer depend on the other one.
    CHECK(eval("x BETWEEN missing AND 3", {{"x", "4"}}) == F);
    CHECK(eval("x BETWEEN missing AND 3", {{"x", "2"}}) == U);
    CHECK(eval("x NOT BETWEEN missing AND 3", {{"x", "4"}}) == T);
}

TEST_CASE("IN matches any listed string exactly, short lists and long", "[routing][selector]") {
    const headers h = {{"r", "eu"}};
    CHECK(eval("r IN ('us', 'eu')", h) == T);
    CHECK(eval("r IN ('us', 'EU')", h) == F);
    CHECK(eval("r NOT IN ('us', 'asia')", h) == T);
    CHECK(eval("r NOT IN ('eu')", h) == F);
    CHECK(eval("r IN ('e', 'eu ', 'eux')", h) == F);
    std::string long_list = "r IN (";
    for (int i = 0; i < 100; ++i) {
        long_list += "'region" + std::to_string(i) + "', ";
    }
    CHECK(eval(long_list + "'zz')", h) == F);
    CHECK(eval(long_list + "'eu')", h) == T);
    CHECK(eval(long_list + "'a')", {{"r", "region57"}}) == T);
    CHECK(eval(long_list + "'a')", {{"r", "region100"}}) == F);
    CHECK(eval("n IN ('10')", {{"n", "10"}}) == T);
}

TEST_CASE("LIKE matches % as any run and _ as one character", "[routing][selector][like]") {
    struct row {
        const char* value;
        const char* pattern;
        truth expected;
    };
    const row rows[] = {
        {"abc", "abc", T},
        {"abc", "ab", F},
        {"abc", "abcd", F},
        {"abc", "a%", T},
        {"abc", "%c", T},
        {"abc", "%b%", T},
        {"abc", "%", T},
        {"", "%", T},
        {"", "", T},
        {"a", "", F},
        {"", "_", F},
        {"abc", "___", T},
        {"abc", "__", F},
        {"abc", "a_c", T},
        {"abc", "_b_", T},
        {"abc", "%%", T},
        {"abc", "a%%c", T},
        {"abc", "a%b%c", T},
        {"ac", "a%b%c", F},
        {"abc", "%a%b%c%", T},
        {"abcabc", "%abc", T},
        {"abcab", "%abc", F},
        {"aXbXc", "a_b_c", T},
        {"abba", "a%a", T},
        {"aba", "ab%ba", F},
        {"abba", "ab%ba", T},
        {"xyz", "%y", F},
        {"a.c", "a.c", T},
        {"abc", "a.c", F},
        {"a*c", "a*c", T},
        {"é", "_", T},
        {"aéb", "a_b", T},
        {"aéb", "a__b", F},
        {"xé", "%_", T},
        {"éx", "_%", T},
        {"日本語", "_本_", T},
        {"日本語", "%語", T},
        {"100%", "100%", T},
        {"ABC", "abc", F},
        {"line\nbreak", "line_break", T},
        {"line\nbreak", "%\n%", T},
    };
    for (const row& r : rows) {
        INFO("'" << r.value << "' LIKE '" << r.pattern << "'");
        const headers h = {{"v", r.value}};
        CHECK(eval(std::string("v LIKE '") + r.pattern + "'", h) == r.expected);
        CHECK(eval(std::string("v NOT LIKE '") + r.pattern + "'", h) == (r.expected == T ? F : T));
    }
}

TEST_CASE("ESCAPE makes % and _ literal and otherwise stands for itself",
          "[routing][selector][like]") {
    struct row {
        const char* value;
        const char* pattern;
        truth expected;
    };
    const row rows[] = {
        {"100%", "100\\%", T}, {"1000", "100\\%", F}, {"a_b", "a\\_b", T},
        {"axb", "a\\_b", F},   {"a\\b", "a\\\\b", T}, {"a\\b", "a\\b", T},
        {"ab", "a\\b", F},     {"a\\", "a\\", T},     {"x%y%z", "%\\%%\\%%", T},
        {"xyz", "%\\%%", F},   {"_start", "\\_%", T}, {"start", "\\_%", F},
    };
    for (const row& r : rows) {
        INFO("'" << r.value << "' LIKE '" << r.pattern << "' ESCAPE '\\'");
        CHECK(eval(std::string("v LIKE '") + r.pattern + "' ESCAPE '\\'", {{"v", r.value}}) ==
              r.expected);
    }
    CHECK(eval("v LIKE 'a!%' ESCAPE '!'", {{"v", "a%"}}) == T);
    CHECK(eval("v LIKE 'a''%' ESCAPE ''''", {{"v", "a%"}}) == T);  // the quote as escape
    CHECK(eval("v LIKE 'a%'", {{"v", "a\\"}}) == T);               // no ESCAPE: backslash is plain
}

TEST_CASE("LIKE on a string literal works like on a header", "[routing][selector][like]") {
    CHECK(eval("'abc' LIKE 'a%'") == T);
    CHECK(eval("'abc' NOT LIKE 'a%'") == F);
}

TEST_CASE("the first of a repeated header is the one a selector sees", "[routing][selector]") {
    const headers h = {{"a", "1"}, {"a", "2"}};
    CHECK(eval("a = 1", h) == T);
    CHECK(eval("a = 2", h) == F);
}

TEST_CASE("evaluate_with looks headers up through any callable", "[routing][selector]") {
    auto s = selector::compile("JMSPriority > 4 AND kind = 'x'");
    REQUIRE(s);
    std::map<std::string, std::string, std::less<>> store = {{"kind", "x"}};
    int lookups = 0;
    // A lookup that supplies ActiveMQ's default priority, as the broker may choose to.
    auto lookup = [&](std::string_view name) -> std::optional<std::string_view> {
        ++lookups;
        if (const auto it = store.find(name); it != store.end()) {
            return std::string_view(it->second);
        }
        if (name == "priority") {
            return std::string_view("4");
        }
        return std::nullopt;
    };
    CHECK(s->evaluate_with(lookup) == F);
    CHECK(lookups == 1);  // FALSE AND ... never looks at kind
    store["priority"] = "9";
    CHECK(s->evaluate_with(lookup) == T);
    CHECK(lookups == 3);
}

TEST_CASE("a compiled selector gives the same answer every time", "[routing][selector]") {
    auto s = selector::compile("a > 1 AND (b LIKE 'x%' OR c IN ('1','2')) AND d IS NULL");
    REQUIRE(s);
    const headers yes = {{"a", "2"}, {"b", "xy"}};
    const headers no = {{"a", "2"}, {"b", "y"}, {"c", "3"}};
    const headers unknown = {{"b", "xy"}};
    for (int i = 0; i < 1000; ++i) {
        REQUIRE(s->evaluate(yes) == T);
        REQUIRE(s->evaluate(no) == F);
        REQUIRE(s->evaluate(unknown) == U);
    }
}

TEST_CASE("a header compared with a literal answers as the general comparison does",
          "[routing][selector][coercion]") {
    // "h <op> literal" compiles to one fused instruction; "h <op> literal + 0" and
    // "h = (1 = 1)" go through the general path. Both must agree everywhere.
    const char* values[] = {"10",
                            "3",
                            "-1",
                            "2.5",
                            "abc",
                            "",
                            "true",
                            "TRUE",
                            "1e1",
                            "10.0",
                            "+3",
                            "0x3",
                            "9223372036854775807",
                            "99999999999999999999"};
    const char* literals[] = {"3", "10", "2.5", "-1", "0"};
    const char* ops[] = {"=", "<>", "<", "<=", ">", ">="};
    const char* flipped[] = {"=", "<>", ">", ">=", "<", "<="};
    for (const char* v : values) {
        const headers h = {{"h", v}};
        for (const char* lit : literals) {
            for (int o = 0; o < 6; ++o) {
                const std::string fused = std::string("h ") + ops[o] + " " + lit;
                const std::string general = fused + " + 0";
                const std::string reversed = std::string(lit) + " " + flipped[o] + " h";
                INFO(v << ": " << fused);
                const truth expected = eval(general, h);
                CHECK(eval(fused, h) == expected);
                CHECK(eval(reversed, h) == expected);
            }
        }
        INFO(v);
        CHECK(eval("h = TRUE", h) == eval("h = (1 = 1)", h));
        CHECK(eval("h <> FALSE", h) == eval("h <> (1 = 2)", h));
        CHECK(eval("h = 'abc'", h) == eval("h = abc", {{"h", v}, {"abc", "abc"}}));
    }
}

TEST_CASE("selectors naming more than 16 headers look them up one by one", "[routing][selector]") {
    std::vector<std::string> names;
    std::vector<std::string> values;
    for (int i = 0; i < 20; ++i) {
        values.push_back(std::to_string(i));
        names.push_back(std::string(1, 'h').append(values.back()));
    }
    std::string text = "h0 = '0'";
    headers h;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) {
            text.append(" AND ").append(names[i]).append(" = '").append(values[i]).append("'");
        }
        h.push_back({names[i], values[i]});
    }
    CHECK(eval(text, h) == T);
    h.pop_back();
    CHECK(eval(text, h) == U);
}
