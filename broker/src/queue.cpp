#include "queue.hpp"

#include <algorithm>

#include "destination_names.hpp"
#include "registry.hpp"
#include "session.hpp"
#include "stampede/runtime/log.hpp"

namespace stampede::broker {

namespace {
// A consumer that settled something this recently still counts for fairness
// (consumer_set.hpp) though its window is full.
constexpr auto fairness_active_window = std::chrono::milliseconds(20);
}  // namespace

queue_actor::queue_actor(broker_context& ctx, std::string vhost, std::string name, std::string key,
                         unsigned shard, std::shared_ptr<destination_gate> gate)
    : ctx_(ctx),
      key_(std::move(key)),
      shard_(shard),
      consumers_(ctx.cfg.limits.max_unacked_bytes, fairness_active_window),
      gate_(std::move(gate)) {
    counters_.kind = destination_kind::queue;
    counters_.vhost = std::move(vhost);
    counters_.name = std::move(name);
}

bool queue_actor::init(runtime::exit_reason&) {
    ctx_.here().stats->add(&counters_);
    set_receive_timeout(std::chrono::milliseconds(ctx_.cfg.idle_destination_ms));
    return true;
}

void queue_actor::terminate(const runtime::exit_reason&) {
    ctx_.here().stats->remove(&counters_);
    if (dead_letters_) {
        ctx_.registries[ctx_.shard_for(dead_letters_->key)].cast(
            release_destination{dead_letters_->key});
    }
}

// ---- publishing ----

void queue_actor::handle_cast(queue_publish& publish) {
    const publish_outcome outcome = accept(publish.msg, publish.reserved);
    publish.msg->handled();
    if (outcome == publish_outcome::rejected_full && publish.publisher.valid()) {
        publish.publisher.cast(publish_rejected{
            counters_.name, "queue " + counters_.name + " is full (queues.max_length " +
                                std::to_string(ctx_.cfg.queues.max_length) + ", queues.max_bytes " +
                                std::to_string(ctx_.cfg.queues.max_bytes) +
                                ", queues.overflow reject-publish)"});
    }
}

runtime::call_result<publish_outcome> queue_actor::handle_call(
    queue_publish_sync& publish, const runtime::from<publish_outcome>&) {
    const publish_outcome outcome = accept(publish.msg, publish.reserved);
    publish.msg->handled();
    return runtime::reply(outcome);
}

publish_outcome queue_actor::accept(const message_ptr& msg, bool reserved) {
    if (reserved && reserved_messages_ > 0) {
        // Room was set aside by queue_reserve: the message takes its place.
        --reserved_messages_;
        reserved_bytes_ -= std::min(reserved_bytes_, msg->footprint());
    } else if (!make_room(msg->footprint())) {
        ++counters_.rejected;
        return publish_outcome::rejected_full;
    }
    ++counters_.messages_in;
    counters_.bytes_in += msg->body().size();
    ready_bytes_ += msg->footprint();
    ready_.push_back({msg, next_sequence_++, 0});
    dispatch();
    update_depth();
    return publish_outcome::accepted;
}

// Enforces max_length and max_bytes on the messages waiting for a consumer,
// by the configured overflow policy. False: the new message must be refused.
// Under "block" it is always taken: the gate holds publishers instead, and
// their windows bound how far past the limit the queue can go.
bool queue_actor::has_room(std::size_t messages, std::size_t bytes) const noexcept {
    const queue_config& limits = ctx_.cfg.queues;
    return ready_.size() + reserved_messages_ + messages <= limits.max_length &&
           ready_bytes_ + reserved_bytes_ + bytes <= limits.max_bytes;
}

bool queue_actor::make_room(std::size_t incoming) {
    const queue_config& limits = ctx_.cfg.queues;
    auto full = [&] { return !has_room(1, incoming); };
    if (!full() || limits.overflow == overflow_policy::block) {
        return true;
    }
    if (limits.overflow == overflow_policy::reject_publish) {
        return false;
    }
    if (incoming > limits.max_bytes) {
        return false;  // no amount of dropping makes room: refuse it, drop nothing
    }
    while (full() && !ready_.empty()) {
        ready_bytes_ -= ready_.front().msg->footprint();
        ready_.pop_front();
        ++counters_.dropped;
    }
    return !full();
}

// ---- reservations (all-or-nothing COMMIT under reject-publish) ----

runtime::call_result<bool> queue_actor::handle_call(queue_reserve& reserve,
                                                    const runtime::from<bool>&) {
    if (!has_room(reserve.messages, reserve.bytes)) {
        ++counters_.rejected;
        return runtime::reply(false);
    }
    reserved_messages_ += reserve.messages;
    reserved_bytes_ += reserve.bytes;
    return runtime::reply(true);
}

void queue_actor::handle_cast(queue_unreserve& unreserve) {
    reserved_messages_ -= std::min(reserved_messages_, unreserve.messages);
    reserved_bytes_ -= std::min(reserved_bytes_, unreserve.bytes);
}

// ---- delivering ----

void queue_actor::dispatch() {
    const auto now = runtime::clock::now();
    while (!ready_.empty()) {
        queue_consumer* to = consumers_.pick(now);
        if (to == nullptr) {
            // Held back for a consumer about to settle: if it never does, its
            // claim lapses after the active window; look again then.
            if (consumers_.held_for_fairness() && !fairness_retry_pending_) {
                fairness_retry_pending_ = true;
                send_after(consumers_.active_window(), fairness_retry{});
            }
            return;
        }
        held item = std::move(ready_.front());
        ready_.pop_front();
        ready_bytes_ -= item.msg->footprint();
        deliver(*to, std::move(item));
    }
}

void queue_actor::deliver(queue_consumer& to, held item) {
    ++item.deliveries;
    consumers_.given(to, item.msg->footprint());
    ++counters_.messages_out;
    counters_.bytes_out += item.msg->body().size();
    const bool redelivered = item.deliveries > 1;
    if (redelivered) {
        ++counters_.redelivered;
    }
    unacked_bytes_ += item.msg->footprint();
    to.session.cast(queue_delivery{to.key.slot, item.msg, item.sequence, redelivered});
    const std::uint64_t sequence = item.sequence;
    unacked_.emplace(sequence, delivered{std::move(item), to.key});
}

// ---- consumers ----

runtime::call_result<runtime::ok> queue_actor::handle_call(add_consumer& add,
                                                           const runtime::from<runtime::ok>&) {
    queue_consumer c;
    c.key = add.key;
    c.session = add.session;
    c.mode = add.mode;
    c.prefetch = add.prefetch;
    // If the session dies without saying goodbye, its deliveries still come back.
    c.monitor = monitor(add.session);
    consumers_.add(std::move(c));
    counters_.subscribers = consumers_.size();
    dispatch();
    update_depth();
    return runtime::reply(runtime::ok{});
}

// Forgets a consumer; what it had not settled goes back to the queue.
void queue_actor::drop_consumer(const consumer_key& key) {
    std::vector<held> back;
    for (auto u = unacked_.begin(); u != unacked_.end();) {
        if (u->second.consumer == key) {
            unacked_bytes_ -= u->second.item.msg->footprint();
            back.push_back(std::move(u->second.item));
            u = unacked_.erase(u);
        } else {
            ++u;
        }
    }
    consumers_.remove(key);
    counters_.subscribers = consumers_.size();
    requeue(std::move(back));
}

void queue_actor::handle_cast(remove_consumer& remove) {
    queue_consumer* c = consumers_.find(remove.key);
    if (c == nullptr) {
        return;
    }
    demonitor(c->session, c->monitor);
    drop_consumer(remove.key);
    dispatch();
    update_depth();
}

void queue_actor::handle_info(runtime::down& gone) {
    const auto keys = consumers_.watched_by(gone.monitor);
    for (const consumer_key& key : keys) {
        drop_consumer(key);
    }
    if (!keys.empty()) {
        dispatch();
        update_depth();
    }
}

// ---- settling ----

void queue_actor::handle_cast(settle& done) {
    queue_consumer* c = consumers_.find(done.key);
    std::vector<held> back;
    for (std::uint64_t sequence : done.sequences) {
        const auto it = unacked_.find(sequence);
        if (it == unacked_.end() || !(it->second.consumer == done.key)) {
            continue;  // settled already, or requeued when its consumer went away
        }
        const std::size_t bytes = it->second.item.msg->footprint();
        unacked_bytes_ -= bytes;
        if (done.requeue) {
            back.push_back(std::move(it->second.item));
        }
        unacked_.erase(it);
        if (c != nullptr) {
            consumers_.settled(*c, bytes, runtime::clock::now());
        }
    }
    requeue(std::move(back));
    dispatch();
    update_depth();
}

// Puts refused or orphaned deliveries back at the front, oldest first, or
// dead-letters those that have been delivered max_deliveries times.
void queue_actor::requeue(std::vector<held> items) {
    std::sort(items.begin(), items.end(),
              [](const held& a, const held& b) { return a.sequence < b.sequence; });
    for (auto it = items.rbegin(); it != items.rend(); ++it) {
        if (it->deliveries >= ctx_.cfg.queues.max_deliveries) {
            dead_letter(std::move(*it));
            continue;
        }
        ready_bytes_ += it->msg->footprint();
        ready_.push_front(std::move(*it));
    }
}

void queue_actor::dead_letter(held item) {
    ++counters_.dead_lettered;
    const std::string_view short_name =
        std::string_view(counters_.name).substr(queue_prefix.size());
    if (short_name.starts_with(dead_letter_prefix)) {
        runtime::log::warn("dropping a message that failed ", item.deliveries,
                           " deliveries from dead-letter queue ", counters_.name);
        return;
    }
    if (!dead_letters_) {
        const std::string name =
            std::string(queue_prefix) + std::string(dead_letter_prefix) + std::string(short_name);
        const std::string key = destination_key(counters_.vhost, name);
        auto reply =
            runtime::call(ctx_.registries[ctx_.shard_for(key)],
                          resolve_destination{counters_.vhost, name, destination_kind::queue});
        if (!reply || reply->refused != errc{}) {
            runtime::log::error(
                "cannot reach dead-letter queue ", name, ": ",
                reply ? make_error_code(reply->refused).message() : reply.error().message(),
                "; message dropped");
            return;
        }
        dead_letters_ = std::move(reply->handle);
    }
    dead_letters_->queue.cast(queue_publish{
        item.msg->redirected(dead_letters_->name, {"original-destination", counters_.name}),
        {},
        false});
}

void queue_actor::handle_info(fairness_retry&) {
    fairness_retry_pending_ = false;
    dispatch();
    update_depth();
}

// ---- idling ----

void queue_actor::handle_info(runtime::receive_timeout&) {
    if (ready_.empty() && unacked_.empty() && consumers_.empty()) {
        ctx_.registries[shard_].cast(destination_idle{key_, self().id()});
    }
}

void queue_actor::handle_cast(reclaim&) {
    if (!ready_.empty() || !unacked_.empty()) {
        runtime::log::warn("queue ", counters_.name, " reclaimed while holding messages");
    }
    waiters_.release_all();
    stop();
}

bool queue_actor::full() const noexcept {
    return ready_.size() >= ctx_.cfg.queues.max_length || ready_bytes_ >= ctx_.cfg.queues.max_bytes;
}

// Also keeps the gate: a "block" queue closes it when full and opens it again
// below 90% of its limits, so publishers do not flap at the edge.
void queue_actor::update_depth() noexcept {
    counters_.depth = ready_.size() + unacked_.size();
    counters_.depth_bytes = ready_bytes_ + unacked_bytes_;
    counters_.unacked = unacked_.size();
    if (ctx_.cfg.queues.overflow != overflow_policy::block) {
        return;
    }
    if (!gate_->closed() && full()) {
        gate_->set_closed(true);
    } else if (gate_->closed() && ready_.size() * 10 < ctx_.cfg.queues.max_length * 9 &&
               ready_bytes_ * 10 < ctx_.cfg.queues.max_bytes * 9) {
        gate_->set_closed(false);
        waiters_.release_all();
        counters_.held_publishers = 0;
    }
}

void queue_actor::handle_cast(await_gate& waiting) {
    if (gate_->closed()) {
        waiters_.add(std::move(waiting.session));
    } else {
        waiting.session.cast(resume_reading{});
    }
    counters_.held_publishers = waiters_.size();
}

}  // namespace stampede::broker
