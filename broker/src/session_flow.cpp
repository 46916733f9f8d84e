// Flow control, from both sides of a session.
//
// As a publisher: between frames the reader stops while the session's credit
// window is used up, while the destination it last published to holds its gate
// closed, or while the broker's memory alarm is up. Not reading is the whole
// mechanism: TCP then holds the client back. Heart-beat checks pause meanwhile.
//
// As a subscriber: past half of outbound.max_bytes the connection closes the
// gates of its topics (publishers pause) until it is back under a quarter.
// If, held like that for the grace period, it drains slower than
// outbound.min_drain_rate, it is a slow consumer: `disconnect` closes it with
// an ERROR, `drop` drops its oldest queued topic messages (counted) and stops
// holding publishers back, `block` keeps holding them until it drains. Being
// behind is not being slow: a subscriber that drains is only ever throttled,
// however far over max_bytes the messages in flight carry it, up to a safety
// cap of four times max_bytes (or max_bytes plus one largest frame).

#include "queue.hpp"
#include "session.hpp"
#include "stampede/runtime/log.hpp"
#include "topic.hpp"

namespace stampede::broker {

namespace {
// How long a paused reader waits before looking again, in case a wake-up went
// astray (the gate's destination was reclaimed, say). Wake-ups are the norm.
constexpr auto flow_recheck = std::chrono::seconds(1);
// The memory alarm sends no wake-ups: paused readers look this often.
constexpr auto memory_recheck = std::chrono::milliseconds(50);
}  // namespace

// ---- as a publisher ----

bool session::publisher_must_wait() const noexcept {
    return credit_->exhausted() || ctx_.memory_alarm.load(std::memory_order_relaxed) ||
           (last_published_ != nullptr && last_published_->gate->closed());
}

void session::respect_flow_control() {
    paused_ = true;
    while (!closing_ && publisher_must_wait()) {
        runtime::time_point until = runtime::deadline_after(memory_recheck);
        if (credit_->exhausted()) {
            if (!credit_->request_wake()) {
                continue;  // the window reopened meanwhile
            }
            until = runtime::deadline_after(flow_recheck);
        } else if (last_published_ != nullptr && last_published_->gate->closed()) {
            if (last_published_->kind == destination_kind::topic) {
                last_published_->topic.cast(await_gate{actor_});
            } else {
                last_published_->queue.cast(await_gate{actor_});
            }
            until = runtime::deadline_after(flow_recheck);
        }
        const auto waited = resume_.wait(until);
        if (!waited && waited.error() != runtime::errc::timeout) {
            break;  // the runtime is stopping
        }
    }
    paused_ = false;
    last_received_ = runtime::clock::now();  // its heart-beats could not be read meanwhile
}

// ---- as a subscriber ----

void session::check_outbound() {
    const std::size_t bytes = out_.bytes();
    counters_.outbound_bytes = bytes;
    const std::size_t max = ctx_.cfg.outbound.max_bytes;
    if (bytes <= max / 2) {
        return;
    }
    if (slow_) {
        if (bytes > max) {
            drop_backlog();
        }
        return;
    }
    if (!congested_) {
        congested_ = true;
        written_at_congestion_ = written_total_;
        set_congestion(true);
        actor_.cast(congestion_grace{++congestion_episode_});
    }
    // The cap leaves room for one frame of the largest size on top of
    // max_bytes: a single big message is not a sign of a slow consumer.
    if (bytes > std::max(4 * max, max + ctx_.cfg.limits.max_frame)) {
        declare_slow("its outbound queue passed four times max_bytes");
    }
}

// After each write: a connection back under a quarter lets its publishers go,
// and a slow one that has drained is an ordinary subscriber again.
void session::relieve_outbound() {
    counters_.outbound_bytes = out_.bytes();
    if (out_.bytes() >= ctx_.cfg.outbound.max_bytes / 4) {
        return;
    }
    if (congested_) {
        congested_ = false;
        set_congestion(false);
    }
    slow_ = false;
}

// Tells the topics of this connection's subscriptions that it is congested
// (or no longer). With `only_blocking`, releases only the topics whose policy
// is not `block` (a slow consumer keeps blocking ones closed).
void session::set_congestion(bool on, bool only_blocking) {
    if (on) {
        for (const auto& [id, sub] : subscriptions_) {
            if (sub->destination.kind != destination_kind::topic) {
                continue;
            }
            const auto topic = sub->destination.topic;
            if (congesting_.emplace(topic.id(), topic).second) {
                topic.cast(congestion{id_, true});
            }
        }
        return;
    }
    for (auto it = congesting_.begin(); it != congesting_.end();) {
        bool keep = false;
        if (only_blocking) {
            for (const auto& [id, sub] : subscriptions_) {
                keep = keep || (sub->destination.kind == destination_kind::topic &&
                                sub->destination.topic.id() == it->first &&
                                sub->policy == slow_consumer_policy::block);
            }
        }
        if (keep) {
            ++it;
            continue;
        }
        it->second.cast(congestion{id_, false});
        it = congesting_.erase(it);
    }
}

void session::on_congestion_grace(std::uint64_t episode) {
    if (!congested_ || slow_ || closing_ || episode != congestion_episode_) {
        return;
    }
    const std::uint64_t drained = written_total_ - written_at_congestion_;
    const std::uint64_t expected =
        ctx_.cfg.outbound.min_drain_rate * ctx_.cfg.outbound.grace_ms / 1000;
    if (drained < expected) {
        declare_slow("it drained " + std::to_string(drained) + " bytes in " +
                     std::to_string(ctx_.cfg.outbound.grace_ms) + " ms");
        return;
    }
    // Behind but draining: hold the publishers a while longer, and look again.
    written_at_congestion_ = written_total_;
    actor_.cast(congestion_grace{episode});
}

void session::declare_slow(std::string_view why) {
    bool drops = false;
    for (const auto& [id, sub] : subscriptions_) {
        if (sub->destination.kind != destination_kind::topic) {
            continue;
        }
        if (sub->policy == slow_consumer_policy::disconnect) {
            disconnect_slow(*sub, why);
            return;
        }
        drops = drops || sub->policy == slow_consumer_policy::drop;
    }
    if (!drops) {
        return;  // block: the publishers stay held until it drains
    }
    slow_ = true;
    set_congestion(false, true);
    congested_ = !congesting_.empty();
    runtime::log::info("connection ", id_, " (", counters_.peer, ") is a slow consumer: ", why,
                       "; dropping its oldest topic messages");
    drop_backlog();
}

// Closes a slow consumer with an ERROR. Its topics' publishers go at once and
// its queued topic messages are let go (counted as dropped): the peer is not
// reading them, and they would otherwise hold memory and the topics' gates
// until the close deadline ends a writer stuck on the full socket.
void session::disconnect_slow(const subscription& sub, std::string_view why) {
    const std::size_t queued = out_.bytes();
    set_congestion(false);
    congested_ = false;
    const auto dropped = out_.drop_oldest(
        [](const outbound_entry& e) { return e.kind == entry_kind::topic_message; }, 0);
    counters_.dropped += dropped.size();
    fail("slow consumer", std::to_string(queued) + " bytes queued for this connection (limit " +
                              std::to_string(ctx_.cfg.outbound.max_bytes) + "), and " +
                              std::string(why) + "; the policy for " + sub.destination.name +
                              " is disconnect");
}

// Drops the oldest queued messages of drop-policy topic subscriptions until
// the queue is back to half its limit. Client-ack deliveries among them are
// forgotten too: they were never sent, so there is nothing to acknowledge.
void session::drop_backlog() {
    auto droppable = [this](const outbound_entry& e) {
        if (e.kind != entry_kind::topic_message) {
            return false;
        }
        const subscription* sub = find_slot(e.slot);
        return sub != nullptr && sub->policy == slow_consumer_policy::drop;
    };
    const auto dropped = out_.drop_oldest(droppable, ctx_.cfg.outbound.max_bytes / 2);
    std::unordered_map<runtime::actor_id, std::pair<runtime::actor_ref<topic_actor>, std::uint64_t>>
        per_topic;
    for (const outbound_entry& e : dropped) {
        subscription* sub = find_slot(e.slot);
        if (sub == nullptr) {
            continue;
        }
        if (sub->unacked.erase(e.sequence) > 0) {
            awaiting_ack_.erase(e.sequence);
        }
        auto& [topic, count] = per_topic[sub->destination.topic.id()];
        topic = sub->destination.topic;
        ++count;
    }
    // Messages waiting for prefetch room are undelivered too: they go as well,
    // rather than refill the queue they would be dropped from.
    std::size_t waiting = 0;
    for (auto& [id, sub] : subscriptions_) {
        if (sub->policy == slow_consumer_policy::drop && !sub->backlog.empty()) {
            auto& [topic, count] = per_topic[sub->destination.topic.id()];
            topic = sub->destination.topic;
            count += sub->backlog.size();
            waiting += sub->backlog.size();
            sub->backlog.clear();
        }
    }
    for (auto& [id, entry] : per_topic) {
        entry.first.cast(dropped_for_slow_consumer{entry.second});
    }
    counters_.dropped += dropped.size() + waiting;
    counters_.outbound_bytes = out_.bytes();
}

// ---- the mailbox's part ----

void session_actor::handle_cast(congestion_grace& check) {
    send_after(std::chrono::milliseconds(grace_ms_), congestion_grace{check.episode});
}

}  // namespace stampede::broker
