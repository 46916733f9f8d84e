// A queue's choice of consumer (consumer_set.hpp) against a fake clock.

#include "consumer_set.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace stampede::broker;
using namespace std::chrono_literals;
using stampede::broker::testing::fake_clock;

namespace {

constexpr auto window = 20ms;

queue_consumer consumer(std::uint64_t slot, std::size_t prefetch,
                        ack_mode mode = ack_mode::client_individual) {
    queue_consumer c;
    c.key = {1, slot};
    c.mode = mode;
    c.prefetch = prefetch;
    c.monitor = slot * 10;
    return c;
}

// Picks and gives `bytes`; returns the slot given to (0: none).
std::uint64_t give(consumer_set& set, fake_clock& clock, std::size_t bytes = 100) {
    queue_consumer* c = set.pick(clock.now());
    if (c == nullptr) {
        return 0;
    }
    set.given(*c, bytes);
    return c->key.slot;
}

}  // namespace

TEST_CASE("consumers with room take turns, least served first", "[consumer_set]") {
    consumer_set set(1 << 20, window);
    fake_clock clock;
    set.add(consumer(1, 100));
    set.add(consumer(2, 100));
    set.add(consumer(3, 100));
    std::vector<std::uint64_t> order;
    for (int i = 0; i < 9; ++i) {
        order.push_back(give(set, clock));
    }
    CHECK(order == std::vector<std::uint64_t>{1, 2, 3, 1, 2, 3, 1, 2, 3});
}

TEST_CASE("a consumer at its prefetch gets nothing until it settles", "[consumer_set]") {
    consumer_set set(1 << 20, window);
    fake_clock clock;
    queue_consumer& only = set.add(consumer(1, 2));
    CHECK(give(set, clock) == 1);
    CHECK(give(set, clock) == 1);
    CHECK(give(set, clock) == 0);
    CHECK_FALSE(set.held_for_fairness());  // nobody has room: not a fairness hold
    set.settled(only, 100, clock.now());
    CHECK(give(set, clock) == 1);
}

TEST_CASE("a consumer's unsettled bytes are bounded, but one message always fits",
          "[consumer_set]") {
    consumer_set set(1000, window);
    fake_clock clock;
    queue_consumer& c = set.add(consumer(1, 100));
    CHECK(give(set, clock, 5000) == 1);  // larger than the bound: still one
    CHECK(give(set, clock, 10) == 0);
    set.settled(c, 5000, clock.now());
    CHECK(give(set, clock, 600) == 1);
    CHECK(give(set, clock, 600) == 1);  // 600 < 1000 before it
    CHECK(give(set, clock, 1) == 0);    // 1200 held
}

TEST_CASE("a late joiner starts level with the least served", "[consumer_set]") {
    consumer_set set(1 << 20, window);
    fake_clock clock;
    set.add(consumer(1, 1000));
    for (int i = 0; i < 50; ++i) {
        REQUIRE(give(set, clock) == 1);
    }
    set.add(consumer(2, 1000));
    // Not fifty in a row for the newcomer: they alternate from here.
    std::vector<std::uint64_t> order;
    for (int i = 0; i < 4; ++i) {
        order.push_back(give(set, clock));
    }
    CHECK(std::count(order.begin(), order.end(), 2) == 2);
}

TEST_CASE(
    "no consumer gets more than two windows ahead of an active one, for an active window "
    "at most",
    "[consumer_set]") {
    consumer_set set(1 << 20, window);
    fake_clock clock;
    queue_consumer& a = set.add(consumer(1, 1));
    queue_consumer& b = set.add(consumer(2, 1));
    REQUIRE(give(set, clock) == 1);
    REQUIRE(give(set, clock) == 2);
    set.settled(a, 100, clock.now());
    REQUIRE(give(set, clock) == 1);  // a: given 2, waiting for its settle to come back
    // b settles at once each time; a has just settled, so it counts as active.
    std::vector<std::uint64_t> order;
    for (int i = 0; i < 6; ++i) {
        if (!set.has_room(b)) {
            set.settled(b, 100, clock.now());
        }
        order.push_back(give(set, clock));
    }
    // b is picked while at most two of its windows (2) ahead of a's 2 given.
    CHECK(order == std::vector<std::uint64_t>{2, 2, 2, 2, 0, 0});
    CHECK(b.given == 5);
    CHECK(set.held_for_fairness());
    // a stays silent past the active window: it stops counting, b goes on.
    clock.advance(window);
    CHECK(give(set, clock) == 2);
    CHECK_FALSE(set.held_for_fairness());
}

TEST_CASE("a removed consumer is never picked again", "[consumer_set]") {
    consumer_set set(1 << 20, window);
    fake_clock clock;
    set.add(consumer(1, 10));
    set.add(consumer(2, 10));
    set.remove({1, 1});
    CHECK(set.find({1, 1}) == nullptr);
    for (int i = 0; i < 5; ++i) {
        CHECK(give(set, clock) == 2);
    }
    CHECK(set.size() == 1);
}

TEST_CASE("the consumers of a session that ended are found by its monitor", "[consumer_set]") {
    consumer_set set(1 << 20, window);
    set.add(consumer(1, 1));
    set.add(consumer(2, 1));
    const auto keys = set.watched_by(20);
    REQUIRE(keys.size() == 1);
    CHECK(keys.front().slot == 2);
    CHECK(set.watched_by(99).empty());
}
