#pragma once

// A connection's subscriptions and what it owes acknowledgements for: pure
// bookkeeping, no I/O. The session tells destinations what happened; this
// table only remembers it.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actors.hpp"
#include "errc.hpp"
#include "stampede/broker/config.hpp"

namespace stampede::broker {

/// A delivery awaiting ACK or NACK (client and client-individual modes).
struct unacked_delivery {
    message_ptr message;               ///< what was delivered (topic: kept for redelivery)
    std::uint64_t queue_sequence = 0;  ///< from a queue: its sequence there
    std::uint32_t deliveries = 1;      ///< how often this subscription has had it
};

/// What a SUBSCRIBE asked for beyond a destination and an ack mode.
struct subscription_features {
    selector_ptr selector;   ///< only the messages it selects (null: all)
    bool wildcard = false;   ///< a topic pattern: matched by this scheduler's relay
    pattern_ref pattern;     ///< its entry in the relay's index
    bool browser = false;    ///< browses a queue: no acknowledgements, then an end marker
    bool exclusive = false;  ///< the queue's first exclusive consumer takes everything
};

/// What a SUBSCRIBE asked for, once validated.
struct subscription_spec {
    std::string id;
    destination_handle destination;
    ack_mode mode = ack_mode::automatic;
    slow_consumer_policy policy = slow_consumer_policy::drop;
    std::size_t prefetch = 1;
    subscription_features features;
};

/// One SUBSCRIBE of this connection.
struct subscription {
    std::string id;
    std::uint64_t slot = 0;  ///< connection-unique, never reused (64 bits do not wrap)
    destination_handle destination;
    ack_mode mode = ack_mode::automatic;
    slow_consumer_policy policy = slow_consumer_policy::drop;
    std::size_t prefetch = 1;
    subscription_features features;
    std::map<std::uint64_t, unacked_delivery> unacked;  ///< by delivery number, oldest first
    /// STOMP 1.0/1.1 acknowledge by message-id: the pending delivery of each.
    std::unordered_map<std::string_view, std::uint64_t> unacked_by_message_id;
    std::deque<message_ptr> backlog;  ///< topic messages waiting for prefetch room
    std::size_t backlog_bytes = 0;

    bool is_topic() const noexcept { return destination.kind == destination_kind::topic; }
    /// A topic subscription attached to one topic actor (not a wildcard).
    bool has_topic_actor() const noexcept { return is_topic() && destination.topic.valid(); }
};

/// The deliveries one ACK or NACK settles, taken out of the table.
struct settlement {
    subscription* sub = nullptr;
    std::vector<unacked_delivery> items;  ///< oldest first
};

/// Every subscription of one connection, its pending acknowledgements and
/// its topic backlogs. Owned by one session, on its scheduler.
class subscription_table {
  public:
    /// `unacked_bytes_limit` bounds the topic messages held for redelivery
    /// (delivered, not yet acknowledged) over the whole connection; past it a
    /// client-ack topic subscription has no room and messages wait in its backlog.
    subscription_table(std::size_t max_subscriptions, std::size_t unacked_bytes_limit) noexcept
        : max_subscriptions_(max_subscriptions), unacked_bytes_limit_(unacked_bytes_limit) {}

    /// Lists a new subscription. errc::subscription_id_in_use,
    /// errc::too_many_subscriptions.
    [[nodiscard]] result<subscription*> add(subscription_spec spec);

    /// Forgets a subscription and whatever it was owed. Its unacknowledged
    /// deliveries and backlog are the caller's to hand back first.
    void remove(subscription& sub);

    subscription* find(std::string_view id) noexcept;
    subscription* find_slot(std::uint64_t slot) noexcept;
    std::size_t size() const noexcept { return by_id_.size(); }
    bool empty() const noexcept { return by_id_.empty(); }

    /// Every subscription, in no particular order.
    std::vector<subscription*> all() const;

    /// A fresh delivery number for this connection.
    std::uint64_t next_delivery() noexcept { return next_delivery_++; }

    /// Whether `sub` may be sent another message now (auto-ack always may;
    /// client modes while under the prefetch count and the unacked byte limit).
    bool has_room(const subscription& sub) const noexcept;

    /// Records a delivery to a client-ack subscription as awaiting acknowledgement.
    void record(subscription& sub, std::uint64_t delivery, unacked_delivery item);

    bool awaiting(std::uint64_t delivery) const noexcept { return pending_.contains(delivery); }

    /// The pending delivery of message `message_id` (STOMP 1.0/1.1 ACKs), in
    /// subscription `subscription_id` when given, else in any subscription
    /// (the oldest delivery wins).
    std::optional<std::uint64_t> delivery_of(std::string_view message_id,
                                             std::optional<std::string_view> subscription_id) const;

    /// The deliveries an ACK or NACK of `delivery` would settle: itself and,
    /// in client (cumulative) mode, every earlier pending delivery of its
    /// subscription. Empty when `delivery` is not pending.
    std::vector<std::uint64_t> would_settle(std::uint64_t delivery) const;

    /// Settles what would_settle() names and takes those deliveries out.
    /// errc::not_awaiting_ack when `delivery` is not pending.
    [[nodiscard]] result<settlement> settle(std::uint64_t delivery);

    /// Forgets a pending delivery that was never sent (dropped from the
    /// outbound queue): nothing is owed for it.
    void forget(std::uint64_t delivery);

    /// Queues a topic message for `sub` until it has room.
    void push_backlog(subscription& sub, message_ptr msg);

    /// The next backlogged message of `sub` if it has room now, else null.
    message_ptr pop_backlog(subscription& sub);

    /// Drops every backlogged message of drop-policy subscriptions; returns
    /// how many went, per topic actor id.
    std::unordered_map<runtime::actor_id, std::uint64_t> drop_droppable_backlogs();

    /// Bytes of topic messages waiting in backlogs, over all subscriptions.
    std::size_t backlog_bytes() const noexcept { return backlog_bytes_; }
    /// Bytes of delivered topic messages kept for redelivery until acknowledged.
    std::size_t unacked_topic_bytes() const noexcept { return unacked_topic_bytes_; }
    std::size_t pending_acks() const noexcept { return pending_.size(); }

  private:
    void forget_pending(subscription& sub, std::uint64_t delivery, const unacked_delivery& item);

    std::size_t max_subscriptions_;
    std::size_t unacked_bytes_limit_;
    std::unordered_map<std::string, std::unique_ptr<subscription>> by_id_;
    std::unordered_map<std::uint64_t, subscription*> by_slot_;
    std::unordered_map<std::uint64_t, std::uint64_t> pending_;  ///< delivery -> slot
    std::uint64_t next_slot_ = 1;
    std::uint64_t next_delivery_ = 1;
    std::size_t backlog_bytes_ = 0;
    std::size_t unacked_topic_bytes_ = 0;
};

}  // namespace stampede::broker
