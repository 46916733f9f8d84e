#pragma once

// The broker's actors and the messages between them.
//
// Who calls whom (calls block the caller; the graph is acyclic, see NOTES.md):
//   session  -> registry, topic, queue, relay     (resolve, publish with receipt,
//                                                  add consumer, subscribe)
//   relay    -> topic                             (attach this scheduler)
//   queue    -> registry                          (resolve a dead-letter queue)
// Everything flowing the other way is a cast: deliveries, rejections, settles,
// idle reports, reclaims.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "errc.hpp"
#include "message.hpp"
#include "stampede/routing/selector.hpp"
#include "stampede/runtime/actor.hpp"

namespace stampede::broker {

class session;
class session_actor;
class topic_actor;
class relay_actor;
class queue_actor;
class registry_actor;

enum class destination_kind : std::uint8_t { topic, queue };
enum class ack_mode : std::uint8_t { automatic, client, client_individual };

/// A resolved destination: which actor serves it. Holding one means being
/// attached to it in the registry (released when the session ends).
class destination_gate;

struct destination_handle {
    destination_kind kind = destination_kind::topic;
    std::string name;  ///< as the client wrote it, e.g. "/queue/orders"
    std::string key;   ///< registry key: virtual host and name
    runtime::actor_ref<topic_actor> topic;
    runtime::actor_ref<queue_actor> queue;
    std::shared_ptr<destination_gate> gate;  ///< closed while the destination holds publishers
    std::uint64_t default_ttl_ms = 0;        ///< given to messages published to it (0: none)
};

/// A compiled SUBSCRIBE selector, shared by the session and the queue it consumes.
using selector_ptr = std::shared_ptr<const routing::selector>;

// ---- registry ----

/// The registry's answer: the destination, or why there is none.
struct resolve_reply {
    destination_handle handle;
    errc refused{};  ///< too_many_destinations, destination_rate; 0 when resolved
    bool created = false;
};
/// Finds or creates a destination and attaches the caller to it. Creating is
/// refused past limits.max_destinations, or without `may_create` (the
/// caller's rate of new destinations is used up).
struct resolve_destination {
    using reply_type = resolve_reply;
    std::string vhost;
    std::string name;
    destination_kind kind;
    bool may_create = true;
    /// A temporary destination: created only by its owner (this session id),
    /// consumed only by it, deleted with it (delete_temporary).
    std::uint64_t owner = 0;
    bool to_consume = false;  ///< the caller will subscribe (refused to a non-owner)
};
/// The owner of temporary destination `key` has gone: it takes no more
/// messages; it is reclaimed once its last user lets go.
struct delete_temporary {
    std::string key;
    std::uint64_t owner = 0;
};
/// From the registry: this temporary destination's owner has gone.
struct temporary_deleted {};
/// The caller no longer uses the destination.
struct release_destination {
    std::string key;
};
/// A destination has been idle and empty for a while; reclaim it if unused.
struct destination_idle {
    std::string key;
    runtime::actor_id actor = 0;
};
/// From the registry: nobody uses you; stop if you are still empty.
struct reclaim {};
/// From the registry: your idle report came while a connection still holds
/// you, so you stay. Counted, so a test can wait for a refusal it can see.
struct reclaim_refused {};

/// A publisher is waiting for the destination's gate to open.
struct await_gate {
    runtime::actor_ref<session_actor> session;
};

// ---- topics and relays ----

/// A subscriber's connection is over (or back under) its outbound threshold.
struct congestion {
    std::uint64_t session = 0;
    bool congested = false;
};
/// Messages of this topic dropped for a slow subscriber (counted at the topic).
struct dropped_for_slow_consumer {
    std::uint64_t messages = 0;
};

enum class publish_outcome : std::uint8_t { accepted, rejected_full, deleted, not_stored };

struct topic_publish {
    message_ptr msg;
    runtime::actor_ref<session_actor> publisher;  ///< told if the topic refuses it
    /// A persistent message with a journal: completed (durable.hpp) once every
    /// durable subscription it was copied to has stored it (at once if none).
    std::uint64_t token = 0;
};
/// As topic_publish, answered once the message has gone to every relay (or
/// been taken for later: a delayed message).
struct topic_publish_sync {
    using reply_type = publish_outcome;
    message_ptr msg;
    std::uint64_t token = 0;  ///< as topic_publish's
};
/// A scheduler now has subscribers of this topic (from its relay).
struct attach_relay {
    using reply_type = runtime::ok;
    unsigned scheduler = 0;
    runtime::actor_ref<relay_actor> relay;
};
struct detach_relay {
    unsigned scheduler = 0;
};

/// Adds a local subscriber to a topic; the relay attaches to the topic first
/// if it is the scheduler's first subscriber of it.
/// Answered false when the topic could not be attached to (the subscriber
/// would receive nothing, so the SUBSCRIBE must fail).
struct relay_subscribe {
    using reply_type = bool;
    runtime::actor_ref<topic_actor> topic;
    std::shared_ptr<session> target;
    std::uint64_t slot = 0;
};
struct relay_unsubscribe {
    runtime::actor_id topic = 0;
    const session* target = nullptr;
    std::uint64_t slot = 0;
};
/// One published message for every local subscriber of a topic, and for the
/// local wildcard subscriptions of its virtual host that match its name.
struct relay_fanout {
    runtime::actor_id topic = 0;
    message_ptr msg;
    unsigned vhost = 0;  ///< index in config.virtual_hosts
};

/// Names one wildcard subscription in its relay's index.
struct pattern_ref {
    std::uint32_t slot = 0;
    std::uint32_t generation = 0;
};
/// Adds a local wildcard subscription (`pattern`: the name after /topic/).
struct relay_subscribe_pattern {
    using reply_type = pattern_ref;
    unsigned vhost = 0;
    std::string pattern;
    std::shared_ptr<session> target;
    std::uint64_t slot = 0;
};
struct relay_unsubscribe_pattern {
    unsigned vhost = 0;
    pattern_ref ref;
};

// ---- queues ----

/// A consumer: one subscription of one session.
struct consumer_key {
    runtime::actor_id session = 0;
    std::uint64_t slot = 0;
    bool operator==(const consumer_key&) const = default;
};

struct queue_publish {
    message_ptr msg;
    runtime::actor_ref<session_actor> publisher;  ///< told if the queue rejects it
    bool reserved = false;                        ///< room was reserved for it (queue_reserve)
    /// A persistent message to a durable queue: journalled, and `token`
    /// completed (durable.hpp) once stored or refused.
    std::uint64_t token = 0;
    bool persistent = false;
};
/// Reserves room for `messages` totalling `bytes` (a COMMIT about to publish):
/// answered false when a reject-publish queue could not take them all. The
/// reservation is used by queue_publish{reserved=true} or given back.
struct queue_reserve {
    using reply_type = bool;
    std::size_t messages = 0;
    std::size_t bytes = 0;
};
struct queue_unreserve {
    std::size_t messages = 0;
    std::size_t bytes = 0;
};
struct queue_publish_sync {
    using reply_type = publish_outcome;
    message_ptr msg;
    bool reserved = false;
};
struct add_consumer {
    using reply_type = runtime::ok;
    consumer_key key;
    runtime::actor_ref<session_actor> session;
    ack_mode mode = ack_mode::automatic;
    std::size_t prefetch = 1;
    selector_ptr selector;   ///< only messages it selects (null: all)
    bool exclusive = false;  ///< gets everything while it is the first exclusive consumer
    bool browser = false;    ///< sees the ready messages without taking them, then browse_end
};
/// The consumer is gone: whatever it had not settled goes back to the queue.
struct remove_consumer {
    consumer_key key;
};
/// Deliveries done with: acknowledged (or written, for auto-ack) or, with
/// `requeue`, refused (NACK).
struct settle {
    consumer_key key;
    std::vector<std::uint64_t> sequences;
    bool requeue = false;
    bool expired = false;     ///< not delivered: they expired before they could be written
    std::uint64_t token = 0;  ///< completed once the journal has removed them (durable.hpp)
};

// ---- sessions ----

struct queue_delivery {
    std::uint64_t slot = 0;
    message_ptr msg;
    std::uint64_t sequence = 0;
    bool redelivered = false;
};
/// A browser has seen every message it will see: send the end marker.
struct browse_end {
    std::uint64_t slot = 0;
};
/// A destination refused a SEND made without a receipt.
struct publish_rejected {
    std::string destination;
    std::string reason;
};
/// Close the connection (broker shutdown).
struct close_connection {
    std::string reason;
};
/// CONNECT succeeded: run the negotiated heart-beats (0: off).
struct start_heartbeats {
    std::uint32_t send_every_ms = 0;
    std::uint32_t expect_every_ms = 0;
};
/// The connection has ended and been cleaned up: the mailbox can go.
struct end_session {};
/// Flow control: the publisher may read again (credit returned, gate open).
struct resume_reading {};
/// The connection has bytes queued past a quarter of outbound.max_bytes (or
/// holds publishers, or its reader is paused): judge it every tick until not.
struct watch_congestion {};
struct congestion_tick {};
struct heartbeat_send_tick {};
struct heartbeat_check_tick {};
struct connect_deadline {};

}  // namespace stampede::broker
