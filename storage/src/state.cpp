#include "state.hpp"

#include <unistd.h>

#include <algorithm>

namespace stampede::storage::detail {

segment_file::~segment_file() {
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

// ---- slot_table ----

slot* slot_table::find(message_id id) noexcept {
    const std::uint64_t c = id / chunk_slots;
    if (chunks_.empty() || c < first_ || c - first_ >= chunks_.size()) {
        return nullptr;
    }
    chunk* ch = chunks_[c - first_].get();
    if (ch == nullptr) {
        return nullptr;
    }
    slot* s = &ch->slots[id % chunk_slots];
    return s->live() ? s : nullptr;
}

const slot* slot_table::find(message_id id) const noexcept {
    return const_cast<slot_table*>(this)->find(id);
}

void slot_table::put(message_id id, slot s) {
    const std::uint64_t c = id / chunk_slots;
    if (chunks_.empty()) {
        first_ = c;
    }
    while (c < first_) {  // recovery only: a copy older than anything seen so far
        chunks_.emplace_front();
        --first_;
    }
    while (c - first_ >= chunks_.size()) {
        chunks_.emplace_back();
    }
    auto& ch = chunks_[c - first_];
    if (!ch) {
        ch = std::make_unique<chunk>();
    }
    slot& target = ch->slots[id % chunk_slots];
    ch->live += target.live() ? 0 : 1;
    target = s;
}

slot slot_table::erase(message_id id) noexcept {
    slot* s = find(id);
    if (s == nullptr) {
        return {};
    }
    const slot old = *s;
    *s = slot{};
    auto& ch = chunks_[id / chunk_slots - first_];
    if (--ch->live == 0) {
        ch.reset();
        while (!chunks_.empty() && !chunks_.front()) {
            chunks_.pop_front();
            ++first_;
        }
    }
    return old;
}

message_id slot_table::next_live(message_id from) const noexcept {
    std::uint64_t c = std::max<std::uint64_t>(from / chunk_slots, first_);
    for (; c - first_ < chunks_.size(); ++c) {
        const chunk* ch = chunks_[c - first_].get();
        if (ch == nullptr) {
            continue;
        }
        const std::uint64_t start = c == from / chunk_slots ? from % chunk_slots : 0;
        for (std::uint64_t i = start; i < chunk_slots; ++i) {
            if (ch->slots[i].live()) {
                return c * chunk_slots + i;
            }
        }
    }
    return 0;
}

// ---- journal_state ----

queue_state* journal_state::find_queue(queue_id id) noexcept {
    auto it = queues.find(id);
    return it == queues.end() ? nullptr : &it->second;
}

const queue_state* journal_state::find_queue(queue_id id) const noexcept {
    auto it = queues.find(id);
    return it == queues.end() ? nullptr : &it->second;
}

void journal_state::add_live(location where) noexcept {
    auto it = segments.find(where.segment);
    if (it != segments.end()) {
        it->second.live += where.size;
    }
}

void journal_state::remove_live(location where) noexcept {
    auto it = segments.find(where.segment);
    if (it != segments.end()) {
        it->second.live -= std::min<std::uint64_t>(it->second.live, where.size);
    }
}

void journal_state::add_dep(segment_info* seg, std::uint32_t target) {
    if (seg != nullptr && target != seg->number && segment_exists(target)) {
        ++seg->deps[target];
    }
}

// A record of a queue whose declaration was never seen (lost with damaged or
// missing records) still gets a queue, quarantined, so its messages stay
// readable by the operator tool.
queue_state& journal_state::queue_for_record(queue_id id) {
    auto [it, inserted] = queues.try_emplace(id);
    if (inserted) {
        it->second.id = id;
        it->second.quarantined = true;
        it->second.reason = "its declaration is missing (damaged or removed records)";
        next_queue = std::max(next_queue, id + 1);
    }
    return it->second;
}

bool journal_state::apply(const record_view& r, location where) {
    auto seg_it = segments.find(where.segment);
    segment_info* seg = seg_it == segments.end() ? nullptr : &seg_it->second;
    switch (r.type) {
        case record_type::segment_start:
        case record_type::batch_start:
            return true;
        case record_type::seal:
            if (seg != nullptr) {
                seg->sealed = true;
            }
            return true;
        case record_type::queue_declare:
            return apply_declare(r.payload, where, seg);
        case record_type::queue_delete:
            return apply_delete(r.payload, where, seg);
        case record_type::message:
            return apply_message(r.payload, where, seg);
        case record_type::ack:
            return apply_refs(r.payload, where, seg, true);
        case record_type::delivered:
            return apply_refs(r.payload, where, seg, false);
        case record_type::subscription_put:
            return apply_subscription_put(r.payload, where, seg);
        case record_type::subscription_remove:
            return apply_subscription_remove(r.payload, where, seg);
    }
    return false;
}

bool journal_state::apply_declare(std::string_view payload, location where, segment_info* seg) {
    payload_reader in(payload);
    const auto id = in.get<queue_id>();
    const auto next_id = in.get<message_id>();
    const auto name_length = in.get<std::uint16_t>();
    const std::string_view name = in.bytes(name_length);
    if (!in.ok() || id == 0) {
        return false;
    }
    auto [it, inserted] = queues.try_emplace(id);
    queue_state& q = it->second;
    q.id = id;
    if (!inserted && q.name.empty() && q.quarantined) {
        // Its messages came first (a copy of the declaration moved past them):
        // the declaration is found after all.
        q.quarantined = false;
        q.reason.clear();
    }
    q.name = std::string(name);
    q.next_id = std::max(q.next_id, next_id);
    if (q.declare.segment != 0) {
        remove_live(q.declare);
    }
    q.declare = where;
    add_live(where);
    names[q.name] = id;
    next_queue = std::max(next_queue, id + 1);
    if (seg != nullptr) {
        seg->queues.insert(id);
    }
    return true;
}

bool journal_state::apply_delete(std::string_view payload, location, segment_info* seg) {
    payload_reader in(payload);
    const auto id = in.get<queue_id>();
    const auto n = in.get<std::uint32_t>();
    if (!in.ok() || payload.size() != 8 + std::size_t{n} * 4) {
        return false;
    }
    for (std::uint32_t i = 0; i < n; ++i) {
        add_dep(seg, in.get<std::uint32_t>());
    }
    if (seg != nullptr) {
        seg->queues.insert(id);
    }
    queue_state* q = find_queue(id);
    if (q == nullptr) {
        return true;
    }
    for (message_id m = q->slots.next_live(0); m != 0; m = q->slots.next_live(m + 1)) {
        const slot s = q->slots.erase(m);
        remove_live(s.where());
        live_bytes -= s.size();
        --live_messages;
    }
    if (q->declare.segment != 0) {
        remove_live(q->declare);
    }
    auto name_it = names.find(q->name);
    if (name_it != names.end() && name_it->second == id) {
        names.erase(name_it);
    }
    queues.erase(id);
    return true;
}

bool journal_state::apply_message(std::string_view payload, location where, segment_info* seg) {
    if (payload.size() < message_layout::fixed) {
        return false;
    }
    const char* p = payload.data();
    const auto qid = load<queue_id>(p + message_layout::queue);
    const auto id = load<message_id>(p + message_layout::id);
    const auto deliveries = load<std::uint32_t>(p + message_layout::deliveries);
    const auto headers = load<std::uint32_t>(p + message_layout::headers_length);
    if (id == 0 || headers > payload.size() - message_layout::fixed) {
        return false;
    }
    queue_state& q = queue_for_record(qid);
    if (slot* old = q.slots.find(id)) {
        // A copy (compaction): it replaces the older record, which is dead now.
        remove_live(old->where());
        live_bytes -= old->size();
        q.bytes -= old->size();
        auto old_seg = segments.find(old->segment);
        if (old_seg != segments.end() && old->segment != where.segment) {
            old_seg->second.superseded = true;
        }
    } else {
        ++q.messages;
        ++live_messages;
    }
    q.slots.put(id, slot::make(where, deliveries));
    q.bytes += where.size;
    live_bytes += where.size;
    q.next_id = std::max(q.next_id, id + 1);
    add_live(where);
    if (seg != nullptr) {
        seg->queues.insert(qid);
    }
    return true;
}

bool journal_state::apply_refs(std::string_view payload, location, segment_info* seg,
                               bool ack) {
    payload_reader in(payload);
    const auto qid = in.get<queue_id>();
    const auto n = in.get<std::uint32_t>();
    if (!in.ok() || payload.size() != ref_header_size + std::size_t{n} * ref_entry_size) {
        return false;
    }
    if (seg != nullptr) {
        seg->queues.insert(qid);
    }
    queue_state* q = find_queue(qid);
    for (std::uint32_t i = 0; i < n; ++i) {
        const auto id = in.get<message_id>();
        const auto target = in.get<std::uint32_t>();
        add_dep(seg, target);
        if (q == nullptr) {
            continue;
        }
        if (ack) {
            const slot s = q->slots.erase(id);
            if (s.live()) {
                remove_live(s.where());
                live_bytes -= s.size();
                q->bytes -= s.size();
                --q->messages;
                --live_messages;
            }
        } else if (slot* s = q->slots.find(id)) {
            s->add_delivery();
        }
    }
    return true;
}

bool journal_state::apply_subscription_put(std::string_view payload, location where,
                                           segment_info* seg) {
    payload_reader in(payload);
    subscription_record record;
    record.queue = in.get<queue_id>();
    const auto name_length = in.get<std::uint16_t>();
    const auto destination_length = in.get<std::uint16_t>();
    const auto selector_length = in.get<std::uint32_t>();
    record.name = std::string(in.bytes(name_length));
    record.destination = std::string(in.bytes(destination_length));
    record.selector = std::string(in.bytes(selector_length));
    if (!in.ok()) {
        return false;
    }
    auto [it, inserted] = subscriptions.try_emplace(record.name);
    if (!inserted) {
        remove_live(it->second.where);
    }
    it->second.record = std::move(record);
    it->second.where = where;
    add_live(where);
    if (seg != nullptr) {
        seg->queues.insert(it->second.record.queue);
    }
    return true;
}

bool journal_state::apply_subscription_remove(std::string_view payload, location,
                                              segment_info* seg) {
    payload_reader in(payload);
    const auto target = in.get<std::uint32_t>();
    const auto name_length = in.get<std::uint16_t>();
    const std::string_view name = in.bytes(name_length);
    if (!in.ok()) {
        return false;
    }
    add_dep(seg, target);
    auto it = subscriptions.find(std::string(name));
    if (it != subscriptions.end()) {
        if (seg != nullptr) {
            seg->queues.insert(it->second.record.queue);
        }
        remove_live(it->second.where);
        subscriptions.erase(it);
    }
    return true;
}

void journal_state::drop_segment(std::uint32_t number) {
    segments.erase(number);
    for (auto& [n, seg] : segments) {
        seg.deps.erase(number);
    }
}

bool journal_state::message_live_at(queue_id queue, message_id id,
                                    location where) const noexcept {
    const queue_state* q = find_queue(queue);
    if (q == nullptr) {
        return false;
    }
    const slot* s = q->slots.find(id);
    return s != nullptr && s->segment == where.segment && s->offset == where.offset;
}

bool journal_state::declare_live_at(queue_id queue, location where) const noexcept {
    const queue_state* q = find_queue(queue);
    return q != nullptr && q->declare.segment == where.segment &&
           q->declare.offset == where.offset;
}

bool journal_state::subscription_live_at(std::string_view name, location where) const noexcept {
    auto it = subscriptions.find(std::string(name));
    return it != subscriptions.end() && it->second.where.segment == where.segment &&
           it->second.where.offset == where.offset;
}

}  // namespace stampede::storage::detail
