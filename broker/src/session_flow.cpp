// Flow control, from both sides of a session (the rules: congestion.hpp and
// publisher_gate.hpp).

#include <unordered_set>

#include "queue.hpp"
#include "session.hpp"
#include "stampede/runtime/log.hpp"
#include "topic.hpp"

namespace stampede::broker {

// ---- as a publisher ----

void session::wait_for_publisher_gate() {
    while (!conn_.closing() && gate_->must_wait()) {
        const runtime::time_point until = gate_->request_wake();
        const auto waited = resume_.wait(until);
        if (!waited && waited.error() != runtime::errc::timeout) {
            break;  // the runtime is stopping
        }
    }
}

// ---- as a receiver ----

std::size_t session::queued_bytes() const noexcept {
    return conn_.output().bytes() + subscriptions_.backlog_bytes();
}

policy_mix session::current_policies() const {
    policy_mix mix;
    for (const subscription* sub : subscriptions_.all()) {
        if (!sub->is_topic()) {
            continue;
        }
        mix.block = mix.block || sub->policy == slow_consumer_policy::block;
        mix.drop = mix.drop || sub->policy == slow_consumer_policy::drop;
        mix.disconnect = mix.disconnect || sub->policy == slow_consumer_policy::disconnect;
    }
    return mix;
}

// After anything was queued for the connection. The fast path: under a
// quarter of max_bytes with nothing being watched, nothing to judge. Over
// half, judge at once (a burst can go far in one tick); between, the ticks
// sample and judge.
void session::check_outbound() {
    const std::size_t queued = queued_bytes();
    counters_.outbound_bytes = conn_.output().bytes();
    if (queued <= congestion_.watch_threshold() && !watching_congestion_) {
        return;
    }
    if (!watching_congestion_ || queued > congestion_.config().max_bytes / 2) {
        judge_congestion(false);
    }
}

void session::judge_congestion(bool sample) {
    const auto now = congestion_clock::now();
    if (sample) {
        congestion_.sample(now, conn_.drained_total());
    }
    const outbound_queue& out = conn_.output();
    const std::size_t unsheddable =
        out.bytes_of(entry_kind::control) + out.bytes_of(entry_kind::queue_message);
    apply_verdict(congestion_.assess(now, queued_bytes(), unsheddable, current_policies()));
}

bool session::on_congestion_tick() {
    if (conn_.closing()) {
        watching_congestion_ = false;
        return false;
    }
    judge_congestion(true);
    return watching_congestion_;
}

void session::apply_verdict(const congestion_verdict& verdict) {
    if (verdict.disconnect) {
        disconnect_slow(verdict.why);
        return;
    }
    if (verdict.drop) {
        drop_queued_topic_messages(verdict.drop_target);
    }
    hold_topics(verdict.hold_all, verdict.hold_blocking);
    if (reader_paused_ && !verdict.pause_reader) {
        output_room_.notify_all();
    }
    reader_paused_ = verdict.pause_reader;
    counters_.slow = verdict.hold_all || verdict.hold_blocking || verdict.pause_reader;
    if (verdict.keep_watching && !watching_congestion_) {
        watching_congestion_ = true;
        congestion_.sample(congestion_clock::now(), conn_.drained_total());
        actor_.cast(watch_congestion{});
    } else if (!verdict.keep_watching) {
        watching_congestion_ = false;  // the pending tick, if any, finds nothing to do
    }
}

// Holds the publishers of this connection's topics (all of them, or those of
// its block-policy subscriptions), and lets go of the rest.
void session::hold_topics(bool all, bool blocking) {
    std::unordered_map<runtime::actor_id, runtime::actor_ref<topic_actor>> wanted;
    if (all || blocking) {
        for (const subscription* sub : subscriptions_.all()) {
            if (sub->has_topic_actor() && (all || sub->policy == slow_consumer_policy::block)) {
                wanted.emplace(sub->destination.topic.id(), sub->destination.topic);
            }
        }
    }
    for (auto it = holding_.begin(); it != holding_.end();) {
        if (wanted.contains(it->first)) {
            ++it;
            continue;
        }
        it->second.cast(congestion{id_, false});
        it = holding_.erase(it);
    }
    for (auto& [id, topic] : wanted) {
        if (holding_.emplace(id, topic).second) {
            topic.cast(congestion{id_, true});
        }
    }
}

// Drops the oldest queued messages of drop-policy topic subscriptions until
// at most `target` bytes are queued, then whatever waits in their backlogs.
// Client-ack deliveries among them are forgotten: never sent, nothing to ack.
void session::drop_queued_topic_messages(std::size_t target) {
    auto droppable = [this](const outbound_entry& e) {
        if (e.kind != entry_kind::topic_message) {
            return false;
        }
        const subscription* sub = subscriptions_.find_slot(e.slot);
        return sub != nullptr && sub->policy == slow_consumer_policy::drop;
    };
    const std::size_t backlog = subscriptions_.backlog_bytes();
    const auto dropped =
        conn_.output().drop_oldest(droppable, target > backlog ? target - backlog : 0);
    std::unordered_map<runtime::actor_id, std::pair<runtime::actor_ref<topic_actor>, std::uint64_t>>
        per_topic;
    for (const outbound_entry& e : dropped) {
        subscription* sub = subscriptions_.find_slot(e.slot);
        if (sub == nullptr) {
            continue;
        }
        subscriptions_.forget(e.sequence);
        auto& [topic, count] = per_topic[sub->destination.topic.id()];
        topic = sub->destination.topic;
        ++count;
    }
    std::uint64_t waiting = 0;
    if (queued_bytes() > target) {
        for (const auto& [id, count] : subscriptions_.drop_droppable_backlogs()) {
            per_topic[id].second += count;
            waiting += count;
        }
    }
    for (auto& [id, entry] : per_topic) {
        if (entry.first.valid()) {
            entry.first.cast(dropped_for_slow_consumer{entry.second});
        }
    }
    counters_.dropped += dropped.size() + waiting;
    counters_.outbound_bytes = conn_.output().bytes();
}

// Closes a slow consumer with an ERROR. Its topics' publishers go at once and
// its queued topic messages are let go (counted as dropped): the peer is not
// reading them, and they would otherwise hold memory until the close deadline
// ends a writer stuck on the full socket.
void session::disconnect_slow(std::string_view why) {
    const std::size_t queued = queued_bytes();
    hold_topics(false, false);
    const auto dropped = conn_.output().drop_oldest(
        [](const outbound_entry& e) { return e.kind == entry_kind::topic_message; }, 0);
    const auto waiting = subscriptions_.drop_droppable_backlogs();
    counters_.dropped += dropped.size();
    reader_paused_ = false;
    output_room_.notify_all();
    std::string policies;
    for (const subscription* sub : subscriptions_.all()) {
        if (sub->is_topic() && sub->policy == slow_consumer_policy::disconnect) {
            policies = "; the policy for " + sub->destination.name + " is disconnect";
            break;
        }
    }
    fail("slow consumer", std::to_string(queued) + " bytes queued for this connection (limit " +
                              std::to_string(ctx_.cfg.outbound.max_bytes) +
                              ", outbound.max_bytes), and " + std::string(why) + policies);
}

// The reader of a connection over outbound.max_bytes waits here until the
// writer has brought it back under half, or the connection closes.
void session::wait_for_output_room() {
    while (reader_paused_ && !conn_.closing()) {
        const auto waited = output_room_.wait(runtime::deadline_after(std::chrono::seconds(1)));
        if (!waited && waited.error() != runtime::errc::timeout) {
            break;  // the runtime is stopping
        }
    }
}

}  // namespace stampede::broker
