#include "connection.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "clock.hpp"
#include "wire.hpp"

namespace stampede::load {

namespace {

namespace rt = stampede::runtime;

constexpr std::size_t carry_chunk = 4096;  // appended to a split frame at a time
constexpr std::size_t reader_stack = 64 * 1024;
constexpr std::size_t ws_read_chunk = 64 * 1024;  // WebSocket payload per read

std::string_view trimmed(std::string_view s) {
    const auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
        return {};
    }
    return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

}  // namespace

// ---- opening ----

connection::connection(rt::tcp_stream stream, std::size_t max_frame) : stream_(std::move(stream)) {
    protocol::limits l;
    l.max_frame = max_frame;
    parser_.set_limits(l);
}

connection::~connection() {
    shutdown();
}

std::unique_ptr<connection> connection::open(const broker_address& to, std::string& why) {
    auto stream = rt::tcp_stream::connect(to.endpoint, after(to.connect_timeout));
    if (!stream) {
        why = "connect to " + to.endpoint.to_string() + ": " + stream.error().message();
        return nullptr;
    }
    constexpr std::size_t max_frame = std::size_t{1} << 30;  // a benchmark's body can be large
    auto conn = std::make_unique<connection>(std::move(*stream), max_frame);
    if (to.websocket) {
        // Upgraded before the reader starts: the handshake reads on this fiber.
        conn->ws_ = ws_link::open(conn->stream_, to.host, to.ws_path, after(to.connect_timeout),
                                  why);
        if (!conn->ws_) {
            conn->reader_done_ = true;
            return nullptr;
        }
    }
    connection* self = conn.get();
    auto spawned = rt::this_scheduler()->spawn_here([self] { self->reader_main(); },
                                                    {reader_stack, "load.reader"});
    if (!spawned) {
        conn->reader_done_ = true;
        why = "no fiber for the reader: " + spawned.error().message();
        return nullptr;
    }
    conn->send_connect(to);
    if (!conn->wait_connected(after(to.connect_timeout))) {
        why = conn->error_.value_or("no CONNECTED within " + std::to_string(to.connect_timeout) +
                                    " s");
        conn->abort();
        return nullptr;
    }
    return conn;
}

void connection::send_connect(const broker_address& to) {
    out_buffer out;
    begin_frame(out, "CONNECT");
    add_header(out, "accept-version", "1.2");
    add_header(out, "host", to.vhost);
    add_header(out, "heart-beat", "0,0");
    if (to.login) {
        add_header(out, "login", *to.login);
        add_header(out, "passcode", to.passcode.value_or(""));
    }
    end_frame(out);
    send(out.bytes());
}

bool connection::wait_connected(rt::time_point deadline) {
    while (!connected_) {
        if (!alive() || !state_changed_.wait(deadline)) {
            return false;
        }
    }
    return true;
}

// ---- receipts and subscriptions ----

bool connection::wait_receipt(std::uint64_t n, rt::time_point deadline) {
    while (receipts_seen_ < n) {
        if (!alive() || !state_changed_.wait(deadline)) {
            return false;
        }
    }
    return true;
}

bool connection::subscribe(std::string_view destination, std::string_view id, std::string_view ack,
                           std::uint64_t prefetch, double timeout, std::string& why) {
    out_buffer out;
    begin_frame(out, "SUBSCRIBE");
    add_header(out, "destination", destination);
    add_header(out, "id", id);
    add_header(out, "ack", ack);
    if (prefetch != 0) {
        // RabbitMQ reads prefetch-count, ActiveMQ activemq.prefetchSize; each
        // ignores the other's header.
        add_header(out, "prefetch-count", prefetch);
        add_header(out, "activemq.prefetchSize", prefetch);
    }
    const std::uint64_t receipt = next_receipt();
    out.append("receipt:r");
    out.append_uint(receipt);
    out.append('\n');
    end_frame(out);
    if (send(out.bytes()) && wait_receipt(receipt, after(timeout))) {
        return true;
    }
    why = error_.value_or("no RECEIPT for SUBSCRIBE within " + std::to_string(timeout) + " s");
    return false;
}

// ---- writing ----

bool connection::send(std::span<const char> bytes, std::int64_t* blocked_ns) {
    while (writing_) {
        if (stopping_ || !write_idle_.wait()) {
            return false;
        }
    }
    if (closed_ || stopping_) {
        return false;
    }
    writing_ = true;
    const bool ok = write_all(bytes, blocked_ns);
    writing_ = false;
    write_idle_.notify_all();
    return ok;
}

// Tries the socket directly first: when it takes everything, as it usually
// does, the fiber never suspends. Otherwise the runtime writes the rest, and
// that wait is the publisher being held back.
bool connection::write_all(std::span<const char> bytes, std::int64_t* blocked_ns) {
    if (ws_) {
        if (auto written = ws_->write(bytes, blocked_ns); !written) {
            fail("connection lost: " + written.error().message());
            return false;
        }
        return true;
    }
    const ssize_t n =
        ::send(stream_.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(bytes.size())) {
        return true;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        fail(std::string("connection lost: ") + std::strerror(errno));
        return false;
    }
    const std::int64_t t = now_ns();
    auto written = stream_.write(bytes.subspan(n > 0 ? static_cast<std::size_t>(n) : 0));
    if (blocked_ns != nullptr) {
        *blocked_ns += now_ns() - t;
    }
    if (!written) {
        fail("connection lost: " + written.error().message());
        return false;
    }
    return true;
}

// ---- reading ----

void connection::reader_main() {
    for (;;) {
        bool go_on = true;
        if (stopping_) {
            break;
        }
        switch (mode_) {
            case read_mode::paused:
                go_on = static_cast<bool>(mode_changed_.wait());
                break;
            case read_mode::trickle:
                go_on = trickle_tick();
                break;
            case read_mode::normal:
                go_on = read_normally();
                break;
        }
        if (!go_on || closed_) {
            break;
        }
    }
    reader_done_ = true;
    reader_exit_.notify_all();
}

// Parses what was held back while paused, or the next received buffer in
// place. A buffer that arrives after a pause began is held, unparsed.
bool connection::read_normally() {
    if (held_offset_ < held_.size()) {
        feed({held_.data() + held_offset_, held_.size() - held_offset_});
        held_.clear();
        held_offset_ = 0;
        return !closed_;
    }
    if (ws_) {
        return read_websocket();
    }
    auto rx = stream_.receive();
    if (!rx) {
        on_read_end(rx.error());
        return false;
    }
    if (mode_ != read_mode::normal) {
        held_.insert(held_.end(), rx->data().begin(), rx->data().end());
        return true;
    }
    feed(rx->data());
    return !closed_;
}

// The next WebSocket payload bytes (whatever messages they belong to: the
// frames delimit themselves), parsed or held as read_normally() does.
bool connection::read_websocket() {
    if (ws_input_.empty()) {
        ws_input_.resize(ws_read_chunk);
    }
    auto got = ws_->read_some(ws_input_);
    if (!got) {
        on_read_end(got.error());
        return false;
    }
    const std::span<char> in(ws_input_.data(), *got);
    if (mode_ != read_mode::normal) {
        held_.insert(held_.end(), in.begin(), in.end());
        return true;
    }
    feed(in);
    return !closed_;
}

// One trickle tick: at most trickle_bytes_ (held bytes first), then sleep
// out the tick.
bool connection::trickle_tick() {
    const rt::time_point tick_end = rt::deadline_after(tick_);
    if (held_offset_ < held_.size()) {
        const std::size_t n = std::min(trickle_bytes_, held_.size() - held_offset_);
        const std::size_t at = held_offset_;
        held_offset_ += n;
        feed({held_.data() + at, n});
    } else if (ws_) {
        // Beast's reads take no deadline: a quiet broker stretches this tick.
        auto got = ws_->read_some({trickle_buffer_.get(), trickle_bytes_});
        if (!got) {
            on_read_end(got.error());
            return false;
        }
        feed({trickle_buffer_.get(), *got});
    } else {
        auto got = stream_.read_some({trickle_buffer_.get(), trickle_bytes_}, tick_end);
        if (got) {
            feed({trickle_buffer_.get(), *got});
        } else if (got.error() != rt::errc::timeout) {
            on_read_end(got.error());
            return false;
        }
    }
    return !closed_ && !stopping_ && static_cast<bool>(rt::this_fiber::sleep_until(tick_end));
}

void connection::on_read_end(const boost::system::error_code& ec) {
    if (!closing_ && !stopping_) {
        fail(ec == rt::errc::end_of_stream ? std::string("connection lost: closed by broker")
                                           : "connection lost: " + ec.message());
    }
    closed_ = true;
    state_changed_.notify_all();
}

// Parses every frame of `in`, in place; a frame cut at the end is kept in
// carry_ (copied: the receive buffer goes back to the pool).
void connection::feed(std::span<char> in) {
    if (!carry_.empty()) {
        in = feed_carry(in);
    }
    std::size_t pos = 0;
    while (pos < in.size() && !closed_) {
        const protocol::parse_result r = parser_.parse(in.subspan(pos));
        if (r.status == protocol::parse_status::need_more) {
            carry_.assign(in.begin() + static_cast<std::ptrdiff_t>(pos), in.end());
            break;
        }
        if (r.status == protocol::parse_status::error) {
            fail("unparsable frame: " + std::string(protocol::describe(r.error)));
            closed_ = true;
            break;
        }
        if (r.status == protocol::parse_status::complete) {
            handle(parser_.frame());
        }
        pos += r.consumed;
    }
    if (handler_ != nullptr && !closed_) {
        handler_->after_frames(*this);
    }
}

// Completes the frame in carry_ with the front of `in`, a chunk at a time
// (the parser resumes, never rescans). Returns the part of `in` after it.
std::span<char> connection::feed_carry(std::span<char> in) {
    std::size_t used = 0;
    while (!closed_) {
        const std::size_t chunk = std::min(in.size() - used, std::max(carry_chunk, carry_.size()));
        if (chunk == 0) {
            return {};
        }
        carry_.insert(carry_.end(), in.begin() + static_cast<std::ptrdiff_t>(used),
                      in.begin() + static_cast<std::ptrdiff_t>(used + chunk));
        used += chunk;
        const protocol::parse_result r = parser_.parse(carry_);
        if (r.status == protocol::parse_status::need_more) {
            continue;
        }
        if (r.status == protocol::parse_status::error) {
            fail("unparsable frame: " + std::string(protocol::describe(r.error)));
            closed_ = true;
            return {};
        }
        if (r.status == protocol::parse_status::complete) {
            handle(parser_.frame());
        }
        const std::size_t rest = carry_.size() - r.consumed;
        if (rest <= used) {
            carry_.clear();
            return in.subspan(used - rest);
        }
        carry_.erase(carry_.begin(), carry_.begin() + static_cast<std::ptrdiff_t>(r.consumed));
    }
    return {};
}

void connection::handle(const protocol::frame_view& frame) {
    switch (frame.cmd) {
        case protocol::command::message:
            if (handler_ != nullptr) {
                handler_->on_message(*this, frame);
            }
            break;
        case protocol::command::receipt:
            on_receipt(frame);
            break;
        case protocol::command::connected:
            on_connected(frame);
            break;
        case protocol::command::error:
            on_error_frame(frame);
            break;
        default:
            break;
    }
}

void connection::on_receipt(const protocol::frame_view& frame) {
    const std::string_view id = frame.get("receipt-id").value_or("");
    std::uint64_t n = 0;
    if (id.size() < 2 || id[0] != 'r' ||
        std::from_chars(id.data() + 1, id.data() + id.size(), n).ec != std::errc{}) {
        return;
    }
    receipts_seen_ = std::max(receipts_seen_, n);
    if (handler_ != nullptr) {
        handler_->on_receipt(*this, n);
    }
    state_changed_.notify_all();
}

void connection::on_connected(const protocol::frame_view& frame) {
    if (const auto server = frame.get("server")) {
        server_ = std::string(*server);
    }
    version_text_ = std::string(frame.get("version").value_or("1.0"));
    version_ = protocol::parse_version(version_text_).value_or(protocol::version::v1_2);
    parser_.set_version(version_);
    connected_ = true;
    state_changed_.notify_all();
}

void connection::on_error_frame(const protocol::frame_view& frame) {
    const std::string_view text = frame.get("message").value_or("");
    const std::string_view detail = trimmed(frame.body.substr(0, 200));
    std::string reason = "ERROR frame: " + std::string(text);
    if (!detail.empty()) {
        reason += " (" + std::string(detail) + ")";
    }
    fail(std::move(reason));
}

void connection::fail(std::string reason) {
    if (!error_) {
        error_ = std::move(reason);
    }
    state_changed_.notify_all();
}

// ---- read control ----

void connection::pause_reading() {
    mode_ = read_mode::paused;
    mode_changed_.notify_all();
}

void connection::trickle(std::size_t bytes_per_tick, rt::duration tick) {
    trickle_bytes_ = std::max<std::size_t>(1, bytes_per_tick);
    trickle_buffer_ = std::make_unique_for_overwrite<char[]>(trickle_bytes_);
    tick_ = tick;
    mode_ = read_mode::trickle;
    mode_changed_.notify_all();
}

void connection::resume_reading() {
    mode_ = read_mode::normal;
    mode_changed_.notify_all();
}

// ---- closing ----

void connection::begin_close() {
    if (closed_ || stopping_) {
        return;
    }
    closing_ = true;
    out_buffer out;
    begin_frame(out, "DISCONNECT");
    disconnect_receipt_ = next_receipt();
    out.append("receipt:r");
    out.append_uint(*disconnect_receipt_);
    out.append('\n');
    end_frame(out);
    send(out.bytes());
}

void connection::finish_close(rt::time_point deadline) {
    if (disconnect_receipt_ && !closed_) {
        (void)wait_receipt(*disconnect_receipt_, deadline);
    }
    shutdown();
}

void connection::abort() {
    closing_ = true;
    shutdown();
}

// Ends the socket and waits for the reader fiber (and a writer) to leave it;
// only then is the stream closed and may the connection be destroyed.
//
// shutdown(2) rather than tcp_stream::close() wakes them: close() frees the
// stream's implementation while a fiber it interrupted is still inside it
// (a use-after-free with the Asio backend; see README.md here).
void connection::shutdown() {
    if (stopping_) {
        return;
    }
    stopping_ = true;
    mode_changed_.notify_all();
    write_idle_.notify_all();
    if (stream_.native_handle() >= 0) {
        ::shutdown(stream_.native_handle(), SHUT_RDWR);
    }
    while (!reader_done_ || writing_) {
        auto& ev = reader_done_ ? write_idle_ : reader_exit_;
        if (!ev.wait(after(1.0))) {
            rt::this_fiber::yield();  // the runtime is stopping: they end soon
        }
    }
    stream_.close();
    closed_ = true;
}

}  // namespace stampede::load
