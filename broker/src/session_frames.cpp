// What a session does with each client frame (STOMP12.md items 9-20).

#include <algorithm>
#include <charconv>

#include "queue.hpp"
#include "registry.hpp"
#include "session.hpp"
#include "stampede/broker/version.hpp"
#include "stampede/runtime/log.hpp"
#include "topic.hpp"

namespace stampede::broker {

namespace {

using protocol::command;
using protocol::frame_view;

constexpr std::string_view topic_prefix = "/topic/";
constexpr std::string_view queue_prefix = "/queue/";

std::optional<destination_kind> classify(std::string_view name) {
    if (name.size() > topic_prefix.size() && name.starts_with(topic_prefix)) {
        return destination_kind::topic;
    }
    if (name.size() > queue_prefix.size() && name.starts_with(queue_prefix)) {
        return destination_kind::queue;
    }
    return std::nullopt;
}

std::string unsupported_destination(std::string_view name) {
    return "destination '" + std::string(name) +
           "' is not supported: use /topic/NAME (publish/subscribe) or /queue/NAME "
           "(point to point)";
}

std::optional<std::size_t> parse_count(std::string_view text) {
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

std::optional<ack_mode> parse_ack_mode(std::string_view text, protocol::version v) {
    if (text == "auto") {
        return ack_mode::automatic;
    }
    if (text == "client") {
        return ack_mode::client;
    }
    if (text == "client-individual" && v != protocol::version::v1_0) {
        return ack_mode::client_individual;
    }
    return std::nullopt;
}

}  // namespace

void session::dispatch(const frame_view& frame) {
    ++counters_.frames_in;
    if (!connected_) {
        if (frame.cmd == command::connect || frame.cmd == command::stomp) {
            on_connect(frame);
        } else {
            fail("the first frame must be CONNECT or STOMP, not " +
                     std::string(protocol::to_string(frame.cmd)),
                 {}, &frame);
        }
        return;
    }
    switch (frame.cmd) {
        case command::send:
            on_send(frame);
            return;
        case command::subscribe:
            on_subscribe(frame);
            return;
        case command::unsubscribe:
            on_unsubscribe(frame);
            return;
        case command::ack:
            on_ack(frame, true);
            return;
        case command::nack:
            if (version_ == protocol::version::v1_0) {
                fail("NACK is not part of STOMP 1.0", {}, &frame);
            } else {
                on_ack(frame, false);
            }
            return;
        case command::begin:
            on_begin(frame);
            return;
        case command::commit:
            on_commit(frame);
            return;
        case command::abort:
            on_abort(frame);
            return;
        case command::disconnect:
            on_disconnect(frame);
            return;
        case command::connect:
        case command::stomp:
            fail("already connected: a second CONNECT is not allowed", {}, &frame);
            return;
        case command::connected:
        case command::message:
        case command::receipt:
        case command::error:
            fail(std::string(protocol::to_string(frame.cmd)) +
                     " is a server frame; a client may not send it",
                 {}, &frame);
            return;
    }
}

// ---- connecting ----

void session::on_connect(const frame_view& frame) {
    const auto v = protocol::negotiate_version(frame.get("accept-version"));
    if (!v) {
        const protocol::header ours[] = {{"version", protocol::supported_versions()}};
        fail("no STOMP version in common: this server speaks " +
                 std::string(protocol::supported_versions()),
             {}, &frame, ours);
        return;
    }
    const std::string host(frame.get("host").value_or("/"));
    const auto& hosts = ctx_.cfg.virtual_hosts;
    if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) {
        fail("unknown virtual host '" + host + "'", {}, &frame);
        return;
    }
    const std::string login(frame.get("login").value_or(""));
    if (!ctx_.cfg.users.empty()) {
        const auto user = ctx_.cfg.users.find(login);
        if (user == ctx_.cfg.users.end() || user->second != frame.get("passcode").value_or("")) {
            // Never say which half was wrong.
            fail("authentication failed: login or passcode not accepted", {}, &frame);
            return;
        }
    }
    const auto client_beats = protocol::parse_heart_beat(frame.get("heart-beat"));
    if (!client_beats.ok()) {
        fail(protocol::describe(client_beats.error), {}, &frame);
        return;
    }
    const protocol::heart_beat server{ctx_.cfg.heartbeat.send_ms, ctx_.cfg.heartbeat.receive_ms};
    heartbeat_ = protocol::negotiate_heart_beat(client_beats.value, server);
    connected_ = true;
    version_ = *v;
    vhost_ = host;
    login_ = login;
    counters_.vhost = host;
    counters_.login = login;
    counters_.version = std::string(protocol::to_string(*v));
    protocol::limits full;
    full.max_command_line = ctx_.cfg.limits.max_command_line;
    full.max_headers = ctx_.cfg.limits.max_headers;
    full.max_header_line = ctx_.cfg.limits.max_header_line;
    full.max_frame = ctx_.cfg.limits.max_frame;
    parser_.set_version(*v);
    parser_.set_limits(full);
    send_connected(*v, server);
    actor_.cast(start_heartbeats{heartbeat_.send_every_ms, heartbeat_.expect_every_ms});
}

void session::on_disconnect(const frame_view& frame) {
    send_receipt_if_asked(frame);
    closing_ = true;  // a clean close: what is queued goes out, then the socket shuts
    wake_writer();
}

// ---- destinations ----

// The handle of destination `name`, resolved through the registry (which
// attaches this session to it) on first use; null if it cannot be. The
// pointer stays valid for the session's life (the map only grows).
const destination_handle* session::resolve(std::string_view name) {
    if (const auto it = destinations_.find(std::string(name)); it != destinations_.end()) {
        return &it->second;
    }
    const auto kind = classify(name);
    if (!kind) {
        return nullptr;
    }
    const std::string key = destination_key(vhost_, name);
    auto handle = runtime::call(ctx_.registries[ctx_.shard_for(key)],
                                resolve_destination{vhost_, std::string(name), *kind});
    if (!handle) {
        runtime::log::warn("connection ", id_, ": cannot resolve ", name, ": ",
                           handle.error().message());
        return nullptr;
    }
    return &destinations_.emplace(std::string(name), std::move(*handle)).first->second;
}

// Sends `msg` to its destination, charged to this publisher's window. With
// `receipt_frame` (a SEND or COMMIT asking for a receipt) the destination
// confirms it first, and an ERROR refusing it carries that frame's receipt-id.
bool session::publish(const std::string& destination, std::shared_ptr<message> msg,
                      const frame_view* receipt_frame) {
    const bool with_receipt = receipt_frame != nullptr;
    const destination_handle* handle = resolve(destination);
    if (handle == nullptr) {
        fail("cannot deliver to " + destination + ": the broker is shutting down");
        return false;
    }
    msg->charge(credit_);
    last_published_ = handle;
    if (handle->kind == destination_kind::topic) {
        if (!with_receipt) {
            handle->topic.cast(topic_publish{std::move(msg)});
            return true;
        }
        if (auto done = runtime::call(handle->topic, topic_publish_sync{std::move(msg)}); !done) {
            fail("publishing to " + destination + " failed: " + done.error().message(), {},
                 receipt_frame);
            return false;
        }
        return true;
    }
    if (!with_receipt) {
        handle->queue.cast(queue_publish{std::move(msg), actor_});
        return true;
    }
    const auto outcome = runtime::call(handle->queue, queue_publish_sync{std::move(msg)});
    if (!outcome) {
        fail("publishing to " + destination + " failed: " + outcome.error().message(), {},
             receipt_frame);
        return false;
    }
    if (*outcome == publish_outcome::rejected_full) {
        fail("queue " + destination + " is full",
             "max_length " + std::to_string(ctx_.cfg.queues.max_length) + ", max_bytes " +
                 std::to_string(ctx_.cfg.queues.max_bytes) + ", overflow reject-publish",
             receipt_frame);
        return false;
    }
    return true;
}

// ---- SEND ----

void session::on_send(const frame_view& frame) {
    const auto destination = frame.get("destination");
    if (!destination) {
        fail("SEND requires a 'destination' header", {}, &frame);
        return;
    }
    if (!classify(*destination)) {
        fail(unsupported_destination(*destination), {}, &frame);
        return;
    }
    std::shared_ptr<message> msg = message::from_send(frame, *destination);
    if (const auto tx = frame.get("transaction")) {
        const auto it = transactions_.find(std::string(*tx));
        if (it == transactions_.end()) {
            fail("SEND names transaction '" + std::string(*tx) + "', which is not open", {},
                 &frame);
            return;
        }
        if (it->second.size() >= ctx_.cfg.limits.max_frames_per_transaction) {
            fail("transaction '" + std::string(*tx) + "' exceeds the limit of " +
                     std::to_string(ctx_.cfg.limits.max_frames_per_transaction) + " frames",
                 {}, &frame);
            return;
        }
        it->second.push_back({command::send, std::string(*destination), std::move(msg), 0});
        send_receipt_if_asked(frame);
        return;
    }
    ++counters_.messages_in;
    if (publish(std::string(*destination), std::move(msg),
                frame.get("receipt") ? &frame : nullptr)) {
        send_receipt_if_asked(frame);
    }
}

// ---- SUBSCRIBE / UNSUBSCRIBE ----

void session::on_subscribe(const frame_view& frame) {
    const auto destination = frame.get("destination");
    if (!destination) {
        fail("SUBSCRIBE requires a 'destination' header", {}, &frame);
        return;
    }
    const auto kind = classify(*destination);
    if (!kind) {
        fail(unsupported_destination(*destination), {}, &frame);
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
    if (subscriptions_.contains(std::string(*id))) {
        fail("subscription id '" + std::string(*id) + "' is already in use on this connection", {},
             &frame);
        return;
    }
    if (subscriptions_.size() >= ctx_.cfg.limits.max_subscriptions) {
        fail("too many subscriptions: the limit is " +
                 std::to_string(ctx_.cfg.limits.max_subscriptions) + " per connection",
             {}, &frame);
        return;
    }
    const auto mode = parse_ack_mode(frame.get("ack").value_or("auto"), version_);
    if (!mode) {
        fail("unknown ack mode '" + std::string(*frame.get("ack")) +
                 "': use auto, client or client-individual",
             {}, &frame);
        return;
    }
    std::size_t prefetch =
        *kind == destination_kind::queue ? ctx_.cfg.queues.prefetch : ctx_.cfg.topics.prefetch;
    if (const auto asked = frame.get("prefetch-count").has_value()
                               ? frame.get("prefetch-count")
                               : frame.get("activemq.prefetchSize")) {
        const auto n = parse_count(*asked);
        if (!n) {
            fail("prefetch must be a non-negative integer, not '" + std::string(*asked) + "'", {},
                 &frame);
            return;
        }
        prefetch = std::clamp<std::size_t>(*n, 1, ctx_.cfg.queues.max_prefetch);
    }
    const destination_handle* handle = resolve(*destination);
    if (handle == nullptr) {
        fail("cannot subscribe to " + std::string(*destination) + ": the broker is shutting down");
        return;
    }
    // Listed before the destination knows of it: deliveries may start at once.
    auto sub = std::make_unique<subscription>();
    sub->id = std::string(*id);
    sub->slot = next_slot_++;
    sub->destination = *handle;
    sub->mode = *mode;
    sub->policy = policy_for(ctx_.cfg.outbound, *destination);
    sub->prefetch = prefetch;
    subscription& added = *sub;
    by_slot_[added.slot] = &added;
    subscriptions_.emplace(added.id, std::move(sub));
    counters_.subscriptions = subscriptions_.size();
    const bool registered =
        handle->kind == destination_kind::topic
            ? runtime::call(ctx_.relays[runtime::this_scheduler()->index()],
                            relay_subscribe{handle->topic, shared_from_this(), added.slot})
                  .has_value()
            : runtime::call(handle->queue,
                            add_consumer{key_for(added), actor_, added.mode, added.prefetch})
                  .has_value();
    if (!registered) {
        by_slot_.erase(added.slot);
        subscriptions_.erase(std::string(*id));
        fail("cannot subscribe to " + std::string(*destination) + ": the broker is shutting down");
        return;
    }
    send_receipt_if_asked(frame);
}

void session::remove_subscription(subscription& sub) {
    const runtime::actor_id topic = sub.destination.topic.id();
    const bool last_on_topic =
        sub.destination.kind == destination_kind::topic &&
        std::none_of(subscriptions_.begin(), subscriptions_.end(), [&](const auto& entry) {
            return entry.second.get() != &sub && entry.second->destination.topic.id() == topic;
        });
    if (last_on_topic) {
        if (const auto it = congesting_.find(topic); it != congesting_.end()) {
            it->second.cast(congestion{id_, false});  // it must not stay held by a subscriber gone
            congesting_.erase(it);
        }
    }
    if (sub.destination.kind == destination_kind::topic) {
        ctx_.relays[runtime::this_scheduler()->index()].cast(
            relay_unsubscribe{sub.destination.topic.id(), this, sub.slot});
    } else {
        sub.destination.queue.cast(remove_consumer{key_for(sub)});  // unacked go back
    }
    for (const auto& [delivery, item] : sub.unacked) {
        awaiting_ack_.erase(delivery);
    }
    by_slot_.erase(sub.slot);
    const std::string id = sub.id;
    subscriptions_.erase(id);
    counters_.subscriptions = subscriptions_.size();
}

void session::on_unsubscribe(const frame_view& frame) {
    auto id = frame.get("id");
    if (!id && version_ == protocol::version::v1_0) {
        id = frame.get("destination");
    }
    if (!id) {
        fail("UNSUBSCRIBE requires an 'id' header", {}, &frame);
        return;
    }
    const auto it = subscriptions_.find(std::string(*id));
    if (it == subscriptions_.end()) {
        fail("UNSUBSCRIBE names subscription '" + std::string(*id) +
                 "', which does not exist on this connection",
             {}, &frame);
        return;
    }
    remove_subscription(*it->second);
    send_receipt_if_asked(frame);
}

// ---- ACK / NACK ----

void session::on_ack(const frame_view& frame, bool positive) {
    const char* what = positive ? "ACK" : "NACK";
    const char* id_header = version_ == protocol::version::v1_2 ? "id" : "message-id";
    const auto id = frame.get(id_header);
    if (!id) {
        fail(std::string(what) + " requires an '" + id_header + "' header", {}, &frame);
        return;
    }
    const auto delivery = parse_message_id(*id);
    if (!delivery) {
        fail(std::string(what) + " names '" + std::string(*id) +
                 "', which this connection was never sent",
             {}, &frame);
        return;
    }
    if (const auto tx = frame.get("transaction")) {
        const auto it = transactions_.find(std::string(*tx));
        if (it == transactions_.end()) {
            fail(std::string(what) + " names transaction '" + std::string(*tx) +
                     "', which is not open",
                 {}, &frame);
            return;
        }
        if (it->second.size() >= ctx_.cfg.limits.max_frames_per_transaction) {
            fail("transaction '" + std::string(*tx) + "' exceeds the limit of " +
                     std::to_string(ctx_.cfg.limits.max_frames_per_transaction) + " frames",
                 {}, &frame);
            return;
        }
        it->second.push_back({frame.cmd, {}, nullptr, *delivery});
        send_receipt_if_asked(frame);
        return;
    }
    if (!apply_ack(*delivery, positive)) {
        fail(std::string(what) + " names message '" + std::string(*id) +
                 "', which is not awaiting acknowledgement",
             {}, &frame);
        return;
    }
    send_receipt_if_asked(frame);
}

// Settles `delivery` (and, in client mode, every earlier delivery of its
// subscription). False if it is not awaiting acknowledgement.
bool session::apply_ack(std::uint64_t delivery, bool positive) {
    const auto pending = awaiting_ack_.find(delivery);
    if (pending == awaiting_ack_.end()) {
        return false;
    }
    subscription* sub = find_slot(pending->second);
    if (sub == nullptr) {
        return false;
    }
    const auto last = sub->unacked.find(delivery);
    const auto first = sub->mode == ack_mode::client ? sub->unacked.begin() : last;
    std::vector<std::uint64_t> sequences;
    std::vector<unacked_delivery> refused;
    for (auto it = first; it != std::next(last); ++it) {
        awaiting_ack_.erase(it->first);
        if (sub->destination.kind == destination_kind::queue) {
            sequences.push_back(it->second.queue_sequence);
        } else if (!positive) {
            refused.push_back(std::move(it->second));
        }
    }
    sub->unacked.erase(first, std::next(last));
    if (!sequences.empty()) {
        sub->destination.queue.cast(settle{key_for(*sub), std::move(sequences), !positive});
    }
    for (auto& item : refused) {
        redeliver_topic(*sub, std::move(item));
    }
    pump_backlog(*sub);
    return true;
}

// ---- transactions ----

void session::on_begin(const frame_view& frame) {
    const auto tx = frame.get("transaction");
    if (!tx) {
        fail("BEGIN requires a 'transaction' header", {}, &frame);
        return;
    }
    if (transactions_.contains(std::string(*tx))) {
        fail("transaction '" + std::string(*tx) + "' is already open", {}, &frame);
        return;
    }
    if (transactions_.size() >= ctx_.cfg.limits.max_transactions) {
        fail("too many open transactions: the limit is " +
                 std::to_string(ctx_.cfg.limits.max_transactions) + " per connection",
             {}, &frame);
        return;
    }
    transactions_.emplace(std::string(*tx), std::vector<pending_frame>{});
    send_receipt_if_asked(frame);
}

void session::on_commit(const frame_view& frame) {
    const auto tx = frame.get("transaction");
    if (!tx) {
        fail("COMMIT requires a 'transaction' header", {}, &frame);
        return;
    }
    const auto it = transactions_.find(std::string(*tx));
    if (it == transactions_.end()) {
        fail("COMMIT names transaction '" + std::string(*tx) + "', which is not open", {}, &frame);
        return;
    }
    std::vector<pending_frame> frames = std::move(it->second);
    transactions_.erase(it);
    // With a receipt, every SEND is confirmed by its destination before the RECEIPT.
    const frame_view* confirm = frame.get("receipt") ? &frame : nullptr;
    for (pending_frame& pending : frames) {
        if (pending.cmd == command::send) {
            ++counters_.messages_in;
            if (!publish(pending.destination, std::move(pending.msg), confirm)) {
                return;
            }
        } else if (!apply_ack(pending.delivery, pending.cmd == command::ack)) {
            fail("COMMIT of '" + std::string(*tx) +
                     "': " + std::string(protocol::to_string(pending.cmd)) + " of message '" +
                     message_id(pending.delivery) + "', which is not awaiting acknowledgement",
                 {}, &frame);
            return;
        }
    }
    send_receipt_if_asked(frame);
}

void session::on_abort(const frame_view& frame) {
    const auto tx = frame.get("transaction");
    if (!tx) {
        fail("ABORT requires a 'transaction' header", {}, &frame);
        return;
    }
    if (transactions_.erase(std::string(*tx)) == 0) {
        fail("ABORT names transaction '" + std::string(*tx) + "', which is not open", {}, &frame);
        return;
    }
    send_receipt_if_asked(frame);
}

// ---- deliveries ----

subscription* session::find_slot(std::uint32_t slot) {
    const auto it = by_slot_.find(slot);
    return it == by_slot_.end() ? nullptr : it->second;
}

consumer_key session::key_for(const subscription& sub) const {
    return {actor_.id(), sub.slot};
}

std::string session::destination_name(std::uint32_t slot) const {
    const auto it = by_slot_.find(slot);
    return it == by_slot_.end() ? std::string() : it->second->destination.name;
}

std::size_t session::deliver_topic(std::uint32_t slot, const message_ptr& msg,
                                   template_cache& templates) {
    subscription* sub = closing_ ? nullptr : find_slot(slot);
    if (sub == nullptr) {
        return 0;
    }
    if (sub->mode != ack_mode::automatic && sub->unacked.size() >= sub->prefetch) {
        sub->backlog.push_back(msg);  // waits for an ACK to make room
        return 0;
    }
    const std::uint64_t delivery = next_delivery_++;
    const std::size_t before = out_.bytes();
    write_topic_message(*sub, templates.get(version_), delivery, false,
                        ctx_.cfg.fanout == fanout_mode::shared ? msg : nullptr);
    if (sub->mode != ack_mode::automatic) {
        sub->unacked.emplace(delivery, unacked_delivery{0, msg, 1});
        awaiting_ack_.emplace(delivery, slot);
    }
    const std::size_t queued = out_.bytes() - before;
    check_outbound();
    return queued;
}

void session::deliver_queue(queue_delivery& delivery) {
    subscription* sub = closing_ ? nullptr : find_slot(delivery.slot);
    if (sub == nullptr) {
        return;  // the queue takes it back when it hears the consumer is gone
    }
    const std::uint64_t number = next_delivery_++;
    write_queue_message(*sub, *delivery.msg, number, delivery.redelivered, delivery.sequence);
    if (sub->mode != ack_mode::automatic) {
        sub->unacked.emplace(number, unacked_delivery{delivery.sequence, nullptr, 1});
        awaiting_ack_.emplace(number, sub->slot);
    }
    check_outbound();
}

void session::redeliver_topic(subscription& sub, unacked_delivery item) {
    ++item.deliveries;
    if (item.deliveries > ctx_.cfg.queues.max_deliveries) {
        const std::string short_name = sub.destination.name.substr(topic_prefix.size());
        const std::string dlq = std::string(queue_prefix) + "DLQ." + short_name;
        publish(dlq,
                item.topic_message->redirected(dlq, {"original-destination", sub.destination.name}),
                nullptr);
        return;
    }
    const std::uint64_t delivery = next_delivery_++;
    const protocol::message_template tmpl(version_, item.topic_message->destination(),
                                          item.topic_message->headers(),
                                          item.topic_message->body());
    write_topic_message(sub, tmpl, delivery, true, nullptr);
    sub.unacked.emplace(delivery, std::move(item));
    awaiting_ack_.emplace(delivery, sub.slot);
}

void session::pump_backlog(subscription& sub) {
    while (!sub.backlog.empty() && sub.unacked.size() < sub.prefetch && !closing_) {
        message_ptr msg = std::move(sub.backlog.front());
        sub.backlog.pop_front();
        template_cache templates(*msg);
        deliver_topic(sub.slot, msg, templates);
    }
}

void session::on_publish_rejected(const publish_rejected& rejected) {
    fail(rejected.reason, "a SEND to " + rejected.destination + " was refused");
}

}  // namespace stampede::broker
