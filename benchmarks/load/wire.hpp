#pragma once

// Client frames written straight into a reusable buffer: many SENDs (or ACKs)
// go out in one write, and nothing is allocated per message once the buffer
// has grown to its working size.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "stampede/protocol/frame.hpp"

namespace stampede::load {

/// A growable byte buffer that is appended to and cleared, never shrunk.
class out_buffer {
  public:
    /// Room for `n` more bytes at the end; commit() what was written there.
    char* reserve(std::size_t n);
    void commit(std::size_t n) noexcept { size_ += n; }

    void append(std::string_view s);
    void append(char c);
    void append_uint(std::uint64_t v);
    void append_int(std::int64_t v);

    void clear() noexcept { size_ = 0; }
    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }
    std::span<const char> bytes() const noexcept { return {data_.get(), size_}; }

  private:
    std::unique_ptr<char[]> data_;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

/// Frame building blocks: a command line, headers, then the end.
void begin_frame(out_buffer& out, std::string_view command);
void add_header(out_buffer& out, std::string_view name, std::string_view value);
void add_header(out_buffer& out, std::string_view name, std::uint64_t value);

/// A header whose value came from the broker and was unescaped by our parser:
/// escaped again as version `v` defines, so the bytes are those received.
void add_header_escaped(out_buffer& out, std::string_view name, std::string_view value,
                        protocol::version v);

/// Ends a frame without a body.
void end_frame(out_buffer& out);

/// Ends a frame with `body` and its content-length (none for an empty body).
void end_frame(out_buffer& out, std::string_view body);

/// One benchmark SEND (DRIVER.md "Messages"): destination, bench-ts, the
/// `extra` header lines as given, receipt when asked, content-length, and the
/// body `<stream>-<seq>;` padded with 'x' to `body_size`.
struct send_spec {
    std::string_view destination;
    std::string_view extra;  // whole header lines ("name:value\n"), or empty
    std::string_view stream;
    std::size_t body_size = 0;
};
void add_send(out_buffer& out, const send_spec& spec, std::uint64_t seq, std::int64_t ts_ns,
              std::optional<std::uint64_t> receipt = std::nullopt);

}  // namespace stampede::load
