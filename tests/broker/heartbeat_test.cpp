// Heart-beat timing (STOMP12.md item 13) against a fake clock: the rules the
// integration suite used to check with wall-clock windows.

#include "heartbeat.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>

#include "test_support.hpp"

using namespace stampede::broker;
using namespace std::chrono_literals;
using stampede::broker::testing::fake_clock;
using stampede::protocol::heart_beat;
using stampede::protocol::heart_beat_plan;
using stampede::protocol::negotiate_heart_beat;
using std::chrono::milliseconds;

namespace {

// The broker's schedule for a client asking `client` of a server offering
// `server` (the defaults: 100,100).
heartbeat_schedule schedule_for(heart_beat client, heart_beat server = {100, 100}) {
    return heartbeat_schedule(negotiate_heart_beat(client, server));
}

// Runs the send side the way the session does for `duration` of silence
// from `start` (no other output): returns the instants beats were queued.
std::vector<fake_clock::time_point> beats_over(const heartbeat_schedule& s, fake_clock& clock,
                                               milliseconds duration) {
    std::vector<fake_clock::time_point> beats;
    auto last_written = clock.now();
    const auto end = clock.now() + duration;
    milliseconds next = 0ms;  // the session runs the first tick at once
    while (clock.now() + next <= end) {
        clock.advance(next);
        const beat_decision d = s.on_send_tick(clock.now(), last_written, false);
        if (d.due) {
            if (d.send_beat) {
                beats.push_back(clock.now());
            }
            last_written = clock.now();
        }
        REQUIRE(d.next_tick > 0ms);
        next = d.next_tick;
    }
    return beats;
}

}  // namespace

TEST_CASE("without a heart-beat header or with 0,0 neither side beats", "[heartbeat]") {
    for (const heart_beat client : {heart_beat{0, 0}, heart_beat{}}) {
        const auto s = schedule_for(client);
        CHECK_FALSE(s.sends());
        CHECK_FALSE(s.checks());
    }
}

TEST_CASE("a server offering 0,0 neither beats nor checks, whatever the client asks",
          "[heartbeat]") {
    const auto s = schedule_for({100, 100}, {0, 0});
    CHECK_FALSE(s.sends());
    CHECK_FALSE(s.checks());
}

TEST_CASE("the broker beats every max(sx, cy) of silence, never faster than it offers",
          "[heartbeat]") {
    struct example {
        heart_beat client;
        heart_beat server;
        std::uint32_t every;
    };
    for (const auto& e : {example{{0, 230}, {100, 100}, 230}, example{{0, 40}, {100, 100}, 100},
                          example{{0, 100}, {330, 330}, 330}}) {
        INFO("client 0," << e.client.cy << " server " << e.server.cx << "," << e.server.cy);
        const auto s = schedule_for(e.client, e.server);
        REQUIRE(s.sends());
        CHECK(s.plan().send_every_ms == e.every);
        fake_clock clock;
        const auto start = clock.now();
        const auto beats = beats_over(s, clock, milliseconds(20 * e.every));
        REQUIRE(beats.size() >= 19);
        // The first one interval (less the slack) after CONNECTED; then
        // evenly, each gap the interval less the slack, never more.
        const milliseconds slack = std::min(milliseconds(e.every / 10), 10ms);
        CHECK(beats.front() - start == milliseconds(e.every) - slack);
        for (std::size_t i = 1; i < beats.size(); ++i) {
            const auto gap = beats[i] - beats[i - 1];
            CHECK(gap <= milliseconds(e.every));
            CHECK(gap >= milliseconds(e.every) - slack);
        }
    }
}

TEST_CASE("a client that only sends beats gets none", "[heartbeat]") {
    const auto s = schedule_for({300, 0});
    CHECK_FALSE(s.sends());
    CHECK(s.checks());
    CHECK(s.plan().expect_every_ms == 300);
}

TEST_CASE("no beat is due before an interval has passed since the last write", "[heartbeat]") {
    const auto s = schedule_for({0, 230});
    fake_clock clock;
    const auto written = clock.now();
    clock.advance(100ms);
    const beat_decision early = s.on_send_tick(clock.now(), written, false);
    CHECK_FALSE(early.due);
    CHECK_FALSE(early.send_beat);
    CHECK(early.next_tick == 220ms - 100ms);  // when it would be due (230 less 10 of slack)
    clock.advance(early.next_tick);
    const beat_decision due = s.on_send_tick(clock.now(), written, false);
    CHECK(due.due);
    CHECK(due.send_beat);
    CHECK(due.next_tick == 220ms);
}

TEST_CASE("other traffic stands in for heart-beats", "[heartbeat]") {
    // Messages written every 50 ms leave no 230 ms silence to fill: at any
    // tick between them, no beat is due.
    const auto s = schedule_for({0, 230});
    fake_clock clock;
    for (int i = 0; i < 100; ++i) {
        const auto message_written = clock.now();
        for (const auto after : {1ms, 25ms, 49ms}) {
            const beat_decision d = s.on_send_tick(message_written + after, message_written, false);
            CHECK_FALSE(d.due);
            CHECK_FALSE(d.send_beat);
        }
        clock.advance(50ms);
    }
}

TEST_CASE("after a frame, the next beat comes within one interval whatever the phase",
          "[heartbeat]") {
    // The broker's tick runs on its own phase; a MESSAGE written between two
    // ticks moves the due time, and the tick that finds it not yet due looks
    // again exactly when it will be.
    const auto s = schedule_for({0, 230});
    for (const auto phase : {30ms, 80ms, 130ms, 180ms, 210ms}) {
        INFO("frame " << phase.count() << " ms after a tick");
        fake_clock clock;
        const auto tick = s.on_send_tick(clock.now(), clock.now() - 1h, false);  // a beat now
        REQUIRE(tick.send_beat);
        clock.advance(phase);
        const auto frame_written = clock.now();
        clock.advance(tick.next_tick - phase);  // the tick planned before the frame
        beat_decision d = s.on_send_tick(clock.now(), frame_written, false);
        CHECK_FALSE(d.due);
        clock.advance(d.next_tick);
        d = s.on_send_tick(clock.now(), frame_written, false);
        CHECK(d.send_beat);
        CHECK(clock.now() - frame_written <= 230ms);
    }
}

TEST_CASE("with output waiting to be written, a due tick restarts the clock without a beat",
          "[heartbeat]") {
    const auto s = schedule_for({0, 100});
    fake_clock clock;
    const auto written = clock.now();
    clock.advance(500ms);
    const beat_decision d = s.on_send_tick(clock.now(), written, true);
    CHECK(d.due);
    CHECK_FALSE(d.send_beat);
    CHECK(d.next_tick == 90ms);
}

TEST_CASE("the slack is a tenth of the interval, at most 10 ms, and a tick is never 0 ms",
          "[heartbeat]") {
    fake_clock clock;
    const auto at = clock.now();
    CHECK(heartbeat_schedule({50, 0}).on_send_tick(at, at - 1h, false).next_tick == 45ms);
    CHECK(heartbeat_schedule({1000, 0}).on_send_tick(at, at - 1h, false).next_tick == 990ms);
    CHECK(heartbeat_schedule({5, 0}).on_send_tick(at, at - 1h, false).next_tick == 5ms);
    CHECK(heartbeat_schedule({1, 0}).on_send_tick(at, at - 1h, false).next_tick == 1ms);
    // Due in less than a millisecond: look again in one, not in zero.
    const auto almost = heartbeat_schedule({100, 0}).on_send_tick(at, at - 90ms + 1us, false);
    CHECK_FALSE(almost.due);
    CHECK(almost.next_tick == 1ms);
}

TEST_CASE("a silent client is dropped at twice its interval, not before", "[heartbeat]") {
    // cx 170 > sy 100: traffic owed every 170 ms, dropped after 340.
    const auto s = schedule_for({170, 0});
    REQUIRE(s.plan().expect_every_ms == 170);
    fake_clock clock;
    const auto received = clock.now();
    clock.advance(339ms);
    silence_decision d = s.on_check_tick(clock.now(), received, false);
    CHECK_FALSE(d.timed_out);
    CHECK(d.silent_for == 339ms);
    CHECK(d.next_tick == 1ms);
    clock.advance(1ms);
    d = s.on_check_tick(clock.now(), received, false);
    CHECK(d.timed_out);
    CHECK(d.silent_for == 340ms);
}

TEST_CASE("the server's receive interval floors the client's", "[heartbeat]") {
    CHECK(schedule_for({20, 0}).plan().expect_every_ms == 100);
    CHECK(schedule_for({100, 0}, {330, 330}).plan().expect_every_ms == 330);
    const auto s = schedule_for({100, 0}, {330, 330});
    fake_clock clock;
    const auto received = clock.now();
    clock.advance(659ms);
    CHECK_FALSE(s.on_check_tick(clock.now(), received, false).timed_out);
    clock.advance(1ms);
    CHECK(s.on_check_tick(clock.now(), received, false).timed_out);
}

TEST_CASE("traffic from the client restarts the silence", "[heartbeat]") {
    const auto s = schedule_for({170, 0});
    fake_clock clock;
    auto received = clock.now();
    // A beat (or a byte of a frame) every 110 ms for ten drop times.
    for (int i = 0; i < 31; ++i) {
        clock.advance(110ms);
        received = clock.now();
        CHECK_FALSE(s.on_check_tick(clock.now() + 200ms, received, false).timed_out);
    }
    // The first check after connecting is planned at twice the interval.
    const silence_decision first = s.on_check_tick(received, received, false);
    CHECK(first.next_tick == 340ms);
}

TEST_CASE("a client whose reader is paused by flow control never times out", "[heartbeat]") {
    // Its beats sit unread in the socket: silence is the broker's doing.
    const auto s = schedule_for({170, 0});
    fake_clock clock;
    const auto received = clock.now();
    clock.advance(1h);
    const silence_decision d = s.on_check_tick(clock.now(), received, true);
    CHECK_FALSE(d.timed_out);
    CHECK(d.next_tick == 340ms);
}

TEST_CASE("intervals of 2^32-1 ms do not wrap", "[heartbeat]") {
    constexpr std::uint32_t most = std::numeric_limits<std::uint32_t>::max();
    const heartbeat_schedule s(heart_beat_plan{most, most});
    fake_clock clock;
    const auto at = clock.now();

    const beat_decision send = s.on_send_tick(at, at, false);
    CHECK_FALSE(send.due);
    CHECK(send.next_tick == milliseconds(most) - 10ms);
    CHECK(send.next_tick.count() <= most);  // the session passes it on as 32 bits

    const silence_decision check = s.on_check_tick(at + milliseconds(most), at, false);
    CHECK_FALSE(check.timed_out);  // silent for one interval of two
    CHECK(check.next_tick == milliseconds(most));
    CHECK(s.on_check_tick(at + 2 * milliseconds(most), at, false).timed_out);
    CHECK(s.on_check_tick(at, at, false).next_tick == 2 * milliseconds(most));

    // The negotiated plan of the largest pairs a client can send.
    const auto plan = negotiate_heart_beat({most, most}, {100, 100});
    CHECK(plan.send_every_ms == most);
    CHECK(plan.expect_every_ms == most);
}
