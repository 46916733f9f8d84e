#pragma once

// One STOMP client connection on a runtime fiber: the handshake, a reader
// fiber that parses received buffers in place, receipts, batched writes and a
// polite close. Everything here must run on fibers of the scheduler that
// opened the connection.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stampede/protocol/frame.hpp"
#include "stampede/protocol/parser.hpp"
#include "stampede/runtime/io.hpp"
#include "stampede/runtime/sync.hpp"
#include "ws_link.hpp"

namespace stampede::load {

class connection;

/// Where and how to connect (the common flags).
struct broker_address {
    runtime::endpoint endpoint;
    std::string vhost = "/";
    std::optional<std::string> login;
    std::optional<std::string> passcode;
    double connect_timeout = 30.0;
    std::string host;              ///< as given (--host): the WebSocket Host header
    bool websocket = false;        ///< --transport ws: STOMP over WebSocket
    std::string ws_path = "/ws";   ///< --ws-path: where the upgrade goes
};

/// Receives a connection's MESSAGE frames on its reader fiber.
class message_handler {
  public:
    virtual ~message_handler() = default;
    /// One MESSAGE; the frame views the receive buffer and lives only for the call.
    virtual void on_message(connection& conn, const protocol::frame_view& frame) = 0;
    /// After the frames of one received buffer, e.g. to write their ACKs at once.
    virtual void after_frames(connection& /*conn*/) {}
    /// RECEIPT r<n> arrived (whatever order the broker answers in).
    virtual void on_receipt(connection& /*conn*/, std::uint64_t /*n*/) {}
};

/// One STOMP connection. Failures are recorded, not thrown: error() holds the
/// first ERROR frame's message or why the socket ended (the Python driver's
/// StompConnection.error), and alive() turns false.
class connection {
  public:
    /// Connects, starts the reader fiber and waits for CONNECTED. Returns
    /// nullptr with `why` set on failure (refused, timeout, ERROR).
    static std::unique_ptr<connection> open(const broker_address& to, std::string& why);

    connection(runtime::tcp_stream stream, std::size_t max_frame);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    void set_handler(message_handler* h) noexcept { handler_ = h; }

    bool alive() const noexcept { return !closed_ && !error_; }
    /// The socket is gone (closed by either side), whatever error() says.
    bool closed() const noexcept { return closed_; }
    /// The socket, for a client that writes it by hand (the hostile ones).
    int fd() const noexcept { return stream_.native_handle(); }
    /// Receipts seen so far: the highest r<n>.
    std::uint64_t receipts_seen() const noexcept { return receipts_seen_; }
    const std::optional<std::string>& error() const noexcept { return error_; }
    const std::optional<std::string>& server() const noexcept { return server_; }
    const std::string& version_text() const noexcept { return version_text_; }
    protocol::version version() const noexcept { return version_; }

    /// Writes all of `bytes` (frames, whole): at once when the socket takes
    /// them, else waiting for it to drain, which adds to `*blocked_ns`.
    /// False when the connection is gone (the reason is in error()).
    bool send(std::span<const char> bytes, std::int64_t* blocked_ns = nullptr);

    /// The number of the next `receipt:r<N>` header to send.
    std::uint64_t next_receipt() noexcept { return ++receipts_asked_; }

    /// Waits until RECEIPT r<n> (or a later one) arrived; false on timeout or a lost connection.
    bool wait_receipt(std::uint64_t n, runtime::time_point deadline);

    /// SUBSCRIBE with a receipt, waiting for it. prefetch 0 sends no prefetch headers.
    /// On failure `why` says what happened.
    bool subscribe(std::string_view destination, std::string_view id, std::string_view ack,
                   std::uint64_t prefetch, double timeout, std::string& why);

    /// Sends DISCONNECT with a receipt (the first half of close()).
    void begin_close();
    /// Waits for the DISCONNECT receipt until `deadline`, then closes the socket.
    void finish_close(runtime::time_point deadline);
    /// Closes without a DISCONNECT.
    void abort();

    /// Read control for the slow scenario: stop reading the socket entirely,
    /// read at most `bytes_per_tick` every `tick`, or read normally again.
    void pause_reading();
    void trickle(std::size_t bytes_per_tick, runtime::duration tick);
    void resume_reading();

  private:
    enum class read_mode { normal, paused, trickle };

    void send_connect(const broker_address& to);
    bool wait_connected(runtime::time_point deadline);
    void reader_main();
    bool read_normally();
    bool trickle_tick();
    void feed(std::span<char> in);
    std::span<char> feed_carry(std::span<char> in);
    void handle(const protocol::frame_view& frame);
    void on_receipt(const protocol::frame_view& frame);
    void on_connected(const protocol::frame_view& frame);
    void on_error_frame(const protocol::frame_view& frame);
    void on_read_end(const boost::system::error_code& ec);
    bool write_all(std::span<const char> bytes, std::int64_t* blocked_ns);
    void fail(std::string reason);
    void shutdown();

    bool read_websocket();

    runtime::tcp_stream stream_;
    std::unique_ptr<ws_link> ws_;    // --transport ws: frames go through it
    std::vector<char> ws_input_;     // where WebSocket payload is read into
    protocol::parser parser_;
    message_handler* handler_ = nullptr;

    std::vector<char> carry_;  // a frame split across receives, from its first byte
    std::vector<char> held_;   // received while paused, not parsed yet
    std::size_t held_offset_ = 0;
    std::unique_ptr<char[]> trickle_buffer_;
    std::size_t trickle_bytes_ = 0;
    runtime::duration tick_{};
    read_mode mode_ = read_mode::normal;

    std::optional<std::string> error_;
    std::optional<std::string> server_;
    std::string version_text_;
    protocol::version version_ = protocol::version::v1_2;
    bool connected_ = false;
    bool closing_ = false;   // we asked for the end: a close is no error
    bool closed_ = false;    // the socket is gone (either side)
    bool stopping_ = false;  // shutdown() began
    bool reader_done_ = false;
    bool writing_ = false;
    std::uint64_t receipts_asked_ = 0;
    std::uint64_t receipts_seen_ = 0;
    std::optional<std::uint64_t> disconnect_receipt_;

    runtime::event state_changed_;  // CONNECTED, RECEIPT, error, close
    runtime::event mode_changed_;
    runtime::event write_idle_;
    runtime::event reader_exit_;
};

}  // namespace stampede::load
