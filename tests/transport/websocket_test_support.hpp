#pragma once

// Helpers of the WebSocket tests: an in-memory stream that hands out scripted
// chunks (to split input exactly where a test wants), frame builders for a
// hand-written client, and a parser for what the server wrote.

#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "../runtime/test_support.hpp"
#include "stampede/transport/stream.hpp"
#include "stampede/transport/websocket.hpp"
#include "websocket_frame.hpp"

namespace stampede::transport::test {

/// What a scripted stream was given and did; shared with the test, which
/// keeps it after the stream is handed over (and destroyed).
struct script {
    std::deque<std::string> input;  ///< receive() returns these in order, then end of stream
    std::string written;            ///< every byte written
    std::vector<std::uint32_t> message_sizes;
    std::size_t write_calls = 0;
    bool shut_down = false;
    std::optional<close_reason> shutdown_reason;
    bool closed = false;
    std::size_t receives = 0;
    std::size_t receives_at_first_write = 0;  ///< how much input was read before answering
    std::size_t releases = 0;
};

/// A stream over a script: no socket, no scheduler switches.
class scripted_stream final : public stream {
  public:
    explicit scripted_stream(std::shared_ptr<script> s) : s_(std::move(s)) {
        peer_.address = "127.0.0.1:1";
    }

    runtime::result<std::span<char>> receive(runtime::time_point) override {
        ++s_->receives;
        current_.clear();
        if (s_->closed) {
            return runtime::errc::stream_closed;
        }
        if (s_->input.empty()) {
            return runtime::errc::end_of_stream;
        }
        current_ = std::move(s_->input.front());
        s_->input.pop_front();
        return std::span<char>(current_);
    }

    void release_input() noexcept override {
        ++s_->releases;
        // Poison what was lent, so a reader that kept using it is caught.
        std::fill(current_.begin(), current_.end(), '\xEE');
        current_.clear();
    }

    runtime::result<void> write_messages(std::span<iovec> parts,
                                         std::span<const std::uint32_t> sizes,
                                         runtime::time_point) override {
        if (s_->write_calls++ == 0) {
            s_->receives_at_first_write = s_->receives;
        }
        for (const iovec& p : parts) {
            s_->written.append(static_cast<const char*>(p.iov_base), p.iov_len);
        }
        s_->message_sizes.insert(s_->message_sizes.end(), sizes.begin(), sizes.end());
        return {};
    }

    void shutdown_send(close_reason why) noexcept override {
        s_->shut_down = true;
        s_->shutdown_reason = why;
    }
    void close() noexcept override { s_->closed = true; }
    bool is_open() const noexcept override { return !s_->closed; }
    const peer_identity& peer() const noexcept override { return peer_; }
    std::string_view kind() const noexcept override { return "tcp"; }
    int native_handle() const noexcept override { return -1; }

  private:
    std::shared_ptr<script> s_;
    std::string current_;
    peer_identity peer_;
};

inline constexpr std::string_view test_key = "dGhlIHNhbXBsZSBub25jZQ==";  // RFC 6455 1.3
inline constexpr std::string_view test_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// An upgrade request as a client would write it; `protocols` and `origin`
/// are left out when empty, `extra` is appended as header lines.
inline std::string upgrade_request(std::string_view protocols = "", std::string_view origin = "",
                                   std::string_view path = "/ws", std::string_view extra = "") {
    std::string r = "GET ";
    r += path;
    r += " HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";
    r += "Sec-WebSocket-Key: ";
    r += test_key;
    r += "\r\nSec-WebSocket-Version: 13\r\n";
    if (!protocols.empty()) {
        r += "Sec-WebSocket-Protocol: ";
        r += protocols;
        r += "\r\n";
    }
    if (!origin.empty()) {
        r += "Origin: ";
        r += origin;
        r += "\r\n";
    }
    r += extra;
    r += "\r\n";
    return r;
}

/// One frame as a client writes it (masked unless told otherwise).
inline std::string client_frame(ws::opcode op, std::string_view payload, bool fin = true,
                                bool masked = true, std::uint8_t rsv = 0) {
    std::array<std::uint8_t, 4> key{0x37, 0xFA, 0x21, 0x3D};
    std::array<std::uint8_t, ws::max_header_size> header{};
    const std::size_t n =
        ws::encode_header(header.data(), op, fin, payload.size(), masked ? &key : nullptr);
    header[0] = static_cast<std::uint8_t>(header[0] | (rsv << 4));
    std::string out(reinterpret_cast<const char*>(header.data()), n);
    const std::size_t at = out.size();
    out.append(payload);
    if (masked) {
        ws::apply_mask(std::span<char>(out.data() + at, payload.size()), key, 0);
    }
    return out;
}

/// A close frame's payload: the code, then the reason.
inline std::string close_payload(std::uint16_t code, std::string_view reason = "") {
    std::string p{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    p += reason;
    return p;
}

/// A frame the server wrote.
struct wire_frame {
    bool fin = true;
    bool masked = false;
    ws::opcode op{};
    std::string payload;

    /// A close frame's code (0 when it has none).
    std::uint16_t close_code() const {
        if (payload.size() < 2) {
            return 0;
        }
        return static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                          static_cast<std::uint8_t>(payload[1]));
    }
};

/// Parses the frames in `bytes` (whole frames only; a partial tail is left
/// in `bytes`).
inline std::vector<wire_frame> parse_frames(std::string& bytes) {
    std::vector<wire_frame> out;
    std::size_t at = 0;
    for (;;) {
        if (bytes.size() - at < 2) {
            break;
        }
        const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data() + at);
        const std::size_t hs = ws::header_size(p[0], p[1]);
        if (bytes.size() - at < hs) {
            break;
        }
        ws::frame_header h;
        (void)ws::decode_header({p, hs}, h);
        if (bytes.size() - at - hs < h.length) {
            break;
        }
        wire_frame f{h.fin, h.masked, h.op(), bytes.substr(at + hs, h.length)};
        if (h.masked) {
            ws::apply_mask(std::span<char>(f.payload), h.key, 0);
        }
        out.push_back(std::move(f));
        at += hs + h.length;
    }
    bytes.erase(0, at);
    return out;
}

/// Splits an HTTP head off the front of `bytes`; empty when incomplete.
inline std::string take_http_head(std::string& bytes) {
    const auto end = bytes.find("\r\n\r\n");
    if (end == std::string::npos) {
        return {};
    }
    std::string head = bytes.substr(0, end + 4);
    bytes.erase(0, end + 4);
    return head;
}

/// A header's value in an HTTP head (first occurrence, name without case),
/// or nullopt.
inline std::optional<std::string> header_value(std::string_view head, std::string_view name) {
    std::size_t at = head.find("\r\n");
    while (at != std::string_view::npos && at + 2 < head.size()) {
        const std::size_t start = at + 2;
        const std::size_t end = head.find("\r\n", start);
        const std::string_view line = head.substr(start, end - start);
        const std::size_t colon = line.find(':');
        if (colon != std::string_view::npos && colon == name.size()) {
            bool same = true;
            for (std::size_t i = 0; i < colon; ++i) {
                same = same && std::tolower(static_cast<unsigned char>(line[i])) ==
                                   std::tolower(static_cast<unsigned char>(name[i]));
            }
            if (same) {
                std::string_view v = line.substr(colon + 1);
                while (!v.empty() && v.front() == ' ') {
                    v.remove_prefix(1);
                }
                return std::string(v);
            }
        }
        at = end;
    }
    return std::nullopt;
}

/// Everything `s` yields until it fails; the error it failed with.
struct drained {
    std::string bytes;
    boost::system::error_code error;
    std::size_t receives = 0;
};

inline drained drain(stream& s, runtime::time_point deadline = runtime::no_deadline) {
    drained d;
    for (;;) {
        auto got = s.receive(deadline);
        if (!got) {
            d.error = got.error();
            return d;
        }
        ++d.receives;
        d.bytes.append(got->data(), got->size());
    }
}

/// Writes `messages` back to back in one write_messages() call.
inline runtime::result<void> write_all(stream& s, const std::vector<std::string>& messages,
                                       runtime::time_point deadline = runtime::no_deadline) {
    std::vector<iovec> parts;
    std::vector<std::uint32_t> sizes;
    for (const auto& m : messages) {
        parts.push_back({const_cast<char*>(m.data()), m.size()});
        sizes.push_back(static_cast<std::uint32_t>(m.size()));
    }
    return s.write_messages(parts, sizes, deadline);
}

}  // namespace stampede::transport::test
