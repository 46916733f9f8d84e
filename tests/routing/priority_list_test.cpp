// The priority ready list: higher first, FIFO within a priority, redeliveries in front, and a
// bounded wait for lower priorities.

#include "stampede/routing/priority_list.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using stampede::routing::priority_list;
using stampede::routing::ring;

namespace {

std::vector<int> drain(priority_list<int>& list) {
    std::vector<int> out;
    while (auto next = list.pop()) {
        out.push_back(next->second);
    }
    return out;
}

}  // namespace

TEST_CASE("higher priorities come first and equal ones in arrival order", "[routing][priority]") {
    priority_list<int> list(0);
    list.push(4, 1);
    list.push(9, 2);
    list.push(0, 3);
    list.push(4, 4);
    list.push(9, 5);
    list.push(7, 6);
    CHECK(list.size() == 6);
    CHECK(list.next_level() == 9);
    CHECK(drain(list) == std::vector<int>{2, 5, 6, 1, 4, 3});
    CHECK(list.empty());
    CHECK_FALSE(list.pop());
}

TEST_CASE("priorities above 9 count as 9", "[routing][priority]") {
    priority_list<int> list(0);
    list.push(9, 1);
    list.push(200, 2);
    CHECK(list.size(9) == 2);
    const auto first = list.pop();
    CHECK(first->first == 9);
    CHECK(first->second == 1);
}

TEST_CASE("a redelivered message goes back in front of its priority", "[routing][priority]") {
    priority_list<int> list(0);
    list.push(4, 1);
    list.push(4, 2);
    list.push(6, 3);
    auto taken = list.pop();  // 3
    REQUIRE(taken->second == 3);
    taken = list.pop();  // 1
    REQUIRE(taken->second == 1);
    list.push_front(4, 1);  // its consumer went away unacked
    list.push(4, 4);
    CHECK(drain(list) == std::vector<int>{1, 2, 4});
}

TEST_CASE("strict priority starves a lower level while higher ones keep coming",
          "[routing][priority]") {
    priority_list<int> list(0);
    list.push(0, -1);
    for (int i = 0; i < 1000; ++i) {
        list.push(9, i);
        REQUIRE(list.pop()->second == i);
    }
    CHECK(list.size() == 1);
}

TEST_CASE("a lower priority passed over starvation_limit times gets the next delivery",
          "[routing][priority]") {
    priority_list<int> list(3);
    list.push(0, -1);
    std::vector<int> order;
    for (int i = 0; i < 6; ++i) {
        list.push(9, i);
    }
    order = drain(list);
    // Three deliveries pass the low message over, then it goes, then the rest.
    CHECK(order == std::vector<int>{0, 1, 2, -1, 3, 4, 5});
}

TEST_CASE("under a steady stream of high priorities every waiting level moves",
          "[routing][priority]") {
    const std::uint32_t limit = 16;
    priority_list<int> list(limit);
    // Saturate levels 9, 5 and 0; count who gets each delivery.
    int served[10] = {};
    for (int i = 0; i < 100; ++i) {
        list.push(5, 5);
        list.push(0, 0);
    }
    std::size_t longest_wait_of_0 = 0;
    std::size_t since_0 = 0;
    for (int i = 0; i < 10000; ++i) {
        list.push(9, 9);
        const auto next = list.pop();
        ++served[next->second];
        if (next->second == 0) {
            longest_wait_of_0 = std::max(longest_wait_of_0, since_0);
            since_0 = 0;
            list.push(0, 0);  // keep level 0 waiting
        } else {
            ++since_0;
        }
        if (next->second == 5) {
            list.push(5, 5);
        }
    }
    CHECK(served[0] > 0);
    CHECK(served[5] > 0);
    CHECK(longest_wait_of_0 <= limit + 10);
    // High priority keeps the lion's share.
    CHECK(served[9] > 8 * served[0]);
    CHECK(served[9] > 8 * served[5]);
}

TEST_CASE("a level's count restarts when it empties", "[routing][priority]") {
    priority_list<int> list(2);
    list.push(9, 1);
    list.push(9, 2);
    list.push(0, 10);
    CHECK(list.pop()->second == 1);
    // Level 0 has been passed over once; emptying it through remove_if resets that.
    CHECK(list.remove_if([](int v) { return v == 10; }) == 1);
    list.push(0, 11);
    list.push(9, 3);
    CHECK(list.pop()->second == 2);
    CHECK(list.pop()->second == 3);  // 11 passed over twice only now
    list.push(9, 4);
    CHECK(list.pop()->second == 11);
}

TEST_CASE("remove_if keeps the order of what remains", "[routing][priority]") {
    priority_list<int> list(0);
    for (int i = 0; i < 20; ++i) {
        list.push(static_cast<std::uint8_t>(i % 2 ? 7 : 3), i);
    }
    CHECK(list.remove_if([](int v) { return v % 3 == 0; }) == 7);
    CHECK(drain(list) == std::vector<int>{1, 5, 7, 11, 13, 17, 19, 2, 4, 8, 10, 14, 16});
}

TEST_CASE("for_each visits in priority order without consuming", "[routing][priority]") {
    priority_list<int> list(0);
    list.push(1, 10);
    list.push(8, 80);
    list.push(8, 81);
    std::vector<std::pair<int, int>> seen;
    list.for_each([&](std::uint8_t p, const int& v) { seen.emplace_back(p, v); });
    CHECK(seen == std::vector<std::pair<int, int>>{{8, 80}, {8, 81}, {1, 10}});
    CHECK(list.size() == 3);
}

TEST_CASE("bytes are accounted on the way in and out", "[routing][priority]") {
    struct msg {
        std::string body;
    };
    struct body_bytes {
        std::size_t operator()(const msg& m) const { return m.body.size(); }
    };
    priority_list<msg, body_bytes> list(4);
    list.push(4, msg{"hello"});
    list.push(9, msg{"hi"});
    list.push_front(4, msg{"again"});
    CHECK(list.bytes() == 12);
    CHECK(list.pop()->second.body == "hi");
    CHECK(list.bytes() == 10);
    list.remove_if([](const msg& m) { return m.body == "again"; });
    CHECK(list.bytes() == 5);
    list.pop();
    CHECK(list.bytes() == 0);
}

TEST_CASE("a ring grows through wrap-around and gives its memory back when empty",
          "[routing][priority]") {
    ring<int> r;
    CHECK(r.capacity() == 0);
    for (int i = 0; i < 3; ++i) {
        r.push_back(i);
    }
    CHECK(r.pop_front() == 0);
    r.push_back(3);
    r.push_back(4);
    r.push_front(-1);  // wraps, then grows
    r.push_back(5);
    std::vector<int> out;
    while (!r.empty()) {
        out.push_back(r.pop_front());
    }
    CHECK(out == std::vector<int>{-1, 1, 2, 3, 4, 5});
    CHECK(r.capacity() == 0);
}

TEST_CASE("take_first_if takes the first wanted element in priority order", "[routing][priority]") {
    priority_list<int> list(0);
    for (int i = 0; i < 10; ++i) {
        list.push(static_cast<std::uint8_t>(i < 5 ? 2 : 6), i);
    }
    // Priority 6 holds 5..9 and comes first; the first even one there is 6.
    auto taken = list.take_first_if([](int v) { return v % 2 == 0; });
    REQUIRE(taken);
    CHECK(taken->first == 6);
    CHECK(taken->second == 6);
    taken = list.take_first_if([](int v) { return v < 3; });
    CHECK(taken->second == 0);
    // 4 is the eighth element in order (5 7 8 9 | 1 2 3 4).
    CHECK_FALSE(list.take_first_if([](int v) { return v == 4; }, 7));  // beyond the scan bound
    CHECK(list.take_first_if([](int v) { return v == 4; }, 8)->second == 4);
    CHECK_FALSE(list.take_first_if([](int v) { return v > 100; }));
    CHECK(list.size() == 7);
    CHECK(drain(list) == std::vector<int>{5, 7, 8, 9, 1, 2, 3});
}

TEST_CASE("a ring closes a gap from either end", "[routing][priority]") {
    for (std::size_t gap = 0; gap < 9; ++gap) {
        // Leave 0..8 in a ring of capacity 16 whose head is at slot 12, so that they wrap.
        ring<int> r;
        for (int i = 0; i < 12; ++i) {
            r.push_back(-1);
        }
        for (int i = 0; i < 11; ++i) {
            r.pop_front();
        }
        for (int i = 0; i < 9; ++i) {
            r.push_back(i);
        }
        r.pop_front();
        REQUIRE(r.capacity() == 16);
        CHECK(r.take(gap) == static_cast<int>(gap));
        std::vector<int> rest;
        while (!r.empty()) {
            rest.push_back(r.pop_front());
        }
        std::vector<int> expected;
        for (int i = 0; i < 9; ++i) {
            if (static_cast<std::size_t>(i) != gap) {
                expected.push_back(i);
            }
        }
        CHECK(rest == expected);
    }
}
