#include "topic.hpp"

#include <algorithm>

#include "registry.hpp"
#include "session.hpp"
#include "stampede/runtime/log.hpp"

namespace stampede::broker {

// ---- topic ----

topic_actor::topic_actor(broker_context& ctx, std::string vhost, std::string name, std::string key,
                         unsigned shard, std::shared_ptr<destination_gate> gate)
    : ctx_(ctx), key_(std::move(key)), shard_(shard), gate_(std::move(gate)) {
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

void topic_actor::fan_out(const message_ptr& msg) {
    ++counters_.messages_in;
    counters_.bytes_in += msg->body().size();
    if (relays_.empty()) {
        ++counters_.dropped;  // nobody subscribed: the message goes nowhere, counted
        msg->handled();
        return;
    }
    msg->add_handlers(static_cast<std::uint32_t>(relays_.size()));
    msg->handled();  // the topic's part is done; each relay hands back its own
    const runtime::actor_id me = self().id();
    for (const auto& slot : relays_) {
        slot.relay.cast(relay_fanout{me, msg});
    }
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

runtime::call_result<runtime::ok> topic_actor::handle_call(topic_publish_sync& publish,
                                                           const runtime::from<runtime::ok>&) {
    fan_out(publish.msg);
    return runtime::reply(runtime::ok{});
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
    if (relays_.empty()) {
        ctx_.registries[shard_].cast(destination_idle{key_, self().id()});
    }
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
    const auto it = topics_.find(fanout.topic);
    if (it == topics_.end()) {
        fanout.msg->handled();
        return;  // the last local subscriber left while the message was on its way
    }
    local_topic& local = it->second;
    template_cache templates(*fanout.msg);
    for (const subscriber& s : local.subscribers) {
        const std::size_t written = s.target->deliver_topic(s.slot, fanout.msg, templates);
        if (written > 0) {
            ++local.counters.messages_out;
            local.counters.bytes_out += written;
        }
    }
    fanout.msg->handled();
}

}  // namespace stampede::broker
