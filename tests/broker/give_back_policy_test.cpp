// When the memory monitor gives freed memory back (issue 14), against a fake
// clock and made-up samples: no allocator, no RSS of this process involved.

#include "give_back_policy.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace stampede::broker;
using namespace std::chrono_literals;
using stampede::broker::testing::fake_clock;

namespace {

constexpr std::size_t mib = 1024 * 1024;

// A process of 8 MiB (5 of them live heap blocks) that used `cpu` so far.
struct process {
    fake_clock clock;
    std::size_t rss = 8 * mib;
    std::size_t live = 5 * mib;
    std::chrono::nanoseconds cpu{0};

    heap_sample sample() const { return {clock.now(), rss, live, cpu}; }
    // One second passes, with `busy` of CPU used in it.
    heap_sample second(std::chrono::nanoseconds busy = 0ns) {
        clock.advance(1s);
        cpu += busy;
        return sample();
    }
};

// The process after a burst: 100 MiB freed but resident, live back at 5 MiB.
void burst_over(process& p) {
    p.rss = 108 * mib;
}

}  // namespace

TEST_CASE("an idle broker holding freed memory gives it back within a look", "[give_back]") {
    process p;
    give_back_policy policy(p.sample());
    burst_over(p);
    CHECK(policy.due(p.second()));
    policy.gave_back(p.sample(), 9 * mib, p.cpu);
    p.rss = 9 * mib;
    CHECK_FALSE(policy.due(p.second()));  // nothing left worth it
    CHECK(policy.last_reason() == give_back_policy::reason::little_freed);
}

TEST_CASE("looks at most once a second", "[give_back]") {
    process p;
    give_back_policy policy(p.sample());
    burst_over(p);
    p.clock.advance(500ms);
    CHECK_FALSE(policy.due(p.sample()));
    CHECK(policy.last_reason() == give_back_policy::reason::too_soon);
    p.clock.advance(500ms);
    CHECK(policy.due(p.sample()));
}

TEST_CASE("a busy broker keeps its freed memory until it is idle", "[give_back]") {
    process p;
    give_back_policy policy(p.sample());
    burst_over(p);
    // A fan-out right after the burst: half a core, live blocks steady.
    for (int i = 0; i < 5; ++i) {
        CHECK_FALSE(policy.due(p.second(500ms)));
        CHECK(policy.last_reason() == give_back_policy::reason::busy);
    }
    // Just over the busy share is still busy; just under is idle.
    CHECK_FALSE(policy.due(p.second(60ms)));
    CHECK(policy.due(p.second(40ms)));
}

TEST_CASE("a heap still filling or draining is left alone", "[give_back]") {
    process p;
    give_back_policy policy(p.sample());
    burst_over(p);
    p.live = 40 * mib;  // a queue draining slowly: little CPU, live blocks moving
    CHECK_FALSE(policy.due(p.second(10ms)));
    CHECK(policy.last_reason() == give_back_policy::reason::moving);
    p.live = 38 * mib;  // moved less than a sixteenth: settled
    CHECK(policy.due(p.second(10ms)));
}

TEST_CASE("memory that is not freed heap is never a reason", "[give_back]") {
    process p;
    p.rss = 30 * mib;  // stacks and rings: 25 MiB beyond the live blocks from the start
    give_back_policy policy(p.sample());
    CHECK_FALSE(policy.due(p.second()));
    CHECK(policy.last_reason() == give_back_policy::reason::little_freed);
    p.live = 0;  // an allocator that does not say (jemalloc, mimalloc)
    p.rss = 200 * mib;
    CHECK_FALSE(policy.due(p.second()));
}

TEST_CASE("a load that faults each give-back back in waits twice as long each time",
          "[give_back]") {
    process p;
    give_back_policy policy(p.sample());
    burst_over(p);
    std::vector<std::chrono::steady_clock::duration> waits;
    auto last = p.clock.now();
    // A light load between looks (idle by CPU) that refills the freed pages.
    for (int i = 0; i < 200 && waits.size() < 8; ++i) {
        if (policy.due(p.second(1ms))) {
            waits.push_back(p.clock.now() - last);
            last = p.clock.now();
            policy.gave_back(p.sample(), 9 * mib, p.cpu);
            p.rss = 108 * mib;  // faulted back in by the next look
        }
    }
    REQUIRE(waits.size() == 8);
    CHECK(waits[1] == 1s);
    CHECK(waits[2] == 2s);
    CHECK(waits[3] == 4s);
    CHECK(waits[7] == 64s);  // capped
    // Once a give-back stays given back, the wait is back to a second.
    policy.gave_back(p.sample(), 9 * mib, p.cpu);
    p.rss = 9 * mib;
    CHECK_FALSE(policy.due(p.second()));
    p.rss = 40 * mib;  // a later, smaller burst
    for (int i = 0; i < 70 && !policy.due(p.second()); ++i) {
    }
    CHECK(policy.interval() == 1s);
}

TEST_CASE("a give-back's own CPU time does not make the next look busy", "[give_back]") {
    process p;
    give_back_policy policy(p.sample());
    p.rss = 60 * mib;
    REQUIRE(policy.due(p.second()));
    const heap_sample before = p.sample();
    p.cpu += 80ms;  // the trim itself: madvise over the freed pages
    policy.gave_back(before, 30 * mib, p.cpu);
    p.rss = 60 * mib;  // a second wave of freed memory, the broker idle again
    CHECK(policy.due(p.second()));
    CHECK(policy.last_reason() == give_back_policy::reason::none);
}
