#include "subscription_table.hpp"

#include <algorithm>

#include "message.hpp"

namespace stampede::broker {

result<subscription*> subscription_table::add(subscription_spec spec) {
    if (by_id_.contains(spec.id)) {
        return errc::subscription_id_in_use;
    }
    if (by_id_.size() >= max_subscriptions_) {
        return errc::too_many_subscriptions;
    }
    auto sub = std::make_unique<subscription>();
    sub->id = std::move(spec.id);
    sub->slot = next_slot_++;
    sub->destination = std::move(spec.destination);
    sub->mode = spec.mode;
    sub->policy = spec.policy;
    sub->prefetch = std::max<std::size_t>(1, spec.prefetch);
    sub->features = std::move(spec.features);
    subscription* added = sub.get();
    by_slot_.emplace(added->slot, added);
    by_id_.emplace(added->id, std::move(sub));
    return added;
}

void subscription_table::remove(subscription& sub) {
    for (const auto& [delivery, item] : sub.unacked) {
        pending_.erase(delivery);
        if (sub.is_topic()) {
            unacked_topic_bytes_ -= item.message->footprint();
        }
    }
    backlog_bytes_ -= sub.backlog_bytes;
    by_slot_.erase(sub.slot);
    const std::string id = sub.id;  // sub dies with the erase
    by_id_.erase(id);
}

subscription* subscription_table::find(std::string_view id) noexcept {
    const auto it = by_id_.find(std::string(id));
    return it == by_id_.end() ? nullptr : it->second.get();
}

subscription* subscription_table::find_slot(std::uint64_t slot) noexcept {
    const auto it = by_slot_.find(slot);
    return it == by_slot_.end() ? nullptr : it->second;
}

std::vector<subscription*> subscription_table::all() const {
    std::vector<subscription*> out;
    out.reserve(by_id_.size());
    for (const auto& [id, sub] : by_id_) {
        out.push_back(sub.get());
    }
    return out;
}

bool subscription_table::has_room(const subscription& sub) const noexcept {
    if (sub.mode == ack_mode::automatic) {
        return true;
    }
    if (sub.unacked.size() >= sub.prefetch) {
        return false;
    }
    // At least one message always fits, or one large message would block the
    // subscription for good.
    return !sub.is_topic() || sub.unacked.empty() || unacked_topic_bytes_ < unacked_bytes_limit_;
}

void subscription_table::record(subscription& sub, std::uint64_t delivery, unacked_delivery item) {
    if (sub.is_topic()) {
        unacked_topic_bytes_ += item.message->footprint();
    }
    pending_.emplace(delivery, sub.slot);
    const auto placed = sub.unacked.emplace(delivery, std::move(item)).first;
    sub.unacked_by_message_id[placed->second.message->id()] = delivery;
}

void subscription_table::forget_pending(subscription& sub, std::uint64_t delivery,
                                        const unacked_delivery& item) {
    pending_.erase(delivery);
    if (sub.is_topic()) {
        unacked_topic_bytes_ -= item.message->footprint();
    }
    const auto by_id = sub.unacked_by_message_id.find(item.message->id());
    if (by_id != sub.unacked_by_message_id.end() && by_id->second == delivery) {
        sub.unacked_by_message_id.erase(by_id);
    }
}

std::optional<std::uint64_t> subscription_table::delivery_of(
    std::string_view message_id, std::optional<std::string_view> subscription_id) const {
    std::optional<std::uint64_t> found;
    for (const auto& [id, sub] : by_id_) {
        if (subscription_id && id != *subscription_id) {
            continue;
        }
        const auto it = sub->unacked_by_message_id.find(message_id);
        if (it != sub->unacked_by_message_id.end() && (!found || it->second < *found)) {
            found = it->second;
        }
    }
    return found;
}

std::vector<std::uint64_t> subscription_table::would_settle(std::uint64_t delivery) const {
    const auto pending = pending_.find(delivery);
    if (pending == pending_.end()) {
        return {};
    }
    const subscription& sub = *by_slot_.at(pending->second);
    if (sub.mode != ack_mode::client) {
        return {delivery};
    }
    std::vector<std::uint64_t> out;
    for (auto it = sub.unacked.begin(); it != sub.unacked.end() && it->first <= delivery; ++it) {
        out.push_back(it->first);
    }
    return out;
}

result<settlement> subscription_table::settle(std::uint64_t delivery) {
    const auto pending = pending_.find(delivery);
    if (pending == pending_.end()) {
        return errc::not_awaiting_ack;
    }
    subscription& sub = *by_slot_.at(pending->second);
    const auto last = sub.unacked.find(delivery);
    const auto first = sub.mode == ack_mode::client ? sub.unacked.begin() : last;
    settlement out{&sub, {}};
    for (auto it = first; it != std::next(last); ++it) {
        forget_pending(sub, it->first, it->second);
        out.items.push_back(std::move(it->second));
    }
    sub.unacked.erase(first, std::next(last));
    return out;
}

void subscription_table::forget(std::uint64_t delivery) {
    const auto pending = pending_.find(delivery);
    if (pending == pending_.end()) {
        return;
    }
    subscription& sub = *by_slot_.at(pending->second);
    const auto it = sub.unacked.find(delivery);
    forget_pending(sub, delivery, it->second);
    sub.unacked.erase(it);
}

void subscription_table::push_backlog(subscription& sub, message_ptr msg) {
    const std::size_t bytes = msg->footprint();
    sub.backlog.push_back(std::move(msg));
    sub.backlog_bytes += bytes;
    backlog_bytes_ += bytes;
}

message_ptr subscription_table::pop_backlog(subscription& sub) {
    if (sub.backlog.empty() || !has_room(sub)) {
        return nullptr;
    }
    message_ptr msg = std::move(sub.backlog.front());
    sub.backlog.pop_front();
    sub.backlog_bytes -= msg->footprint();
    backlog_bytes_ -= msg->footprint();
    return msg;
}

std::unordered_map<runtime::actor_id, std::uint64_t> subscription_table::drop_droppable_backlogs() {
    std::unordered_map<runtime::actor_id, std::uint64_t> dropped;
    for (auto& [id, sub] : by_id_) {
        if (sub->policy != slow_consumer_policy::drop || sub->backlog.empty()) {
            continue;
        }
        dropped[sub->destination.topic.id()] += sub->backlog.size();
        backlog_bytes_ -= sub->backlog_bytes;
        sub->backlog_bytes = 0;
        sub->backlog.clear();
    }
    return dropped;
}

}  // namespace stampede::broker
