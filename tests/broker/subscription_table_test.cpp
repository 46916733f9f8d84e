#include "subscription_table.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

using namespace stampede::broker;
using stampede::broker::testing::make_message;

namespace {

constexpr std::size_t no_byte_limit = std::size_t(1) << 40;

subscription_spec spec(std::string id, destination_kind kind, ack_mode mode,
                       std::size_t prefetch = 10,
                       slow_consumer_policy policy = slow_consumer_policy::drop) {
    subscription_spec s;
    s.id = std::move(id);
    s.destination.kind = kind;
    s.destination.name = kind == destination_kind::topic ? "/topic/t" : "/queue/q";
    s.mode = mode;
    s.prefetch = prefetch;
    s.policy = policy;
    return s;
}

// Delivers `msg` to `sub` as the session does for a client-ack subscription;
// returns the delivery number.
std::uint64_t deliver(subscription_table& table, subscription& sub, message_ptr msg,
                      std::uint64_t queue_sequence = 0) {
    const std::uint64_t delivery = table.next_delivery();
    table.record(sub, delivery, {std::move(msg), queue_sequence, 1});
    return delivery;
}

std::vector<std::string> ids_of(const settlement& s) {
    std::vector<std::string> out;
    for (const auto& item : s.items) {
        out.push_back(item.message->id());
    }
    return out;
}

}  // namespace

TEST_CASE("subscriptions are listed by id and slot, and an id cannot be used twice",
          "[subscription_table]") {
    subscription_table table(3, no_byte_limit);
    auto a = table.add(spec("a", destination_kind::queue, ack_mode::automatic));
    REQUIRE(a);
    auto b = table.add(spec("b", destination_kind::topic, ack_mode::client));
    REQUIRE(b);
    CHECK((*a)->slot != (*b)->slot);
    CHECK(table.find("a") == *a);
    CHECK(table.find_slot((*b)->slot) == *b);
    CHECK(table.find("nope") == nullptr);

    auto again = table.add(spec("a", destination_kind::queue, ack_mode::automatic));
    REQUIRE_FALSE(again);
    CHECK(again.error() == errc::subscription_id_in_use);
    CHECK(table.size() == 2);
}

TEST_CASE("the subscriptions limit holds at its value", "[subscription_table]") {
    subscription_table table(2, no_byte_limit);
    REQUIRE(table.add(spec("1", destination_kind::topic, ack_mode::automatic)));
    REQUIRE(table.add(spec("2", destination_kind::topic, ack_mode::automatic)));
    auto third = table.add(spec("3", destination_kind::topic, ack_mode::automatic));
    REQUIRE_FALSE(third);
    CHECK(third.error() == errc::too_many_subscriptions);
    table.remove(*table.find("1"));
    CHECK(table.add(spec("3", destination_kind::topic, ack_mode::automatic)));
}

TEST_CASE("slots are never reused, even after a subscription is removed", "[subscription_table]") {
    subscription_table table(10, no_byte_limit);
    const std::uint64_t first =
        (*table.add(spec("a", destination_kind::topic, ack_mode::automatic)))->slot;
    table.remove(*table.find("a"));
    const std::uint64_t second =
        (*table.add(spec("a", destination_kind::topic, ack_mode::automatic)))->slot;
    CHECK(second != first);
    CHECK(table.find_slot(first) == nullptr);
}

TEST_CASE("a prefetch of zero is taken as one", "[subscription_table]") {
    subscription_table table(10, no_byte_limit);
    subscription& sub = **table.add(spec("s", destination_kind::queue, ack_mode::client, 0));
    CHECK(sub.prefetch == 1);
}

TEST_CASE("an auto-ack subscription always has room and owes nothing", "[subscription_table]") {
    subscription_table table(10, 1024);
    subscription& sub = **table.add(spec("s", destination_kind::topic, ack_mode::automatic, 1));
    CHECK(table.has_room(sub));
    CHECK(table.pending_acks() == 0);
    CHECK(table.would_settle(table.next_delivery()).empty());
}

TEST_CASE("client-individual ACK settles only the delivery it names", "[subscription_table]") {
    subscription_table table(10, no_byte_limit);
    subscription& sub =
        **table.add(spec("s", destination_kind::queue, ack_mode::client_individual));
    const auto d0 = deliver(table, sub, make_message("m0"), 100);
    const auto d1 = deliver(table, sub, make_message("m1"), 101);
    const auto d2 = deliver(table, sub, make_message("m2"), 102);
    CHECK(table.pending_acks() == 3);

    CHECK(table.would_settle(d1) == std::vector<std::uint64_t>{d1});
    auto done = table.settle(d1);
    REQUIRE(done);
    CHECK(done->sub == &sub);
    CHECK(ids_of(*done) == std::vector<std::string>{"m1"});
    CHECK(done->items.front().queue_sequence == 101);
    CHECK(table.awaiting(d0));
    CHECK_FALSE(table.awaiting(d1));
    CHECK(table.awaiting(d2));

    auto twice = table.settle(d1);
    REQUIRE_FALSE(twice);
    CHECK(twice.error() == errc::not_awaiting_ack);
}

TEST_CASE("client ACK is cumulative within its own subscription only", "[subscription_table]") {
    subscription_table table(10, no_byte_limit);
    subscription& one = **table.add(spec("one", destination_kind::queue, ack_mode::client));
    subscription& two = **table.add(spec("two", destination_kind::queue, ack_mode::client));
    const auto a0 = deliver(table, one, make_message("a0"));
    const auto b0 = deliver(table, two, make_message("b0"));
    const auto a1 = deliver(table, one, make_message("a1"));
    const auto b1 = deliver(table, two, make_message("b1"));
    const auto a2 = deliver(table, one, make_message("a2"));

    // Deliveries of the other subscription, interleaved, are not covered.
    CHECK(table.would_settle(a1) == std::vector<std::uint64_t>{a0, a1});
    auto done = table.settle(a1);
    REQUIRE(done);
    CHECK(ids_of(*done) == std::vector<std::string>{"a0", "a1"});
    CHECK(table.awaiting(b0));
    CHECK(table.awaiting(b1));
    CHECK(table.awaiting(a2));
    // a0 went with a1: acknowledging it again acknowledges nothing.
    CHECK(table.would_settle(a0).empty());
    CHECK_FALSE(table.settle(a0));
    CHECK(ids_of(*table.settle(b1)) == std::vector<std::string>{"b0", "b1"});
    CHECK(table.pending_acks() == 1);
}

TEST_CASE("would_settle takes nothing out", "[subscription_table]") {
    subscription_table table(10, no_byte_limit);
    subscription& sub = **table.add(spec("s", destination_kind::queue, ack_mode::client));
    const auto d0 = deliver(table, sub, make_message("m0"));
    const auto d1 = deliver(table, sub, make_message("m1"));
    CHECK(table.would_settle(d1).size() == 2);
    CHECK(table.would_settle(d1).size() == 2);
    CHECK(table.awaiting(d0));
    CHECK(table.pending_acks() == 2);
}

TEST_CASE("the checks of an atomic COMMIT: an ACK already covered earlier in it is refused",
          "[subscription_table][commit]") {
    // session::check_commit_acks runs these checks before anything of a
    // COMMIT takes effect: every ACK/NACK must name a pending delivery that
    // no earlier frame of the same transaction settles.
    subscription_table table(10, no_byte_limit);
    subscription& sub = **table.add(spec("s", destination_kind::queue, ack_mode::client));
    const auto d0 = deliver(table, sub, make_message("m0"));
    const auto d1 = deliver(table, sub, make_message("m1"));
    const std::vector<std::uint64_t> frames = {d1, d0};  // cumulative ACK of m1, then ACK of m0

    std::vector<std::uint64_t> settled;
    std::optional<std::size_t> refused;
    for (std::size_t i = 0; i < frames.size() && !refused; ++i) {
        const auto would = table.would_settle(frames[i]);
        if (would.empty() ||
            std::find(settled.begin(), settled.end(), frames[i]) != settled.end()) {
            refused = i;
        }
        settled.insert(settled.end(), would.begin(), would.end());
    }
    REQUIRE(refused);
    CHECK(*refused == 1);
    // The checks settled nothing: both deliveries are still owed.
    CHECK(table.awaiting(d0));
    CHECK(table.awaiting(d1));
}

TEST_CASE("1.0 and 1.1 acknowledge by message-id, optionally within one subscription",
          "[subscription_table]") {
    subscription_table table(10, no_byte_limit);
    subscription& one =
        **table.add(spec("one", destination_kind::topic, ack_mode::client_individual));
    subscription& two =
        **table.add(spec("two", destination_kind::topic, ack_mode::client_individual));
    const auto shared = make_message("same-id");
    const auto d_one = deliver(table, one, shared);
    const auto d_two = deliver(table, two, shared);
    const auto other = deliver(table, two, make_message("other"));

    CHECK(table.delivery_of("same-id", std::string_view("one")) == d_one);
    CHECK(table.delivery_of("same-id", std::string_view("two")) == d_two);
    CHECK(table.delivery_of("same-id", std::nullopt) == std::min(d_one, d_two));  // oldest wins
    CHECK(table.delivery_of("other", std::nullopt) == other);
    CHECK_FALSE(table.delivery_of("other", std::string_view("one")));
    CHECK_FALSE(table.delivery_of("never-sent", std::nullopt));

    REQUIRE(table.settle(d_one));
    CHECK_FALSE(table.delivery_of("same-id", std::string_view("one")));
    CHECK(table.delivery_of("same-id", std::nullopt) == d_two);
}

TEST_CASE("a message redelivered after a NACK is found by its message-id again",
          "[subscription_table]") {
    subscription_table table(10, no_byte_limit);
    subscription& sub =
        **table.add(spec("s", destination_kind::topic, ack_mode::client_individual));
    const auto msg = make_message("m");
    const auto first = deliver(table, sub, msg);
    auto nacked = table.settle(first);
    REQUIRE(nacked);
    const auto again = deliver(table, sub, nacked->items.front().message);
    CHECK(table.delivery_of("m", std::nullopt) == again);
    REQUIRE(table.settle(again));
    CHECK_FALSE(table.delivery_of("m", std::nullopt));
    CHECK(table.pending_acks() == 0);
}

TEST_CASE("prefetch bounds the deliveries a client-ack subscription holds",
          "[subscription_table]") {
    subscription_table table(10, no_byte_limit);
    subscription& sub = **table.add(spec("s", destination_kind::queue, ack_mode::client, 2));
    CHECK(table.has_room(sub));
    deliver(table, sub, make_message("m0"));
    CHECK(table.has_room(sub));
    const auto d1 = deliver(table, sub, make_message("m1"));
    CHECK_FALSE(table.has_room(sub));
    REQUIRE(table.settle(d1));
    CHECK(table.has_room(sub));
}

TEST_CASE("unacked topic bytes past the limit leave a subscription no room, but one always fits",
          "[subscription_table]") {
    // Every id below has two characters, so every message has this footprint.
    const std::size_t footprint = make_message("p0", 1000)->footprint();
    // Room for two messages' worth: the third delivery finds none.
    subscription_table table(10, 2 * footprint);
    subscription& big = **table.add(spec("big", destination_kind::topic, ack_mode::client, 100));
    subscription& other =
        **table.add(spec("other", destination_kind::topic, ack_mode::client, 100));
    subscription& queue = **table.add(spec("q", destination_kind::queue, ack_mode::client, 100));

    const auto d0 = deliver(table, big, make_message("m0", 1000));
    CHECK(table.unacked_topic_bytes() == footprint);
    CHECK(table.has_room(big));
    deliver(table, big, make_message("m1", 1000));
    CHECK(table.unacked_topic_bytes() == 2 * footprint);
    CHECK_FALSE(table.has_room(big));
    // The limit is the connection's: another topic subscription with
    // nothing unacknowledged still gets one message, so it is never stuck.
    CHECK(table.has_room(other));
    deliver(table, other, make_message("o0", 1000));
    CHECK_FALSE(table.has_room(other));
    // Queue deliveries are held by their queue, not here: not counted.
    deliver(table, queue, make_message("q0", 1000));
    CHECK(table.unacked_topic_bytes() == 3 * footprint);
    CHECK(table.has_room(queue));

    REQUIRE(table.settle(d0));
    CHECK(table.unacked_topic_bytes() == 2 * footprint);
}

TEST_CASE("a topic backlog fills while there is no room and drains as acks make room",
          "[subscription_table]") {
    subscription_table table(10, no_byte_limit);
    subscription& sub =
        **table.add(spec("s", destination_kind::topic, ack_mode::client_individual, 1));
    const auto d0 = deliver(table, sub, make_message("m0", 100));
    const auto m1 = make_message("m1", 100);
    const auto m2 = make_message("m2", 200);
    table.push_backlog(sub, m1);
    table.push_backlog(sub, m2);
    CHECK(table.backlog_bytes() == m1->footprint() + m2->footprint());
    CHECK(sub.backlog_bytes == table.backlog_bytes());
    CHECK(table.pop_backlog(sub) == nullptr);  // no room yet

    REQUIRE(table.settle(d0));
    const message_ptr next = table.pop_backlog(sub);
    REQUIRE(next == m1);  // oldest first
    CHECK(table.backlog_bytes() == m2->footprint());
    deliver(table, sub, next);
    CHECK(table.pop_backlog(sub) == nullptr);  // full again
}

TEST_CASE("dropping backlogs drops only those of drop-policy subscriptions, counted per topic",
          "[subscription_table]") {
    subscription_table table(10, no_byte_limit);
    subscription& dropping = **table.add(
        spec("d", destination_kind::topic, ack_mode::client, 1, slow_consumer_policy::drop));
    subscription& blocking = **table.add(
        spec("b", destination_kind::topic, ack_mode::client, 1, slow_consumer_policy::block));
    table.push_backlog(dropping, make_message("d0"));
    table.push_backlog(dropping, make_message("d1"));
    const auto kept = make_message("b0");
    table.push_backlog(blocking, kept);

    const auto dropped = table.drop_droppable_backlogs();
    REQUIRE(dropped.size() == 1);
    CHECK(dropped.begin()->second == 2);
    CHECK(dropping.backlog.empty());
    CHECK(dropping.backlog_bytes == 0);
    CHECK(blocking.backlog.size() == 1);
    CHECK(table.backlog_bytes() == kept->footprint());
}

TEST_CASE("a delivery dropped before it was sent is forgotten: nothing is owed for it",
          "[subscription_table]") {
    subscription_table table(10, 1 << 20);
    subscription& sub =
        **table.add(spec("s", destination_kind::topic, ack_mode::client_individual, 2));
    const auto msg = make_message("m0", 500);
    const auto d0 = deliver(table, sub, msg);
    const auto d1 = deliver(table, sub, make_message("m1", 500));
    CHECK_FALSE(table.has_room(sub));

    table.forget(d0);
    CHECK_FALSE(table.awaiting(d0));
    CHECK(table.awaiting(d1));
    CHECK(table.has_room(sub));
    CHECK(table.unacked_topic_bytes() == make_message("m1", 500)->footprint());
    CHECK_FALSE(table.delivery_of("m0", std::nullopt));
    table.forget(d0);  // twice, or of a delivery never recorded: nothing happens
    table.forget(9999);
    CHECK(table.pending_acks() == 1);
}

TEST_CASE("removing a subscription frees what it was owed and its backlog",
          "[subscription_table]") {
    subscription_table table(10, 1 << 20);
    subscription& sub = **table.add(spec("s", destination_kind::topic, ack_mode::client, 1));
    subscription& stay = **table.add(spec("stay", destination_kind::topic, ack_mode::client, 5));
    const auto d0 = deliver(table, sub, make_message("m0"));
    table.push_backlog(sub, make_message("m1"));
    const auto kept = deliver(table, stay, make_message("k0"));

    table.remove(sub);
    CHECK(table.find("s") == nullptr);
    CHECK_FALSE(table.awaiting(d0));
    CHECK(table.awaiting(kept));
    CHECK(table.backlog_bytes() == 0);
    CHECK(table.unacked_topic_bytes() == make_message("k0")->footprint());
    CHECK(table.pending_acks() == 1);
}
