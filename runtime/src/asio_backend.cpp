// The Boost.Asio backend: one io_context (epoll) per scheduler thread, used as
// a readiness reactor. A fiber waits for readiness with async_wait and then
// makes the non-blocking system call itself, so no buffer is ever handed to
// the kernel beyond one synchronous call, and an idle connection holds none.

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <climits>
#include <optional>

#include "io_backend.hpp"

namespace stampede::runtime::detail {
namespace {

namespace asio = boost::asio;
using descriptor = asio::posix::stream_descriptor;

class asio_backend;

/// A fiber waiting for its descriptor to become readable or writable.
class readiness_op final : public io_waiter {
  public:
    void interrupt(errc) noexcept override {
        // The handler then runs (later, from poll()) with operation_aborted.
        cancel.emit(asio::cancellation_type::terminal);
    }
    asio::cancellation_signal cancel;
    boost::system::error_code ec;
};

class asio_backend final : public io_backend {
  public:
    asio_backend(scheduler& sched, const runtime_options& options)
        : sched_(sched),
          io_(1),
          work_(asio::make_work_guard(io_)),
          pool_(options.recv_buffer_size, 64) {}

    const char* name() const noexcept override { return "asio"; }
    void poll(std::chrono::nanoseconds timeout) override;
    bool has_pending_work() const noexcept override { return inflight_ > 0; }
    void wake() noexcept override {
        asio::post(io_, [] {});
    }
    void begin_shutdown() noexcept override {}
    void finish() noexcept override { idle_release_.stop(); }

    result<std::unique_ptr<stream_impl>> adopt(unique_fd fd) override;
    result<std::unique_ptr<stream_impl>> connect(const endpoint& to, time_point deadline) override;
    result<std::unique_ptr<listener_impl>> listen(const endpoint& at, int backlog) override;

    /// Blocks the calling fiber until `d` is ready for `type`, or it is
    /// interrupted (the handler still runs before this returns).
    result<void> wait(descriptor& d, descriptor::wait_type type, op_registry* owner,
                      time_point deadline);

    asio::io_context& context() noexcept { return io_; }
    heap_buffer_pool& pool() noexcept { return pool_; }
    receive_buffer_stats buffer_stats() const noexcept override { return stats_; }
    bool release_idle_buffers() noexcept override {
        ++stats_.idle_releases;
        pool_.trim();
        return true;
    }
    void heap_receive() noexcept {
        ++stats_.heap_receives;
        idle_release_.activity();
    }

  private:
    scheduler& sched_;
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::size_t inflight_ = 0;
    heap_buffer_pool pool_;
    receive_buffer_stats stats_;
    idle_buffer_release idle_release_{sched_, *this};
};

void asio_backend::poll(std::chrono::nanoseconds timeout) {
    if (timeout.count() < 0) {
        io_.run_one();
    } else if (timeout.count() > 0) {
        io_.run_one_for(timeout);
    }
    io_.poll();
}

result<void> asio_backend::wait(descriptor& d, descriptor::wait_type type, op_registry* owner,
                                time_point deadline) {
    readiness_op op;
    d.async_wait(
        type, asio::bind_cancellation_slot(op.cancel.slot(),
                                           [this, &op, owner](const boost::system::error_code& ec) {
                                               op.ec = ec;
                                               --inflight_;
                                               if (owner != nullptr) {
                                                   owner->finished(sched_, op);
                                               }
                                               sched_.wake(op);
                                           }));
    ++inflight_;
    if (owner != nullptr) {
        owner->started(op);
    }
    sched_.block(op, deadline);
    if (op.ec) {
        if (op.interrupted_by != errc{}) {
            return op.interrupted_by;
        }
        return op.ec;
    }
    return {};
}

bool would_block(int err) {
    return err == EAGAIN || err == EWOULDBLOCK;
}

class asio_stream final : public stream_impl {
  public:
    asio_stream(asio_backend& io, unique_fd fd)
        : io_(io), descriptor_(io.context(), fd.release()) {}
    ~asio_stream() override { close(); }

    result<rx_buffer> receive(time_point deadline) override;
    result<std::size_t> read_some(std::span<char> into, time_point deadline) override;
    result<void> write(std::span<const char> bytes, time_point deadline) override;
    result<void> writev(std::span<iovec> parts, time_point deadline) override;
    void shutdown_send() noexcept override {
        if (descriptor_.is_open()) {
            ::shutdown(descriptor_.native_handle(), SHUT_WR);
        }
    }
    void close() noexcept override;
    bool is_open() const noexcept override { return descriptor_.is_open() && !closing_; }
    int fd() const noexcept override {
        return descriptor_.is_open() ? const_cast<descriptor&>(descriptor_).native_handle() : -1;
    }

    /// After a non-blocking connect(): writable means the attempt has
    /// finished, and SO_ERROR says how.
    result<void> wait_connected(time_point deadline) {
        if (auto ready = wait(descriptor::wait_write, deadline); !ready) {
            return ready.error();
        }
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(descriptor_.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
            return errno_code(err);
        }
        return {};
    }

  private:
    result<void> wait(descriptor::wait_type type, time_point deadline) {
        return io_.wait(descriptor_, type, &ops_, deadline);
    }

    asio_backend& io_;
    descriptor descriptor_;
    op_registry ops_;
    bool closing_ = false;
    bool last_read_filled_ = false;  // then data is likely waiting: try before waiting
};

result<rx_buffer> asio_stream::receive(time_point deadline) {
    const op_registry::inside guard(ops_);
    heap_buffer_pool& pool = io_.pool();
    for (;;) {
        if (!is_open()) {
            return errc::stream_closed;
        }
        if (!last_read_filled_) {
            if (auto ready = wait(descriptor::wait_read, deadline); !ready) {
                return ready.error();
            }
        }
        io_.heap_receive();
        rx_buffer buffer(&pool, pool.acquire(), pool.buffer_size(), 0);
        const ssize_t n =
            ::recv(descriptor_.native_handle(), buffer.data().data(), buffer.size(), MSG_DONTWAIT);
        if (n > 0) {
            last_read_filled_ = static_cast<std::size_t>(n) == pool.buffer_size();
            buffer.truncate(static_cast<std::size_t>(n));
            return buffer;
        }
        last_read_filled_ = false;
        if (n == 0) {
            return errc::end_of_stream;
        }
        if (!would_block(errno) && errno != EINTR) {
            return errno_code(errno);
        }
    }
}

result<std::size_t> asio_stream::read_some(std::span<char> into, time_point deadline) {
    const op_registry::inside guard(ops_);
    for (;;) {
        if (!is_open()) {
            return errc::stream_closed;
        }
        const ssize_t n =
            ::recv(descriptor_.native_handle(), into.data(), into.size(), MSG_DONTWAIT);
        if (n > 0) {
            return static_cast<std::size_t>(n);
        }
        if (n == 0) {
            return errc::end_of_stream;
        }
        if (!would_block(errno) && errno != EINTR) {
            return errno_code(errno);
        }
        if (auto ready = wait(descriptor::wait_read, deadline); !ready) {
            return ready.error();
        }
    }
}

result<void> asio_stream::write(std::span<const char> bytes, time_point deadline) {
    const op_registry::inside guard(ops_);
    while (!bytes.empty()) {
        if (!is_open()) {
            return errc::stream_closed;
        }
        const ssize_t n = ::send(descriptor_.native_handle(), bytes.data(), bytes.size(),
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            bytes = bytes.subspan(static_cast<std::size_t>(n));
            continue;
        }
        if (!would_block(errno) && errno != EINTR) {
            return errno_code(errno);
        }
        if (auto ready = wait(descriptor::wait_write, deadline); !ready) {
            return ready.error();
        }
    }
    return {};
}

result<void> asio_stream::writev(std::span<iovec> parts, time_point deadline) {
    const op_registry::inside guard(ops_);
    while (!parts.empty()) {
        if (!is_open()) {
            return errc::stream_closed;
        }
        msghdr message{};
        message.msg_iov = parts.data();
        message.msg_iovlen = std::min<std::size_t>(parts.size(), IOV_MAX);
        const ssize_t n =
            ::sendmsg(descriptor_.native_handle(), &message, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            consume_iovecs(parts, static_cast<std::size_t>(n));
            continue;
        }
        if (!would_block(errno) && errno != EINTR) {
            return errno_code(errno);
        }
        if (auto ready = wait(descriptor::wait_write, deadline); !ready) {
            return ready.error();
        }
    }
    return {};
}

void asio_stream::close() noexcept {
    if (!descriptor_.is_open() || closing_) {
        return;
    }
    closing_ = true;
    if (!ops_.idle()) {
        ops_.interrupt_and_drain(*this_scheduler(), errc::stream_closed);
    }
    boost::system::error_code ignored;
    descriptor_.close(ignored);
}

class asio_listener final : public listener_impl {
  public:
    asio_listener(asio_backend& io, unique_fd fd)
        : io_(io), descriptor_(io.context(), fd.release()) {}
    ~asio_listener() override { close(); }

    result<unique_fd> accept(time_point deadline) override {
        const op_registry::inside guard(ops_);
        for (;;) {
            if (!is_open()) {
                return errc::stream_closed;
            }
            const int fd = ::accept4(descriptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
            if (fd >= 0) {
                return unique_fd(fd);
            }
            if (!would_block(errno) && errno != EINTR && errno != ECONNABORTED) {
                return errno_code(errno);
            }
            if (auto ready = io_.wait(descriptor_, descriptor::wait_read, &ops_, deadline);
                !ready) {
                return ready.error();
            }
        }
    }

    void close() noexcept override {
        if (!descriptor_.is_open() || closing_) {
            return;
        }
        closing_ = true;
        if (!ops_.idle()) {
            ops_.interrupt_and_drain(*this_scheduler(), errc::stream_closed);
        }
        boost::system::error_code ignored;
        descriptor_.close(ignored);
    }

    bool is_open() const noexcept override { return descriptor_.is_open() && !closing_; }

    endpoint local_endpoint() const override {
        auto at = endpoint::local_of(const_cast<descriptor&>(descriptor_).native_handle());
        return at ? *at : endpoint{};
    }

  private:
    asio_backend& io_;
    descriptor descriptor_;
    op_registry ops_;
    bool closing_ = false;
};

result<std::unique_ptr<stream_impl>> asio_backend::adopt(unique_fd fd) {
    if (auto r = set_non_blocking(fd.get(), true); !r) {
        return r.error();
    }
    set_nodelay(fd.get());
    return std::unique_ptr<stream_impl>(new asio_stream(*this, std::move(fd)));
}

result<std::unique_ptr<stream_impl>> asio_backend::connect(const endpoint& to,
                                                           time_point deadline) {
    auto fd = open_stream_socket(to.family(), true);
    if (!fd) {
        return fd.error();
    }
    if (::connect(fd->get(), to.data(), to.size()) != 0 && errno != EINPROGRESS) {
        return errno_code(errno);
    }
    auto stream = std::make_unique<asio_stream>(*this, std::move(*fd));
    if (auto connected = stream->wait_connected(deadline); !connected) {
        return connected.error();
    }
    return std::unique_ptr<stream_impl>(std::move(stream));
}

result<std::unique_ptr<listener_impl>> asio_backend::listen(const endpoint& at, int backlog) {
    auto fd = open_listen_socket(at, backlog, true);
    if (!fd) {
        return fd.error();
    }
    return std::unique_ptr<listener_impl>(new asio_listener(*this, std::move(*fd)));
}

}  // namespace

std::unique_ptr<io_backend> make_asio_backend(scheduler& sched, const runtime_options& options) {
    return std::make_unique<asio_backend>(sched, options);
}

}  // namespace stampede::runtime::detail
