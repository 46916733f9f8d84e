#include "transaction_log.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace stampede::broker;
using stampede::broker::testing::make_message;
using stampede::protocol::command;

namespace {

transaction_frame send_frame(std::string id, std::size_t body = 16) {
    auto msg = std::const_pointer_cast<message>(make_message(std::move(id), body, "/queue/q"));
    return {command::send, "/queue/q", std::move(msg), 0, {}};
}

transaction_frame ack_frame(std::uint64_t delivery) {
    return {command::ack, {}, nullptr, delivery, "s-" + std::to_string(delivery)};
}

}  // namespace

TEST_CASE("a transaction holds its frames in order until it is taken for COMMIT",
          "[transaction_log]") {
    transaction_log log({});
    REQUIRE(log.begin("t"));
    REQUIRE(log.add("t", send_frame("m0"), 100));
    REQUIRE(log.add("t", ack_frame(7), 0));
    REQUIRE(log.add("t", send_frame("m1"), 50));
    CHECK(log.open() == 1);
    CHECK(log.bytes() == 150);

    auto frames = log.take("t");
    REQUIRE(frames);
    REQUIRE(frames->size() == 3);
    CHECK((*frames)[0].msg->id() == "m0");
    CHECK((*frames)[1].cmd == command::ack);
    CHECK((*frames)[1].delivery == 7);
    CHECK((*frames)[2].msg->id() == "m1");
    // Taken is closed: its bytes are free, its name unknown.
    CHECK(log.open() == 0);
    CHECK(log.bytes() == 0);
    CHECK(log.take("t").error() == errc::no_such_transaction);
}

TEST_CASE("BEGIN of an open name, or past the limit, is refused", "[transaction_log]") {
    transaction_log log({2, 100, 1 << 20});
    REQUIRE(log.begin("a"));
    CHECK(log.begin("a").error() == errc::transaction_open);
    REQUIRE(log.begin("b"));
    CHECK(log.begin("c").error() == errc::too_many_transactions);
    REQUIRE(log.abort("a"));
    CHECK(log.begin("c"));
}

TEST_CASE("frames for a transaction that is not open are refused", "[transaction_log]") {
    transaction_log log({});
    CHECK(log.add("nope", send_frame("m"), 10).error() == errc::no_such_transaction);
    CHECK(log.abort("nope").error() == errc::no_such_transaction);
    CHECK(log.take("nope").error() == errc::no_such_transaction);
    CHECK(log.bytes() == 0);
}

TEST_CASE("the frames limit holds at its value: one more aborts the transaction",
          "[transaction_log]") {
    transaction_log log({16, 3, 1 << 20});
    REQUIRE(log.begin("t"));
    REQUIRE(log.begin("other"));
    REQUIRE(log.add("other", send_frame("o"), 10));
    for (int i = 0; i < 3; ++i) {
        REQUIRE(log.add("t", send_frame("m" + std::to_string(i)), 10));
    }
    const auto over = log.add("t", ack_frame(1), 0);  // ACKs count as frames too
    REQUIRE_FALSE(over);
    CHECK(over.error() == errc::transaction_frames);
    // Aborted: gone, its bytes freed; the other transaction untouched.
    CHECK(log.open() == 1);
    CHECK(log.bytes() == 10);
    CHECK(log.add("t", send_frame("late"), 1).error() == errc::no_such_transaction);
    CHECK(log.take("other")->size() == 1);
}

TEST_CASE("transaction bytes are summed over every open transaction and charged at SEND",
          "[transaction_log]") {
    transaction_log log({16, 10'000, 1000});
    REQUIRE(log.begin("a"));
    REQUIRE(log.begin("b"));
    REQUIRE(log.add("a", send_frame("a0"), 400));
    REQUIRE(log.add("b", send_frame("b0"), 400));
    CHECK(log.bytes() == 800);
    REQUIRE(log.add("a", send_frame("a1"), 200));  // exactly at the limit
    CHECK(log.bytes() == 1000);

    // One byte more, in either transaction, is over: the one it was added to
    // is aborted and its bytes come back; the other keeps its own.
    const auto over = log.add("b", send_frame("b1"), 1);
    REQUIRE_FALSE(over);
    CHECK(over.error() == errc::transaction_bytes);
    CHECK(log.open() == 1);
    CHECK(log.bytes() == 600);
    CHECK(log.take("a")->size() == 2);
    CHECK(log.bytes() == 0);
}

TEST_CASE("a single SEND larger than the whole limit is refused without overflow",
          "[transaction_log]") {
    transaction_log log({16, 10'000, 1000});
    REQUIRE(log.begin("t"));
    REQUIRE(log.add("t", send_frame("m"), 10));
    CHECK(log.add("t", send_frame("huge"), std::size_t(-1)).error() == errc::transaction_bytes);
    CHECK(log.bytes() == 0);
    REQUIRE(log.begin("t2"));
    CHECK(log.add("t2", send_frame("huge"), 1001).error() == errc::transaction_bytes);
    CHECK(log.bytes() == 0);
}

TEST_CASE("ABORT and clear free every byte", "[transaction_log]") {
    transaction_log log({});
    REQUIRE(log.begin("a"));
    REQUIRE(log.begin("b"));
    REQUIRE(log.add("a", send_frame("a0"), 123));
    REQUIRE(log.add("b", send_frame("b0"), 456));
    REQUIRE(log.abort("a"));
    CHECK(log.bytes() == 456);
    log.clear();
    CHECK(log.bytes() == 0);
    CHECK(log.open() == 0);
    CHECK(log.begin("a"));
}
