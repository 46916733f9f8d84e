#include "topic.hpp"

#include <algorithm>

#include "destination_names.hpp"
#include "queue.hpp"
#include "registry.hpp"
#include "session.hpp"
#include "stampede/routing/expiry.hpp"
#include "stampede/runtime/log.hpp"

namespace stampede::broker {

// ---- topic ----

topic_actor::topic_actor(broker_context& ctx, std::string vhost, std::string name, std::string key,
                         unsigned shard, std::shared_ptr<destination_gate> gate)
    : ctx_(ctx),
      key_(std::move(key)),
      shard_(shard),
      vhost_(ctx.vhost_index(vhost)),
      gate_(std::move(gate)) {
    counters_.kind = destination_kind::topic;
    counters_.vhost = std::move(vhost);
    counters_.name = std::move(name);
}

bool topic_actor::init(runtime::exit_reason&) {
    ctx_.here().stats->add(&counters_);
    set_receive_timeout(std::chrono::milliseconds(ctx_.cfg.idle_destination_ms));
    return true;
}

void topic_actor::terminate(const runtime::exit_reason&) {
    ctx_.here().stats->remove(&counters_);
}

namespace {
// Delayed messages one turn releases (the rest in the next turns).
constexpr std::size_t delay_batch = 10'000;
}  // namespace

void topic_actor::handle_cast(topic_publish& publish) {
    const publish_outcome outcome = accept(publish.msg, publish.token);
    if (outcome == publish_outcome::accepted || !publish.publisher.valid()) {
        return;
    }
    if (outcome == publish_outcome::rejected_full) {
        publish.publisher.cast(publish_rejected{
            counters_.name, "topic " + counters_.name + " holds " +
                                std::to_string(ctx_.cfg.topics.max_delayed_bytes) +
                                " bytes of delayed messages already (topics.max_delayed_bytes)"});
    } else if (ctx_.cfg.temp.send_to_missing == missing_temp_policy::error) {
        publish.publisher.cast(
            publish_rejected{counters_.name, "temporary destination " + counters_.name +
                                                 " no longer exists: its connection has closed"});
    }
}

runtime::call_result<publish_outcome> topic_actor::handle_call(
    topic_publish_sync& publish, const runtime::from<publish_outcome>&) {
    return runtime::reply(accept(publish.msg, publish.token));
}

// The topic is the message's handler until it has fanned it out: a delayed
// message gives its publisher's credit back at once (the delay must not hold
// the publisher), its memory bounded by topics.max_delayed_bytes instead.
//
// A persistent message's token is sealed here on every path: after fan-out
// (its durable copies complete it), or at once when nothing durable holds it.
// A delayed message waits in memory only, as it does for a queue's delayed
// SEND until it is due; its token does not wait for the delay.
publish_outcome topic_actor::accept(const message_ptr& msg, std::uint64_t token) {
    if (token != 0 && (deleted_ || msg->timing().deliver_at != 0)) {
        ctx_.durable->seal(token);
        token = 0;
    }
    if (deleted_) {
        ctx_.temporary_dropped.fetch_add(1, std::memory_order_relaxed);
        msg->handled();
        return publish_outcome::deleted;
    }
    const std::int64_t now = routing::now_epoch_ms();
    const std::int64_t due = msg->timing().deliver_at;
    if (due != 0 && now <= due) {  // due once the clock is past it: never early
        if (delayed_bytes_ + msg->footprint() > ctx_.cfg.topics.max_delayed_bytes) {
            ++counters_.rejected;
            msg->handled();
            return publish_outcome::rejected_full;
        }
        delayed_.push(due + 1, msg);
        delayed_bytes_ += msg->footprint();
        counters_.delayed = delayed_.size();
        msg->release_credit();
        arm_timer();
        return publish_outcome::accepted;
    }
    fan_out(msg, token);
    return publish_outcome::accepted;
}

void topic_actor::fan_out(const message_ptr& msg, std::uint64_t token) {
    ++counters_.messages_in;
    counters_.bytes_in += msg->body().size();
    if (msg->expired(routing::now_epoch_ms())) {
        ++counters_.expired;
        msg->handled();
        if (token != 0) {
            ctx_.durable->seal(token);
        }
        return;
    }
    // Durable subscriptions keep their copy in their queue, connected or not;
    // a persistent message's publisher hears it is stored once all have it.
    const bool persistent = is_persistent(*msg);
    for (const durable_subscriber& d : durables_) {
        if (d.selector && !d.selector->matches(msg->selector_headers())) {
            continue;
        }
        msg->add_handlers(1);
        const std::uint64_t part = token != 0 ? ctx_.durable->part_of(token) : 0;
        d.queue.queue.cast(queue_publish{msg, {}, false, part, persistent});
    }
    if (token != 0) {
        ctx_.durable->seal(token);
    }
    // The relays with subscribers of this topic, and those with wildcard
    // subscriptions in its virtual host: each gets the message once.
    thread_local std::vector<const runtime::actor_ref<relay_actor>*> targets;
    thread_local std::vector<char> seen;
    targets.clear();
    seen.assign(ctx_.relays.size(), 0);
    for (const auto& slot : relays_) {
        targets.push_back(&slot.relay);
        seen[slot.scheduler] = 1;
    }
    for (unsigned s = 0; s < ctx_.relays.size(); ++s) {
        if (seen[s] == 0 && ctx_.wildcard_relay(vhost_, s).load(std::memory_order_acquire)) {
            targets.push_back(&ctx_.relays[s]);
        }
    }
    if (targets.empty()) {
        ++counters_.dropped;  // nobody subscribed: the message goes nowhere, counted
        msg->handled();
        return;
    }
    msg->add_handlers(static_cast<std::uint32_t>(targets.size()));
    msg->handled();  // the topic's part is done; each relay hands back its own
    const runtime::actor_id me = self().id();
    for (const auto* relay : targets) {
        relay->cast(relay_fanout{me, msg, vhost_});
    }
}

void topic_actor::arm_timer() {
    const auto due = delayed_.next_deadline();
    if (!due || (timer_ && timer_due_ <= *due)) {
        return;
    }
    if (timer_) {
        cancel_timer(*timer_);
    }
    const std::int64_t wait = std::max<std::int64_t>(0, *due - routing::now_epoch_ms());
    timer_ = send_after(std::chrono::milliseconds(wait), delay_timer{});
    timer_due_ = *due;
}

void topic_actor::handle_info(delay_timer&) {
    timer_.reset();
    delayed_.fire_due(
        routing::now_epoch_ms(),
        [&](message_ptr msg) {
            delayed_bytes_ -= msg->footprint();
            fan_out(msg);
        },
        delay_batch);
    counters_.delayed = delayed_.size();
    if (delayed_.empty()) {
        delayed_.shrink_to_fit();
    }
    arm_timer();
}

// A congested subscriber holds the gate closed until it drains; publishers
// waiting for the gate are told when it opens.
void topic_actor::handle_cast(congestion& change) {
    if (change.congested) {
        congested_.insert(change.session);
    } else {
        congested_.erase(change.session);
    }
    gate_->set_closed(!congested_.empty());
    if (congested_.empty()) {
        waiters_.release_all();
        counters_.held_publishers = 0;
    }
}

void topic_actor::handle_cast(await_gate& waiting) {
    if (gate_->closed()) {
        waiters_.add(std::move(waiting.session));
    } else {
        waiting.session.cast(resume_reading{});
    }
    counters_.held_publishers = waiters_.size();
}

runtime::call_result<runtime::ok> topic_actor::handle_call(attach_relay& attach,
                                                           const runtime::from<runtime::ok>&) {
    const bool known = std::any_of(relays_.begin(), relays_.end(), [&](const relay_slot& s) {
        return s.scheduler == attach.scheduler;
    });
    if (!known) {
        relays_.push_back({attach.scheduler, attach.relay});
    }
    return runtime::reply(runtime::ok{});
}

void topic_actor::handle_cast(detach_relay& detach) {
    std::erase_if(relays_, [&](const relay_slot& s) { return s.scheduler == detach.scheduler; });
}

void topic_actor::handle_info(runtime::receive_timeout&) {
    ++counters_.idle_checks;
    if (relays_.empty() && delayed_.empty() && durables_.empty()) {
        ctx_.registries[shard_].cast(destination_idle{key_, self().id()});
    }
}

// A temporary topic's owner has gone: it drops what it is sent (counted
// broker-wide) until its last publisher lets go, and leaves /stats at once.
void topic_actor::handle_cast(temporary_deleted&) {
    deleted_ = true;
    ctx_.temporary_dropped.fetch_add(delayed_.size(), std::memory_order_relaxed);
    delayed_ = {};
    delayed_bytes_ = 0;
    ctx_.here().stats->remove(&counters_);
}

runtime::call_result<bool> topic_actor::handle_call(add_durable_subscriber& add,
                                                    const runtime::from<bool>&) {
    for (durable_subscriber& d : durables_) {
        if (d.name == add.name) {
            d.selector = std::move(add.selector);
            return runtime::reply(true);
        }
    }
    const std::string key = destination_key(add.vhost, add.queue);
    auto reply = runtime::call(ctx_.registries[ctx_.shard_for(key)],
                               resolve_destination{add.vhost, add.queue, destination_kind::queue});
    if (!reply || reply->refused != errc{}) {
        return runtime::reply(false);
    }
    durables_.push_back({std::move(add.name), std::move(reply->handle), std::move(add.selector)});
    return runtime::reply(true);
}

void topic_actor::handle_cast(remove_durable_subscriber& remove) {
    const auto it =
        std::find_if(durables_.begin(), durables_.end(),
                     [&](const durable_subscriber& d) { return d.name == remove.name; });
    if (it == durables_.end()) {
        return;
    }
    ctx_.registries[ctx_.shard_for(it->queue.key)].cast(release_destination{it->queue.key});
    durables_.erase(it);
}

void topic_actor::handle_cast(reclaim&) {
    if (!relays_.empty()) {
        runtime::log::warn("topic ", counters_.name, " reclaimed with subscribers attached");
    }
    waiters_.release_all();
    stop();
}

// ---- templates ----

const protocol::message_template& template_cache::get(protocol::version v) {
    auto& slot = by_version_[static_cast<std::size_t>(v)];
    if (!slot) {
        slot.emplace(v, msg_.destination(), msg_.headers(), msg_.body());
    }
    return *slot;
}

// ---- relay ----

void relay_actor::terminate(const runtime::exit_reason&) {
    for (auto& [id, local] : topics_) {
        ctx_.here().stats->remove(&local.counters);
    }
    for (auto& set : wildcards_) {
        for (auto& [pattern, counted] : set.patterns) {
            ctx_.here().stats->remove(&counted->counters);
        }
    }
}

runtime::call_result<bool> relay_actor::handle_call(relay_subscribe& subscribe,
                                                    const runtime::from<bool>&) {
    const runtime::actor_id id = subscribe.topic.id();
    if (!topics_.contains(id)) {
        // The first subscriber here: the topic must know this scheduler before
        // the subscription is confirmed, or messages published right after the
        // client's receipt could miss it. If it cannot be told, the
        // subscription fails: a subscriber must never silently get nothing.
        auto attached = runtime::call(subscribe.topic, attach_relay{index_, self()});
        if (!attached) {
            runtime::log::warn("relay ", index_,
                               ": cannot attach to a topic: ", attached.error().message());
            return runtime::reply(false);
        }
    }
    auto [it, fresh] = topics_.try_emplace(id);
    local_topic& local = it->second;
    if (fresh) {
        local.topic = subscribe.topic;
        local.counters.kind = destination_kind::topic;
        local.counters.vhost = subscribe.target->vhost();
        local.counters.name = subscribe.target->destination_name(subscribe.slot);
        ctx_.here().stats->add(&local.counters);
    }
    local.subscribers.push_back({std::move(subscribe.target), subscribe.slot});
    local.counters.subscribers = local.subscribers.size();
    return runtime::reply(true);
}

void relay_actor::handle_cast(relay_unsubscribe& unsubscribe) {
    const auto it = topics_.find(unsubscribe.topic);
    if (it == topics_.end()) {
        return;
    }
    local_topic& local = it->second;
    std::erase_if(local.subscribers, [&](const subscriber& s) {
        return s.target.get() == unsubscribe.target && s.slot == unsubscribe.slot;
    });
    local.counters.subscribers = local.subscribers.size();
    if (local.subscribers.empty()) {
        local.topic.cast(detach_relay{index_});
        ctx_.here().stats->remove(&local.counters);
        topics_.erase(it);
    }
}

void relay_actor::handle_cast(relay_fanout& fanout) {
    template_cache templates(*fanout.msg);
    // The topic's subscribers here (none if the last one left while the
    // message was on its way), then the matching wildcard subscriptions.
    if (const auto it = topics_.find(fanout.topic); it != topics_.end()) {
        local_topic& local = it->second;
        for (const subscriber& s : local.subscribers) {
            const std::size_t written = s.target->deliver_topic(s.slot, fanout.msg, templates);
            if (written > 0) {
                ++local.counters.messages_out;
                local.counters.bytes_out += written;
            }
        }
    }
    deliver_wildcards(fanout, templates);
    fanout.msg->handled();
}

void relay_actor::deliver_wildcards(const relay_fanout& fanout, template_cache& templates) {
    if (fanout.vhost >= wildcards_.size() || wildcards_[fanout.vhost].index.empty()) {
        return;
    }
    const std::string& name = fanout.msg->destination();
    if (!name.starts_with(topic_prefix)) {
        return;  // a temporary topic: never matched by wildcards
    }
    wildcards_[fanout.vhost].index.match(
        std::string_view(name).substr(topic_prefix.size()), [&](const pattern_subscriber& s) {
            const std::size_t written = s.target->deliver_topic(s.slot, fanout.msg, templates);
            if (written > 0) {
                ++s.counted->counters.messages_out;
                s.counted->counters.bytes_out += written;
            }
        });
}

// The relay says its scheduler has wildcard subscriptions before it answers,
// so that a message published after the subscriber's receipt reaches it.
runtime::call_result<pattern_ref> relay_actor::handle_call(relay_subscribe_pattern& subscribe,
                                                           const runtime::from<pattern_ref>&) {
    wildcard_set& set = wildcards_.at(subscribe.vhost);
    auto& counted = set.patterns[subscribe.pattern];
    if (!counted) {
        counted = std::make_unique<pattern_counters>();
        counted->counters.kind = destination_kind::topic;
        counted->counters.vhost = subscribe.target->vhost();
        counted->counters.name = std::string(topic_prefix) + subscribe.pattern;
        ctx_.here().stats->add(&counted->counters);
    }
    counted->counters.subscribers = ++counted->subscriptions;
    const auto h = set.index.add(subscribe.pattern,
                                 {std::move(subscribe.target), subscribe.slot, counted.get()});
    ctx_.wildcard_relay(subscribe.vhost, index_).store(true, std::memory_order_release);
    return runtime::reply(pattern_ref{h.slot, h.generation});
}

void relay_actor::handle_cast(relay_unsubscribe_pattern& unsubscribe) {
    if (unsubscribe.vhost >= wildcards_.size()) {
        return;
    }
    wildcard_set& set = wildcards_[unsubscribe.vhost];
    const decltype(set.index)::handle h{unsubscribe.ref.slot, unsubscribe.ref.generation};
    const pattern_subscriber* found = set.index.find(h);
    if (found == nullptr) {
        return;
    }
    pattern_counters* counted = found->counted;
    set.index.remove(h);
    counted->counters.subscribers = --counted->subscriptions;
    if (counted->subscriptions == 0) {
        ctx_.here().stats->remove(&counted->counters);
        const std::string pattern = counted->counters.name.substr(topic_prefix.size());
        set.patterns.erase(pattern);
    }
    if (set.index.empty()) {
        ctx_.wildcard_relay(unsubscribe.vhost, index_).store(false, std::memory_order_release);
    }
}

}  // namespace stampede::broker
