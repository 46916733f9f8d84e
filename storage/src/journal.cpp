// The journal's public face and everything callers run: admission, encoding
// into the pending batch, reads. The writer, sync lanes and compaction are in
// writer.cpp and compaction.cpp.

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <future>

#include "journal_impl.hpp"

namespace stampede::storage {

namespace {

boost::system::error_code check_options(const journal_options& o, std::string* why) {
    auto fail = [&](const char* text) {
        if (why != nullptr) {
            *why = std::string("journal options: ") + text;
        }
        return make_error_code(errc::invalid_argument);
    };
    if (o.segment_bytes < (64u << 10) || o.segment_bytes > (2ull << 30) ||
        o.segment_bytes % 4096 != 0) {
        return fail("segment_bytes must be a multiple of 4 KiB between 64 KiB and 2 GiB");
    }
    if (o.sync_lanes == 0 || o.sync_lanes > 64) {
        return fail("sync_lanes must be 1-64");
    }
    if (o.sync == sync_mode::interval && o.sync_interval.count() <= 0) {
        return fail("sync interval must be positive");
    }
    if (o.compact_below < 0 || o.compact_below > 1) {
        return fail("compact_below must be within 0-1");
    }
    return {};
}

}  // namespace

result<std::unique_ptr<journal>> journal::open(journal_options options, std::string* diagnostic) {
    if (auto ec = check_options(options, diagnostic)) {
        return ec;
    }
    auto recovered = detail::recover(options, diagnostic);
    if (!recovered) {
        return recovered.error();
    }
    auto impl = std::make_unique<detail::journal_impl>(std::move(options), std::move(*recovered));
    if (const int rc = impl->start(); rc != 0) {
        if (diagnostic != nullptr) {
            *diagnostic = "data directory " + impl->options().directory.string() +
                          ": cannot start the journal: " + std::strerror(-rc);
        }
        return make_error_code(rc == -ENOSPC ? errc::no_space : errc::bad_directory);
    }
    return std::unique_ptr<journal>(new journal(std::move(impl)));
}

journal::journal(std::unique_ptr<detail::journal_impl> impl) : impl_(std::move(impl)) {}
journal::~journal() {
    impl_->close();
}

const recovery_report& journal::recovery() const noexcept {
    return impl_->report();
}
result<queue_id> journal::open_queue(std::string_view name, completion_handler on_complete) {
    return impl_->open_queue(name, std::move(on_complete));
}
void journal::close_queue(queue_id queue) {
    impl_->close_queue(queue);
}
result<void> journal::delete_queue(queue_id queue, done_handler done) {
    return impl_->delete_queue(queue, std::move(done));
}
result<message_id> journal::append(queue_id queue, const message_in& message, std::uint64_t token) {
    return impl_->append(queue, message, token);
}
result<void> journal::ack(queue_id queue, std::span<const message_id> ids, std::uint64_t token) {
    return impl_->refs(detail::record_type::ack, queue, ids, token);
}
result<void> journal::mark_delivered(queue_id queue, std::span<const message_id> ids,
                                     std::uint64_t token) {
    return impl_->refs(detail::record_type::delivered, queue, ids, token);
}
void journal::read(queue_id queue, message_id from, read_limits limits, read_handler done) {
    impl_->read(queue, from, limits, std::move(done));
}
result<void> journal::put_subscription(const subscription_record& record, done_handler done) {
    return impl_->put_subscription(record, std::move(done));
}
result<void> journal::remove_subscription(std::string_view name, done_handler done) {
    return impl_->remove_subscription(name, std::move(done));
}
std::vector<subscription_record> journal::subscriptions() const {
    return impl_->subscriptions();
}
store_stats journal::stats() const {
    return impl_->stats();
}
result<std::vector<stored_message>> journal::read_now(queue_id queue, message_id from,
                                                      read_limits limits) const {
    return impl_->read_now(queue, from, limits);
}
void journal::flush() {
    impl_->flush();
}
void journal::compact_now() {
    impl_->compact_now();
}
std::vector<queue_summary> journal::queues() const {
    return impl_->queues();
}
const journal_options& journal::options() const noexcept {
    return impl_->options();
}

namespace detail {

journal_impl::journal_impl(journal_options options, recovery_result recovered)
    : options_(std::move(options)),
      report_(std::move(recovered.report)),
      lock_(std::move(recovered.lock)),
      pending_(std::make_unique<batch>()),
      active_(std::move(recovered.active)),
      tail_(recovered.tail),
      next_seq_(recovered.next_seq),
      next_segment_(recovered.next_segment),
      empties_(std::move(recovered.empties)),
      state_(std::move(recovered.state)),
      missing_(std::move(recovered.missing)) {
    if (!options_.files) {
        options_.files = std::make_shared<file_ops>();
    }
    if (!options_.now) {
        options_.now = [] { return steady::now(); };
    }
    // Room for the segment header, a batch_start and the seal besides the record.
    const std::uint64_t framing = record_size(16) + record_size(8) + record_size(4);
    max_payload_ = std::min<std::uint64_t>(options_.segment_bytes - framing, max_record_size) -
                   header_size;
    if (active_) {
        active_number_ = active_->number();
        struct stat st {};
        active_size_ = ::fstat(active_->fd(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size)
                                                        : options_.segment_bytes;
    }
    for (const auto& [id, q] : state_.queues) {
        catalog_[id] = {q.name, q.next_id, q.quarantined};
    }
    for (const auto& [name, id] : state_.names) {
        catalog_names_[name] = id;  // the latest declaration of a name
    }
    for (const auto& [name, sub] : state_.subscriptions) {
        catalog_subscriptions_[name] = sub.record;
    }
    next_queue_ = state_.next_queue;
    const std::uint64_t durable = next_seq_ - 1;
    written_seq_ = durable;
    sync_target_ = durable;
    sync_started_ = durable;
    durable_seq_ = durable;
    sync_file_ = active_;
}

journal_impl::~journal_impl() {
    close();
}

// ---- callers ----

result<void> journal_impl::admit_locked(queue_id queue, bool allow_quarantined) const {
    if (options_.read_only) {
        return make_error_code(errc::read_only);
    }
    if (closing_) {
        return make_error_code(errc::closed);
    }
    if (failed_) {
        return make_error_code(errc::sync_failed);
    }
    auto it = catalog_.find(queue);
    if (it == catalog_.end()) {
        return make_error_code(errc::unknown_queue);
    }
    if (it->second.quarantined && !allow_quarantined) {
        return make_error_code(errc::quarantined);
    }
    return {};
}

void journal_impl::push_locked(pending_op op, std::string_view payload, done_handler done) {
    batch& b = *pending_;
    if (b.ops.empty()) {
        b.first_at = now();
    }
    op.payload_offset = b.payloads.size();
    op.payload_size = payload.size();
    b.payloads.append(payload);
    if (done) {
        b.callbacks.push_back(std::move(done));
        op.callback = static_cast<std::uint32_t>(b.callbacks.size());
    }
    b.ops.push_back(op);
    pending_bytes_ += record_size(payload.size());
    wake_writer_locked();
}

void journal_impl::wake_writer_locked() {
    if (writer_waiting_ == writer_wait::data ||
        (writer_waiting_ == writer_wait::lane &&
         (pending_bytes_ >= options_.max_batch_bytes || pending_->force_sync))) {
        writer_waiting_ = writer_wait::none;
        writer_cv_.notify_one();
    }
}

result<queue_id> journal_impl::open_queue(std::string_view name, completion_handler on_complete) {
    if (name.size() > 0xffff) {
        return make_error_code(errc::invalid_argument);
    }
    queue_id id = 0;
    {
        std::lock_guard lock(pending_mutex_);
        if (options_.read_only) {
            return make_error_code(errc::read_only);
        }
        if (closing_ || failed_) {
            return make_error_code(closing_ ? errc::closed : errc::sync_failed);
        }
        auto it = catalog_names_.find(std::string(name));
        if (it != catalog_names_.end()) {
            id = it->second;
            if (catalog_[id].quarantined) {
                return make_error_code(errc::quarantined);
            }
        } else {
            id = next_queue_++;
            catalog_[id] = {std::string(name), 1, false};
            catalog_names_[std::string(name)] = id;
            std::string payload;
            payload_writer out(payload);
            out.put<queue_id>(id);
            out.put<message_id>(1);
            out.put<std::uint16_t>(static_cast<std::uint16_t>(name.size()));
            out.bytes(name);
            push_locked(pending_op::make(record_type::queue_declare, id), payload);
        }
    }
    std::lock_guard lock(completion_mutex_);
    handlers_[id] = std::move(on_complete);
    return id;
}

void journal_impl::close_queue(queue_id queue) {
    std::lock_guard lock(completion_mutex_);
    handlers_.erase(queue);
}

result<void> journal_impl::delete_queue(queue_id queue, done_handler done) {
    std::lock_guard lock(pending_mutex_);
    if (auto ok = admit_locked(queue, true); !ok) {
        return ok;
    }
    auto it = catalog_.find(queue);
    catalog_names_.erase(it->second.name);
    catalog_.erase(it);
    std::string payload;
    payload_writer out(payload);
    out.put<queue_id>(queue);
    out.put<std::uint32_t>(0);  // the writer fills in the segments that hold its records
    push_locked(pending_op::make(record_type::queue_delete, queue), payload, std::move(done));
    return {};
}

result<message_id> journal_impl::append(queue_id queue, const message_in& message,
                                        std::uint64_t token) {
    const std::size_t payload = message_layout::fixed + message.headers.size() + message.body.size();
    if (payload > max_payload_) {
        return make_error_code(errc::record_too_large);
    }
    std::lock_guard lock(pending_mutex_);
    if (auto ok = admit_locked(queue); !ok) {
        return ok.error();
    }
    const message_id id = catalog_[queue].next_id++;
    batch& b = *pending_;
    if (b.ops.empty()) {
        b.first_at = now();
    }
    pending_op op = pending_op::make(record_type::message, queue, token);
    op.payload_offset = b.payloads.size();
    op.payload_size = payload;
    b.payloads.resize(b.payloads.size() + payload);
    char* p = b.payloads.data() + op.payload_offset;
    const message_properties& props = message.properties;
    std::memset(p, 0, message_layout::fixed);
    store<queue_id>(p + message_layout::queue, queue);
    store<message_id>(p + message_layout::id, id);
    p[message_layout::priority] = static_cast<char>(props.priority);
    store<std::uint32_t>(p + message_layout::deliveries, props.deliveries);
    store<std::int64_t>(p + message_layout::expires, props.expires_at_ms);
    store<std::int64_t>(p + message_layout::deliver_at, props.deliver_at_ms);
    store<std::uint32_t>(p + message_layout::headers_length,
                         static_cast<std::uint32_t>(message.headers.size()));
    std::memcpy(p + message_layout::fixed, message.headers.data(), message.headers.size());
    std::memcpy(p + message_layout::fixed + message.headers.size(), message.body.data(),
                message.body.size());
    b.ops.push_back(op);
    pending_bytes_ += record_size(payload);
    wake_writer_locked();
    return id;
}

result<void> journal_impl::refs(record_type type, queue_id queue,
                                std::span<const message_id> ids, std::uint64_t token) {
    // Large acknowledgements are split so each record stays well inside a segment.
    const std::size_t per_record =
        std::max<std::size_t>(1, std::min<std::size_t>(65536, (max_payload_ - 8) / ref_entry_size));
    std::lock_guard lock(pending_mutex_);
    if (auto ok = admit_locked(queue); !ok) {
        return ok;
    }
    std::size_t done = 0;
    do {
        const std::size_t n = std::min(per_record, ids.size() - done);
        std::string payload;
        payload.reserve(ref_header_size + n * ref_entry_size);
        payload_writer out(payload);
        out.put<queue_id>(queue);
        out.put<std::uint32_t>(static_cast<std::uint32_t>(n));
        for (std::size_t i = 0; i < n; ++i) {
            out.put<message_id>(ids[done + i]);
            out.put<std::uint32_t>(0);  // the writer fills in the segment of the message
        }
        done += n;
        const bool last = done == ids.size();
        push_locked(pending_op::make(type, queue, last ? token : no_token), payload);
    } while (done < ids.size());
    return {};
}

result<void> journal_impl::put_subscription(const subscription_record& record, done_handler done) {
    if (record.name.size() > 0xffff || record.destination.size() > 0xffff) {
        return make_error_code(errc::invalid_argument);
    }
    std::lock_guard lock(pending_mutex_);
    if (auto ok = admit_locked(record.queue); !ok) {
        return ok;
    }
    std::string payload;
    payload_writer out(payload);
    out.put<queue_id>(record.queue);
    out.put<std::uint16_t>(static_cast<std::uint16_t>(record.name.size()));
    out.put<std::uint16_t>(static_cast<std::uint16_t>(record.destination.size()));
    out.put<std::uint32_t>(static_cast<std::uint32_t>(record.selector.size()));
    out.bytes(record.name);
    out.bytes(record.destination);
    out.bytes(record.selector);
    if (record_size(payload.size()) > max_payload_) {
        return make_error_code(errc::record_too_large);
    }
    catalog_subscriptions_[record.name] = record;
    push_locked(pending_op::make(record_type::subscription_put, record.queue), payload,
                std::move(done));
    return {};
}

result<void> journal_impl::remove_subscription(std::string_view name, done_handler done) {
    if (name.size() > 0xffff) {
        return make_error_code(errc::invalid_argument);
    }
    std::lock_guard lock(pending_mutex_);
    if (options_.read_only || closing_ || failed_) {
        return make_error_code(options_.read_only ? errc::read_only
                               : closing_         ? errc::closed
                                                  : errc::sync_failed);
    }
    catalog_subscriptions_.erase(std::string(name));
    std::string payload;
    payload_writer out(payload);
    out.put<std::uint32_t>(0);  // the writer fills in the segment of the put it cancels
    out.put<std::uint16_t>(static_cast<std::uint16_t>(name.size()));
    out.bytes(name);
    push_locked(pending_op::make(record_type::subscription_remove), payload, std::move(done));
    return {};
}

std::vector<subscription_record> journal_impl::subscriptions() const {
    std::lock_guard lock(pending_mutex_);
    std::vector<subscription_record> out;
    for (const auto& [name, record] : catalog_subscriptions_) {
        out.push_back(record);
    }
    return out;
}

void journal_impl::flush() {
    std::promise<void> flushed;
    auto done = flushed.get_future();
    {
        std::lock_guard lock(pending_mutex_);
        if (!started_ || closing_) {
            return;
        }
        pending_->force_sync = true;
        pending_op barrier;
        barrier.no_record = true;
        push_locked(barrier, {},
                    [&flushed](boost::system::error_code) { flushed.set_value(); });
    }
    done.wait();
}

void journal_impl::compact_now() {
    if (!started_) {
        return;
    }
    flush();
    std::unique_lock lock(pending_mutex_);
    const unsigned ticket = ++compact_requests_;
    if (writer_waiting_ != writer_wait::none) {
        writer_waiting_ = writer_wait::none;
        writer_cv_.notify_one();
    }
    compact_cv_.wait(lock, [&] { return compact_done_ >= ticket || writer_done_; });
}

// ---- state for tools and metrics ----

std::vector<queue_summary> journal_impl::queues() const {
    std::lock_guard lock(index_mutex_);
    std::vector<queue_summary> out;
    for (const auto& [id, q] : state_.queues) {
        const message_id first = q.slots.next_live(0);
        out.push_back({id, q.name, q.messages, q.bytes, first == 0 ? q.next_id : first,
                       q.next_id, q.quarantined, q.reason});
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    return out;
}

store_stats journal_impl::stats() const {
    store_stats s;
    s.appends = appends_;
    s.batches = batches_;
    s.syncs = syncs_;
    s.write_errors = write_errors_;
    s.compacted_segments = compacted_;
    s.tail_cuts = report_.tail_cuts;
    s.failed = failed_;
    {
        std::lock_guard lock(pending_mutex_);
        s.pending_bytes = pending_bytes_;
    }
    std::lock_guard lock(index_mutex_);
    s.live_bytes = state_.live_bytes;
    s.live_messages = state_.live_messages;
    for (const auto& [n, seg] : state_.segments) {
        struct stat st {};
        if (seg.file && ::fstat(seg.file->fd(), &st) == 0) {
            ++s.segments;
            s.disk_bytes += static_cast<std::uint64_t>(st.st_blocks) * 512;
        }
    }
    return s;
}

// ---- reads ----

void journal_impl::read(queue_id queue, message_id from, read_limits limits, read_handler done) {
    if (!started_) {
        done(read_now(queue, from, limits));
        return;
    }
    {
        std::lock_guard lock(read_mutex_);
        if (!stop_reader_) {
            reads_.push_back({queue, from, limits, std::move(done)});
            read_cv_.notify_one();
            return;
        }
    }
    done(make_error_code(errc::closed));
}

void journal_impl::reader_main() {
    std::unique_lock lock(read_mutex_);
    for (;;) {
        read_cv_.wait(lock, [&] { return stop_reader_ || !reads_.empty(); });
        if (reads_.empty()) {
            return;
        }
        read_request request = std::move(reads_.front());
        reads_.pop_front();
        lock.unlock();
        request.done(read_now(request.queue, request.from, request.limits));
        lock.lock();
    }
}

namespace {

struct pick {
    message_id id = 0;
    slot where;
    std::shared_ptr<segment_file> file;
};

result<stored_message> decode_message(std::string_view record, const pick& p) {
    record_view r;
    if (parse_record(record, r) != parse_status::ok || r.type != record_type::message ||
        r.payload.size() < message_layout::fixed) {
        return make_error_code(errc::corrupt);
    }
    const char* q = r.payload.data();
    const auto headers = load<std::uint32_t>(q + message_layout::headers_length);
    if (load<message_id>(q + message_layout::id) != p.id ||
        headers > r.payload.size() - message_layout::fixed) {
        return make_error_code(errc::corrupt);
    }
    stored_message m;
    m.id = p.id;
    m.properties.priority = static_cast<std::uint8_t>(q[message_layout::priority]);
    m.properties.expires_at_ms = load<std::int64_t>(q + message_layout::expires);
    m.properties.deliver_at_ms = load<std::int64_t>(q + message_layout::deliver_at);
    m.properties.deliveries = p.where.deliveries();
    m.headers.assign(q + message_layout::fixed, headers);
    m.body.assign(r.payload.substr(message_layout::fixed + headers));
    return m;
}

}  // namespace

result<std::vector<stored_message>> journal_impl::read_now(queue_id queue, message_id from,
                                                           read_limits limits) const {
    std::vector<pick> picks;
    {
        std::unique_lock lock(index_mutex_);
        const queue_state* q = state_.find_queue(queue);
        if (q == nullptr) {
            lock.unlock();
            std::lock_guard pending(pending_mutex_);  // opened, nothing written yet?
            if (catalog_.contains(queue)) {
                return std::vector<stored_message>{};
            }
            return make_error_code(errc::unknown_queue);
        }
        std::size_t bytes = 0;
        for (message_id id = q->slots.next_live(std::max<message_id>(from, 1));
             id != 0 && picks.size() < limits.max_messages; id = q->slots.next_live(id + 1)) {
            const slot s = *q->slots.find(id);
            if (!picks.empty() && bytes + s.size() > limits.max_bytes) {
                break;
            }
            auto seg = state_.segments.find(s.segment);
            if (seg == state_.segments.end() || !seg->second.file) {
                return make_error_code(errc::corrupt);
            }
            picks.push_back({id, s, seg->second.file});
            bytes += s.size();
        }
    }
    std::vector<stored_message> out;
    out.reserve(picks.size());
    std::string buffer;
    for (const pick& p : picks) {
        buffer.resize(p.where.size());
        const ssize_t n = ::pread(p.file->fd(), buffer.data(), buffer.size(), p.where.offset);
        if (n != static_cast<ssize_t>(buffer.size())) {
            return make_error_code(n < 0 ? errc::write_failed : errc::corrupt);
        }
        auto m = decode_message(buffer, p);
        if (!m) {
            return m.error();
        }
        out.push_back(std::move(*m));
    }
    return out;
}

}  // namespace detail
}  // namespace stampede::storage
