#pragma once

// TCP on fibers. Every call here blocks the calling fiber (never the thread)
// and must run on a fiber of the scheduler that owns the object. The backend
// (io_uring or Asio) is invisible at this level.

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "stampede/runtime/errc.hpp"
#include "stampede/runtime/scheduler.hpp"
#include "stampede/runtime/timer.hpp"

namespace stampede::runtime {

class runtime;

namespace detail {
class stream_impl;
class listener_impl;

/// Whoever lent an rx_buffer's memory, and takes it back.
class buffer_source {
  public:
    virtual ~buffer_source() = default;
    virtual void give_back(char* data, std::uint32_t token) noexcept = 0;
};
}  // namespace detail

/// A numeric IPv4 or IPv6 socket address.
class endpoint {
  public:
    endpoint() = default;

    /// Parses "HOST:PORT" where HOST is a numeric IPv4 address, "[IPv6]" or
    /// "localhost"; port 0 asks the kernel for an ephemeral one when listening.
    static result<endpoint> parse(std::string_view host_port);

    static endpoint loopback(std::uint16_t port);

    const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
    socklen_t size() const noexcept { return size_; }
    int family() const noexcept { return storage_.ss_family; }
    std::uint16_t port() const noexcept;
    std::string to_string() const;

    /// The address a socket is bound to (getsockname).
    static result<endpoint> local_of(int fd);

    /// The address of a connected socket's peer (getpeername).
    static result<endpoint> peer_of(int fd);

  private:
    sockaddr_storage storage_{};
    socklen_t size_ = 0;
};

/// An owned file descriptor, closed on destruction.
class unique_fd {
  public:
    unique_fd() = default;
    explicit unique_fd(int fd) noexcept : fd_(fd) {}
    unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
    unique_fd& operator=(unique_fd&& other) noexcept;
    ~unique_fd() { reset(); }

    int get() const noexcept { return fd_; }
    bool valid() const noexcept { return fd_ >= 0; }
    int release() noexcept {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset() noexcept;

  private:
    int fd_ = -1;
};

/// Bytes received, in memory lent by the scheduler's buffer pool (with
/// io_uring: a provided-buffer ring entry). Returned when destroyed, which must
/// happen on the same scheduler. The bytes are mutable so a parser may unescape
/// in place; hold a buffer only while handling it (STYLE.md, buffers rule 5).
class rx_buffer {
  public:
    rx_buffer() = default;
    rx_buffer(detail::buffer_source* source, char* data, std::size_t size,
              std::uint32_t token) noexcept
        : source_(source), data_(data), size_(size), token_(token) {}
    rx_buffer(rx_buffer&& other) noexcept { *this = std::move(other); }
    rx_buffer& operator=(rx_buffer&& other) noexcept;
    rx_buffer(const rx_buffer&) = delete;
    rx_buffer& operator=(const rx_buffer&) = delete;
    ~rx_buffer() { reset(); }

    std::span<char> data() const noexcept { return {data_, size_}; }
    std::size_t size() const noexcept { return size_; }
    /// Keeps only the first `n` bytes (n <= size()); the memory stays lent.
    void truncate(std::size_t n) noexcept { size_ = n < size_ ? n : size_; }
    bool empty() const noexcept { return size_ == 0; }
    void reset() noexcept;

  private:
    detail::buffer_source* source_ = nullptr;
    char* data_ = nullptr;
    std::size_t size_ = 0;
    std::uint32_t token_ = 0;
};

/// A connected TCP socket (TCP_NODELAY on), owned by one scheduler.
///
/// One fiber may read while another writes. close() (and the destructor)
/// interrupts the other fibers' operations on the stream with
/// errc::stream_closed and waits for their completions before closing the fd.
class tcp_stream {
  public:
    tcp_stream() noexcept;
    explicit tcp_stream(std::unique_ptr<detail::stream_impl> impl) noexcept;
    tcp_stream(tcp_stream&&) noexcept;
    tcp_stream& operator=(tcp_stream&&) noexcept;
    ~tcp_stream();

    /// Connects to `to` from the calling fiber's scheduler.
    static result<tcp_stream> connect(const endpoint& to, time_point deadline = no_deadline);

    /// Takes over an accepted socket on the calling fiber's scheduler.
    static result<tcp_stream> adopt(unique_fd fd);

    /// Waits for data and returns what arrived (at least one byte), holding no
    /// buffer while it waits. errc::end_of_stream when the peer has closed.
    result<rx_buffer> receive(time_point deadline = no_deadline);

    /// Reads what is available (at least one byte) into `into`.
    result<std::size_t> read_some(std::span<char> into, time_point deadline = no_deadline);

    /// Writes all of `bytes`.
    result<void> write(std::span<const char> bytes, time_point deadline = no_deadline);

    /// Writes all of `parts` with as few system calls as the kernel allows.
    /// `parts` is consumed: its entries are advanced past what was written.
    result<void> writev(std::span<iovec> parts, time_point deadline = no_deadline);

    /// Half-closes: the peer reads end of stream once it has what was written.
    void shutdown_send() noexcept;

    /// Interrupts operations in flight, waits for their completions, closes.
    void close() noexcept;

    bool is_open() const noexcept;
    int native_handle() const noexcept;

  private:
    std::unique_ptr<detail::stream_impl> impl_;
};

/// A listening TCP socket, owned by one scheduler.
class tcp_listener {
  public:
    tcp_listener() noexcept;
    explicit tcp_listener(std::unique_ptr<detail::listener_impl> impl) noexcept;
    tcp_listener(tcp_listener&&) noexcept;
    tcp_listener& operator=(tcp_listener&&) noexcept;
    ~tcp_listener();

    /// Binds (SO_REUSEADDR) and listens on the calling fiber's scheduler.
    static result<tcp_listener> listen(const endpoint& at, int backlog = 4096);

    /// The next accepted connection, to adopt on any scheduler.
    result<unique_fd> accept(time_point deadline = no_deadline);

    /// The bound address (with the kernel's port when 0 was asked).
    endpoint local_endpoint() const;

    /// Stops accepting: interrupts a waiting accept() and closes the socket.
    void close() noexcept;

    bool is_open() const noexcept;

  private:
    std::unique_ptr<detail::listener_impl> impl_;
};

/// How the calling scheduler's receive buffers are used (for tests and /stats).
struct receive_buffer_stats {
    std::size_t ring_size = 0;        ///< buffers lent to the kernel to receive into (0: none)
    std::size_t ring_out = 0;         ///< of those, filled and held for readers right now
    std::uint64_t heap_receives = 0;  ///< receives into a heap buffer instead
    std::uint64_t idle_releases = 0;  ///< times the buffers' memory went back to the kernel
};

/// The calling scheduler's receive_buffer_stats. Must run on a scheduler thread.
receive_buffer_stats local_receive_buffer_stats() noexcept;

/// Handles one accepted connection, on a fiber of the scheduler it was given to.
using connection_handler = std::function<void(tcp_stream)>;

/// Accepts on `listener` until it is closed or the runtime stops, starting
/// `handler` for each connection on a new fiber, round-robin over all
/// schedulers of `rt`. Returns the error that ended the loop. Must run on a fiber.
result<void> serve(tcp_listener& listener, runtime& rt, connection_handler handler,
                   fiber_options options = {0, "connection"});

}  // namespace stampede::runtime
