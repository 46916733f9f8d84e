// The slow-consumer judgement (the rules: congestion.hpp) against a fake
// clock: ticks every 50 ms as the session's congestion timer runs them, a
// peer that drains at a chosen rate, and the verdict at each tick.

#include "congestion.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace stampede::broker;
using namespace std::chrono_literals;
using stampede::broker::testing::fake_clock;

namespace {

constexpr std::size_t max_bytes = 1 << 20;  // 1 MiB
constexpr std::size_t half = max_bytes / 2;
constexpr std::size_t quarter = max_bytes / 4;
constexpr std::uint64_t min_rate = 128 * 1024;  // bytes per second
constexpr auto tick = 50ms;

congestion_config config(bool throttle = true) {
    congestion_config c;
    c.max_bytes = max_bytes;
    c.min_drain_rate = min_rate;
    c.grace = 2000ms;
    c.max_frame = 64 * 1024;  // hard cap: 4 x max_bytes
    c.throttle = throttle;
    c.evidence = 200ms;
    return c;
}

constexpr policy_mix drop_only{false, true, false};
constexpr policy_mix disconnect_only{false, false, true};
constexpr policy_mix block_only{true, false, false};

// A connection's peer over fake time: drains `rate` bytes per second.
struct peer {
    congestion_tracker tracker{config()};
    fake_clock clock;
    std::uint64_t drained = 0;

    explicit peer(congestion_config c = config()) : tracker(c) {}

    // One congestion tick: time passes, the peer drains, the tracker judges.
    congestion_verdict step(std::uint64_t rate, std::size_t queued, std::size_t unsheddable = 0,
                            policy_mix mix = drop_only) {
        clock.advance(tick);
        drained += rate * tick.count() / 1000;
        tracker.sample(clock.now(), drained);
        return tracker.assess(clock.now(), queued, unsheddable, mix);
    }

    // Ticks for `how_long`; returns the last verdict and checks `each` on every one.
    template <class Check>
    congestion_verdict run(std::chrono::milliseconds how_long, std::uint64_t rate,
                           std::size_t queued, Check each, std::size_t unsheddable = 0,
                           policy_mix mix = drop_only) {
        congestion_verdict v;
        for (auto t = 0ms; t < how_long; t += tick) {
            v = step(rate, queued, unsheddable, mix);
            each(v);
        }
        return v;
    }
};

}  // namespace

// ---- the drain meter ----

TEST_CASE("the drain meter has no rate until its samples span half the window", "[congestion]") {
    drain_meter m;
    fake_clock clock;
    CHECK_FALSE(m.rate_over(200ms));
    m.sample(clock.now(), 0);
    CHECK_FALSE(m.rate_over(200ms));
    clock.advance(99ms);
    m.sample(clock.now(), 1000);
    CHECK_FALSE(m.rate_over(200ms));
    clock.advance(1ms);
    m.sample(clock.now(), 1000);
    REQUIRE(m.rate_over(200ms));
    CHECK(*m.rate_over(200ms) == Approx(10'000.0));  // 1000 bytes in 100 ms
}

TEST_CASE("the drain meter measures over the last window only", "[congestion]") {
    drain_meter m;
    fake_clock clock;
    m.sample(clock.now(), 0);
    for (int i = 0; i < 20; ++i) {  // 1 MB/s for a second
        clock.advance(50ms);
        m.sample(clock.now(), static_cast<std::uint64_t>(50'000) * (i + 1));
    }
    for (int i = 0; i < 10; ++i) {  // then nothing for half a second
        clock.advance(50ms);
        m.sample(clock.now(), 1'000'000);
    }
    CHECK(*m.rate_over(500ms) == Approx(0.0));
    CHECK(*m.rate_over(1000ms) == Approx(500'000.0));
}

TEST_CASE("drain samples closer than 10 ms replace the latest", "[congestion]") {
    drain_meter m;
    fake_clock clock;
    m.sample(clock.now(), 0);
    clock.advance(20ms);
    m.sample(clock.now(), 10);
    clock.advance(5ms);
    m.sample(clock.now(), 20);
    CHECK(m.samples() == 2);
}

TEST_CASE("trimming keeps one sample at or before the window's left edge", "[congestion]") {
    drain_meter m;
    fake_clock clock;
    for (int i = 0; i < 100; ++i) {
        m.sample(clock.now(), static_cast<std::uint64_t>(i) * 100);
        clock.advance(20ms);
    }
    m.trim(200ms);
    CHECK(m.samples() <= 12);
    CHECK(m.rate_over(200ms));
    CHECK(*m.rate_over(200ms) == Approx(5000.0));  // 100 bytes per 20 ms
}

TEST_CASE("a drain counter that goes backwards counts as no progress", "[congestion]") {
    drain_meter m;
    fake_clock clock;
    m.sample(clock.now(), 1000);
    clock.advance(200ms);
    m.sample(clock.now(), 10);
    CHECK(*m.rate_over(200ms) == Approx(0.0));
}

// ---- the judgement ----

TEST_CASE("below a quarter of max_bytes nothing is watched", "[congestion]") {
    congestion_tracker t(config());
    CHECK(t.watch_threshold() == quarter);
    CHECK_FALSE(t.watching());
    peer p;
    const congestion_verdict v = p.step(0, quarter - 1);
    CHECK_FALSE(v.keep_watching);
    CHECK_FALSE(v.hold_all);
    CHECK_FALSE(v.drop);
    CHECK_FALSE(v.disconnect);
    CHECK_FALSE(v.pause_reader);
}

TEST_CASE("a stalled subscriber holds publishers only until one evidence window judges it",
          "[congestion]") {
    peer p;
    // Before the samples span half the evidence window it has the benefit of
    // the doubt (a burst can fill max_bytes that fast): held, not dropped.
    const congestion_verdict first = p.step(0, half + 1);
    CHECK(first.hold_all);
    CHECK_FALSE(first.drop);
    p.run(150ms, 0, half + 1, [](const congestion_verdict& v) { CHECK_FALSE(v.drop); });
    // From then on, over half and then over max_bytes for three grace
    // periods: never a hold.
    p.run(6000ms, 0, half + 1, [](const congestion_verdict& v) {
        CHECK_FALSE(v.hold_all);
        CHECK_FALSE(v.hold_blocking);
        CHECK(v.keep_watching);
    });
    p.run(6000ms, 0, max_bytes + 1, [](const congestion_verdict& v) { CHECK_FALSE(v.hold_all); });
}

TEST_CASE("a draining subscriber that falls behind is throttled, from half down to a quarter",
          "[congestion]") {
    peer p;
    const std::uint64_t fast = 10 * min_rate;
    congestion_verdict v = p.step(fast, half - 1);
    CHECK_FALSE(v.hold_all);
    // Evidence of draining takes half the evidence window (100 ms) to gather.
    v = p.run(200ms, fast, half + 1, [](const congestion_verdict&) {});
    CHECK(v.hold_all);
    CHECK_FALSE(v.pause_reader);
    CHECK(v.keep_watching);
    // Held as it drains, for as long as it keeps draining: never dropped.
    v = p.run(10'000ms, fast, max_bytes - 1, [](const congestion_verdict& each) {
        CHECK(each.hold_all);
        CHECK_FALSE(each.drop);
        CHECK_FALSE(each.disconnect);
    });
    // Between a quarter and half: still held (no flapping at the edge).
    CHECK(p.step(fast, quarter + 1).hold_all);
    // Under a quarter: let go, and nothing more to watch.
    v = p.step(fast, quarter - 1);
    CHECK_FALSE(v.hold_all);
    CHECK_FALSE(v.keep_watching);
}

TEST_CASE(
    "a throttled subscriber that pauses keeps holding until a whole grace period shows it "
    "slow",
    "[congestion]") {
    peer p;
    // It proves it drains by taking max_bytes while behind (1.28 MB in 1 s).
    p.run(1000ms, 10 * min_rate, half + 1, [](const congestion_verdict&) {});
    REQUIRE(p.step(10 * min_rate, half + 1).hold_all);
    // It stops draining: the hold stays while the grace period runs (a busy
    // machine or a collector pause is not a slow consumer)...
    congestion_verdict v =
        p.run(1500ms, 0, half + 1, [](const congestion_verdict& each) { CHECK(each.hold_all); });
    // ...and goes once the grace period shows too little drained.
    v = p.run(1500ms, 0, half + 1, [](const congestion_verdict&) {});
    CHECK_FALSE(v.hold_all);
}

TEST_CASE(
    "a throttled subscriber that pauses before it has drained max_bytes is let go once "
    "the evidence window shows it stopped",
    "[congestion]") {
    peer p;
    p.run(300ms, 10 * min_rate, half + 1, [](const congestion_verdict&) {});
    REQUIRE(p.step(10 * min_rate, half + 1).hold_all);
    // 384 KB drained while behind is not proof: a pause of one evidence
    // window (and well inside the grace period) ends the hold, not a drop.
    const congestion_verdict v = p.run(300ms, 0, half + 1, [](const congestion_verdict& each) {
        CHECK_FALSE(each.drop);
        CHECK_FALSE(each.disconnect);
    });
    CHECK_FALSE(v.hold_all);
}

TEST_CASE("with throttle off a draining subscriber holds nobody", "[congestion]") {
    peer p(config(false));
    p.run(5000ms, 10 * min_rate, max_bytes - 1, [](const congestion_verdict& v) {
        CHECK_FALSE(v.hold_all);
        CHECK_FALSE(v.drop);
    });
}

TEST_CASE(
    "a block subscription holds its topics' publishers from half to a quarter, whatever "
    "its rate",
    "[congestion]") {
    for (const std::uint64_t rate : {std::uint64_t(0), 10 * min_rate}) {
        INFO("drains " << rate << " bytes/s");
        peer p;
        CHECK_FALSE(p.step(rate, half, 0, block_only).hold_blocking);
        CHECK(p.step(rate, half + 1, 0, block_only).hold_blocking);
        p.run(
            5000ms, rate, half + 1,
            [](const congestion_verdict& v) {
                CHECK(v.hold_blocking);
                CHECK_FALSE(v.drop);
                CHECK_FALSE(v.disconnect);
            },
            0, block_only);
        CHECK(p.step(rate, quarter + 1, 0, block_only).hold_blocking);
        CHECK_FALSE(p.step(rate, quarter, 0, block_only).hold_blocking);
    }
}

TEST_CASE("a slow drop subscriber loses messages only once its grace has passed", "[congestion]") {
    peer p;
    congestion_verdict v = p.step(0, max_bytes + 1);
    const auto congested_at = p.clock.now();
    while (p.clock.now() - congested_at < 2000ms - tick) {
        v = p.step(0, max_bytes + 1);
        CHECK_FALSE(v.drop);
    }
    v = p.step(0, max_bytes + 1);
    REQUIRE(p.clock.now() - congested_at >= 2000ms);
    CHECK(v.drop);
    CHECK(v.drop_target == half);
    CHECK_FALSE(v.disconnect);
}

TEST_CASE("a drop subscriber under max_bytes is not dropped however slow", "[congestion]") {
    peer p;
    p.run(10'000ms, 0, max_bytes, [](const congestion_verdict& v) { CHECK_FALSE(v.drop); });
}

TEST_CASE("a slow disconnect subscriber is closed once its grace has passed, saying why",
          "[congestion]") {
    peer p;
    congestion_verdict v;
    for (auto t = 0ms; t < 1900ms; t += tick) {
        v = p.step(0, half + 1, 0, disconnect_only);
        CHECK_FALSE(v.disconnect);
    }
    v = p.run(
        200ms, 0, half + 1, [](const congestion_verdict&) {}, 0, disconnect_only);
    CHECK(v.disconnect);
    CHECK_THAT(v.why, Catch::Contains("minimum rate"));
}

TEST_CASE("a subscriber draining at the minimum rate is never slow", "[congestion]") {
    peer p;
    p.run(
        10'000ms, min_rate + 1024, max_bytes + 1,
        [](const congestion_verdict& v) {
            CHECK_FALSE(v.drop);
            CHECK_FALSE(v.disconnect);
        },
        0, policy_mix{false, true, true});
}

TEST_CASE("the hard cap is never passed: past it, drop or disconnect at once", "[congestion]") {
    congestion_tracker t(config());
    CHECK(t.hard_cap() == 4 * max_bytes);
    congestion_config big_frames = config();
    big_frames.max_frame = 8 * max_bytes;
    CHECK(congestion_tracker(big_frames).hard_cap() == 9 * max_bytes);

    peer dropper;
    congestion_verdict v = dropper.step(10 * min_rate, 4 * max_bytes + 1);
    CHECK(v.drop);  // no grace, and draining or not
    CHECK(v.drop_target == half);

    peer closer;
    v = closer.step(10 * min_rate, 4 * max_bytes + 1, 0, disconnect_only);
    CHECK(v.disconnect);
    CHECK_THAT(v.why, Catch::Contains("hard cap"));
}

TEST_CASE("unsheddable output over max_bytes closes the connection once its grace has passed",
          "[congestion]") {
    // Receipts, errors and queue messages cannot be dropped: a peer that does
    // not read them is closed, whatever its subscriptions' policies.
    for (const policy_mix mix : {policy_mix{}, drop_only, block_only}) {
        peer p;
        congestion_verdict v;
        for (auto t = 0ms; t < 1950ms; t += tick) {
            v = p.step(0, max_bytes + 1, max_bytes + 1, mix);
            CHECK_FALSE(v.disconnect);
            CHECK_FALSE(v.drop);  // nothing droppable: all of it is unsheddable
            CHECK(v.pause_reader);
        }
        v = p.run(
            100ms, 0, max_bytes + 1, [](const congestion_verdict&) {}, max_bytes + 1, mix);
        CHECK(v.disconnect);
        CHECK_THAT(v.why, Catch::Contains("receipts"));
    }
}

TEST_CASE("unsheddable output past the hard cap closes the connection at once", "[congestion]") {
    peer p;
    const congestion_verdict v = p.step(0, 4 * max_bytes + 1, 4 * max_bytes + 1, policy_mix{});
    CHECK(v.disconnect);
}

TEST_CASE("unsheddable output that drains is paused, never closed", "[congestion]") {
    peer p;
    p.run(
        10'000ms, 10 * min_rate, max_bytes + 1,
        [](const congestion_verdict& v) {
            CHECK_FALSE(v.disconnect);
            CHECK(v.pause_reader);
        },
        max_bytes + 1, policy_mix{});
}

TEST_CASE("over max_bytes the reader pauses until the queue is back under half", "[congestion]") {
    peer p;
    CHECK_FALSE(p.step(0, max_bytes).pause_reader);
    CHECK(p.step(0, max_bytes + 1).pause_reader);
    CHECK(p.step(0, half + 1).pause_reader);
    const congestion_verdict v = p.step(0, half);
    CHECK_FALSE(v.pause_reader);
    CHECK(v.keep_watching);  // still over a quarter, congested
    CHECK_FALSE(p.step(0, quarter - 1).keep_watching);
}
