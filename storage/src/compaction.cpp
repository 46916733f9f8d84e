// Compaction, on the writer thread between batches.
//
// A sealed segment whose live share has dropped is read record by record;
// what is still needed is appended again at the head through the ordinary
// write path (so it lands in journal order after every ack already written):
//   - pending messages, with their delivery count as it stands;
//   - queue declarations and subscriptions still current;
//   - references (acks, deliveries, deletions) into segments that still
//     exist, since those segments' records would come back without them.
// Once the copies are synced the segment leaves the manifest, then the disk.
// Acks in a segment only ever point at the same or older segments, so
// deleting oldest-first never needs a reference carried forward; the
// carrying is for segments compacted out of order.

#include <unistd.h>

#include "journal_impl.hpp"

namespace stampede::storage::detail {

namespace {

constexpr std::size_t chunk_bytes = 1u << 20;

}  // namespace

std::optional<std::uint32_t> journal_impl::pick_candidate() {
    std::optional<std::uint32_t> oldest_worthwhile;
    for (const auto& [n, seg] : state_.segments) {
        if (n == active_number_ || seg.missing || seg.damaged || !seg.sealed || !seg.file) {
            continue;
        }
        const bool holds_quarantined = std::any_of(seg.queues.begin(), seg.queues.end(), [&](queue_id q) {
            const queue_state* qs = state_.find_queue(q);
            return qs != nullptr && qs->quarantined;
        });
        if (holds_quarantined) {
            continue;  // kept as it is for the operator
        }
        if (seg.superseded) {
            return n;  // an interrupted compaction: finish it first
        }
        const double live_share = seg.used == 0 ? 0.0 : double(seg.live) / double(seg.used);
        const std::uint64_t reclaimable = seg.used - std::min(seg.used, seg.live);
        if (!oldest_worthwhile && live_share <= options_.compact_below &&
            reclaimable >= options_.segment_bytes / 4) {
            oldest_worthwhile = n;
        }
    }
    return oldest_worthwhile;
}

// One step: the next chunk of the segment being compacted, its live records
// written again; or, at its end, the segment deleted. False: nothing to do.
bool journal_impl::compaction_step() {
    if (!job_) {
        const auto candidate = pick_candidate();
        if (!candidate) {
            return false;
        }
        job_ = compaction_job{*candidate, 0};
    }
    auto seg_it = state_.segments.find(job_->segment);
    if (seg_it == state_.segments.end() || !seg_it->second.file) {
        job_.reset();
        return true;
    }
    const segment_info& seg = seg_it->second;
    if (job_->cursor >= seg.used) {
        const std::uint32_t number = job_->segment;
        job_.reset();
        finish_compaction(number);
        return true;
    }
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_bytes, seg.used - job_->cursor));
    compaction_buffer_.resize(want);
    ssize_t n = ::pread(seg.file->fd(), compaction_buffer_.data(), want, static_cast<off_t>(job_->cursor));
    // A record longer than the chunk: read it whole.
    if (n == static_cast<ssize_t>(want) && want >= header_size) {
        const std::size_t first = record_size(load<std::uint32_t>(compaction_buffer_.data() + 8));
        if (first > want && job_->cursor + first <= seg.used) {
            want = first;
            compaction_buffer_.resize(want);
            n = ::pread(seg.file->fd(), compaction_buffer_.data(), want, static_cast<off_t>(job_->cursor));
        }
    }
    if (n != static_cast<ssize_t>(want)) {
        std::lock_guard lock(index_mutex_);
        seg_it->second.damaged = true;  // unreadable now: leave it be
        job_.reset();
        return true;
    }
    auto copies = std::make_unique<batch>();
    std::string_view data(compaction_buffer_);
    std::size_t consumed = 0;
    while (consumed < data.size()) {
        record_view r;
        const parse_status st = parse_record(data.substr(consumed), r);
        if (st != parse_status::ok) {
            if (st == parse_status::bad && data.size() - consumed >= header_size &&
                record_size(load<std::uint32_t>(data.data() + consumed + 8)) > data.size() - consumed) {
                break;  // the record continues in the next chunk
            }
            std::lock_guard lock(index_mutex_);
            seg_it->second.damaged = true;  // bit rot since recovery: leave it be
            job_.reset();
            return true;
        }
        const location where{job_->segment, static_cast<std::uint32_t>(job_->cursor + consumed),
                             static_cast<std::uint32_t>(r.size)};
        copy_live_records(job_->segment, data.substr(consumed, r.size), where.offset, *copies);
        consumed += r.size;
    }
    job_->cursor += consumed;
    if (!copies->empty() && !write_batch(std::move(copies), true)) {
        job_.reset();  // no room or a failed write: try again later
        return false;
    }
    return true;
}

// Appends to `copies` whatever of the record `bytes` (at `offset` in
// `segment`) is still needed.
void journal_impl::copy_live_records(std::uint32_t segment, std::string_view bytes,
                                     std::uint64_t offset, batch& copies) {
    record_view r;
    parse_record(bytes, r, false);
    const location where{segment, static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(r.size)};
    auto copy = [&](record_type type, queue_id queue, std::string_view payload) {
        pending_op op = pending_op::make(type, queue);
        op.verbatim = true;
        op.payload_offset = copies.payloads.size();
        op.payload_size = payload.size();
        copies.payloads.append(payload);
        copies.ops.push_back(op);
    };
    auto still_there = [&](std::uint32_t target) {
        return target != segment && state_.segment_exists(target);
    };
    payload_reader in(r.payload);
    switch (r.type) {
        case record_type::message: {
            const auto q = load<queue_id>(r.payload.data() + message_layout::queue);
            const auto id = load<message_id>(r.payload.data() + message_layout::id);
            if (!state_.message_live_at(q, id, where)) {
                return;
            }
            std::string payload(r.payload);
            store<std::uint32_t>(payload.data() + message_layout::deliveries,
                                 state_.find_queue(q)->slots.find(id)->deliveries());
            copy(r.type, q, payload);
            return;
        }
        case record_type::queue_declare: {
            const auto q = in.get<queue_id>();
            if (!state_.declare_live_at(q, where)) {
                return;
            }
            std::string payload(r.payload);
            store<message_id>(payload.data() + 4, state_.find_queue(q)->next_id);
            copy(r.type, q, payload);
            return;
        }
        case record_type::subscription_put: {
            in.get<queue_id>();
            const auto name_length = in.get<std::uint16_t>();
            in.get<std::uint16_t>();
            in.get<std::uint32_t>();
            if (state_.subscription_live_at(in.bytes(name_length), where)) {
                copy(r.type, 0, r.payload);
            }
            return;
        }
        case record_type::ack:
        case record_type::delivered: {
            const auto q = in.get<queue_id>();
            const auto n = in.get<std::uint32_t>();
            const queue_state* qs = state_.find_queue(q);
            std::string kept;
            std::uint32_t count = 0;
            for (std::uint32_t i = 0; i < n; ++i) {
                const std::string_view entry = in.bytes(ref_entry_size);
                const auto id = load<message_id>(entry.data());
                const auto target = load<std::uint32_t>(entry.data() + 8);
                bool keep = still_there(target);
                if (keep && r.type == record_type::delivered) {
                    // A count matters only while the message is still where it pointed.
                    const slot* s = qs != nullptr ? qs->slots.find(id) : nullptr;
                    keep = s != nullptr && s->segment == target;
                }
                if (keep) {
                    kept.append(entry);
                    ++count;
                }
            }
            if (count > 0) {
                std::string payload;
                payload_writer out(payload);
                out.put<queue_id>(q);
                out.put<std::uint32_t>(count);
                out.bytes(kept);
                copy(r.type, q, payload);
            }
            return;
        }
        case record_type::queue_delete: {
            const auto q = in.get<queue_id>();
            const auto n = in.get<std::uint32_t>();
            std::vector<std::uint32_t> targets;
            for (std::uint32_t i = 0; i < n; ++i) {
                const auto t = in.get<std::uint32_t>();
                if (still_there(t)) {
                    targets.push_back(t);
                }
            }
            if (!targets.empty()) {
                std::string payload;
                payload_writer out(payload);
                out.put<queue_id>(q);
                out.put<std::uint32_t>(static_cast<std::uint32_t>(targets.size()));
                for (auto t : targets) {
                    out.put<std::uint32_t>(t);
                }
                copy(r.type, q, payload);
            }
            return;
        }
        case record_type::subscription_remove: {
            if (still_there(in.get<std::uint32_t>())) {
                copy(r.type, 0, r.payload);
            }
            return;
        }
        case record_type::segment_start:
        case record_type::batch_start:
        case record_type::seal:
            return;
    }
}

// The copies of `segment` are written; once synced, the segment leaves the
// manifest and then the disk. A reader still holding it finishes its pread
// on the open descriptor.
bool journal_impl::finish_compaction(std::uint32_t segment) {
    const int rc = options_.files->sync(active_->fd());
    ++syncs_;
    if (rc != 0) {
        enter_failed(rc);
        pump_completions();
        return false;
    }
    const std::uint64_t written = written_seq_.load();
    std::uint64_t durable = durable_seq_.load();
    while (durable < written && !durable_seq_.compare_exchange_weak(durable, written)) {
    }
    pump_completions();
    std::filesystem::path path;
    {
        std::lock_guard lock(index_mutex_);
        auto it = state_.segments.find(segment);
        if (it == state_.segments.end()) {
            return false;
        }
        path = it->second.file->path();
        state_.drop_segment(segment);
    }
    if (write_current_manifest() != 0) {
        return false;  // still listed: read again (harmlessly) at the next start
    }
    ::unlink(path.c_str());
    ++compacted_;
    return true;
}

}  // namespace stampede::storage::detail
