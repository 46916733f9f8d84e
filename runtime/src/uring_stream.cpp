// io_uring streams: a multishot receive into provided buffers, sends straight
// to the socket while it takes them.

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include "uring_backend.hpp"

namespace stampede::runtime::detail {
namespace {

/// How far a stream's multishot receive runs ahead of its reader. Each arming
/// takes at most this many buffers' worth of bytes (IORING_RECV_MSHOT_LIM,
/// Linux 6.17+; an older kernel refuses the limit and its streams receive one
/// call at a time), and past this many completions not yet taken the op is
/// cancelled. The socket's own buffer, and TCP's window, then hold the rest, as
/// they do for any reader that pauses; a reader that comes back re-arms it.
/// Without the byte limit one wake-up fills buffer after buffer for a reader
/// that paused (65 of 256 measured, tests/runtime/receive_test.cpp).
constexpr std::size_t max_queued_chunks = 4;

/// A stream's multishot receive (IORING_RECV_MULTISHOT into the provided-buffer
/// ring): armed once, it completes once per buffer the kernel fills, so a
/// reader that keeps up submits nothing and finds its data already there.
///
/// It lives on the heap apart from its stream: a stream closed while the op is
/// armed hands over the channel with its fd, and the channel frees both on
/// the op's last completion (buffers rule 4, without close having to wait).
class recv_channel final : public uring_standing_op {
  public:
    explicit recv_channel(uring_backend& io) noexcept : io_(io) { io_.add_standing(*this); }
    ~recv_channel() {
        release_queued();
        io_.remove_standing(*this);
    }
    recv_channel(const recv_channel&) = delete;
    recv_channel& operator=(const recv_channel&) = delete;

    bool armed() const noexcept { return armed_; }
    bool has_chunk() const noexcept { return head_ < chunks_.size(); }
    std::size_t queued() const noexcept { return chunks_.size() - head_; }
    /// Whether a reader that has just taken the last queued chunk should re-arm
    /// at once, so that the next data is on its way while it handles this one:
    /// only while the stream flows (the op ended at its byte limit).
    bool worth_rearming() const noexcept { return !armed_ && flowing_ && queued() == 0; }
    /// True once after the op ended because the buffer ring was empty.
    bool take_ran_dry() noexcept { return std::exchange(ran_dry_, false); }
    void set_reader(waiter* w) noexcept { reader_ = w; }

    void arm(int fd) noexcept;
    /// The first chunk as a lent buffer, end of stream, or its error. Needs has_chunk().
    result<rx_buffer> take() noexcept;
    /// Copies from the first chunk into `into`. Needs has_chunk().
    result<std::size_t> take_into(std::span<char> into) noexcept;

    /// The stream is closing: the channel takes over its fd and frees both once
    /// the op is over (at once if it is not armed).
    static void abandon(std::unique_ptr<recv_channel> channel, unique_fd fd) noexcept;

    void complete(int res, unsigned flags) noexcept override;
    void stop() noexcept override { cancel(); }
    void ring_gone() noexcept override;

  private:
    struct chunk {
        int res;
        unsigned flags;
        std::uint32_t offset;  ///< bytes already copied out by take_into()
    };

    void pop() noexcept;
    void cancel() noexcept;
    void release_queued() noexcept;

    uring_backend& io_;
    std::vector<chunk> chunks_;  ///< completions not yet taken, from head_
    std::size_t head_ = 0;
    waiter* reader_ = nullptr;
    unique_fd fd_;  ///< only once abandoned
    bool armed_ = false;
    bool cancelling_ = false;
    bool ran_dry_ = false;
    bool flowing_ = false;  ///< the last arming ended at its byte limit
    bool abandoned_ = false;
};

void recv_channel::arm(int fd) noexcept {
    io_uring_sqe* sqe = io_.get_sqe();
    io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = uring_buffer_group;
    // The total byte limit (IORING_RECV_MSHOT_LIM) rides in optlen, which
    // liburing 2.3 still calls file_index.
    sqe->file_index = static_cast<std::uint32_t>(max_queued_chunks * io_.buffer_size());
    io_uring_sqe_set_data(sqe, static_cast<uring_op*>(this));
    io_.started();
    armed_ = true;
    flowing_ = false;
}

void recv_channel::cancel() noexcept {
    if (armed_ && !cancelling_) {
        io_.submit_cancel(this);
        cancelling_ = true;
    }
}

// Every completion of the op: data (a filled buffer), end of stream, an error,
// or the op's end (no IORING_CQE_F_MORE: limit reached, cancelled, ring dry).
void recv_channel::complete(int res, unsigned flags) noexcept {
    const bool last = (flags & IORING_CQE_F_MORE) == 0;
    if (last) {
        armed_ = false;
        io_.ended();
        // Ended by its byte limit: data flows, and the reader re-arms early.
        flowing_ = res > 0 && !cancelling_;
        cancelling_ = false;
    }
    if ((flags & IORING_CQE_F_BUFFER) != 0) {
        io_.buffer_taken(flags >> IORING_CQE_BUFFER_SHIFT);
    }
    if (last && res == -EINVAL && (flags & IORING_CQE_F_BUFFER) == 0) {
        io_.multishot_limit_refused();  // a kernel before 6.17: single-shot from now on
    } else if (res == -ENOBUFS && (flags & IORING_CQE_F_BUFFER) == 0) {
        ran_dry_ = true;
    } else if (res != -ECANCELED || (flags & IORING_CQE_F_BUFFER) != 0) {
        chunks_.push_back({res, flags, 0});
    }
    if (abandoned_) {
        release_queued();
        if (!armed_) {
            delete this;
        }
        return;
    }
    if (queued() >= max_queued_chunks) {
        cancel();
    }
    if (reader_ != nullptr) {
        io_.sched().wake(*reader_);
    }
}

void recv_channel::pop() noexcept {
    if (++head_ == chunks_.size()) {
        chunks_.clear();
        head_ = 0;
    }
}

result<rx_buffer> recv_channel::take() noexcept {
    const chunk c = chunks_[head_];
    pop();
    if ((c.flags & IORING_CQE_F_BUFFER) != 0) {
        const unsigned bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
        if (c.res > 0) {
            return io_.lend(bid, c.offset, static_cast<std::size_t>(c.res) - c.offset);
        }
        io_.recycle(bid);
    }
    if (c.res == 0) {
        return errc::end_of_stream;
    }
    return errno_code(-c.res);
}

result<std::size_t> recv_channel::take_into(std::span<char> into) noexcept {
    chunk& c = chunks_[head_];
    if (c.res <= 0 || (c.flags & IORING_CQE_F_BUFFER) == 0) {
        auto ended = take();
        return ended.error();
    }
    const std::size_t left = static_cast<std::size_t>(c.res) - c.offset;
    const std::size_t n = std::min(left, into.size());
    const unsigned bid = c.flags >> IORING_CQE_BUFFER_SHIFT;
    std::memcpy(into.data(), io_.buffer_at(bid) + c.offset, n);
    if (n == left) {
        pop();
        io_.recycle(bid);
    } else {
        c.offset += static_cast<std::uint32_t>(n);
    }
    return n;
}

void recv_channel::release_queued() noexcept {
    for (std::size_t i = head_; i < chunks_.size(); ++i) {
        if ((chunks_[i].flags & IORING_CQE_F_BUFFER) != 0 && io_.has_buffer_ring()) {
            io_.recycle(chunks_[i].flags >> IORING_CQE_BUFFER_SHIFT);
        }
    }
    chunks_.clear();
    head_ = 0;
}

void recv_channel::abandon(std::unique_ptr<recv_channel> channel, unique_fd fd) noexcept {
    if (!channel->armed_) {
        return;  // both go now
    }
    recv_channel* c = channel.release();
    c->fd_ = std::move(fd);
    c->abandoned_ = true;
    c->reader_ = nullptr;
    c->release_queued();
    c->cancel();
}

void recv_channel::ring_gone() noexcept {
    armed_ = false;
    cancelling_ = false;
    if (abandoned_) {
        delete this;
    }
}

// ---- the stream ----

class uring_stream final : public stream_impl {
  public:
    uring_stream(uring_backend& io, unique_fd fd) noexcept : io_(io), fd_(std::move(fd)) {}
    ~uring_stream() override { close(); }

    result<rx_buffer> receive(time_point deadline) override;
    result<std::size_t> read_some(std::span<char> into, time_point deadline) override;
    result<void> write(std::span<const char> bytes, time_point deadline) override;
    result<void> writev(std::span<iovec> parts, time_point deadline) override;
    void shutdown_send() noexcept override {
        if (fd_.valid()) {
            ::shutdown(fd_.get(), SHUT_WR);
        }
    }
    void close() noexcept override;
    bool is_open() const noexcept override { return fd_.valid() && !closing_; }
    int fd() const noexcept override { return fd_.get(); }

  private:
    /// The reader waiting for its channel; close() interrupts it like an op.
    class channel_waiter final : public io_waiter {
      public:
        void interrupt(errc) noexcept override { this_scheduler()->wake(*this); }
    };

    bool channel_active() const noexcept {
        return channel_ && (channel_->armed() || channel_->has_chunk());
    }
    result<void> await_channel(time_point deadline);
    result<rx_buffer> receive_once(time_point deadline);
    result<rx_buffer> receive_into_heap(time_point deadline);
    /// One recv(MSG_DONTWAIT) into `into`: bytes read, 0 at end of stream,
    /// -EAGAIN when nothing is waiting, or another -errno.
    ssize_t recv_now(std::span<char> into) noexcept;

    uring_backend& io_;
    unique_fd fd_;
    op_registry ops_;
    std::unique_ptr<recv_channel> channel_;  ///< made by the first receive()
    bool closing_ = false;
    /// The last read left data in the socket (it filled its buffer, or the
    /// kernel said so): the next one tries recv() before the ring.
    bool more_waiting_ = false;
};

ssize_t uring_stream::recv_now(std::span<char> into) noexcept {
    const ssize_t n = ::recv(fd_.get(), into.data(), into.size(), MSG_DONTWAIT);
    if (n >= 0) {
        more_waiting_ = static_cast<std::size_t>(n) == into.size();
        return n;
    }
    more_waiting_ = false;
    return -errno;
}

// Waits (armed) until the channel has a completion for us, or the wait is
// interrupted; the op stays armed after a timeout.
result<void> uring_stream::await_channel(time_point deadline) {
    if (!channel_->armed()) {
        if (!io_.accepting()) {
            return errc::shutdown;
        }
        channel_->arm(fd_.get());
    }
    channel_waiter w;
    ops_.started(w);
    channel_->set_reader(&w);
    io_.sched().block(w, deadline);
    channel_->set_reader(nullptr);
    ops_.finished(io_.sched(), w);
    if (w.interrupted_by != errc{}) {
        return w.interrupted_by;
    }
    return {};
}

// Data arrives into ring buffers picked by the kernel, so an idle connection
// holds no buffer. When the ring runs dry (ENOBUFS), this one receive falls
// back to a heap buffer.
result<rx_buffer> uring_stream::receive(time_point deadline) {
    const op_registry::inside guard(ops_);
    if (!io_.has_buffer_ring()) {
        return receive_into_heap(deadline);
    }
    for (;;) {
        if (!io_.multishot_receive() && !channel_active()) {
            return receive_once(deadline);
        }
        if (!channel_) {
            channel_ = std::make_unique<recv_channel>(io_);
        }
        if (!is_open()) {
            return errc::stream_closed;
        }
        if (channel_->has_chunk()) {
            auto chunk = channel_->take();
            if (channel_->worth_rearming() && io_.accepting()) {
                channel_->arm(fd_.get());
            }
            return chunk;
        }
        if (channel_->take_ran_dry()) {
            return receive_into_heap(deadline);
        }
        if (auto waited = await_channel(deadline); !waited) {
            return waited.error();
        }
    }
}

// A single-shot receive: one SQE per call (STAMPEDE_URING_MULTISHOT=0).
result<rx_buffer> uring_stream::receive_once(time_point deadline) {
    if (!is_open()) {
        return errc::stream_closed;
    }
    if (more_waiting_) {
        // Data is waiting: read it now, as Asio would, instead of a ring
        // round trip (a scheduler turn) per buffer of a bulk transfer.
        io_.heap_receive();
        heap_buffer_pool& pool = io_.fallback_pool();
        rx_buffer buffer(&pool, pool.acquire(), pool.buffer_size(), 0);
        const ssize_t n = recv_now(buffer.data());
        if (n > 0) {
            buffer.truncate(static_cast<std::size_t>(n));
            return buffer;
        }
        if (n == 0) {
            return errc::end_of_stream;
        }
        if (n != -EAGAIN && n != -EINTR) {
            return errno_code(static_cast<int>(-n));
        }
    }
    const int fd = fd_.get();
    const auto size = static_cast<unsigned>(io_.buffer_size());
    const op_outcome out = io_.run(&ops_, deadline, [&](io_uring_sqe* sqe) {
        io_uring_prep_recv(sqe, fd, nullptr, size, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = uring_buffer_group;
    });
    more_waiting_ = (out.flags & IORING_CQE_F_SOCK_NONEMPTY) != 0;
    if ((out.flags & IORING_CQE_F_BUFFER) != 0) {
        io_.buffer_taken(out.flags >> IORING_CQE_BUFFER_SHIFT);
        rx_buffer lent = io_.lend(out.flags >> IORING_CQE_BUFFER_SHIFT, 0,
                                  out.res > 0 ? static_cast<std::size_t>(out.res) : 0);
        if (out.res > 0) {
            return lent;
        }
    }
    if (out.res == 0) {
        return errc::end_of_stream;
    }
    if (out.res == -ENOBUFS && out.interrupted_by == errc{}) {
        return receive_into_heap(deadline);
    }
    return out.error();
}

result<rx_buffer> uring_stream::receive_into_heap(time_point deadline) {
    io_.heap_receive();
    heap_buffer_pool& pool = io_.fallback_pool();
    rx_buffer buffer(&pool, pool.acquire(), pool.buffer_size(), 0);
    auto got = read_some(buffer.data(), deadline);
    if (!got) {
        return got.error();
    }
    buffer.truncate(*got);
    return buffer;
}

// Into the caller's memory. While the stream's multishot receive is armed or
// holds data, bytes come from it (in order); otherwise a recv of its own.
result<std::size_t> uring_stream::read_some(std::span<char> into, time_point deadline) {
    const op_registry::inside guard(ops_);
    while (channel_active()) {
        if (!is_open()) {
            return errc::stream_closed;
        }
        if (channel_->has_chunk()) {
            return channel_->take_into(into);
        }
        if (auto waited = await_channel(deadline); !waited) {
            return waited.error();
        }
    }
    if (!is_open()) {
        return errc::stream_closed;
    }
    if (more_waiting_) {
        const ssize_t n = recv_now(into);
        if (n > 0) {
            return static_cast<std::size_t>(n);
        }
        if (n == 0) {
            return errc::end_of_stream;
        }
        if (n != -EAGAIN && n != -EINTR) {
            return errno_code(static_cast<int>(-n));
        }
    }
    const int fd = fd_.get();
    const op_outcome out = io_.run(&ops_, deadline, [&](io_uring_sqe* sqe) {
        io_uring_prep_recv(sqe, fd, into.data(), into.size(), 0);
    });
    more_waiting_ = (out.flags & IORING_CQE_F_SOCK_NONEMPTY) != 0 ||
                    (out.res > 0 && static_cast<std::size_t>(out.res) == into.size());
    if (out.res > 0) {
        return static_cast<std::size_t>(out.res);
    }
    if (out.res == 0) {
        return errc::end_of_stream;
    }
    return out.error();
}

// Sends go to the socket directly while it takes them (MSG_DONTWAIT), and
// through the ring only when it would block (the ring op then waits for room)
// or fails (the ring op reports the error). A send the kernel takes at once
// costs one system call either way; through the ring it would also suspend the
// fiber for a scheduler turn per write, which keeps a writer from getting ahead
// of its reader: bench_echo measured about 2 messages per receive instead of
// 31 and 2-3x the CPU per message for one-message-per-write clients.
result<void> uring_stream::write(std::span<const char> bytes, time_point deadline) {
    const op_registry::inside guard(ops_);
    while (!bytes.empty()) {
        if (!is_open()) {
            return errc::stream_closed;
        }
        const int fd = fd_.get();
        const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent > 0) {
            bytes = bytes.subspan(static_cast<std::size_t>(sent));
            continue;
        }
        const op_outcome out = io_.run(&ops_, deadline, [&](io_uring_sqe* sqe) {
            io_uring_prep_send(sqe, fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        });
        if (out.res <= 0) {
            return out.res == 0 ? errno_code(EPIPE) : out.error();
        }
        bytes = bytes.subspan(static_cast<std::size_t>(out.res));
    }
    return {};
}

result<void> uring_stream::writev(std::span<iovec> parts, time_point deadline) {
    const op_registry::inside guard(ops_);
    while (!parts.empty()) {
        if (!is_open()) {
            return errc::stream_closed;
        }
        msghdr message{};  // read by the kernel until completion; run() waits for it
        message.msg_iov = parts.data();
        message.msg_iovlen = std::min<std::size_t>(parts.size(), IOV_MAX);
        const int fd = fd_.get();
        // Directly while the socket takes it, as in write().
        const ssize_t sent = ::sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (sent > 0) {
            consume_iovecs(parts, static_cast<std::size_t>(sent));
            continue;
        }
        const op_outcome out = io_.run(&ops_, deadline, [&](io_uring_sqe* sqe) {
            io_uring_prep_sendmsg(sqe, fd, &message, MSG_NOSIGNAL);
        });
        if (out.res <= 0) {
            return out.res == 0 ? errno_code(EPIPE) : out.error();
        }
        consume_iovecs(parts, static_cast<std::size_t>(out.res));
    }
    return {};
}

// The fibers inside leave first (interrupted); an armed multishot receive
// keeps the fd until its last completion (recv_channel::abandon).
void uring_stream::close() noexcept {
    if (!fd_.valid() || closing_) {
        return;
    }
    closing_ = true;
    if (!ops_.idle()) {
        ops_.interrupt_and_drain(io_.sched(), errc::stream_closed);
    }
    if (channel_) {
        recv_channel::abandon(std::move(channel_), std::move(fd_));
    }
    fd_.reset();
}

}  // namespace

std::unique_ptr<stream_impl> make_uring_stream(uring_backend& io, unique_fd fd) {
    return std::make_unique<uring_stream>(io, std::move(fd));
}

}  // namespace stampede::runtime::detail
