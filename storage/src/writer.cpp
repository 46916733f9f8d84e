// The writer thread, the sync lanes and completions: group commit.
//
// The writer takes the whole pending batch at once and lays its records out
// in the active segment as one or more runs (a run is what goes to one
// segment in one pwrite). After each successful run it applies the run's
// records to the index, then asks the sync lanes for an fdatasync covering
// it. Completions go out in batch order once a sync covers their batch.
// While every lane is busy the writer does not write (unless a batch's worth
// of bytes waits): the pending batch grows instead, so one sync covers more.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "journal_impl.hpp"

namespace stampede::storage::detail {

namespace {

boost::system::error_code error_from_errno(int negative_errno) {
    switch (-negative_errno) {
        case ENOSPC:
        case EDQUOT:
        case EFBIG:
            return make_error_code(errc::no_space);
        default:
            return make_error_code(errc::write_failed);
    }
}

}  // namespace

int journal_impl::start() {
    if (options_.read_only) {
        return 0;
    }
    // Trailing segments that hold only a header leave the manifest before the disk.
    if (!empties_.empty()) {
        if (const int rc = write_current_manifest(); rc != 0) {
            return rc;
        }
        for (const auto& path : empties_) {
            ::unlink(path.c_str());
            report_.notes.push_back(path.string() + ": empty segment after the newest records; removed");
        }
        empties_.clear();
    }
    if (active_) {
        if (const int rc = zero_tail(); rc != 0) {
            return rc;
        }
        std::lock_guard lock(index_mutex_);
        state_.segments[active_number_].used = tail_;
    }
    if (!active_ && !roll()) {
        return roll_error_ == errc::no_space ? -ENOSPC : -EIO;
    }
    if (const int rc = write_current_manifest(); rc != 0) {
        return rc;
    }
    started_ = true;
    writer_ = std::thread([this] { writer_main(); });
    for (unsigned i = 0; i < options_.sync_lanes; ++i) {
        lanes_.emplace_back([this] { lane_main(); });
    }
    reader_ = std::thread([this] { reader_main(); });
    return 0;
}

// Past the tail of the segment recovery resumes in there may be leftovers of
// writes that were never confirmed (a torn batch); they are zeroed, so that
// nothing after the records written from now on can ever be read as data.
int journal_impl::zero_tail() {
    if (tail_ >= active_size_) {
        return 0;
    }
    const int fd = active_->fd();
    const auto offset = static_cast<off_t>(tail_);
    const auto length = static_cast<off_t>(active_size_ - tail_);
    if (::fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, length) != 0) {
        const std::string zeros(1u << 20, '\0');
        for (off_t at = offset; at < offset + length;) {
            const auto n = std::min<off_t>(static_cast<off_t>(zeros.size()), offset + length - at);
            if (const ssize_t rc = options_.files->write_at(fd, zeros.data(), n, at); rc < 0) {
                return static_cast<int>(rc);
            }
            at += n;
        }
    }
    return options_.files->sync(fd);
}

void journal_impl::close() {
    {
        std::lock_guard lock(pending_mutex_);
        if (closing_) {
            return;
        }
        closing_ = true;
        writer_waiting_ = writer_wait::none;
        writer_cv_.notify_one();
    }
    if (!started_) {
        return;
    }
    writer_.join();
    for (auto& lane : lanes_) {
        lane.join();
    }
    {
        std::lock_guard lock(read_mutex_);
        stop_reader_ = true;
        read_cv_.notify_one();
    }
    reader_.join();
}

// ---- the writer thread ----

bool journal_impl::may_write_locked(steady::time_point at) const {
    const batch& b = *pending_;
    if (closing_ || b.force_sync || failed_ || pending_bytes_ >= options_.max_batch_bytes) {
        return true;
    }
    if (options_.batch_delay.count() > 0 && at - b.first_at < options_.batch_delay) {
        return false;
    }
    return options_.sync != sync_mode::always || busy_lanes_.load() < options_.sync_lanes;
}

bool journal_impl::interval_sync_due(steady::time_point at) const {
    return options_.sync == sync_mode::interval && !failed_ &&
           written_seq_.load() > durable_seq_.load() &&
           at - last_sync_request_ >= options_.sync_interval;
}

std::optional<steady::time_point> journal_impl::wake_deadline_locked(steady::time_point at) const {
    std::optional<steady::time_point> deadline;
    if (!pending_->empty() && options_.batch_delay.count() > 0) {
        deadline = pending_->first_at + options_.batch_delay;
    }
    if (options_.sync == sync_mode::interval && written_seq_.load() > durable_seq_.load()) {
        const auto due = last_sync_request_ + options_.sync_interval;
        deadline = deadline ? std::min(*deadline, due) : due;
    }
    (void)at;
    return deadline;
}

void journal_impl::writer_main() {
    std::unique_lock lock(pending_mutex_);
    for (;;) {
        const auto at = now();
        if (!pending_->empty() && may_write_locked(at)) {
            auto b = std::exchange(pending_, std::make_unique<batch>());
            pending_bytes_ = 0;
            lock.unlock();
            write_batch(std::move(b), false);
            lock.lock();
            continue;
        }
        if (closing_ && pending_->empty()) {
            break;
        }
        if (interval_sync_due(at)) {
            last_sync_request_ = at;
            lock.unlock();
            request_sync(written_seq_.load());
            lock.lock();
            continue;
        }
        const bool asked = compact_requests_ > compact_done_;
        if (asked && failed_) {
            compact_done_ = compact_requests_;
            compact_cv_.notify_all();
            continue;
        }
        if ((asked || (options_.compaction && (job_ || compaction_dirty_))) && !failed_) {
            lock.unlock();
            const bool worked = compaction_step();
            lock.lock();
            if (!worked) {
                compaction_dirty_ = false;
                if (asked) {
                    compact_done_ = compact_requests_;
                    compact_cv_.notify_all();
                }
            }
            continue;
        }
        writer_waiting_ = pending_->empty() ? writer_wait::data : writer_wait::lane;
        if (const auto deadline = wake_deadline_locked(at)) {
            // Short real waits, so that a fake clock in tests is noticed too.
            const auto left = std::max(*deadline - at, steady::duration::zero());
            writer_cv_.wait_for(lock, std::min<steady::duration>(left, std::chrono::milliseconds(2)));
        } else {
            writer_cv_.wait(lock);
        }
        writer_waiting_ = writer_wait::none;
    }
    lock.unlock();
    finish_writer();
}

// Everything written is synced (the last chance in `never` mode too), the
// lanes stop, and every completion still owed is delivered.
void journal_impl::finish_writer() {
    const std::uint64_t through = written_seq_.load();
    request_sync(through);
    {
        std::unique_lock lock(sync_mutex_);
        sync_cv_.wait(lock, [&] { return durable_seq_.load() >= through || failed_.load(); });
        stop_lanes_ = true;
    }
    sync_cv_.notify_all();
    pump_completions();
    std::lock_guard lock(pending_mutex_);
    writer_done_ = true;
    compact_cv_.notify_all();
}

void journal_impl::set_written(std::uint64_t seq) {
    std::lock_guard lock(sync_mutex_);
    written_seq_ = seq;
    sync_file_ = active_;
}

void journal_impl::request_sync(std::uint64_t through) {
    {
        std::lock_guard lock(sync_mutex_);
        if (through <= sync_target_) {
            return;
        }
        sync_target_ = through;
    }
    sync_cv_.notify_one();
}

// Writes a batch: lays out each op's record, rolling segments as they fill.
// A failed run fails its ops and every op after it; earlier runs stand.
// Returns false if any op failed.
bool journal_impl::write_batch(std::unique_ptr<batch> b, bool internal) {
    ++batches_;
    bool ok = true;
    if (failed_) {
        fail_from(*b, 0, make_error_code(errc::sync_failed));
        ok = false;
    } else {
        out_.clear();
        run_first_op_ = 0;
        for (std::size_t i = 0; i < b->ops.size() && ok; ++i) {
            if (b->ops[i].no_record) {
                continue;
            }
            bool reclaims = false;
            const std::string_view payload = prepare(*b, i, reclaims);
            if (!ensure_room(*b, i, record_size(payload.size()))) {
                ok = false;
                break;
            }
            if (out_.empty()) {
                std::string synced;
                payload_writer(synced).put<std::uint64_t>(durable_seq_.load());
                emit_record(record_type::batch_start, synced);
            }
            emit_record(b->ops[i].type, payload);
            compaction_dirty_ = compaction_dirty_ || reclaims;
        }
        ok = ok && flush_run(*b, b->ops.size());
    }
    if (internal) {
        return ok;
    }
    b->requires_sync = options_.sync != sync_mode::never || b->force_sync;
    b->last_seq = written_seq_.load();
    const bool sync_now = b->force_sync || options_.sync == sync_mode::always;
    {
        std::lock_guard lock(completion_mutex_);
        unconfirmed_.push_back(std::move(b));
    }
    if (sync_now) {
        request_sync(written_seq_.load());
    }
    pump_completions();
    return ok;
}

// The payload to write for op `index`: as submitted, or with the segment
// references only the writer knows filled in. `reclaims`: the record frees
// space (compaction may find work after it).
std::string_view journal_impl::prepare(batch& b, std::size_t index, bool& reclaims) {
    const pending_op& op = b.ops[index];
    const std::string_view submitted(b.payloads.data() + op.payload_offset, op.payload_size);
    if (op.verbatim) {
        return submitted;
    }
    switch (op.type) {
        case record_type::ack:
        case record_type::delivered:
            reclaims = op.type == record_type::ack;
            scratch_.assign(submitted);
            patch_refs(scratch_);
            return scratch_;
        case record_type::queue_delete: {
            reclaims = true;
            scratch_.clear();
            payload_writer out(scratch_);
            out.put<queue_id>(op.queue);
            // Every segment holding its records, and the active one (the
            // run being laid out may hold some not yet applied). A roll
            // before this record is written leaves that one behind it.
            std::vector<std::uint32_t> targets;
            for (const auto& [n, seg] : state_.segments) {
                if (n == active_number_ || seg.queues.contains(op.queue)) {
                    targets.push_back(n);
                }
            }
            out.put<std::uint32_t>(static_cast<std::uint32_t>(targets.size()));
            for (std::uint32_t t : targets) {
                out.put<std::uint32_t>(t);
            }
            return scratch_;
        }
        case record_type::subscription_remove: {
            reclaims = true;
            scratch_.assign(submitted);
            payload_reader in(submitted);
            in.get<std::uint32_t>();
            const std::string name(in.bytes(in.get<std::uint16_t>()));
            auto it = state_.subscriptions.find(name);
            store<std::uint32_t>(scratch_.data(),
                                 it == state_.subscriptions.end() ? 0 : it->second.where.segment);
            return scratch_;
        }
        default:
            return submitted;
    }
}

// Fills in, for each id of an ack or delivered payload, the segment its
// message is in now: the index knows it, or (not applied yet) it is in the
// run being laid out, in the active segment.
void journal_impl::patch_refs(std::string& payload) {
    char* p = payload.data();
    const auto qid = load<queue_id>(p);
    const auto n = load<std::uint32_t>(p + 4);
    const queue_state* q = state_.find_queue(qid);
    for (std::uint32_t i = 0; i < n; ++i) {
        char* entry = p + ref_header_size + std::size_t{i} * ref_entry_size;
        const auto id = load<message_id>(entry);
        std::uint32_t target = 0;
        if (const slot* s = q != nullptr ? q->slots.find(id) : nullptr) {
            target = s->segment;
        } else if (q == nullptr || id >= q->next_id) {
            target = active_number_;
        }
        store<std::uint32_t>(entry + 8, target);
    }
}

void journal_impl::emit_record(record_type type, std::string_view payload) {
    const std::size_t at = out_.size();
    out_.resize(at + record_size(payload.size()));
    encode_record(out_.data() + at, type, next_seq_++, payload);
    ++appends_;
}

// Makes room for a record of `size` bytes in the active segment: flushes the
// run so far and rolls to a new segment when it does not fit. On failure the
// ops from `index` on have failed.
bool journal_impl::ensure_room(batch& b, std::size_t index, std::size_t size) {
    const std::size_t framing = (out_.empty() ? record_size(8) : 0) + record_size(4);
    if (active_ && tail_ + out_.size() + size + framing <= active_size_) {
        return true;
    }
    if (!flush_run(b, index)) {
        return false;
    }
    if (!roll()) {
        fail_from(b, index, roll_error_);
        return false;
    }
    return true;
}

// Writes the run laid out in out_ at the tail and applies it to the index.
// `next_op` is where the next run begins. On failure, fails the run's ops
// and all after them.
bool journal_impl::flush_run(batch& b, std::size_t next_op) {
    if (out_.empty()) {
        run_first_op_ = next_op;
        return true;
    }
    const ssize_t rc =
        options_.files->write_at(active_->fd(), out_.data(), out_.size(), static_cast<off_t>(tail_));
    if (rc < 0) {
        fail_from(b, run_first_op_, error_from_errno(static_cast<int>(rc)));
        out_.clear();
        return false;
    }
    {
        std::lock_guard lock(index_mutex_);
        std::string_view run(out_);
        for (std::size_t off = 0; off < run.size();) {
            record_view r;
            parse_record(run.substr(off), r, false);
            state_.apply(r, {active_number_, static_cast<std::uint32_t>(tail_ + off),
                             static_cast<std::uint32_t>(r.size)});
            off += r.size;
        }
        tail_ += out_.size();
        state_.segments[active_number_].used = tail_;
    }
    out_.clear();
    set_written(next_seq_ - 1);
    run_first_op_ = next_op;
    return true;
}

void journal_impl::fail_from(batch& b, std::size_t first, boost::system::error_code why) {
    for (std::size_t i = first; i < b.ops.size(); ++i) {
        pending_op& op = b.ops[i];
        if (!op.error) {
            op.error = why;
            write_errors_ += op.no_record ? 0 : 1;
        }
    }
}

// Starts segment next_segment_: creates and preallocates it, lists it in the
// manifest, then seals the old active segment and syncs it, so that a
// segment after a sealed one exists and is listed, and everything before a
// seal is durable. On failure nothing changes but the error in roll_error_.
bool journal_impl::roll() {
    const std::uint32_t number = next_segment_;
    // The seal's seq comes before the new header's: seqs rise in journal order.
    const std::uint64_t seal_seq = active_ ? next_seq_++ : 0;
    std::shared_ptr<segment_file> file;
    if (const int rc = create_segment(number, file); rc != 0) {
        roll_error_ = error_from_errno(rc);
        return false;
    }
    ++next_segment_;
    const std::uint32_t old_number = active_number_;
    {
        std::lock_guard lock(index_mutex_);
        segment_info& info = state_.segments[number];
        info.number = number;
        info.file = file;
        info.used = record_size(16);
    }
    active_number_ = number;  // the manifest lists it as the active one
    if (const int rc = write_current_manifest(); rc != 0) {
        active_number_ = old_number;
        std::lock_guard lock(index_mutex_);
        state_.segments.erase(number);
        ::unlink(file->path().c_str());
        roll_error_ = error_from_errno(rc);
        return false;
    }
    if (active_) {
        std::string next;
        payload_writer(next).put<std::uint32_t>(number);
        out_.assign(record_size(next.size()), '\0');
        encode_record(out_.data(), record_type::seal, seal_seq, next);
        ssize_t rc = options_.files->write_at(active_->fd(), out_.data(), out_.size(),
                                              static_cast<off_t>(tail_));
        if (rc >= 0) {
            rc = options_.files->sync(active_->fd());
            ++syncs_;
        }
        if (rc < 0) {
            out_.clear();
            enter_failed(static_cast<int>(rc));
            roll_error_ = make_error_code(errc::sync_failed);
            return false;
        }
        {
            std::lock_guard lock(index_mutex_);
            record_view r;
            parse_record(out_, r, false);
            state_.apply(r, {old_number, static_cast<std::uint32_t>(tail_),
                             static_cast<std::uint32_t>(r.size)});
            state_.segments[old_number].used = tail_ + out_.size();
        }
        out_.clear();
        std::uint64_t durable = durable_seq_.load();
        while (durable < seal_seq && !durable_seq_.compare_exchange_weak(durable, seal_seq)) {
        }
    }
    active_ = std::move(file);
    active_size_ = options_.segment_bytes;
    tail_ = record_size(16);
    set_written(next_seq_ - 1);
    compaction_dirty_ = true;
    pump_completions();
    return true;
}

int journal_impl::create_segment(std::uint32_t number, std::shared_ptr<segment_file>& out) {
    const auto path = options_.directory / segment_file_name(number);
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    auto fail = [&](int rc) {
        ::close(fd);
        ::unlink(path.c_str());
        return rc;
    };
    if (const int rc = options_.files->allocate(fd, static_cast<off_t>(options_.segment_bytes));
        rc != 0) {
        return fail(rc);
    }
    std::string header;
    payload_writer fields(header);
    fields.put<std::uint64_t>(segment_magic);
    fields.put<std::uint32_t>(number);
    fields.put<std::uint32_t>(static_cast<std::uint32_t>(options_.segment_bytes));
    std::string record(record_size(header.size()), '\0');
    encode_record(record.data(), record_type::segment_start, next_seq_++, header);
    if (const ssize_t rc = options_.files->write_at(fd, record.data(), record.size(), 0); rc < 0) {
        return fail(static_cast<int>(rc));
    }
    if (const int rc = options_.files->sync(fd); rc != 0) {
        return fail(rc);
    }
    if (const int rc = sync_directory(options_.directory); rc != 0) {
        return fail(rc);
    }
    out = std::make_shared<segment_file>(fd, number, path);
    return 0;
}

// The manifest as things stand: every segment (missing ones stay listed), the
// queues of each sealed one, and id high-water marks.
int journal_impl::write_current_manifest() {
    manifest m;
    {
        std::lock_guard lock(pending_mutex_);
        m.next_queue = next_queue_;
        for (const auto& [id, entry] : catalog_) {
            m.next_ids.emplace_back(id, entry.next_id);
        }
    }
    std::sort(m.next_ids.begin(), m.next_ids.end());
    for (const auto& [n, seg] : state_.segments) {
        auto gone = std::find_if(missing_.begin(), missing_.end(),
                                 [n = n](const auto& e) { return e.number == n; });
        if (gone != missing_.end()) {
            m.segments.push_back(*gone);  // exactly as listed when it went missing
            continue;
        }
        manifest::segment_entry entry;
        entry.number = n;
        entry.sealed = n != active_number_;
        if (entry.sealed) {
            entry.queues.assign(seg.queues.begin(), seg.queues.end());
        }
        m.segments.push_back(std::move(entry));
    }
    return write_manifest(options_.directory, m, *options_.files);
}

// ---- sync lanes ----

void journal_impl::lane_main() {
    std::unique_lock lock(sync_mutex_);
    for (;;) {
        sync_cv_.wait(lock, [&] { return stop_lanes_ || sync_target_ > sync_started_; });
        if (sync_target_ <= sync_started_) {
            return;  // stopping, and nothing left to sync
        }
        const std::uint64_t through = written_seq_.load();
        sync_started_ = through;
        const auto file = sync_file_;
        ++busy_lanes_;
        lock.unlock();
        const int rc = failed_ ? -EIO : options_.files->sync(file->fd());
        ++syncs_;
        lock.lock();
        --busy_lanes_;
        if (rc == 0) {
            std::uint64_t durable = durable_seq_.load();
            while (durable < through && !durable_seq_.compare_exchange_weak(durable, through)) {
            }
        }
        lock.unlock();
        if (rc != 0) {
            enter_failed(rc);
        }
        sync_cv_.notify_all();  // finish_writer() may be waiting for this sync
        {
            std::lock_guard pending(pending_mutex_);
            if (writer_waiting_ == writer_wait::lane) {
                writer_waiting_ = writer_wait::none;
                writer_cv_.notify_one();
            }
        }
        pump_completions();
        lock.lock();
    }
}

// A failed fdatasync may have dropped dirty pages (the kernel does not keep
// them for a retry), so nothing after it can be promised: the journal stops
// writing; what was confirmed stays readable.
void journal_impl::enter_failed(int err) {
    (void)err;
    failed_ = true;
    sync_cv_.notify_all();
}

void journal_impl::pump_completions() {
    std::lock_guard lock(completion_mutex_);
    while (!unconfirmed_.empty()) {
        batch& b = *unconfirmed_.front();
        const bool synced = !b.requires_sync || b.last_seq <= durable_seq_.load();
        if (!synced && !failed_) {
            return;
        }
        deliver(b, synced ? boost::system::error_code{} : make_error_code(errc::sync_failed));
        unconfirmed_.pop_front();
    }
}

// Hands each queue its tokens, grouped by queue and outcome, and runs the
// batch's callbacks, all in submission order (tokens submitted before a
// callback's operation are handed over before it runs).
void journal_impl::deliver(batch& b, boost::system::error_code batch_error) {
    std::vector<completion> out;
    std::unordered_map<queue_id, std::size_t> last_of_queue;
    auto hand_over = [&] {
        for (completion& c : out) {
            auto h = handlers_.find(c.queue);
            if (h != handlers_.end() && h->second) {
                h->second(std::move(c));
            }
        }
        out.clear();
        last_of_queue.clear();
    };
    for (const pending_op& op : b.ops) {
        const boost::system::error_code ec = op.error ? op.error : batch_error;
        if (op.token != no_token) {
            auto it = last_of_queue.find(op.queue);
            if (it == last_of_queue.end() || out[it->second].error != ec) {
                last_of_queue[op.queue] = out.size();
                out.push_back({op.queue, ec, {}});
            }
            out[last_of_queue[op.queue]].tokens.push_back(op.token);
        }
        if (op.callback != 0 && b.callbacks[op.callback - 1]) {
            hand_over();
            b.callbacks[op.callback - 1](ec);
        }
    }
    hand_over();
}

}  // namespace stampede::storage::detail
