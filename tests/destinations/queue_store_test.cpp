// queue_store: the ready, delayed and expiring messages of a queue, on a fake
// clock (times are plain epoch ms passed in).

#include "queue_store.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace {

using stampede::broker::epoch_ms;
using stampede::broker::message;
using stampede::broker::message_ptr;
using stampede::broker::message_timing;
using stampede::broker::queue_store;
using stampede::broker::stored_message;

// A message with this body, priority and deadlines (0: none).
message_ptr make(const std::string& body, std::uint8_t priority = 4, epoch_ms expires_at = 0,
                 epoch_ms deliver_at = 0) {
    stampede::protocol::frame_view send;
    send.cmd = stampede::protocol::command::send;
    send.body = body;
    auto m = message::from_send(send, "/queue/q", "id-" + body);
    message_timing t;
    t.priority = priority;
    t.expires_at = expires_at;
    t.deliver_at = deliver_at;
    m->set_timing(t);
    return m;
}

std::string body_of(const std::optional<stored_message>& item) {
    return item ? std::string(item->msg->body()) : std::string("<none>");
}

// Takes everything ready at `now`, in order.
std::vector<std::string> drain(queue_store& store, epoch_ms now) {
    std::vector<std::string> out;
    std::vector<stored_message> expired;
    while (auto item = store.take(now, expired)) {
        out.push_back(std::string(item->msg->body()));
    }
    return out;
}

queue_store strict_store() {
    return queue_store({true, 0, 1000});
}

}  // namespace

TEST_CASE("higher priorities come first and each priority is FIFO", "[destinations]") {
    queue_store store = strict_store();
    store.add(make("a1", 1), 0);
    store.add(make("b9", 9), 0);
    store.add(make("c1", 1), 0);
    store.add(make("d9", 9), 0);
    REQUIRE(store.ready() == 4);
    CHECK(drain(store, 0) == std::vector<std::string>{"b9", "d9", "a1", "c1"});
    CHECK(store.empty());
    CHECK(store.bytes() == 0);
}

TEST_CASE("with priorities off the store is one FIFO", "[destinations]") {
    queue_store store({false, 0, 1000});
    store.add(make("a", 1), 0);
    store.add(make("b", 9), 0);
    CHECK(drain(store, 0) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("a message put back goes before later ones of its priority", "[destinations]") {
    queue_store store = strict_store();
    for (const char* b : {"m1", "m2", "m3"}) {
        store.add(make(b), 0);
    }
    std::vector<stored_message> expired;
    auto first = store.take(0, expired);
    auto second = store.take(0, expired);
    REQUIRE(body_of(first) == "m1");
    store.put_back(std::move(*second));  // m2 back: before m3
    store.put_back(std::move(*first));   // m1 back: before m2
    CHECK(drain(store, 0) == std::vector<std::string>{"m1", "m2", "m3"});
}

TEST_CASE("a delayed message becomes ready when due, at the back", "[destinations]") {
    queue_store store = strict_store();
    store.add(make("later", 4, 0, 100), 0);
    store.add(make("now"), 0);
    CHECK(store.scheduled() == 1);
    CHECK(store.size() == 2);
    CHECK(store.next_deadline() == 101);  // ready once the clock is past its time
    std::vector<stored_message> expired;
    CHECK(store.advance(100, expired) == 0);
    CHECK(drain(store, 100) == std::vector<std::string>{"now"});
    store.add(make("after"), 100);
    CHECK(store.advance(101, expired) == 1);
    CHECK(expired.empty());
    CHECK(drain(store, 101) == std::vector<std::string>{"after", "later"});
}

TEST_CASE("an expired message is never taken, and is handed over once", "[destinations]") {
    queue_store store = strict_store();
    store.add(make("dies", 4, 50), 0);
    store.add(make("lives"), 0);
    std::vector<stored_message> expired;
    // Taken after the deadline without the timer having fired: skipped.
    auto item = store.take(51, expired);
    CHECK(body_of(item) == "lives");
    REQUIRE(expired.size() == 1);
    CHECK(expired[0].msg->body() == "dies");
    expired.clear();
    store.advance(1000, expired);  // its stale timer fires: nothing happens
    CHECK(expired.empty());
    CHECK(store.empty());
}

TEST_CASE("the timer expires a waiting message and its slot is swept later", "[destinations]") {
    queue_store store = strict_store();
    store.add(make("dies", 4, 50), 0);
    std::vector<stored_message> expired;
    CHECK(store.next_deadline() == 51);  // expired once past the deadline
    store.advance(50, expired);
    CHECK(expired.empty());
    store.advance(51, expired);
    REQUIRE(expired.size() == 1);
    CHECK(store.ready() == 0);
    CHECK(store.bytes() == 0);
    CHECK(store.tombstones() == 1);
    CHECK(drain(store, 51).empty());
    CHECK(store.tombstones() == 0);
}

TEST_CASE("a delayed message that expired while it waited is handed over as expired",
          "[destinations]") {
    queue_store store = strict_store();
    store.add(make("late", 4, 20, 100), 0);
    std::vector<stored_message> expired;
    CHECK(store.advance(101, expired) == 0);
    REQUIRE(expired.size() == 1);
    CHECK(store.empty());
}

TEST_CASE("take_if finds the first selected message in priority order", "[destinations]") {
    queue_store store = strict_store();
    store.add(make("x-low", 1), 0);
    store.add(make("y-high", 9), 0);
    store.add(make("x-high", 8), 0);
    std::vector<stored_message> expired;
    bool exhausted = false;
    auto wants_x = [](const message& m) { return m.body().starts_with("x"); };
    CHECK(body_of(store.take_if(wants_x, 0, expired, exhausted)) == "x-high");
    CHECK(body_of(store.take_if(wants_x, 0, expired, exhausted)) == "x-low");
    CHECK(!store.take_if(wants_x, 0, expired, exhausted));
    CHECK(exhausted);
    CHECK(drain(store, 0) == std::vector<std::string>{"y-high"});
}

TEST_CASE("take_if stops after max_scan messages and says it did", "[destinations]") {
    queue_store store({true, 0, 3});
    for (int i = 0; i < 5; ++i) {
        store.add(make("other" + std::to_string(i)), 0);
    }
    store.add(make("mine"), 0);
    std::vector<stored_message> expired;
    bool exhausted = true;
    auto mine = [](const message& m) { return m.body() == "mine"; };
    CHECK(!store.take_if(mine, 0, expired, exhausted));
    CHECK(!exhausted);
    for (int i = 0; i < 3; ++i) {
        (void)store.take(0, expired);
    }
    CHECK(body_of(store.take_if(mine, 0, expired, exhausted)) == "mine");
}

TEST_CASE("drop_oldest drops the oldest of the lowest priority, never a delayed one",
          "[destinations]") {
    queue_store store = strict_store();
    store.add(make("high", 9), 0);
    store.add(make("low-old", 1), 0);
    store.add(make("low-new", 1), 0);
    store.add(make("delayed", 0, 0, 100), 0);
    CHECK(body_of(store.drop_oldest()) == "low-old");
    CHECK(body_of(store.drop_oldest()) == "low-new");
    CHECK(body_of(store.drop_oldest()) == "high");
    CHECK(!store.drop_oldest());
    CHECK(store.scheduled() == 1);
}

TEST_CASE("a browse sees the ready messages in order and resumes where it stopped",
          "[destinations]") {
    queue_store store = strict_store();
    store.add(make("lo1", 1), 0);
    store.add(make("hi1", 9), 0);
    store.add(make("lo2", 1), 0);
    store.add(make("hi2", 9), 0);
    auto cursor = store.browse_start();
    std::vector<std::string> seen;
    auto record = [&](const stored_message& m) {
        seen.push_back(std::string(m.msg->body()));
        return true;
    };
    store.browse(cursor, 3, record);
    CHECK(seen == std::vector<std::string>{"hi1", "hi2", "lo1"});
    CHECK(!cursor.done);
    // Changes meanwhile: one taken, one new (after the browse began).
    std::vector<stored_message> expired;
    (void)store.take(0, expired);
    store.add(make("hi3", 9), 0);
    store.browse(cursor, 10, record);
    CHECK(seen == std::vector<std::string>{"hi1", "hi2", "lo1", "lo2"});
    CHECK(cursor.done);
    CHECK(store.ready() == 4);  // browsing takes nothing
}

TEST_CASE("a browse passes over what its caller declines", "[destinations]") {
    queue_store store = strict_store();
    for (int i = 0; i < 6; ++i) {
        store.add(make(std::to_string(i)), 0);
    }
    auto cursor = store.browse_start();
    std::vector<std::string> seen;
    store.browse(cursor, 2, [&](const stored_message& m) {
        if ((m.msg->body()[0] - '0') % 2 != 0) {
            return false;
        }
        seen.push_back(std::string(m.msg->body()));
        return true;
    });
    CHECK(seen == std::vector<std::string>{"0", "2"});
    store.browse(cursor, 2, [&](const stored_message& m) {
        seen.push_back(std::string(m.msg->body()));
        return true;
    });
    CHECK(seen == std::vector<std::string>{"0", "2", "3", "4"});
}

TEST_CASE("stale timers and tombstones stay bounded under churn", "[destinations]") {
    // Every message has a deadline far away and is taken at once: each
    // leaves a stale timer; many expire in place: each leaves a tombstone.
    queue_store store = strict_store();
    std::vector<stored_message> expired;
    for (int round = 0; round < 50; ++round) {
        for (int i = 0; i < 1000; ++i) {
            store.add(make("m", 4, 1'000'000'000), round);
        }
        for (int i = 0; i < 1000; ++i) {
            REQUIRE(store.take(round, expired));
        }
        store.advance(round, expired);
    }
    CHECK(store.timer_entries() <= 2 * 1024 + 1000);
    for (int i = 0; i < 5000; ++i) {
        store.add(make("e", 4, 10), 0);
    }
    store.add(make("survivor"), 0);
    store.advance(11, expired);
    CHECK(expired.size() == 5000);
    CHECK(store.tombstones() <= 1024 + 1);
    CHECK(drain(store, 11) == std::vector<std::string>{"survivor"});
}

TEST_CASE("many delayed messages become ready as they fall due", "[destinations]") {
    constexpr int count = 200'000;
    queue_store store({true, 16, 1000});
    for (int i = 0; i < count; ++i) {
        store.add(make("d", 4, 0, 1 + (i * 7919) % 1000), 0);
    }
    CHECK(store.scheduled() == count);
    std::vector<stored_message> expired;
    std::size_t ready = 0;
    for (epoch_ms now = 1; now <= 1000; now += 7) {
        ready += store.advance(now, expired);
        REQUIRE(store.ready() == ready);
        REQUIRE(store.scheduled() == count - ready);
    }
    ready += store.advance(1001, expired);
    CHECK(ready == count);
    CHECK(expired.empty());
}
