// Wildcard topic subscriptions: '*' one segment, '#' (and ActiveMQ's '>') zero or more.

#include "stampede/routing/subscription_index.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

using stampede::routing::is_wildcard_pattern;
using stampede::routing::pattern_matches;
using stampede::routing::subscription_index;

namespace {

/// The values matching `name`, sorted.
std::vector<int> matches(const subscription_index<int>& index, std::string_view name) {
    std::vector<int> out;
    index.match(name, [&](int v) { out.push_back(v); });
    std::sort(out.begin(), out.end());
    return out;
}

/// Whether `pattern` matches `name`, both through an index and through pattern_matches.
bool both(std::string_view pattern, std::string_view name) {
    subscription_index<int> index;
    index.add(pattern, 1);
    const bool by_index = !matches(index, name).empty();
    const bool direct = pattern_matches(pattern, name);
    INFO("pattern '" << pattern << "' name '" << name << "'");
    REQUIRE(by_index == direct);
    return by_index;
}

}  // namespace

TEST_CASE("a pattern without wildcards matches its own name only", "[routing][wildcard]") {
    CHECK(both("a.b.c", "a.b.c"));
    CHECK_FALSE(both("a.b.c", "a.b"));
    CHECK_FALSE(both("a.b.c", "a.b.c.d"));
    CHECK_FALSE(both("a.b.c", "a.b.C"));
    CHECK(both("orders", "orders"));
}

TEST_CASE("star matches exactly one segment", "[routing][wildcard]") {
    CHECK(both("a.*", "a.b"));
    CHECK_FALSE(both("a.*", "a"));
    CHECK_FALSE(both("a.*", "a.b.c"));
    CHECK(both("*.b", "a.b"));
    CHECK(both("a.*.c", "a.x.c"));
    CHECK_FALSE(both("a.*.c", "a.c"));
    CHECK(both("*", "a"));
    CHECK_FALSE(both("*", "a.b"));
    CHECK(both("*.*", "a.b"));
    CHECK(both("a.*", "a."));  // one empty segment
}

TEST_CASE("hash matches zero or more segments at the start, middle and end",
          "[routing][wildcard]") {
    // End.
    CHECK(both("a.#", "a"));
    CHECK(both("a.#", "a.b"));
    CHECK(both("a.#", "a.b.c.d"));
    CHECK_FALSE(both("a.#", "b.a"));
    // Start.
    CHECK(both("#.z", "z"));
    CHECK(both("#.z", "a.b.z"));
    CHECK_FALSE(both("#.z", "z.a"));
    // Middle.
    CHECK(both("a.#.z", "a.z"));
    CHECK(both("a.#.z", "a.b.z"));
    CHECK(both("a.#.z", "a.b.c.z"));
    CHECK_FALSE(both("a.#.z", "a.b.c"));
    CHECK(both("a.#.z", "a.z.z"));
    // Alone, and several.
    CHECK(both("#", "a.b.c"));
    CHECK(both("#", "a"));
    CHECK(both("#.#", "a"));
    CHECK(both("a.#.#.b", "a.b"));
    CHECK(both("#.a.#", "x.a.y"));
    CHECK(both("#.a.#", "a"));
    CHECK_FALSE(both("#.a.#", "b"));
    CHECK(both("*.#", "a"));
    CHECK_FALSE(both("*.#", ""));
    CHECK(both("#.*", "a.b.c"));
    CHECK(both("a.#.b.*.c", "a.x.b.y.b.z.c"));
    CHECK_FALSE(both("a.#.b.*.c", "a.x.b.c"));
}

TEST_CASE("ActiveMQ's > means what # means", "[routing][wildcard]") {
    CHECK(both("PRICE.>", "PRICE.STOCK.NASDAQ.IBM"));
    CHECK(both("PRICE.>", "PRICE"));  // ActiveMQ lets FOO.BAR match FOO.BAR.>
    CHECK_FALSE(both("PRICE.>", "STOCK.PRICE"));
    CHECK(both("PRICE.STOCK.*.IBM", "PRICE.STOCK.NYSE.IBM"));
    CHECK(both(">", "anything.at.all"));
    CHECK(both("a.>.c", "a.b.b.c"));

    subscription_index<int> index;
    index.add("a.#", 1);
    index.add("a.>", 2);
    CHECK(matches(index, "a.b") == std::vector<int>{1, 2});
}

TEST_CASE("empty segments are segments and the empty name has none", "[routing][wildcard]") {
    CHECK(both("a..b", "a..b"));
    CHECK_FALSE(both("a..b", "a.b"));
    CHECK(both("a.*.b", "a..b"));
    CHECK(both(".", "."));
    CHECK(both("*.*", "."));
    CHECK(both("#", ""));
    CHECK(both("", ""));
    CHECK_FALSE(both("*", ""));
    CHECK_FALSE(both("", "a"));
    CHECK(both("a.", "a."));
    CHECK_FALSE(both("a.", "a"));
    CHECK(both(".a", ".a"));
    CHECK(both("#.a", ".a"));
}

TEST_CASE("segments that only contain a wildcard character are literal", "[routing][wildcard]") {
    CHECK(both("a*", "a*"));
    CHECK_FALSE(both("a*", "ab"));
    CHECK_FALSE(both("a.b#", "a.b.c"));
    CHECK(both("a.*", "a.*"));  // a published '*' is just a segment
    CHECK_FALSE(both("a.b", "a.*"));
    CHECK(is_wildcard_pattern("a.*"));
    CHECK(is_wildcard_pattern("#"));
    CHECK(is_wildcard_pattern("a.>"));
    CHECK_FALSE(is_wildcard_pattern("a*.b#"));
    CHECK_FALSE(is_wildcard_pattern(""));
}

TEST_CASE("each subscription is reported once even when several paths reach it",
          "[routing][wildcard]") {
    subscription_index<int> index;
    index.add("#.a.#", 1);
    index.add("a.#.#.a", 2);
    index.add("#", 3);
    index.add("#", 4);  // the same pattern twice: two subscriptions
    CHECK(matches(index, "a.a.a.a") == std::vector<int>{1, 2, 3, 4});
    CHECK(matches(index, "b") == std::vector<int>{3, 4});
}

TEST_CASE("removing a subscription stops its matches and frees its nodes", "[routing][wildcard]") {
    subscription_index<int> index;
    const std::size_t empty_nodes = index.node_count();
    const auto h1 = index.add("a.b.c", 1);
    const auto h2 = index.add("a.*.c", 2);
    const auto h3 = index.add("a.#", 3);
    const auto h4 = index.add("a.b.c", 4);
    CHECK(index.size() == 4);
    CHECK(matches(index, "a.b.c") == std::vector<int>{1, 2, 3, 4});
    CHECK(index.remove(h1));
    CHECK_FALSE(index.remove(h1));
    CHECK(matches(index, "a.b.c") == std::vector<int>{2, 3, 4});
    CHECK(*index.find(h4) == 4);
    CHECK(index.find(h1) == nullptr);
    CHECK(index.remove(h2));
    CHECK(index.remove(h3));
    CHECK(matches(index, "a.b.c") == std::vector<int>{4});
    CHECK(index.remove(h4));
    CHECK(index.empty());
    CHECK(index.node_count() == empty_nodes);
    CHECK(matches(index, "a.b.c").empty());
    // A slot reused after removal does not answer to the old handle.
    const auto h5 = index.add("x", 5);
    CHECK(index.find(h1) == nullptr);
    CHECK(*index.find(h5) == 5);
}

TEST_CASE("the index agrees with direct matching on random patterns and names",
          "[routing][wildcard]") {
    std::mt19937 rng(13);
    const char* words[] = {"a", "b", "", "*", "#", ">"};
    const char* name_words[] = {"a", "b", "", "c"};
    auto make = [&](const char* const* pool, int pool_size, int max_len) {
        std::string s;
        const int n = static_cast<int>(rng() % static_cast<unsigned>(max_len + 1));
        for (int i = 0; i < n; ++i) {
            s += (i ? "." : "");
            s += pool[rng() % static_cast<unsigned>(pool_size)];
        }
        return s;
    };
    std::vector<std::string> patterns;
    subscription_index<int> index;
    for (int i = 0; i < 300; ++i) {
        patterns.push_back(make(words, 6, 5));
        index.add(patterns.back(), i);
    }
    for (int k = 0; k < 2000; ++k) {
        const std::string name = make(name_words, 4, 6);
        std::vector<int> expected;
        for (int i = 0; i < static_cast<int>(patterns.size()); ++i) {
            if (pattern_matches(patterns[static_cast<std::size_t>(i)], name)) {
                expected.push_back(i);
            }
        }
        INFO("name '" << name << "'");
        REQUIRE(matches(index, name) == expected);
    }
}

TEST_CASE("a name of 100,000 segments matches without recursion", "[routing][wildcard]") {
    std::string name = "a";
    for (int i = 0; i < 100000; ++i) {
        name += ".x";
    }
    subscription_index<int> index;
    index.add("a.#", 1);
    index.add("#.x", 2);
    index.add("a.*", 3);
    index.add("#.x.#.x.#", 4);
    CHECK(matches(index, name) == std::vector<int>{1, 2, 4});
    CHECK(pattern_matches("#.x.#.x.#", name));
}

TEST_CASE("the index stays right through random adds and removes", "[routing][wildcard]") {
    std::mt19937 rng(99);
    const char* words[] = {"a", "b", "c", "d", "e", "*", "#"};
    auto make = [&](int max_len) {
        std::string s;
        const int n = 1 + static_cast<int>(rng() % static_cast<unsigned>(max_len));
        for (int i = 0; i < n; ++i) {
            s += (i ? "." : "");
            s += words[rng() % 7];
            s += std::to_string(rng() % 3);  // many distinct literal edges
        }
        return s;
    };
    subscription_index<int> index;
    struct live_sub {
        subscription_index<int>::handle handle;
        std::string pattern;
        int value;
    };
    std::vector<live_sub> live;
    int next_value = 0;
    for (int round = 0; round < 4000; ++round) {
        if (live.empty() || rng() % 3 != 0) {
            std::string p = make(4);
            // Wildcard segments carry a digit from make(); strip it so they stay wildcards.
            for (std::size_t i = 0; i + 1 < p.size(); ++i) {
                if ((p[i] == '*' || p[i] == '#') && (i == 0 || p[i - 1] == '.')) {
                    p.erase(i + 1, 1);
                }
            }
            live.push_back({index.add(p, next_value), p, next_value});
            ++next_value;
        } else {
            const std::size_t k = rng() % live.size();
            REQUIRE(index.remove(live[k].handle));
            live[k] = live.back();
            live.pop_back();
        }
        if (round % 50 == 0) {
            for (int q = 0; q < 20; ++q) {
                const std::string name = make(5);
                std::vector<int> expected;
                for (const live_sub& l : live) {
                    if (pattern_matches(l.pattern, name)) {
                        expected.push_back(l.value);
                    }
                }
                std::sort(expected.begin(), expected.end());
                INFO("name '" << name << "'");
                REQUIRE(matches(index, name) == expected);
            }
        }
    }
    for (const live_sub& l : live) {
        REQUIRE(index.remove(l.handle));
    }
    CHECK(index.empty());
    CHECK(index.node_count() == 1);
}
