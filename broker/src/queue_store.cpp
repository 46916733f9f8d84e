#include "queue_store.hpp"

#include <algorithm>

namespace stampede::broker {

namespace {
// Below these counts stale timers and tombstones are left alone: a sweep
// walks the whole structure, so it waits until it can pay for itself.
constexpr std::size_t sweep_floor = 1024;
// A drained store with at least this many slots gives their memory back
// (issue 14: 200,000 slots of a burst stayed allocated, ~12 MiB, after it).
constexpr std::size_t shrink_floor = 4096;
}  // namespace

queue_store::queue_store(options o) : options_(o), ready_list_(o.starvation_limit) {}

std::uint32_t queue_store::allocate(stored_message item) {
    std::uint32_t index = 0;
    if (!free_slots_.empty()) {
        index = free_slots_.back();
        free_slots_.pop_back();
    } else {
        index = static_cast<std::uint32_t>(slots_.size());
        slots_.emplace_back();
    }
    slot& s = slots_[index];
    s.level = level_of(*item.msg);
    bytes_ += item.msg->footprint();
    s.item = std::move(item);
    return index;
}

// The slot's timer entries go stale with its generation.
void queue_store::release(std::uint32_t index) noexcept {
    slot& s = slots_[index];
    untime(s);
    s.item = {};
    s.state = slot_state::free;
    ++s.generation;
    free_slots_.push_back(index);
}

void queue_store::untime(slot& s) noexcept {
    if (s.timed) {
        s.timed = false;
        --live_timers_;
    }
}

void queue_store::schedule(std::uint32_t index, epoch_ms when) {
    slot& s = slots_[index];
    timers_.push(when, timer_ref{index, s.generation});
    s.timed = true;
    ++live_timers_;
}

void queue_store::make_ready(std::uint32_t index) {
    slot& s = slots_[index];
    s.state = slot_state::ready;
    ++ready_count_;
    if (s.item.msg->timing().expires_at != 0) {
        schedule(index, s.item.msg->timing().expires_at + 1);  // expired once past it
    }
}

// Deadlines are whole milliseconds: a message delayed until `deliver_at`
// becomes ready once the clock is past it, so never early by a fraction.
void queue_store::add(message_ptr msg, epoch_ms now, std::uint64_t journal_id,
                      std::uint32_t deliveries) {
    const epoch_ms due = msg->timing().deliver_at;
    const std::uint32_t index = allocate({std::move(msg), 0, deliveries, journal_id});
    if (due != 0 && now <= due) {
        slots_[index].state = slot_state::scheduled;
        ++scheduled_count_;
        scheduled_bytes_ += slots_[index].item.msg->footprint();
        schedule(index, due + 1);
        return;
    }
    slots_[index].item.sequence = next_sequence_++;
    ready_list_.push(slots_[index].level, index);
    make_ready(index);
}

std::size_t queue_store::first_after(std::uint8_t level, std::uint64_t after) const {
    std::size_t lo = 0;
    std::size_t hi = ready_list_.size(level);
    while (lo < hi) {
        const std::size_t mid = lo + (hi - lo) / 2;
        if (slots_[ready_list_.at(level, mid)].item.sequence <= after) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

void queue_store::insert_ordered(std::uint32_t index) {
    const slot& s = slots_[index];
    // Usually the oldest of its level (refused messages are the oldest): the front.
    const std::size_t at = first_after(s.level, s.item.sequence);
    ready_list_.insert(s.level, at, index);
}

void queue_store::put_back(stored_message item) {
    const std::uint32_t index = allocate(std::move(item));
    insert_ordered(index);
    make_ready(index);
}

stored_message queue_store::take_slot(std::uint32_t index) {
    slot& s = slots_[index];
    stored_message out = std::move(s.item);
    bytes_ -= out.msg->footprint();
    --ready_count_;
    release(index);
    return out;
}

void queue_store::expire_taken(std::uint32_t index, std::vector<stored_message>& expired) {
    expired.push_back(take_slot(index));
}

void queue_store::kill(std::uint32_t index, std::vector<stored_message>& expired) {
    slot& s = slots_[index];
    bytes_ -= s.item.msg->footprint();
    --ready_count_;
    ++dead_count_;
    untime(s);
    s.state = slot_state::dead;
    const std::uint64_t sequence = s.item.sequence;
    expired.push_back(std::move(s.item));
    s.item = {};
    s.item.sequence = sequence;  // keeps its place in the order for first_after()
}

std::optional<stored_message> queue_store::take(epoch_ms now,
                                                std::vector<stored_message>& expired) {
    while (auto next = ready_list_.pop()) {
        const std::uint32_t index = next->second;
        slot& s = slots_[index];
        if (s.state == slot_state::dead) {
            --dead_count_;
            release(index);
            continue;
        }
        if (s.item.msg->expired(now)) {
            expire_taken(index, expired);
            continue;
        }
        stored_message out = take_slot(index);
        shrink_if_drained();
        return out;
    }
    shrink_if_drained();
    return std::nullopt;
}

// Every slot free means nothing ready, scheduled or dead, no live timer and
// an empty ready list: the vectors can go (clear() would keep their
// capacity) and the stale timers with them.
void queue_store::shrink_if_drained() {
    if (slots_.size() < shrink_floor || free_slots_.size() != slots_.size()) {
        return;
    }
    std::vector<slot>().swap(slots_);
    std::vector<std::uint32_t>().swap(free_slots_);
    ready_list_ = routing::priority_list<std::uint32_t>(options_.starvation_limit);
    timers_ = {};
    live_timers_ = 0;
}

void queue_store::fire(const timer_ref& t, epoch_ms now, std::vector<stored_message>& expired,
                       std::size_t& made_ready) {
    slot& s = slots_[t.slot];
    if (s.generation != t.generation || !s.timed) {
        return;  // stale: the message left, or its timer was replaced
    }
    untime(s);
    if (s.state == slot_state::ready) {
        kill(t.slot, expired);  // its expiry
        return;
    }
    // A delayed message is due: ready now, unless it expired while it waited.
    --scheduled_count_;
    scheduled_bytes_ -= s.item.msg->footprint();
    if (s.item.msg->expired(now)) {
        bytes_ -= s.item.msg->footprint();
        expired.push_back(std::move(s.item));
        release(t.slot);
        return;
    }
    s.item.sequence = next_sequence_++;
    ready_list_.push(s.level, t.slot);
    make_ready(t.slot);
    ++made_ready;
}

std::size_t queue_store::advance(epoch_ms now, std::vector<stored_message>& expired,
                                 std::size_t limit) {
    std::size_t made_ready = 0;
    timers_.fire_due(
        now, [&](timer_ref t) { fire(t, now, expired, made_ready); }, limit);
    sweep_if_needed();
    return made_ready;
}

std::optional<stored_message> queue_store::drop_oldest() {
    for (std::uint8_t level = 0; level < 10; ++level) {
        while (ready_list_.size(level) > 0) {
            const std::uint32_t index = ready_list_.take_at(level, 0);
            if (slots_[index].state == slot_state::dead) {
                --dead_count_;
                release(index);
                continue;
            }
            return take_slot(index);
        }
    }
    return std::nullopt;
}

std::vector<stored_message> queue_store::take_all() {
    std::vector<stored_message> out;
    out.reserve(size());
    for (std::uint32_t index = 0; index < slots_.size(); ++index) {
        slot& s = slots_[index];
        if (s.state == slot_state::ready || s.state == slot_state::scheduled) {
            out.push_back(std::move(s.item));
        }
    }
    slots_.clear();
    free_slots_.clear();
    ready_list_ = routing::priority_list<std::uint32_t>(options_.starvation_limit);
    timers_ = {};
    live_timers_ = ready_count_ = scheduled_count_ = dead_count_ = bytes_ = scheduled_bytes_ = 0;
    return out;
}

// Tombstones and stale timers are swept once they outnumber the live entries
// (and a floor): each sweep is linear, paid for by as many removals.
void queue_store::sweep_if_needed() {
    if (dead_count_ > sweep_floor && dead_count_ > ready_count_) {
        ready_list_.remove_if([&](std::uint32_t index) {
            if (slots_[index].state != slot_state::dead) {
                return false;
            }
            release(index);
            return true;
        });
        dead_count_ = 0;
    }
    const std::size_t stale = timers_.size() - live_timers_;
    if (stale > sweep_floor && stale > live_timers_) {
        timers_.remove_if([&](const timer_ref& t) {
            const slot& s = slots_[t.slot];
            return s.generation != t.generation || !s.timed;
        });
    }
}

}  // namespace stampede::broker
