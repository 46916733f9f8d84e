// A session's life: start, the reader loop (with split-frame assembly), the
// writer loop, closing and cleaning up. Frame handling is session_frames.cpp,
// serializing what goes out is session_output.cpp.

#include "session.hpp"

#include "flow.hpp"
#include "queue.hpp"
#include "registry.hpp"
#include "stampede/runtime/log.hpp"
#include "topic.hpp"

namespace stampede::broker {

namespace {

// After an ERROR, the peer gets this long to read it before the socket closes
// under whatever it is still sending (which would make the kernel reset it).
constexpr auto linger_time = std::chrono::seconds(1);

// A frame split across receives is completed from chunks this large at least,
// doubling with the frame, so a long frame is copied a bounded number of times.
constexpr std::size_t assembly_chunk = 4096;

// A writer with nothing to write for this long ends, returning its stack.
constexpr auto writer_idle_time = std::chrono::seconds(1);

protocol::limits limits_before_connect(const config& cfg) {
    protocol::limits l;
    l.max_command_line = cfg.limits.max_command_line;
    l.max_headers = cfg.limits.max_headers;
    l.max_header_line = cfg.limits.max_header_line;
    l.max_frame = cfg.limits.max_frame_before_connect;
    return l;
}

// The limit a parse error broke, named as the configuration names it, so that
// the ERROR's body tells the user which setting to look at.
std::string limit_broken(protocol::errc e, const config& cfg, bool connected) {
    const auto& l = cfg.limits;
    switch (e) {
        case protocol::errc::frame_too_large:
            return connected ? "a frame may be at most " + std::to_string(l.max_frame) +
                                   " bytes (limits.max_frame)"
                             : "before CONNECT succeeds a frame may be at most " +
                                   std::to_string(l.max_frame_before_connect) +
                                   " bytes (limits.max_frame_before_connect)";
        case protocol::errc::command_too_long:
            return "a command line may be at most " + std::to_string(l.max_command_line) +
                   " bytes (limits.max_command_line)";
        case protocol::errc::header_line_too_long:
            return "a header line may be at most " + std::to_string(l.max_header_line) +
                   " bytes (limits.max_header_line)";
        case protocol::errc::too_many_headers:
            return "a frame may have at most " + std::to_string(l.max_headers) +
                   " headers (limits.max_headers)";
        default:
            return {};
    }
}

std::string peer_of(const runtime::tcp_stream& stream) {
    auto peer = runtime::endpoint::peer_of(stream.native_handle());
    return peer ? peer->to_string() : "?";
}

}  // namespace

session::session(broker_context& ctx, runtime::tcp_stream stream, std::uint64_t id)
    : ctx_(ctx),
      stream_(std::move(stream)),
      id_(id),
      id_text_(std::to_string(id)),
      parser_(limits_before_connect(ctx.cfg)) {
    counters_.id = id;
    counters_.peer = peer_of(stream_);
}

session::~session() = default;

void session::serve(broker_context& ctx, runtime::tcp_stream stream) {
    const std::uint64_t id = ctx.next_session_id.fetch_add(1, std::memory_order_relaxed);
    auto s = std::make_shared<session>(ctx, std::move(stream), id);
    s->start();
    s->read_loop();
    s->finish();
}

void session::start() {
    shard_state& shard = ctx_.here();
    shard.sessions[id_] = weak_from_this();
    shard.stats->add(&counters_);
    last_received_ = runtime::clock::now();
    actor_ = runtime::spawn<session_actor>(*runtime::this_scheduler(), "session-" + id_text_,
                                           shared_from_this(), ctx_.cfg.limits.connect_timeout_ms,
                                           ctx_.cfg.outbound.grace_ms);
    credit_ = std::make_shared<publish_credit>(actor_, ctx_.cfg.publishers);
    runtime::log::debug("connection ", id_, " from ", counters_.peer);
}

// ---- reading ----

void session::read_loop() {
    while (!closing_) {
        auto data = stream_.receive();
        if (!data) {
            if (data.error() != runtime::errc::end_of_stream &&
                data.error() != runtime::errc::stream_closed) {
                runtime::log::debug("connection ", id_,
                                    ": receive failed: ", data.error().message());
            }
            break;
        }
        last_received_ = runtime::clock::now();
        counters_.bytes_in += data->size();
        consume(data->data());
    }
    if (closing_ && stream_.is_open()) {
        linger();
    }
    reader_done_ = true;
    reader_exited_.notify_all();
}

// Parses every complete frame of `input` in place; keeps a trailing partial
// frame in the assembly buffer (the only bytes ever copied before parsing).
void session::consume(std::span<char> input) {
    if (!assembly_.empty() && !feed_assembly(input)) {
        return;
    }
    while (!input.empty() && !closing_) {
        const protocol::parse_result r = parser_.parse(input);
        if (r.status == protocol::parse_status::need_more) {
            assembly_.assign(input.begin(), input.end());
            return;
        }
        if (!handle_parse(r)) {
            return;
        }
        input = input.subspan(r.consumed);
    }
}

// Completes the frame that began in an earlier receive: appends `input` in
// growing chunks until the parser finishes it, handles it, and hands back in
// `input` whatever of it the frame did not use. False while more is needed.
bool session::feed_assembly(std::span<char>& input) {
    while (!input.empty()) {
        const std::size_t chunk =
            std::min(input.size(), std::max(assembly_.size(), assembly_chunk));
        assembly_.insert(assembly_.end(), input.data(), input.data() + chunk);
        input = input.subspan(chunk);
        const protocol::parse_result r = parser_.parse(assembly_);
        if (r.status == protocol::parse_status::need_more) {
            continue;
        }
        // The bytes past the frame were the tail of this chunk: parse them where they are.
        const std::size_t unused =
            r.status == protocol::parse_status::error ? 0 : assembly_.size() - r.consumed;
        input = std::span<char>(input.data() - unused, input.size() + unused);
        const bool ok = handle_parse(r);  // the frame views assembly_: handle it first
        assembly_.clear();
        if (assembly_.capacity() > 64 * 1024) {
            std::vector<char>().swap(assembly_);
        }
        return ok;
    }
    return false;
}

bool session::handle_parse(const protocol::parse_result& r) {
    switch (r.status) {
        case protocol::parse_status::complete: {
            // Only publishing is held back: a consumer's SUBSCRIBE and ACKs
            // are what drains the memory that publishers filled.
            const protocol::command cmd = parser_.frame().cmd;
            dispatch(parser_.frame());
            const bool published =
                cmd == protocol::command::send || cmd == protocol::command::commit;
            if (published && connected_ && !closing_ && publisher_must_wait()) {
                respect_flow_control();
            }
            return !closing_;
        }
        case protocol::parse_status::heartbeat:
            return true;
        case protocol::parse_status::error:
            fail(protocol::describe(r.error), limit_broken(r.error, ctx_.cfg, connected_));
            return false;
        case protocol::parse_status::need_more:
            break;
    }
    return true;
}

// After an ERROR: discard what the peer still sends until it closes, or for
// a second, so that closing does not reset the connection under the ERROR.
void session::linger() {
    const runtime::time_point until = runtime::deadline_after(linger_time);
    while (stream_.receive(until)) {
    }
}

// ---- writing ----

// The writer fiber runs only while there is something to write (and a little
// after): an idle connection holds no writer stack.
void session::wake_writer() noexcept {
    if (writer_running_) {
        writer_wake_.notify_one();
        return;
    }
    if (writer_done_) {
        return;
    }
    writer_running_ = true;
    runtime::this_scheduler()->spawn([self = shared_from_this()] { self->writer_loop(); },
                                     {ctx_.cfg.stack_size, "session.writer"});
}

// Waits for output. False when the writer should end: idle long enough (the
// next output starts a new one) or the runtime is stopping.
bool session::await_output() {
    while (out_.empty() && !closing_) {
        const auto waited = writer_wake_.wait(runtime::deadline_after(writer_idle_time));
        if (!waited && (waited.error() != runtime::errc::timeout || out_.empty())) {
            return false;
        }
    }
    return true;
}

// Writes one batch: a single write, or with shared bodies one gathered write.
runtime::result<void> session::write_batch(const byte_buffer& batch,
                                           const std::vector<outbound_entry>& entries,
                                           std::vector<iovec>& iovecs) {
    std::size_t bytes = batch.size();
    runtime::result<void> written;
    if (has_shared_bodies(entries)) {
        gather_iovecs(batch, entries, iovecs);
        bytes = 0;
        for (const iovec& v : iovecs) {
            bytes += v.iov_len;
        }
        written = stream_.writev(iovecs);
    } else {
        written = stream_.write({batch.data(), batch.size()});
    }
    if (written) {
        last_written_at_ = runtime::clock::now();
        written_total_ += bytes;
        counters_.bytes_out += bytes;
        counters_.frames_out += entries.size();
    }
    return written;
}

void session::writer_loop() {
    byte_buffer batch;
    std::vector<outbound_entry> entries;
    std::vector<iovec> iovecs;
    for (;;) {
        if (!await_output()) {
            if (!closing_) {
                writer_running_ = false;  // idle: give the stack and the buffers back
                out_.release_memory(0);
                return;
            }
            break;
        }
        if (out_.empty()) {
            break;  // closing, and everything is written
        }
        out_.take(batch, entries);
        if (auto written = write_batch(batch, entries, iovecs); !written) {
            runtime::log::debug("connection ", id_, ": write failed: ", written.error().message());
            closing_ = true;
            break;
        }
        settle_written(entries);
        batch.clear();
        entries.clear();
        relieve_outbound();
        if (out_.empty()) {
            out_.release_memory();
            if (batch.capacity() > 64 * 1024) {
                batch.release();
            }
        }
    }
    // Everything that will be written is: end our side, give the peer a moment
    // to close its own, then close under it.
    stream_.shutdown_send();
    const runtime::time_point until = runtime::deadline_after(linger_time);
    while (!reader_done_ && reader_exited_.wait(until)) {
    }
    if (!reader_done_) {
        stream_.close();
    }
    writer_done_ = true;
    writer_running_ = false;
    writer_exited_.notify_all();
}

// Auto-ack deliveries from a queue are settled once written: until then the
// queue still holds them for redelivery should the connection fail.
void session::settle_written(const std::vector<outbound_entry>& entries) {
    std::uint32_t slot = 0;
    std::vector<std::uint64_t> sequences;
    auto flush = [&] {
        if (!sequences.empty()) {
            if (subscription* sub = find_slot(slot)) {
                sub->destination.queue.cast(settle{key_for(*sub), std::move(sequences), false});
            }
            sequences.clear();
        }
    };
    for (const outbound_entry& e : entries) {
        if (e.kind != entry_kind::queue_message || e.slot == 0) {
            continue;  // only auto-ack queue deliveries carry a slot to settle
        }
        if (e.slot != slot) {
            flush();
            slot = e.slot;
        }
        sequences.push_back(e.sequence);
    }
    flush();
}

// ---- closing ----

void session::close(std::string_view reason) {
    fail(reason);
}

void session::finish() {
    closing_ = true;
    wake_writer();
    const runtime::time_point until =
        runtime::deadline_after(std::chrono::milliseconds(ctx_.cfg.shutdown_timeout_ms));
    while (!writer_done_ && writer_exited_.wait(until)) {
    }
    stream_.close();  // also ends a writer stuck on a peer that stopped reading
    while (!writer_done_ && writer_exited_.wait()) {
    }
    set_congestion(false);
    std::vector<subscription*> subs;
    for (auto& [id, sub] : subscriptions_) {
        subs.push_back(sub.get());
    }
    for (subscription* sub : subs) {
        remove_subscription(*sub);
    }
    for (const auto& [name, handle] : destinations_) {
        ctx_.registries[ctx_.shard_for(handle.key)].cast(release_destination{handle.key});
    }
    destinations_.clear();
    transactions_.clear();
    shard_state& shard = ctx_.here();
    shard.sessions.erase(id_);
    shard.stats->remove(&counters_);
    actor_.cast(end_session{});
    runtime::log::debug("connection ", id_, " closed");
}

// ---- timers ----

// Fires one interval (less a little slack for timer lateness) after the last
// write reached the socket; if nothing was written since, a heart-beat goes.
// Output that is still queued (a backed-up socket) counts as traffic: the
// beat would only wait behind it. Returns when to look again.
std::optional<std::uint32_t> session::on_heartbeat_send_tick() {
    if (closing_ || heartbeat_.send_every_ms == 0) {
        return std::nullopt;
    }
    const std::chrono::milliseconds interval(heartbeat_.send_every_ms);
    const auto period = interval - std::min<std::chrono::milliseconds>(
                                       interval / 10, std::chrono::milliseconds(10));
    const auto now = runtime::clock::now();
    const auto due = last_written_at_ + period;
    if (now < due) {
        const auto wait = std::chrono::ceil<std::chrono::milliseconds>(due - now);
        return static_cast<std::uint32_t>(std::max<std::int64_t>(1, wait.count()));
    }
    if (out_.empty()) {
        queue_control("\n");
    }
    last_written_at_ = now;
    return static_cast<std::uint32_t>(std::max<std::int64_t>(1, period.count()));
}

std::optional<std::uint32_t> session::on_heartbeat_check_tick() {
    if (closing_ || heartbeat_.expect_every_ms == 0) {
        return std::nullopt;
    }
    if (paused_) {
        // Held back by flow control, its heart-beats sit unread in the socket.
        return 2 * heartbeat_.expect_every_ms;
    }
    const auto limit = std::chrono::milliseconds(2ull * heartbeat_.expect_every_ms);
    const auto silent = runtime::clock::now() - last_received_;
    if (silent >= limit) {
        fail("heart-beat timeout",
             "no frame or heart-beat from the client for " +
                 std::to_string(
                     std::chrono::duration_cast<std::chrono::milliseconds>(silent).count()) +
                 " ms (negotiated interval " + std::to_string(heartbeat_.expect_every_ms) + " ms)");
        return std::nullopt;
    }
    const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(limit - silent);
    return static_cast<std::uint32_t>(std::max<std::int64_t>(1, remaining.count()));
}

void session::on_connect_deadline() {
    if (!connected_ && !closing_) {
        fail("no CONNECT frame within " + std::to_string(ctx_.cfg.limits.connect_timeout_ms) +
             " ms");
    }
}

// ---- the mailbox ----

bool session_actor::init(runtime::exit_reason&) {
    send_after(std::chrono::milliseconds(connect_timeout_ms_), connect_deadline{});
    return true;
}

void session_actor::handle_cast(start_heartbeats& plan) {
    if (plan.send_every_ms > 0) {
        heartbeat_send_tick tick;
        handle_info(tick);
    }
    if (plan.expect_every_ms > 0) {
        send_after(std::chrono::milliseconds(2ull * plan.expect_every_ms), heartbeat_check_tick{});
    }
}

void session_actor::handle_info(heartbeat_send_tick&) {
    if (const auto next = session_->on_heartbeat_send_tick()) {
        send_after(std::chrono::milliseconds(*next), heartbeat_send_tick{});
    }
}

void session_actor::handle_info(heartbeat_check_tick&) {
    if (const auto next = session_->on_heartbeat_check_tick()) {
        send_after(std::chrono::milliseconds(*next), heartbeat_check_tick{});
    }
}

}  // namespace stampede::broker
