// SUBSCRIBE, UNSUBSCRIBE, ACK and NACK (STOMP12.md items 15-18).

#include <algorithm>
#include <charconv>

#include "destination_names.hpp"
#include "queue.hpp"
#include "registry.hpp"
#include "session.hpp"
#include "topic.hpp"

namespace stampede::broker {

namespace {

using protocol::command;
using protocol::frame_view;

std::optional<std::size_t> parse_count(std::string_view text) {
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

// client-individual is accepted on STOMP 1.0 too, as RabbitMQ does (an extension).
std::optional<ack_mode> parse_ack_mode(std::string_view text) {
    if (text == "auto") {
        return ack_mode::automatic;
    }
    if (text == "client") {
        return ack_mode::client;
    }
    if (text == "client-individual") {
        return ack_mode::client_individual;
    }
    return std::nullopt;
}

}  // namespace

void session::on_subscribe(const frame_view& frame) {
    const auto destination = frame.get("destination");
    if (!destination) {
        fail("SUBSCRIBE requires a 'destination' header", {}, &frame);
        return;
    }
    if (!permitted(auth::bit(auth::permission::read), *destination, frame)) {
        return;
    }
    const auto alias = temp_alias_kind(*destination);
    const auto kind = alias ? alias : classify_destination(*destination);
    if (!kind) {
        fail(unsupported_destination_text(*destination), {}, &frame);
        return;
    }
    // STOMP 1.0 makes the id optional; the destination then names the subscription.
    auto id = frame.get("id");
    if (!id && version_ == protocol::version::v1_0) {
        id = destination;
    }
    if (!id) {
        fail("SUBSCRIBE requires an 'id' header", {}, &frame);
        return;
    }
    auto mode = parse_ack_mode(frame.get("ack").value_or("auto"));
    if (!mode) {
        fail("unknown ack mode '" + std::string(*frame.get("ack")) +
                 "': use auto, client or client-individual",
             {}, &frame);
        return;
    }
    std::size_t prefetch =
        *kind == destination_kind::queue ? ctx_.cfg.queues.prefetch : ctx_.cfg.topics.prefetch;
    const char* prefetch_header =
        frame.get("prefetch-count").has_value() ? "prefetch-count" : "activemq.prefetchSize";
    if (const auto asked = frame.get(prefetch_header)) {
        const auto n = parse_count(*asked);
        if (!n) {
            fail(std::string(prefetch_header) + " must be a non-negative integer, not '" +
                     std::string(*asked) + "'",
                 {}, &frame);
            return;
        }
        prefetch = std::clamp<std::size_t>(*n, 1, ctx_.cfg.queues.max_prefetch);
    }
    if (subscriptions_.find(*id) != nullptr) {
        fail_with(errc::subscription_id_in_use, "subscribe with id '" + std::string(*id) + "'",
                  &frame);
        return;
    }
    subscription_features features;
    if (!read_features(frame, *kind, *destination, features)) {
        return;
    }
    if (features.browser) {
        *mode = ack_mode::automatic;  // a browser takes nothing: nothing to acknowledge
    }
    bool failed = false;
    const auto durable = *kind == destination_kind::topic && !alias
                             ? durable_name(frame, *id, failed)
                             : std::nullopt;
    if (failed) {
        return;
    }
    if (durable && (features.wildcard || features.browser)) {
        fail("a durable subscription cannot be a wildcard or a browser", {}, &frame);
        return;
    }
    auto handle = durable ? subscribe_durable(*destination, *durable,
                                              frame.get("selector").value_or(""), features.selector)
                          : subscribe_target(*destination, *kind, features.wildcard);
    if (!handle) {
        fail_with(handle.error(), "subscribe to " + std::string(*destination), &frame);
        return;
    }
    const destination_handle attached = *handle;
    // A wildcard subscription holds no topic's publishers: it cannot block them.
    slow_consumer_policy policy = policy_for(ctx_.cfg.outbound, *destination);
    if (features.wildcard && policy == slow_consumer_policy::block) {
        policy = slow_consumer_policy::drop;
    }
    // Listed before the destination knows of it: deliveries may start at once.
    auto added = subscriptions_.add(
        {std::string(*id), std::move(*handle), *mode, policy, prefetch, std::move(features)});
    if (!added) {
        release(attached);
        fail_with(added.error(), "subscribe to " + std::string(*destination), &frame);
        return;
    }
    subscription& sub = **added;
    counters_.subscriptions = subscriptions_.size();
    if (auto registered = register_subscriber(sub); !registered) {
        subscriptions_.remove(sub);
        counters_.subscriptions = subscriptions_.size();
        release(attached);
        fail_with(registered.error(), "subscribe to " + std::string(*destination), &frame);
        return;
    }
    if (durable) {
        durable_subs_[std::string(*id)] = {*durable, std::string(*destination)};
    }
    send_receipt_if_asked(frame);
}

// What a SUBSCRIBE attaches to: the destination through the registry; for a
// temporary alias, this connection's temporary destination; for a wildcard,
// nothing (the relay matches it), so the handle only names it.
result<destination_handle> session::subscribe_target(std::string_view destination,
                                                     destination_kind kind, bool wildcard) {
    if (wildcard) {
        destination_handle handle;
        handle.kind = destination_kind::topic;
        handle.name = std::string(destination);
        return handle;
    }
    if (temp_alias_kind(destination)) {
        auto temp = temporary(destination, kind);
        if (!temp) {
            return temp.error();
        }
        return resolve((*temp)->name, false, true);
    }
    return resolve(destination, true, true);
}

// Tells the destination about a new subscriber: a topic through this
// scheduler's relay (attached to the topic before it answers), a queue directly.
result<void> session::register_subscriber(subscription& sub) {
    if (sub.features.wildcard) {
        return register_wildcard(sub);
    }
    if (sub.is_topic()) {
        auto attached =
            runtime::call(ctx_.relays[runtime::this_scheduler()->index()],
                          relay_subscribe{sub.destination.topic, shared_from_this(), sub.slot});
        if (!attached) {
            return from_call_error(attached.error());
        }
        if (!*attached) {
            return errc::subscribe_failed;
        }
        return {};
    }
    auto added = runtime::call(
        sub.destination.queue,
        add_consumer{key_for(sub), actor_, sub.mode, sub.prefetch, sub.features.selector,
                     sub.features.exclusive, sub.features.browser});
    if (!added) {
        return from_call_error(added.error());
    }
    return {};
}

void session::remove_subscription(subscription& sub) {
    if (sub.features.wildcard) {
        unregister_wildcard(sub);
    } else if (sub.is_topic()) {
        const runtime::actor_id topic = sub.destination.topic.id();
        const auto subs = subscriptions_.all();
        const bool last_on_topic = std::none_of(subs.begin(), subs.end(), [&](subscription* s) {
            return s != &sub && s->has_topic_actor() && s->destination.topic.id() == topic;
        });
        if (last_on_topic) {
            if (const auto it = holding_.find(topic); it != holding_.end()) {
                it->second.cast(congestion{id_, false});  // not held by a subscriber gone
                holding_.erase(it);
            }
        }
        ctx_.relays[runtime::this_scheduler()->index()].cast(
            relay_unsubscribe{topic, this, sub.slot});
    } else {
        sub.destination.queue.cast(remove_consumer{key_for(sub)});  // unacked go back
    }
    release(sub.destination);
    subscriptions_.remove(sub);
    counters_.subscriptions = subscriptions_.size();
}

void session::on_unsubscribe(const frame_view& frame) {
    auto id = frame.get("id");
    if (!id && version_ == protocol::version::v1_0) {
        id = frame.get("destination");
    }
    if (!id) {
        fail(version_ == protocol::version::v1_0
                 ? "UNSUBSCRIBE requires an 'id' or a 'destination' header"
                 : "UNSUBSCRIBE requires an 'id' header",
             {}, &frame);
        return;
    }
    bool failed = false;
    const auto durable = durable_name(frame, *id, failed);
    if (failed) {
        return;
    }
    subscription* sub = subscriptions_.find(*id);
    if (sub == nullptr && !durable) {
        fail("UNSUBSCRIBE names subscription '" + std::string(*id) +
                 "', which does not exist on this connection",
             {}, &frame);
        return;
    }
    std::string topic(frame.get("destination").value_or(""));
    if (const auto it = durable_subs_.find(std::string(*id)); it != durable_subs_.end()) {
        topic = it->second.second;
        durable_subs_.erase(it);
    }
    if (sub != nullptr) {
        remove_subscription(*sub);
    }
    if (durable) {
        unsubscribe_durable(*durable, topic);  // RabbitMQ's and ActiveMQ's removal
    }
    send_receipt_if_asked(frame);
}

// ---- ACK / NACK ----

// The delivery an ACK or NACK names: by its `id` (the MESSAGE's ack header)
// in STOMP 1.2; by `message-id` (and `subscription`, when given) in 1.0 and
// 1.1. nullopt (with the connection failed) when it names none.
std::optional<std::uint64_t> session::delivery_named(const frame_view& frame,
                                                     std::string_view what) {
    const bool v12 = version_ == protocol::version::v1_2;
    const char* header = v12 ? "id" : "message-id";
    const auto id = frame.get(header);
    if (!id) {
        fail(std::string(what) +
                 (v12 ? " requires an 'id' header (the MESSAGE's 'ack' header) in STOMP 1.2"
                      : " requires a 'message-id' header in STOMP 1.0 and 1.1"),
             {}, &frame);
        return std::nullopt;
    }
    const auto delivery =
        v12 ? parse_ack_id(*id) : subscriptions_.delivery_of(*id, frame.get("subscription"));
    if (!delivery) {
        fail(std::string(what) + " names '" + std::string(*id) +
                 "', which is not awaiting acknowledgement on this connection",
             {}, &frame);
    }
    return delivery;
}

void session::on_ack(const frame_view& frame, bool positive) {
    const std::string_view what = positive ? "ACK" : "NACK";
    const auto delivery = delivery_named(frame, what);
    if (!delivery) {
        return;
    }
    const std::string_view id =
        frame.get(version_ == protocol::version::v1_2 ? "id" : "message-id").value_or("");
    if (const auto tx = frame.get("transaction")) {
        auto added =
            transactions_.add(*tx, {frame.cmd, {}, nullptr, *delivery, std::string(id)}, 0);
        if (!added) {
            fail_transaction(added.error(), *tx, what, &frame);
            return;
        }
        send_receipt_if_asked(frame);
        return;
    }
    auto done = subscriptions_.settle(*delivery);
    if (!done) {
        fail(std::string(what) + " names '" + std::string(id) +
                 "', which is not awaiting acknowledgement on this connection",
             {}, &frame);
        return;
    }
    apply_settlement(*done, positive);
    send_receipt_if_asked(frame);
}

// Tells the destination what an ACK or NACK settled: a queue settles (or
// requeues) by sequence; a NACKed topic message is redelivered here.
void session::apply_settlement(settlement& done, bool positive) {
    subscription& sub = *done.sub;
    if (!sub.is_topic()) {
        std::vector<std::uint64_t> sequences;
        sequences.reserve(done.items.size());
        for (const unacked_delivery& item : done.items) {
            sequences.push_back(item.queue_sequence);
        }
        // With a journal, every later RECEIPT (the ACK's own, or a
        // DISCONNECT's) waits until the queue has durably removed what this
        // ACK settles (the queue completes the token; at once when the
        // settled messages were not on disk). Without that, an ACK that asked
        // for no receipt could come back after a crash that followed a
        // DISCONNECT's RECEIPT. A queue the configuration does not make
        // durable never journals anything: its ACKs take no token, and their
        // RECEIPTs do not wait on a round trip to the queue. Nor do ACKs that
        // settle only messages without persistent:true: a queue journals a
        // message only when it is persistent, so there is nothing to remove
        // (with the default data/ this was a token per ACK of every queue).
        const bool any_persistent =
            std::any_of(done.items.begin(), done.items.end(), [](const unacked_delivery& item) {
                return item.message != nullptr && is_persistent(*item.message);
            });
        std::uint64_t token = 0;
        if (positive && any_persistent && ctx_.durable != nullptr &&
            ctx_.durable->durable(sub.destination.name)) {
            wait_for_durable(max_pending_durable);
            token = expect_durable();
        }
        sub.destination.queue.cast(
            settle{key_for(sub), std::move(sequences), !positive, false, token});
    } else if (!positive) {
        for (unacked_delivery& item : done.items) {
            redeliver_topic(sub, std::move(item));
        }
    }
    pump_backlog(sub);
}

}  // namespace stampede::broker
