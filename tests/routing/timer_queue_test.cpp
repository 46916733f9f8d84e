// The delay/expiry timer queue on a fake clock.

#include "stampede/routing/timer_queue.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <vector>

using stampede::routing::timer_queue;

TEST_CASE("timers fire in deadline order once the clock reaches them", "[routing][timer]") {
    timer_queue<int> q;
    q.push(300, 3);
    q.push(100, 1);
    q.push(200, 2);
    CHECK(q.next_deadline() == 100);
    std::vector<int> fired;
    auto record = [&](int v) { fired.push_back(v); };
    CHECK(q.fire_due(99, record) == 0);
    CHECK(q.fire_due(100, record) == 1);  // a deadline is due at its own time
    CHECK(fired == std::vector<int>{1});
    CHECK(q.fire_due(1000, record) == 2);
    CHECK(fired == std::vector<int>{1, 2, 3});
    CHECK(q.empty());
    CHECK_FALSE(q.next_deadline());
}

TEST_CASE("equal deadlines fire in the order they were scheduled", "[routing][timer]") {
    timer_queue<int> q;
    for (int i = 0; i < 100; ++i) {
        q.push(50, i);
    }
    q.push(10, -1);
    std::vector<int> fired;
    q.fire_due(50, [&](int v) { fired.push_back(v); });
    REQUIRE(fired.size() == 101);
    CHECK(fired[0] == -1);
    for (int i = 0; i < 100; ++i) {
        CHECK(fired[static_cast<std::size_t>(i) + 1] == i);
    }
}

TEST_CASE("a fire limit spreads a large batch over several calls", "[routing][timer]") {
    timer_queue<int> q;
    for (int i = 0; i < 10; ++i) {
        q.push(i, i);
    }
    std::vector<int> fired;
    auto record = [&](int v) { fired.push_back(v); };
    CHECK(q.fire_due(100, record, 4) == 4);
    CHECK(q.fire_due(100, record, 4) == 4);
    CHECK(q.fire_due(100, record, 4) == 2);
    CHECK(fired == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("a timer scheduled while firing fires in turn when it is due", "[routing][timer]") {
    timer_queue<int> q;
    q.push(10, 1);
    std::vector<int> fired;
    q.fire_due(20, [&](int v) {
        fired.push_back(v);
        if (v == 1) {
            q.push(15, 2);  // due already
            q.push(30, 3);  // not yet
        }
    });
    CHECK(fired == std::vector<int>{1, 2});
    CHECK(q.next_deadline() == 30);
}

TEST_CASE("stale timers are skipped by their owner or dropped in bulk", "[routing][timer]") {
    struct entry {
        std::uint64_t message;
        std::uint32_t generation;
    };
    std::vector<std::uint32_t> generation_of(10, 0);
    timer_queue<entry> q;
    for (std::uint64_t m = 0; m < 10; ++m) {
        q.push(static_cast<std::int64_t>(100 + m), entry{m, 0});
    }
    // Messages 2 and 7 were consumed before their timers: their generation moved on.
    generation_of[2] = 1;
    generation_of[7] = 1;
    std::vector<std::uint64_t> live;
    q.fire_due(104, [&](entry e) {
        if (generation_of[e.message] == e.generation) {
            live.push_back(e.message);
        }
    });
    CHECK(live == std::vector<std::uint64_t>{0, 1, 3, 4});
    CHECK(q.remove_if([&](const entry& e) { return generation_of[e.message] != e.generation; }) ==
          1);
    CHECK(q.size() == 4);
    live.clear();
    q.fire_due(1000, [&](entry e) { live.push_back(e.message); });
    CHECK(live == std::vector<std::uint64_t>{5, 6, 8, 9});
}

TEST_CASE("random deadlines come out sorted, ties in insertion order", "[routing][timer]") {
    std::mt19937_64 rng(42);
    timer_queue<std::pair<std::int64_t, int>> q;
    for (int i = 0; i < 20000; ++i) {
        const auto d = static_cast<std::int64_t>(rng() % 500);
        q.push(d, {d, i});
    }
    q.remove_if([](const std::pair<std::int64_t, int>& v) { return v.second % 7 == 0; });
    std::pair<std::int64_t, int> previous{-1, -1};
    std::size_t n = 0;
    std::int64_t now = 0;
    while (!q.empty()) {
        now += 3;
        q.fire_due(now, [&](std::pair<std::int64_t, int> v) {
            REQUIRE(v.first <= now);
            REQUIRE(v > previous);
            REQUIRE(v.second % 7 != 0);
            previous = v;
            ++n;
        });
    }
    CHECK(n == 20000 - 2858);
}
