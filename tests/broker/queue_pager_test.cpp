// Queues larger than memory: the paged tail's bookkeeping (queue_pager.hpp),
// without a journal or an actor. Reads are simulated by handing take() the
// ids a journal read would return.

#include "queue_pager.hpp"

#include <catch2/catch.hpp>

using namespace stampede::broker;
using stampede::storage::message_id;

namespace {

constexpr std::size_t KiB = 1024;

// A read returning ids [first, last] of `size` bytes each; how many it took.
std::size_t deliver_read(queue_pager& p, message_id first, message_id last, std::size_t size) {
    std::size_t taken = 0;
    for (message_id id = first; id <= last; ++id) {
        taken += p.take(id, size) ? 1 : 0;
    }
    p.read_finished(false);
    return taken;
}

}  // namespace

TEST_CASE("a queue under its budget pages nothing; past it, everything after", "[broker][pager]") {
    queue_pager p(256 * KiB);
    CHECK_FALSE(p.should_page(0, KiB));
    CHECK_FALSE(p.should_page(255 * KiB, KiB));
    CHECK(p.should_page(255 * KiB + 1, KiB));
    p.page_out(10, KiB);
    // Once the tail has begun, arrival order puts every persistent message in
    // it, however empty memory is.
    CHECK(p.should_page(0, 1));
    CHECK(p.count() == 1);
    CHECK(p.bytes() == KiB);
    CHECK_FALSE(p.idle());
}

TEST_CASE("a budget of 0 never pages", "[broker][pager]") {
    queue_pager p(0);
    CHECK_FALSE(p.should_page(1u << 30, 1u << 20));
}

TEST_CASE("the tail is read back from its first id, a chunk at a time, only with room for a chunk",
          "[broker][pager]") {
    queue_pager p(256 * KiB);
    const auto chunk = queue_pager::chunk_for(256 * KiB);
    CHECK(chunk.max_bytes == 64 * KiB);
    for (message_id id = 100; id < 400; ++id) {
        p.page_out(id, KiB);
    }
    CHECK(p.count() == 300);
    CHECK_FALSE(p.next_read(256 * KiB - chunk.max_bytes + 1));  // no room for a chunk
    auto plan = p.next_read(256 * KiB - chunk.max_bytes);
    REQUIRE(plan);
    CHECK(plan->from == 100);
    CHECK_FALSE(p.next_read(0));  // one read at a time
    CHECK(deliver_read(p, 100, 163, KiB) == 64);
    CHECK(p.count() == 236);
    CHECK(p.bytes() == 236 * KiB);
    plan = p.next_read(0);
    REQUIRE(plan);
    CHECK(plan->from == 164);
}

TEST_CASE("ids below the tail and past its count are not the tail's", "[broker][pager]") {
    queue_pager p(KiB);
    p.page_out(50, 10);
    p.page_out(51, 10);
    REQUIRE(p.next_read(0));
    CHECK_FALSE(p.take(49, 10));  // a message in memory (read back earlier, or never paged)
    CHECK(p.take(50, 10));
    CHECK(p.take(51, 10));
    CHECK_FALSE(p.take(52, 10));  // the tail is empty: not ours
    p.read_finished(false);
    CHECK(p.empty());
    CHECK(p.bytes() == 0);
    CHECK(p.idle());
    // A new tail starts at the next paged id, past the messages now in memory.
    p.page_out(60, 10);
    auto plan = p.next_read(0);
    REQUIRE(plan);
    CHECK(plan->from == 60);
}

TEST_CASE("a read that finds nothing waits for the journal's next completion", "[broker][pager]") {
    queue_pager p(KiB);
    p.page_out(7, 10);
    REQUIRE(p.next_read(0));
    CHECK(p.wants_wake());
    p.read_finished(false);  // the append was not written yet: nothing found
    CHECK_FALSE(p.next_read(0));
    CHECK(p.wants_wake());
    CHECK(p.wake());  // a completion: look again
    CHECK_FALSE(p.wake());
    auto plan = p.next_read(0);
    REQUIRE(plan);
    CHECK(plan->from == 7);
}

TEST_CASE("a completion during an empty read makes the next read go at once", "[broker][pager]") {
    queue_pager p(KiB);
    p.page_out(7, 10);
    REQUIRE(p.next_read(0));
    CHECK_FALSE(p.wake());  // came while the read was in flight
    p.read_finished(false);
    CHECK(p.next_read(0));  // no waiting: the write may be visible now
}

TEST_CASE("a failed read is tried again at the next completion", "[broker][pager]") {
    queue_pager p(KiB);
    p.page_out(7, 10);
    REQUIRE(p.next_read(0));
    p.read_finished(true);
    CHECK_FALSE(p.next_read(0));
    CHECK(p.wake());
    CHECK(p.next_read(0));
}

TEST_CASE("a drain reads the tail whatever memory holds", "[broker][pager]") {
    queue_pager p(KiB);
    p.page_out(1, 10);
    CHECK_FALSE(p.next_read(10 * KiB));
    CHECK(p.next_read(10 * KiB, true));
}

TEST_CASE("a restored tail starts where recovery stopped reading", "[broker][pager]") {
    queue_pager p(64 * KiB);
    p.restore(1001, 9000, 9000 * 600, 10001);
    CHECK(p.count() == 9000);
    CHECK(p.recovered_below() == 10001);
    auto plan = p.next_read(0);
    REQUIRE(plan);
    CHECK(plan->from == 1001);
    CHECK(deliver_read(p, 1001, 1100, 600) == 100);
    CHECK(p.count() == 8900);
}

TEST_CASE("the read chunk is a quarter of the budget, at most 4 MiB", "[broker][pager]") {
    CHECK(queue_pager::chunk_for(64u << 20).max_bytes == 4u << 20);
    CHECK(queue_pager::chunk_for(1u << 20).max_bytes == 256 * KiB);
    CHECK(queue_pager::chunk_for(2).max_bytes == 1);
}
