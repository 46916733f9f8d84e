#pragma once

// The byte side of a client connection: the reader (receive, assemble split
// frames, parse in place), the writer (drain the outbound queue in batches,
// in a loop) and the instants heart-beats are timed from. It knows frames
// only as the parser hands them over; what they mean is the session's job.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "outbound.hpp"
#include "stampede/protocol/parser.hpp"
#include "stampede/runtime/scheduler.hpp"
#include "stampede/runtime/sync.hpp"
#include "stampede/runtime/timer.hpp"
#include "stampede/transport/stream.hpp"
#include "stats.hpp"

namespace stampede::broker {

/// What the connection reports to the one who owns it (the session). All
/// calls come on the connection's scheduler, from its reader or writer fiber.
class connection_events {
  public:
    /// A complete frame; its views are valid during the call only.
    virtual void on_frame(const protocol::frame_view& frame) = 0;
    /// The input broke a framing rule or a limit.
    virtual void on_parse_error(protocol::errc error) = 0;
    /// After each frame: must the reader stop before parsing more?
    virtual bool reader_must_wait(protocol::command last) = 0;
    /// Blocks the reader fiber until it may read again or the connection closes.
    virtual void wait_to_read() = 0;
    /// A batch of frames has reached the socket.
    virtual void on_written(const std::vector<outbound_entry>& entries) = 0;

  protected:
    ~connection_events() = default;
};

class connection {
  public:
    /// `spawn_writer` starts a fiber that calls writer_loop(); it returns
    /// false when no fiber could be started (no stack left).
    connection(std::unique_ptr<transport::stream> stream, const protocol::limits& limits,
               connection_counters& counters, std::function<bool()> spawn_writer);

    /// Reads and handles frames until the peer closes, the connection closes
    /// or the runtime stops. Runs on the reader fiber; loops, never recurses.
    void read_loop(connection_events& events);

    /// Writes whatever is queued, batch by batch, until idle for a while (the
    /// next output starts a new writer) or closed. Runs on the writer fiber.
    void writer_loop(connection_events& events);

    /// Frames waiting for the writer. Serialize into it, then wake_writer().
    outbound_queue& output() noexcept { return out_; }
    const outbound_queue& output() const noexcept { return out_; }
    void wake_writer() noexcept;

    /// Starts closing: whatever is queued is written, then the sending side
    /// ends with `why` (a WebSocket close code) and the reader stops.
    void begin_close(transport::close_reason why) noexcept;
    bool closing() const noexcept { return closing_; }

    /// After read_loop(): waits (up to `timeout`) for the writer to finish,
    /// then closes the stream. The connection is inert afterwards.
    void finish(runtime::duration timeout);

    /// Applies new parser limits and version (after CONNECT).
    protocol::parser& parser() noexcept { return parser_; }

    runtime::time_point last_received() const noexcept { return last_received_; }
    runtime::time_point last_written() const noexcept { return last_written_; }
    void mark_written(runtime::time_point at) noexcept { last_written_ = at; }
    void mark_received(runtime::time_point at) noexcept { last_received_ = at; }
    std::uint64_t written_total() const noexcept { return written_total_; }

    /// Bytes the peer has taken: acknowledged by its TCP stack where the
    /// kernel says (TCP_INFO), else written to the socket.
    std::uint64_t drained_total() const noexcept;

    /// Bytes written to the socket that the peer has not acknowledged yet.
    std::size_t socket_unacked() const noexcept;

    transport::stream& stream() noexcept { return *stream_; }

  private:
    enum class step { go_on, wait, stop };

    step consume(std::span<char>& input, connection_events& events);
    step feed_assembly(std::span<char>& input, connection_events& events);
    step handle(const protocol::parse_result& r, connection_events& events);
    void hold(std::span<char>& input);
    void linger();
    bool await_output();
    runtime::result<void> write_batch(const byte_buffer& batch,
                                      const std::vector<outbound_entry>& entries);
    void end_writer();
    void release_reader_stack() noexcept;

    std::unique_ptr<transport::stream> stream_;
    protocol::parser parser_;
    connection_counters& counters_;
    std::function<bool()> spawn_writer_;

    // Reading.
    std::vector<char> assembly_;  ///< a frame split across receives, and only that
    std::vector<char> held_;      ///< input kept back while the reader waits
    runtime::time_point last_received_;
    bool reader_done_ = false;
    runtime::event reader_exited_;
    runtime::fiber_handle reader_fiber_;  ///< valid until reader_done_

    // Writing.
    outbound_queue out_;
    runtime::event writer_wake_;
    bool writer_running_ = false;
    bool writer_done_ = false;
    runtime::event writer_exited_;
    runtime::time_point last_written_{};
    std::uint64_t written_total_ = 0;
    std::vector<iovec> iovecs_;
    std::vector<std::uint32_t> sizes_;

    bool closing_ = false;
    transport::close_reason close_reason_ = transport::close_reason::normal;
};

}  // namespace stampede::broker
