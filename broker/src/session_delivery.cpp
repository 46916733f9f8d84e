// Deliveries to this connection: topic messages from this scheduler's relay,
// queue messages from queue actors, redeliveries, and settling what auto-ack
// subscriptions have been written.

#include "destination_names.hpp"
#include "queue.hpp"
#include "session.hpp"
#include "stampede/routing/expiry.hpp"
#include "stampede/runtime/log.hpp"
#include "topic.hpp"

namespace stampede::broker {

namespace {
using protocol::command;
using protocol::header;
}  // namespace

// A message past its deadline is never written: counted on the connection.
bool session::expired_now(const message& msg) {
    if (msg.timing().expires_at == 0 || !msg.expired(routing::now_epoch_ms())) {
        return false;
    }
    ++counters_.expired;
    return true;
}

std::string session::destination_name(std::uint64_t slot) {
    const subscription* sub = subscriptions_.find_slot(slot);
    return sub == nullptr ? std::string() : sub->destination.name;
}

std::size_t session::deliver_topic(std::uint64_t slot, const message_ptr& msg,
                                   template_cache& templates) {
    subscription* sub = conn_.closing() ? nullptr : subscriptions_.find_slot(slot);
    if (sub == nullptr) {
        return 0;
    }
    if (sub->features.selector && !sub->features.selector->matches(msg->selector_headers())) {
        return 0;
    }
    if (expired_now(*msg)) {
        return 0;
    }
    if (!sub->backlog.empty() || !subscriptions_.has_room(*sub)) {
        subscriptions_.push_backlog(*sub, msg);  // waits for an ACK to make room
        check_outbound();
        return 0;
    }
    const std::size_t before = conn_.output().bytes();
    deliver_from_topic(*sub, msg, templates.get(version_));
    const std::size_t queued = conn_.output().bytes() - before;
    check_outbound();
    return queued;
}

void session::deliver_from_topic(subscription& sub, const message_ptr& msg,
                                 const protocol::message_template& tmpl) {
    const std::uint64_t delivery = subscriptions_.next_delivery();
    write_topic_message(sub, tmpl, *msg, delivery, false,
                        ctx_.cfg.fanout == fanout_mode::shared ? msg : nullptr);
    if (sub.mode != ack_mode::automatic) {
        subscriptions_.record(sub, delivery, {msg, 0, 1});
    }
}

void session::deliver_queue(queue_delivery& delivery) {
    subscription* sub = conn_.closing() ? nullptr : subscriptions_.find_slot(delivery.slot);
    if (sub == nullptr) {
        return;  // the queue takes it back when it hears the consumer is gone
    }
    if (expired_now(*delivery.msg)) {
        // Expired on its way here: the queue counts it (and dead-letters it
        // if configured); nothing is written.
        sub->destination.queue.cast(settle{key_for(*sub), {delivery.sequence}, false, true});
        return;
    }
    const std::uint64_t number = subscriptions_.next_delivery();
    write_queue_message(*sub, *delivery.msg, number, delivery.redelivered, delivery.sequence);
    if (sub->mode != ack_mode::automatic) {
        subscriptions_.record(*sub, number, {delivery.msg, delivery.sequence, 1});
    }
    check_outbound();
}

// A NACKed topic message goes to the same subscription again, or, after
// queues.max_deliveries, to /queue/DLQ.<topic> as a copy of its own.
void session::redeliver_topic(subscription& sub, unacked_delivery item) {
    ++item.deliveries;
    if (item.deliveries > ctx_.cfg.queues.max_deliveries) {
        dead_letter(sub, *item.message);
        return;
    }
    const std::uint64_t delivery = subscriptions_.next_delivery();
    const message& msg = *item.message;
    const protocol::message_template tmpl(version_, msg.destination(), msg.headers(), msg.body());
    write_topic_message(sub, tmpl, msg, delivery, true, nullptr);
    subscriptions_.record(sub, delivery, std::move(item));
}

// Each subscription's dead-lettered copy is a message of its own (a new id,
// with original-message-id), since several may reach the queue.
void session::dead_letter(const subscription& sub, const message& msg) {
    const std::string dlq = dead_letter_queue_for(sub.destination.name);
    auto target = publish_target(dlq);
    if (!target) {
        runtime::log::warn("connection ", id_, ": cannot dead-letter a message of ",
                           sub.destination.name, " to ", dlq, ": ",
                           make_error_code(target.error()).message(), "; dropped");
        return;
    }
    auto copy =
        msg.redirected(dlq, {"original-destination", sub.destination.name}, next_message_id());
    gate_->charge(*copy);
    (*target)->queue.cast(queue_publish{std::move(copy), actor_, false});
}

void session::pump_backlog(subscription& sub) {
    while (!conn_.closing()) {
        message_ptr msg = subscriptions_.pop_backlog(sub);
        if (!msg) {
            return;
        }
        if (expired_now(*msg)) {
            continue;
        }
        template_cache templates(*msg);
        deliver_from_topic(sub, msg, templates.get(version_));
    }
}

// Auto-ack deliveries from a queue are settled once written: until then the
// queue still holds them for redelivery should the connection fail.
void session::settle_written(const std::vector<outbound_entry>& entries) {
    std::uint64_t slot = 0;
    std::vector<std::uint64_t> sequences;
    auto flush = [&] {
        if (!sequences.empty()) {
            if (subscription* sub = subscriptions_.find_slot(slot)) {
                sub->destination.queue.cast(settle{key_for(*sub), std::move(sequences), false});
            }
            sequences.clear();
        }
    };
    for (const outbound_entry& e : entries) {
        if (e.kind != entry_kind::queue_message || e.slot == 0) {
            continue;  // only auto-ack queue deliveries carry a slot to settle
        }
        if (e.slot != slot) {
            flush();
            slot = e.slot;
        }
        sequences.push_back(e.sequence);
    }
    flush();
}

// ---- MESSAGE frames ----

void session::write_topic_message(subscription& sub, const protocol::message_template& tmpl,
                                  const message& msg, std::uint64_t delivery, bool redelivered,
                                  const message_ptr& shared_body) {
    char scratch[48];
    const std::string_view ack =
        sub.mode == ack_mode::automatic ? std::string_view() : ack_id(delivery, scratch);
    static constexpr header redelivered_header[] = {{"redelivered", "true"}};
    const std::span<const header> extra =
        redelivered ? std::span<const header>(redelivered_header) : std::span<const header>();
    outbound_queue& out = conn_.output();
    outbound_entry entry{0, 0, entry_kind::topic_message, sub.slot, delivery, nullptr};
    if (shared_body) {
        const std::size_t head = tmpl.head_size(msg.id(), sub.id, ack, extra);
        tmpl.write_head(out.reserve(head), msg.id(), sub.id, ack, extra);
        entry.inline_size = static_cast<std::uint32_t>(head);
        entry.size = static_cast<std::uint32_t>(head + shared_body->body().size() + 1);
        entry.body = shared_body;
    } else {
        const std::size_t size = tmpl.size(msg.id(), sub.id, ack, extra);
        tmpl.write(out.reserve(size), msg.id(), sub.id, ack, extra);
        entry.size = entry.inline_size = static_cast<std::uint32_t>(size);
    }
    out.commit(std::move(entry));
    ++counters_.messages_out;
    conn_.wake_writer();
}

std::size_t session::write_queue_message(subscription& sub, const message& msg,
                                         std::uint64_t delivery, bool redelivered,
                                         std::uint64_t queue_sequence) {
    char scratch[48];
    std::vector<header>& headers = scratch_headers();
    headers.push_back({"destination", msg.destination()});
    headers.push_back({"message-id", msg.id()});
    headers.push_back({"subscription", sub.id});
    if (sub.mode != ack_mode::automatic) {
        headers.push_back({"ack", ack_id(delivery, scratch)});
    }
    if (redelivered) {
        headers.push_back({"redelivered", "true"});
    }
    headers.insert(headers.end(), msg.headers().begin(), msg.headers().end());
    // Auto-ack deliveries are settled with the queue once written (see settle_written).
    outbound_entry entry{0, 0, entry_kind::queue_message, 0, 0, nullptr};
    if (sub.mode == ack_mode::automatic) {
        entry.slot = sub.slot;
        entry.sequence = queue_sequence;
    }
    const std::size_t size = enqueue_frame({command::message, headers, msg.body()}, entry);
    ++counters_.messages_out;
    return size;
}

}  // namespace stampede::broker
