#include "connection.hpp"

#include <linux/sockios.h>
#include <linux/tcp.h>  // not netinet/tcp.h: its tcp_info lacks tcpi_bytes_acked
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "stampede/runtime/log.hpp"

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

// Buffers above this are freed once used, not kept for the next frame.
constexpr std::size_t keep_buffer = 64 * 1024;

void shrink(std::vector<char>& buffer) {
    buffer.clear();
    if (buffer.capacity() > keep_buffer) {
        std::vector<char>().swap(buffer);
    }
}

}  // namespace

connection::connection(std::unique_ptr<transport::stream> stream, const protocol::limits& limits,
                       connection_counters& counters, std::function<bool()> spawn_writer)
    : stream_(std::move(stream)),
      parser_(limits),
      counters_(counters),
      spawn_writer_(std::move(spawn_writer)),
      last_received_(runtime::clock::now()) {}

// ---- reading ----

void connection::read_loop(connection_events& events) {
    reader_fiber_ = runtime::this_fiber::handle();
    while (!closing_) {
        auto data = stream_->receive();
        if (!data) {
            if (data.error() != runtime::errc::end_of_stream &&
                data.error() != runtime::errc::stream_closed) {
                runtime::log::debug("connection ", counters_.id,
                                    ": receive failed: ", data.error().message());
            }
            break;
        }
        last_received_ = runtime::clock::now();
        counters_.bytes_in += data->size();
        std::span<char> input = *data;
        while (consume(input, events) == step::wait) {
            hold(input);
            events.wait_to_read();
            if (closing_) {
                break;
            }
        }
        if (!held_.empty()) {
            shrink(held_);  // parsed: the lent buffer is long gone
        }
    }
    shrink(held_);
    if (closing_ && stream_->is_open()) {
        linger();
    }
    reader_done_ = true;
    reader_exited_.notify_all();
}

// Parses the frames of `input` in place, leaving in it what is left: nothing,
// or (on `wait`) the bytes after the frame that made the reader stop. A
// trailing partial frame goes to the assembly buffer.
connection::step connection::consume(std::span<char>& input, connection_events& events) {
    if (!assembly_.empty()) {
        if (const step s = feed_assembly(input, events); s != step::go_on) {
            return s;
        }
    }
    while (!input.empty() && !closing_) {
        const protocol::parse_result r = parser_.parse(input);
        if (r.status == protocol::parse_status::need_more) {
            assembly_.assign(input.begin(), input.end());
            input = {};
            return step::go_on;
        }
        const step s = handle(r, events);
        input = input.subspan(r.consumed);
        if (s != step::go_on) {
            return s;
        }
    }
    return closing_ ? step::stop : step::go_on;
}

// Completes the frame that began in an earlier receive: appends `input` in
// growing chunks until the parser finishes it, handles it, and hands back in
// `input` whatever of it the frame did not use.
connection::step connection::feed_assembly(std::span<char>& input, connection_events& events) {
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
        const step s = handle(r, events);  // the frame views assembly_: handle it first
        shrink(assembly_);
        return s;
    }
    return step::go_on;  // all of the input went into the assembly: wait for more
}

connection::step connection::handle(const protocol::parse_result& r, connection_events& events) {
    switch (r.status) {
        case protocol::parse_status::complete: {
            counters_.eol_bodies = parser_.leniency().eol_bodies;
            const protocol::command cmd = parser_.frame().cmd;
            events.on_frame(parser_.frame());
            if (closing_) {
                return step::stop;
            }
            return events.reader_must_wait(cmd) ? step::wait : step::go_on;
        }
        case protocol::parse_status::heartbeat:
            counters_.stray_nuls = parser_.leniency().stray_nuls;
            return step::go_on;
        case protocol::parse_status::error:
            events.on_parse_error(r.error);
            return step::stop;
        case protocol::parse_status::need_more:
            break;
    }
    return step::go_on;
}

// The reader is about to wait: whatever of the input is still unparsed moves
// into memory of our own (at most one receive's worth), and the buffer lent
// by the stream goes back, so a held connection pins no receive buffer.
void connection::hold(std::span<char>& input) {
    if (input.empty()) {
        shrink(held_);
    } else if (!held_.empty() && input.data() >= held_.data() &&
               input.data() < held_.data() + held_.size()) {
        held_.erase(held_.begin(), held_.begin() + (input.data() - held_.data()));
    } else {
        held_.assign(input.begin(), input.end());
    }
    stream_->release_input();
    input = std::span<char>(held_.data(), held_.size());
}

// After an ERROR: discard what the peer still sends until it closes, or for
// a second, so that closing does not reset the connection under the ERROR.
void connection::linger() {
    const runtime::time_point until = runtime::deadline_after(linger_time);
    while (stream_->receive(until)) {
    }
    stream_->release_input();
}

// ---- writing ----

// The writer fiber runs only while there is something to write (and a little
// after): an idle connection holds no writer stack.
void connection::wake_writer() noexcept {
    counters_.outbound_bytes = out_.bytes();
    if (writer_running_) {
        writer_wake_.notify_one();
        return;
    }
    if (writer_done_) {
        return;
    }
    writer_running_ = true;
    if (!spawn_writer_()) {
        // Nothing queued could ever be written: end the connection rather
        // than leave a client waiting for replies that cannot come.
        runtime::log::warn("connection ", counters_.id,
                           ": cannot start its writer (no fiber stack left): closing it");
        writer_running_ = false;
        writer_done_ = true;
        closing_ = true;
        stream_->close();
        writer_exited_.notify_all();
    }
}

void connection::begin_close(transport::close_reason why) noexcept {
    if (!closing_) {
        closing_ = true;
        close_reason_ = why;
    }
    wake_writer();
}

// Waits for output. False when the writer should end: idle long enough (the
// next output starts a new one) or the runtime is stopping.
bool connection::await_output() {
    while (out_.empty() && !closing_) {
        const auto waited = writer_wake_.wait(runtime::deadline_after(writer_idle_time));
        if (!waited && (waited.error() != runtime::errc::timeout || out_.empty())) {
            return false;
        }
    }
    return true;
}

// Writes one batch: each frame a message to the transport, with as few
// system calls as it allows (shared bodies are gathered, not copied).
runtime::result<void> connection::write_batch(const byte_buffer& batch,
                                              const std::vector<outbound_entry>& entries) {
    gather_iovecs(batch, entries, iovecs_);
    sizes_.clear();
    std::size_t bytes = 0;
    for (const outbound_entry& e : entries) {
        sizes_.push_back(e.size);
        bytes += e.size;
    }
    auto written = stream_->write_messages(iovecs_, sizes_);
    if (written) {
        last_written_ = runtime::clock::now();
        written_total_ += bytes;
        counters_.bytes_out += bytes;
        counters_.frames_out += entries.size();
    }
    return written;
}

void connection::writer_loop(connection_events& events) {
    byte_buffer batch;
    std::vector<outbound_entry> entries;
    for (;;) {
        if (!await_output()) {
            if (!closing_) {
                writer_running_ = false;  // idle: give the stack and the buffers back
                out_.release_memory(0);
                std::vector<iovec>().swap(iovecs_);
                std::vector<std::uint32_t>().swap(sizes_);
                release_reader_stack();
                return;
            }
            break;
        }
        if (out_.empty()) {
            break;  // closing, and everything is written
        }
        out_.take(batch, entries);
        counters_.outbound_bytes = 0;
        if (auto written = write_batch(batch, entries); !written) {
            runtime::log::debug("connection ", counters_.id,
                                ": write failed: ", written.error().message());
            closing_ = true;
            break;
        }
        events.on_written(entries);
        batch.clear();
        entries.clear();
        if (out_.empty()) {
            out_.release_memory();
            if (batch.capacity() > keep_buffer) {
                batch.release();
            }
        }
    }
    end_writer();
}

// The connection has been quiet for writer_idle_time: the reader, waiting
// for input, gives back the stack pages that the handshakes (TLS, the
// WebSocket upgrade), CONNECT and the first frames touched below where it
// waits. Idle, it then holds its top page instead of two or three.
void connection::release_reader_stack() noexcept {
    if (!reader_done_) {
        (void)runtime::release_unused_stack(reader_fiber_);
    }
}

// Everything that will be written is: end our side, give the peer a moment
// to close its own, then close under it.
void connection::end_writer() {
    stream_->shutdown_send(close_reason_);
    const runtime::time_point until = runtime::deadline_after(linger_time);
    while (!reader_done_ && reader_exited_.wait(until)) {
    }
    if (!reader_done_) {
        stream_->close();
    }
    writer_done_ = true;
    writer_running_ = false;
    writer_exited_.notify_all();
}

void connection::finish(runtime::duration timeout) {
    closing_ = true;
    wake_writer();
    const runtime::time_point until = runtime::deadline_after(timeout);
    while (!writer_done_ && writer_exited_.wait(until)) {
    }
    stream_->close();  // also ends a writer stuck on a peer that stopped reading
    while (!writer_done_ && writer_exited_.wait()) {
    }
}

// ---- what the kernel knows ----

std::uint64_t connection::drained_total() const noexcept {
    tcp_info info{};
    socklen_t size = sizeof info;
    if (::getsockopt(stream_->native_handle(), IPPROTO_TCP, TCP_INFO, &info, &size) == 0 &&
        size >= offsetof(tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked) {
        // bytes_acked counts from the SYN: one more than the data acknowledged.
        return info.tcpi_bytes_acked > 0 ? info.tcpi_bytes_acked - 1 : 0;
    }
    return written_total_;
}

std::size_t connection::socket_unacked() const noexcept {
    int queued = 0;
    if (::ioctl(stream_->native_handle(), SIOCOUTQ, &queued) != 0 || queued < 0) {
        return 0;
    }
    return static_cast<std::size_t>(queued);
}

}  // namespace stampede::broker
