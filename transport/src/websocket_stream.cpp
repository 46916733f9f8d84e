// The WebSocket stream after the handshake: decodes the peer's frames in
// place in the inner stream's lent buffer (unmasking there too), so a
// received payload is never copied and an idle connection holds no buffer;
// encodes outgoing messages as a header per message gathered with the
// caller's bytes into one write.

#include "websocket_stream.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <random>

#include "stampede/runtime/sync.hpp"
#include "websocket_frame.hpp"

namespace stampede::transport::ws {

namespace {

using runtime::result;

// Past these, the write path's scratch vectors are given back after a
// write, so a connection that once sent a large batch does not keep paying.
constexpr std::size_t keep_iovecs = 64;
constexpr std::size_t keep_scratch = 64 * 1024;

// How long a close frame may take to go out when the sending side ends.
constexpr auto close_write_time = std::chrono::seconds(1);
// How long a peer that broke a rule is given to close after our close frame.
constexpr auto failure_linger = std::chrono::seconds(1);

std::uint16_t code_for(websocket_errc e) noexcept {
    switch (e) {
        case websocket_errc::invalid_utf8:
            return 1007;
        case websocket_errc::message_too_big:
            return 1009;
        default:
            return 1002;
    }
}

// Where write_messages() is in the caller's parts.
struct part_cursor {
    std::span<iovec> parts;
    std::size_t index = 0;
    std::size_t offset = 0;

    // Appends the next `bytes` of the parts to `out` as slices.
    void take(std::size_t bytes, std::vector<iovec>& out) {
        while (bytes > 0 && index < parts.size()) {
            const iovec& p = parts[index];
            const std::size_t n = std::min(bytes, p.iov_len - offset);
            if (n > 0) {
                out.push_back({static_cast<char*>(p.iov_base) + offset, n});
            }
            bytes -= n;
            offset += n;
            if (offset == p.iov_len) {
                ++index;
                offset = 0;
            }
        }
    }
};

class ws_stream final : public websocket_stream {
  public:
    ws_stream(std::unique_ptr<stream> inner, stream_settings settings, std::vector<char> early)
        : inner_(std::move(inner)), settings_(std::move(settings)) {
        if (!early.empty()) {
            spill_ = std::move(early);
            pending_ = std::span<char>(spill_);
            pending_in_spill_ = true;
        }
        if (settings_.side == role::client) {
            std::random_device seed;
            rng_state_ = (std::uint64_t{seed()} << 32) | seed();
        }
    }

    ~ws_stream() override { close(); }

    result<std::span<char>> receive(runtime::time_point deadline) override;
    void release_input() noexcept override;
    result<void> write_messages(std::span<iovec> parts, std::span<const std::uint32_t> sizes,
                                runtime::time_point deadline) override;
    void shutdown_send(close_reason why) noexcept override;

    void close() noexcept override {
        pending_ = {};
        spill_ = {};
        inner_->close();
    }

    bool is_open() const noexcept override { return inner_->is_open(); }
    const peer_identity& peer() const noexcept override { return inner_->peer(); }
    std::string_view kind() const noexcept override {
        return inner_->kind() == "tls" ? "wss" : "ws";
    }
    int native_handle() const noexcept override { return inner_->native_handle(); }
    std::string_view subprotocol() const noexcept override { return settings_.subprotocol; }
    std::string_view origin() const noexcept override { return settings_.origin; }

  private:
    // Reading.
    result<std::span<char>> decode(runtime::time_point deadline);
    bool take_header();
    result<void> on_header();
    std::span<char> take_payload();
    result<void> end_frame(runtime::time_point deadline);
    result<void> on_control(runtime::time_point deadline);
    result<void> on_close(runtime::time_point deadline);
    boost::system::error_code fail(websocket_errc why);

    // Writing.
    result<void> lock_writes(runtime::time_point deadline);
    void unlock_writes() noexcept;
    result<void> write_locked(std::span<iovec> parts, std::span<const std::uint32_t> sizes,
                              runtime::time_point deadline);
    opcode message_opcode(std::span<const iovec> slices) const noexcept;
    result<void> send_control(opcode op, std::span<const char> payload,
                              runtime::time_point deadline);
    std::array<std::uint8_t, 4> next_key() noexcept;

    std::unique_ptr<stream> inner_;
    stream_settings settings_;

    // Input not decoded yet: in the inner stream's lent buffer, or in
    // spill_ (bytes behind the handshake, or kept over release_input()).
    std::span<char> pending_;
    std::vector<char> spill_;
    bool pending_in_spill_ = false;

    // The frame being decoded.
    std::array<std::uint8_t, max_header_size> header_bytes_{};
    std::uint8_t header_have_ = 0;
    frame_header frame_;
    bool in_frame_ = false;
    std::uint64_t frame_left_ = 0;
    std::uint64_t frame_offset_ = 0;
    std::array<char, max_control_payload> control_{};
    std::uint8_t control_have_ = 0;

    // The data message being received.
    bool in_message_ = false;
    bool message_text_ = false;
    std::uint64_t message_bytes_ = 0;
    utf8_validator utf8_;

    bool peer_closed_ = false;
    boost::system::error_code failure_;

    // Writing: one writer at a time (the session's writer, or the reader
    // answering a ping or a close).
    bool writing_ = false;
    runtime::event write_free_;
    bool close_sent_ = false;
    std::vector<iovec> iov_;
    std::vector<std::uint8_t> headers_;
    std::vector<std::uint32_t> out_sizes_;
    std::vector<char> scratch_;    ///< client side: masked copies
    std::uint64_t rng_state_ = 0;  ///< client side: splitmix64 for masking keys
};

// ---- reading ----

result<std::span<char>> ws_stream::receive(runtime::time_point deadline) {
    for (;;) {
        if (failure_) {
            return failure_;
        }
        if (peer_closed_) {
            return runtime::errc::end_of_stream;
        }
        if (pending_.empty()) {
            if (pending_in_spill_) {
                std::vector<char>().swap(spill_);  // its lend ended with this call
                pending_in_spill_ = false;
            }
            auto in = inner_->receive(deadline);
            if (!in) {
                return in.error();
            }
            pending_ = *in;
        }
        auto payload = decode(deadline);
        if (!payload || !payload->empty()) {
            return payload;
        }
    }
}

void ws_stream::release_input() noexcept {
    if (!pending_.empty() && !pending_in_spill_) {
        spill_.assign(pending_.begin(), pending_.end());
        pending_ = std::span<char>(spill_);
        pending_in_spill_ = true;
    } else if (pending_.empty() && pending_in_spill_) {
        std::vector<char>().swap(spill_);
        pending_in_spill_ = false;
    }
    inner_->release_input();
}

// Decodes from pending_ until a run of payload bytes is ready (returned),
// the input is used up (an empty span) or the peer broke a rule.
result<std::span<char>> ws_stream::decode(runtime::time_point deadline) {
    while (!pending_.empty() || (in_frame_ && frame_left_ == 0)) {
        if (!in_frame_) {
            if (!take_header()) {
                return std::span<char>{};
            }
            if (auto ok = on_header(); !ok) {
                return ok.error();
            }
            continue;
        }
        if (frame_left_ == 0) {
            if (auto ok = end_frame(deadline); !ok) {
                return ok.error();
            }
            continue;
        }
        if (is_control(frame_.op())) {
            const std::size_t n = std::min<std::size_t>(frame_left_, pending_.size());
            std::memcpy(control_.data() + control_have_, pending_.data(), n);
            apply_mask(std::span<char>(control_.data() + control_have_, n), frame_.key,
                       frame_offset_);
            control_have_ = static_cast<std::uint8_t>(control_have_ + n);
            frame_offset_ += n;
            frame_left_ -= n;
            pending_ = pending_.subspan(n);
            continue;
        }
        std::span<char> payload = take_payload();
        if (message_text_ && !utf8_.feed(payload)) {
            return fail(websocket_errc::invalid_utf8);
        }
        if (frame_left_ == 0) {
            if (auto ok = end_frame(deadline); !ok) {
                return ok.error();
            }
        }
        return payload;
    }
    return std::span<char>{};
}

// Moves header bytes from pending_ until a whole header is known. Usually
// it is there in one piece and is decoded where it lies.
bool ws_stream::take_header() {
    const auto* in = reinterpret_cast<const std::uint8_t*>(pending_.data());
    if (header_have_ == 0 && pending_.size() >= 2 && pending_.size() >= header_size(in[0], in[1])) {
        const std::size_t used = decode_header({in, pending_.size()}, frame_);
        pending_ = pending_.subspan(used);
        return true;
    }
    while (!pending_.empty()) {
        header_bytes_[header_have_++] = static_cast<std::uint8_t>(pending_[0]);
        pending_ = pending_.subspan(1);
        if (header_have_ >= 2 && header_have_ == header_size(header_bytes_[0], header_bytes_[1])) {
            (void)decode_header(header_bytes_, frame_);
            header_have_ = 0;
            return true;
        }
    }
    return false;
}

// Checks a frame header against RFC 6455 5.2-5.5 and starts the frame.
result<void> ws_stream::on_header() {
    const opcode op = frame_.op();
    const bool client_frame = settings_.side == role::server;
    if (frame_.rsv != 0 || frame_.masked != client_frame || (frame_.length >> 63) != 0) {
        return fail(websocket_errc::protocol_error);
    }
    switch (op) {
        case opcode::close:
        case opcode::ping:
        case opcode::pong:
            if (!frame_.fin || frame_.length > max_control_payload) {
                return fail(websocket_errc::protocol_error);
            }
            control_have_ = 0;
            break;
        case opcode::text:
        case opcode::binary:
            if (in_message_) {
                return fail(websocket_errc::protocol_error);
            }
            in_message_ = true;
            message_text_ = op == opcode::text;
            message_bytes_ = 0;
            utf8_.reset();
            break;
        case opcode::continuation:
            if (!in_message_) {
                return fail(websocket_errc::protocol_error);
            }
            break;
        default:
            return fail(websocket_errc::protocol_error);
    }
    if (!is_control(op)) {
        message_bytes_ += frame_.length;
        if (message_bytes_ > settings_.max_message_bytes) {
            return fail(websocket_errc::message_too_big);
        }
    }
    in_frame_ = true;
    frame_left_ = frame_.length;
    frame_offset_ = 0;
    return {};
}

// The next run of this data frame's payload, unmasked where it lies.
std::span<char> ws_stream::take_payload() {
    const std::size_t n = std::min<std::size_t>(frame_left_, pending_.size());
    std::span<char> payload = pending_.first(n);
    if (frame_.masked) {
        apply_mask(payload, frame_.key, frame_offset_);
    }
    frame_offset_ += n;
    frame_left_ -= n;
    pending_ = pending_.subspan(n);
    return payload;
}

result<void> ws_stream::end_frame(runtime::time_point deadline) {
    in_frame_ = false;
    if (is_control(frame_.op())) {
        return on_control(deadline);
    }
    if (frame_.fin) {
        in_message_ = false;
        if (message_text_ && !utf8_.complete()) {
            return fail(websocket_errc::invalid_utf8);
        }
    }
    return {};
}

result<void> ws_stream::on_control(runtime::time_point deadline) {
    const std::span<const char> payload(control_.data(), control_have_);
    switch (frame_.op()) {
        case opcode::ping:
            return send_control(opcode::pong, payload, deadline);
        case opcode::pong:
            return {};  // we send no pings; an unsolicited pong is allowed
        default:
            return on_close(deadline);
    }
}

// The peer's close frame: check it, answer with its code (RFC 6455 5.5.1)
// unless we closed first, and end the sending side; receive() then reports
// end of stream.
result<void> ws_stream::on_close(runtime::time_point deadline) {
    const std::span<const char> payload(control_.data(), control_have_);
    std::array<char, 2> echo{};
    std::size_t echo_size = 0;
    if (payload.size() == 1) {
        return fail(websocket_errc::protocol_error);
    }
    if (payload.size() >= 2) {
        const auto code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                                     static_cast<std::uint8_t>(payload[1]));
        if (!is_valid_close_code(code)) {
            return fail(websocket_errc::protocol_error);
        }
        if (!is_utf8(payload.subspan(2))) {
            return fail(websocket_errc::invalid_utf8);
        }
        echo = {payload[0], payload[1]};
        echo_size = 2;
    }
    peer_closed_ = true;
    if (!close_sent_) {
        (void)send_control(opcode::close, {echo.data(), echo_size}, deadline);
        inner_->shutdown_send(close_reason::normal);
    }
    return runtime::errc::end_of_stream;
}

// A rule broken: say so with a close frame, end the sending side, and fail
// every later receive with the same error. Before returning, what the peer
// still sends is read and dropped until it closes (for a second at most):
// closing a socket with unread input resets the connection, and the reset
// could overtake the close frame that says why.
boost::system::error_code ws_stream::fail(websocket_errc why) {
    failure_ = why;
    pending_ = {};
    if (!close_sent_) {
        const std::uint16_t code = code_for(why);
        const std::array<char, 2> payload{static_cast<char>(code >> 8), static_cast<char>(code)};
        (void)send_control(opcode::close, payload, runtime::deadline_after(close_write_time));
        inner_->shutdown_send(close_reason::protocol_error);
        const runtime::time_point until = runtime::deadline_after(failure_linger);
        while (inner_->receive(until)) {
        }
        inner_->release_input();
    }
    return failure_;
}

// ---- writing ----

result<void> ws_stream::lock_writes(runtime::time_point deadline) {
    while (writing_) {
        if (auto waited = write_free_.wait(deadline); !waited) {
            return waited.error();
        }
    }
    writing_ = true;
    return {};
}

void ws_stream::unlock_writes() noexcept {
    writing_ = false;
    write_free_.notify_one();
}

result<void> ws_stream::write_messages(std::span<iovec> parts, std::span<const std::uint32_t> sizes,
                                       runtime::time_point deadline) {
    if (auto locked = lock_writes(deadline); !locked) {
        return locked;
    }
    auto written = write_locked(parts, sizes, deadline);
    if (iov_.capacity() > keep_iovecs) {
        std::vector<iovec>().swap(iov_);
        std::vector<std::uint8_t>().swap(headers_);
        std::vector<std::uint32_t>().swap(out_sizes_);
    }
    if (scratch_.capacity() > keep_scratch) {
        std::vector<char>().swap(scratch_);
    }
    unlock_writes();
    return written;
}

opcode ws_stream::message_opcode(std::span<const iovec> slices) const noexcept {
    if (settings_.always_binary) {
        return opcode::binary;
    }
    utf8_validator utf8;
    for (const iovec& s : slices) {
        if (!utf8.feed({static_cast<const char*>(s.iov_base), s.iov_len})) {
            return opcode::binary;
        }
    }
    return utf8.complete() ? opcode::text : opcode::binary;
}

// Builds one write of every message: its header, then its bytes (the
// caller's own, or on the client side a masked copy), each message one
// unfragmented frame.
result<void> ws_stream::write_locked(std::span<iovec> parts, std::span<const std::uint32_t> sizes,
                                     runtime::time_point deadline) {
    if (close_sent_) {
        return websocket_errc::closed;
    }
    const bool mask = settings_.side == role::client;
    iov_.clear();
    out_sizes_.clear();
    headers_.resize(sizes.size() * max_header_size);  // never grows below: pointers stay
    if (mask) {
        std::size_t total = 0;
        for (const std::uint32_t s : sizes) {
            total += s;
        }
        scratch_.resize(total);
    }
    part_cursor cursor{parts};
    std::size_t scratch_at = 0;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        const std::size_t header_at = iov_.size();
        iov_.push_back({});
        cursor.take(sizes[i], iov_);
        const std::span<iovec> slices(iov_.data() + header_at + 1, iov_.size() - header_at - 1);
        const opcode op = message_opcode(slices);
        std::uint8_t* header = headers_.data() + i * max_header_size;
        std::size_t header_size = 0;
        if (mask) {
            const auto key = next_key();
            header_size = encode_header(header, op, true, sizes[i], &key);
            char* to = scratch_.data() + scratch_at;
            std::uint64_t offset = 0;
            for (const iovec& s : slices) {
                copy_masked(to + offset, {static_cast<const char*>(s.iov_base), s.iov_len}, key,
                            offset);
                offset += s.iov_len;
            }
            iov_.resize(header_at + 1);
            iov_.push_back({to, sizes[i]});
            scratch_at += sizes[i];
        } else {
            header_size = encode_header(header, op, true, sizes[i], nullptr);
        }
        iov_[header_at] = {header, header_size};
        out_sizes_.push_back(static_cast<std::uint32_t>(header_size + sizes[i]));
    }
    return inner_->write_messages(iov_, out_sizes_, deadline);
}

// A control frame (pong, close), between two of the writer's batches.
result<void> ws_stream::send_control(opcode op, std::span<const char> payload,
                                     runtime::time_point deadline) {
    if (auto locked = lock_writes(deadline); !locked) {
        return locked;
    }
    if (close_sent_) {
        unlock_writes();
        return {};  // nothing may follow our close frame
    }
    std::array<char, max_header_size + max_control_payload> frame{};
    auto* header = reinterpret_cast<std::uint8_t*>(frame.data());
    std::size_t size = 0;
    if (settings_.side == role::client) {
        const auto key = next_key();
        size = encode_header(header, op, true, payload.size(), &key);
        copy_masked(frame.data() + size, payload, key, 0);
    } else {
        size = encode_header(header, op, true, payload.size(), nullptr);
        std::memcpy(frame.data() + size, payload.data(), payload.size());
    }
    size += payload.size();
    if (op == opcode::close) {
        close_sent_ = true;
    }
    iovec part{frame.data(), size};
    const std::uint32_t part_size = static_cast<std::uint32_t>(size);
    auto written = inner_->write_messages({&part, 1}, {&part_size, 1}, deadline);
    unlock_writes();
    return written;
}

void ws_stream::shutdown_send(close_reason why) noexcept {
    if (close_sent_) {
        return;  // the close frame is out, and the inner side ended behind it
    }
    const std::uint16_t code = close_code(why);
    const std::array<char, 2> payload{static_cast<char>(code >> 8), static_cast<char>(code)};
    (void)send_control(opcode::close, payload, runtime::deadline_after(close_write_time));
    inner_->shutdown_send(why);
}

// Masking keys: RFC 6455 asks for unpredictable ones (they keep a page's
// script from steering the bytes a proxy sees). splitmix64 seeded from the
// system's random device per connection is enough for our clients (tests and
// the load driver; browsers bring their own).
std::array<std::uint8_t, 4> ws_stream::next_key() noexcept {
    rng_state_ += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = rng_state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    const auto value = static_cast<std::uint32_t>(z ^ (z >> 31));
    std::array<std::uint8_t, 4> key{};
    std::memcpy(key.data(), &value, 4);
    return key;
}

}  // namespace

std::unique_ptr<websocket_stream> make_stream(std::unique_ptr<stream> inner,
                                              stream_settings settings, std::vector<char> early) {
    return std::make_unique<ws_stream>(std::move(inner), std::move(settings), std::move(early));
}

}  // namespace stampede::transport::ws
