// The io_uring backend: liburing directly, one ring per scheduler thread.
//
// Every SQE's user_data points at a uring_op with one completion entry point;
// whatever an SQE points at lives in that op (or in the backend) until its
// completion arrives (STYLE.md, buffers rules 1-3). Submissions are batched:
// the scheduler loop calls poll() once a turn, which is one io_uring_enter.

#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>

#include "io_backend.hpp"
#include "stampede/runtime/log.hpp"

namespace stampede::runtime::detail {
namespace {

constexpr std::uint16_t buffer_group = 1;

/// A completion target. user_data of every SQE we submit (cancels use null).
class uring_op {
  public:
    virtual void complete(int res, unsigned flags) noexcept = 0;

  protected:
    ~uring_op() = default;
};

class uring_backend;

/// A fiber's single operation: it waits on its stack until the completion.
class blocking_op final : public io_waiter, public uring_op {
  public:
    blocking_op(uring_backend& io, op_registry* owner) noexcept : io_(io), owner_(owner) {}
    void complete(int res, unsigned flags) noexcept override;
    void interrupt(errc why) noexcept override;

    int res = 0;
    unsigned flags = 0;

  private:
    uring_backend& io_;
    op_registry* owner_;
};

struct op_outcome {
    int res;
    unsigned flags;
    errc interrupted_by;

    boost::system::error_code error() const noexcept {
        if (interrupted_by != errc{} && (res == -ECANCELED || res == -EINTR || res >= 0)) {
            return make_error_code(interrupted_by);
        }
        return errno_code(-res);
    }
};

class uring_backend final : public io_backend, public buffer_source {
  public:
    uring_backend(scheduler& sched, const runtime_options& options) noexcept
        : sched_(sched),
          buffer_size_(options.recv_buffer_size),
          buffer_count_(options.recv_buffer_count),
          entries_(options.uring_entries),
          fallback_(options.recv_buffer_size, 64) {}
    ~uring_backend() override;

    result<void> init();

    const char* name() const noexcept override { return "uring"; }
    void poll(std::chrono::nanoseconds timeout) override;
    /// Our own eventfd read does not count: it is always armed.
    bool has_pending_work() const noexcept override { return inflight_ > 0; }
    void wake() noexcept override;
    void begin_shutdown() noexcept override { finishing_ = true; }
    void finish() noexcept override;

    result<std::unique_ptr<stream_impl>> adopt(unique_fd fd) override;
    result<std::unique_ptr<stream_impl>> connect(const endpoint& to, time_point deadline) override;
    result<std::unique_ptr<listener_impl>> listen(const endpoint& at, int backlog) override;

    /// Submits an operation prepared by `prep`, blocks the calling fiber until
    /// its completion and returns it. On timeout, shutdown or close the fiber
    /// is interrupted: a cancel is submitted and the original completion is
    /// still awaited, so nothing the SQE points at outlives its use.
    template <class Prep>
    op_outcome run(op_registry* owner, time_point deadline, Prep&& prep) {
        blocking_op op(*this, owner);
        io_uring_sqe* sqe = get_sqe();
        prep(sqe);
        io_uring_sqe_set_data(sqe, static_cast<uring_op*>(&op));
        started();
        if (owner != nullptr) {
            owner->started(op);
        }
        sched_.block(op, deadline);
        return {op.res, op.flags, op.interrupted_by};
    }

    io_uring_sqe* get_sqe() noexcept;
    void submit_cancel(uring_op* target) noexcept;
    void started() noexcept { ++inflight_; }
    void ended() noexcept { --inflight_; }
    scheduler& sched() noexcept { return sched_; }

    bool has_buffer_ring() const noexcept { return buffer_ring_ != nullptr; }
    std::size_t buffer_size() const noexcept { return buffer_size_; }
    rx_buffer lend(unsigned bid, std::size_t length) noexcept {
        return {this, buffers_ + bid * buffer_size_, length, bid};
    }
    void give_back(char* data, std::uint32_t bid) noexcept override;
    heap_buffer_pool& fallback_pool() noexcept { return fallback_; }

  private:
    class wake_op final : public uring_op {
      public:
        explicit wake_op(uring_backend& io) : io_(io) {}
        void complete(int, unsigned) noexcept override { io_.arm_wake(); }

      private:
        uring_backend& io_;
    };

    result<void> init_ring();
    void init_buffer_ring();
    void arm_wake() noexcept;
    void reap() noexcept;

    scheduler& sched_;
    io_uring ring_{};
    bool ring_ready_ = false;
    std::size_t inflight_ = 0;
    bool finishing_ = false;

    int wake_fd_ = -1;
    std::uint64_t wake_value_ = 0;  // the eventfd read's buffer: lives as long as the ring
    wake_op wake_op_{*this};

    std::size_t buffer_size_;
    std::size_t buffer_count_;
    unsigned entries_;
    io_uring_buf_ring* buffer_ring_ = nullptr;
    std::size_t buffer_ring_bytes_ = 0;
    char* buffers_ = nullptr;
    heap_buffer_pool fallback_;
};

// ---- blocking_op ----

void blocking_op::complete(int r, unsigned f) noexcept {
    res = r;
    flags = f;
    io_.ended();
    if (owner_ != nullptr) {
        owner_->finished(io_.sched(), *this);
    }
    io_.sched().wake(*this);
}

void blocking_op::interrupt(errc) noexcept {
    io_.submit_cancel(this);
}

// ---- streams ----

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
    result<rx_buffer> receive_into_heap(time_point deadline);

    uring_backend& io_;
    unique_fd fd_;
    op_registry ops_;
    bool closing_ = false;
};

// Receives into a ring buffer picked by the kernel when data arrives, so an
// idle connection holds no buffer. When the ring is empty (ENOBUFS), falls
// back to a heap buffer for this one receive.
result<rx_buffer> uring_stream::receive(time_point deadline) {
    const op_registry::inside guard(ops_);
    if (!is_open()) {
        return errc::stream_closed;
    }
    if (!io_.has_buffer_ring()) {
        return receive_into_heap(deadline);
    }
    const int fd = fd_.get();
    const auto size = static_cast<unsigned>(io_.buffer_size());
    const op_outcome out = io_.run(&ops_, deadline, [&](io_uring_sqe* sqe) {
        io_uring_prep_recv(sqe, fd, nullptr, size, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = buffer_group;
    });
    if ((out.flags & IORING_CQE_F_BUFFER) != 0) {
        rx_buffer lent = io_.lend(out.flags >> IORING_CQE_BUFFER_SHIFT,
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
    heap_buffer_pool& pool = io_.fallback_pool();
    rx_buffer buffer(&pool, pool.acquire(), pool.buffer_size(), 0);
    auto got = read_some(buffer.data(), deadline);
    if (!got) {
        return got.error();
    }
    buffer.truncate(*got);
    return buffer;
}

result<std::size_t> uring_stream::read_some(std::span<char> into, time_point deadline) {
    const op_registry::inside guard(ops_);
    if (!is_open()) {
        return errc::stream_closed;
    }
    const int fd = fd_.get();
    const op_outcome out = io_.run(&ops_, deadline, [&](io_uring_sqe* sqe) {
        io_uring_prep_recv(sqe, fd, into.data(), into.size(), 0);
    });
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

// Drops `written` bytes from the front of `parts`, which shrinks accordingly.
void consume(std::span<iovec>& parts, std::size_t written) noexcept {
    while (!parts.empty() && written >= parts.front().iov_len) {
        written -= parts.front().iov_len;
        parts = parts.subspan(1);
    }
    if (!parts.empty() && written > 0) {
        parts.front().iov_base = static_cast<char*>(parts.front().iov_base) + written;
        parts.front().iov_len -= written;
    }
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
            consume(parts, static_cast<std::size_t>(sent));
            continue;
        }
        const op_outcome out = io_.run(&ops_, deadline, [&](io_uring_sqe* sqe) {
            io_uring_prep_sendmsg(sqe, fd, &message, MSG_NOSIGNAL);
        });
        if (out.res <= 0) {
            return out.res == 0 ? errno_code(EPIPE) : out.error();
        }
        consume(parts, static_cast<std::size_t>(out.res));
    }
    return {};
}

void uring_stream::close() noexcept {
    if (!fd_.valid() || closing_) {
        return;
    }
    closing_ = true;
    if (!ops_.idle()) {
        ops_.interrupt_and_drain(io_.sched(), errc::stream_closed);
    }
    fd_.reset();
}

// ---- listener: multishot accept ----

class uring_listener final : public listener_impl, public uring_op {
  public:
    uring_listener(uring_backend& io, unique_fd fd) noexcept : io_(io), fd_(std::move(fd)) {}
    ~uring_listener() override;

    result<unique_fd> accept(time_point deadline) override;
    void close() noexcept override;
    bool is_open() const noexcept override { return fd_.valid() && !closing_; }
    endpoint local_endpoint() const override {
        auto at = endpoint::local_of(fd_.get());
        return at ? *at : endpoint{};
    }

    void complete(int res, unsigned flags) noexcept override;

  private:
    // The accepting fiber waits for the multishot op to deliver a connection.
    class accept_waiter final : public waiter {
      public:
        void interrupt(errc) noexcept override { this_scheduler()->wake(*this); }
    };
    // The closing fiber waits for the multishot op's last completion.
    class final_waiter final : public waiter {
      public:
        void interrupt(errc) noexcept override {}  // the cancelled op is sure to complete
    };

    void arm() noexcept;

    uring_backend& io_;
    unique_fd fd_;
    bool armed_ = false;
    bool closing_ = false;
    std::deque<int> accepted_;
    int last_error_ = 0;
    accept_waiter* acceptor_ = nullptr;
    final_waiter* closer_ = nullptr;
    op_registry inside_;  ///< only counts the fiber inside accept()
};

uring_listener::~uring_listener() {
    close();
    for (int fd : accepted_) {
        ::close(fd);
    }
}

void uring_listener::arm() noexcept {
    io_uring_sqe* sqe = io_.get_sqe();
    io_uring_prep_multishot_accept(sqe, fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, static_cast<uring_op*>(this));
    io_.started();
    armed_ = true;
}

void uring_listener::complete(int res, unsigned flags) noexcept {
    if (res >= 0) {
        accepted_.push_back(res);
    } else if (res != -ECANCELED) {
        last_error_ = -res;
    }
    if ((flags & IORING_CQE_F_MORE) == 0) {
        armed_ = false;
        io_.ended();
        if (closer_ != nullptr) {
            io_.sched().wake(*closer_);
        }
    }
    if (acceptor_ != nullptr) {
        io_.sched().wake(*acceptor_);
    }
}

result<unique_fd> uring_listener::accept(time_point deadline) {
    const op_registry::inside guard(inside_);
    for (;;) {
        if (!is_open()) {
            return errc::stream_closed;
        }
        if (!accepted_.empty()) {
            unique_fd fd(accepted_.front());
            accepted_.pop_front();
            return fd;
        }
        if (last_error_ != 0) {
            return errno_code(std::exchange(last_error_, 0));  // EMFILE, say: the caller decides
        }
        if (!armed_) {
            arm();
        }
        accept_waiter w;
        acceptor_ = &w;
        io_.sched().block(w, deadline);
        acceptor_ = nullptr;
        if (w.interrupted_by != errc{}) {
            return w.interrupted_by;
        }
    }
}

void uring_listener::close() noexcept {
    if (!fd_.valid() || closing_) {
        return;
    }
    closing_ = true;
    if (acceptor_ != nullptr) {
        io_.sched().interrupt(*acceptor_, errc::stream_closed);
    }
    if (armed_) {
        io_.submit_cancel(this);
        final_waiter w;
        closer_ = &w;
        io_.sched().block(w);
        closer_ = nullptr;
    }
    if (!inside_.idle()) {
        inside_.interrupt_and_drain(io_.sched(), errc::stream_closed);  // the acceptor leaves
    }
    fd_.reset();
}

// ---- backend ----

uring_backend::~uring_backend() {
    finish();
    if (wake_fd_ >= 0) {
        ::close(wake_fd_);
    }
    if (buffers_ != nullptr) {
        ::munmap(buffers_, buffer_count_ * buffer_size_);
    }
    if (buffer_ring_ != nullptr) {
        ::munmap(buffer_ring_, buffer_ring_bytes_);
    }
}

result<void> uring_backend::init_ring() {
    // DEFER_TASKRUN: completions are processed only when this thread enters the
    // kernel, which poll() does once a loop turn anyway. Needs Linux 6.1.
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
    params.cq_entries = entries_ * 4;
    int rc = io_uring_queue_init_params(entries_, &ring_, &params);
    if (rc == -EINVAL) {
        params = {};
        params.flags = IORING_SETUP_CQSIZE;
        params.cq_entries = entries_ * 4;
        rc = io_uring_queue_init_params(entries_, &ring_, &params);
    }
    if (rc < 0) {
        return errno_code(-rc);
    }
    ring_ready_ = true;
    return {};
}

void uring_backend::init_buffer_ring() {
    if (buffer_count_ == 0 || (buffer_count_ & (buffer_count_ - 1)) != 0 || buffer_count_ > 32768) {
        log::warn("recv_buffer_count must be a power of two up to 32768; using heap buffers");
        return;
    }
    buffer_ring_bytes_ = std::max(buffer_count_ * sizeof(io_uring_buf), page_size());
    void* ring_memory = ::mmap(nullptr, buffer_ring_bytes_, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    // Buffers are touched (and become resident) only when the kernel fills them.
    void* buffer_memory = ::mmap(nullptr, buffer_count_ * buffer_size_, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ring_memory == MAP_FAILED || buffer_memory == MAP_FAILED) {
        log::warn("cannot map the receive buffer ring; using heap buffers");
        return;
    }
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uint64_t>(ring_memory);
    reg.ring_entries = static_cast<std::uint32_t>(buffer_count_);
    reg.bgid = buffer_group;
    if (const int rc = io_uring_register_buf_ring(&ring_, &reg, 0); rc != 0) {
        log::info("provided-buffer rings unavailable (", std::strerror(-rc),
                  "); receiving into heap buffers");
        ::munmap(ring_memory, buffer_ring_bytes_);
        ::munmap(buffer_memory, buffer_count_ * buffer_size_);
        return;
    }
    buffer_ring_ = static_cast<io_uring_buf_ring*>(ring_memory);
    buffers_ = static_cast<char*>(buffer_memory);
    io_uring_buf_ring_init(buffer_ring_);
    const int mask = io_uring_buf_ring_mask(static_cast<std::uint32_t>(buffer_count_));
    for (std::size_t i = 0; i < buffer_count_; ++i) {
        io_uring_buf_ring_add(buffer_ring_, buffers_ + i * buffer_size_,
                              static_cast<unsigned>(buffer_size_), static_cast<unsigned short>(i),
                              mask, static_cast<int>(i));
    }
    io_uring_buf_ring_advance(buffer_ring_, static_cast<int>(buffer_count_));
}

result<void> uring_backend::init() {
    if (auto r = init_ring(); !r) {
        return r;
    }
    init_buffer_ring();
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
    if (wake_fd_ < 0) {
        return errno_code(errno);
    }
    arm_wake();
    return {};
}

void uring_backend::give_back(char* data, std::uint32_t bid) noexcept {
    const int mask = io_uring_buf_ring_mask(static_cast<std::uint32_t>(buffer_count_));
    io_uring_buf_ring_add(buffer_ring_, data, static_cast<unsigned>(buffer_size_),
                          static_cast<unsigned short>(bid), mask, 0);
    io_uring_buf_ring_advance(buffer_ring_, 1);
}

void uring_backend::arm_wake() noexcept {
    if (!ring_ready_) {
        return;
    }
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof wake_value_, 0);
    io_uring_sqe_set_data(sqe, static_cast<uring_op*>(&wake_op_));
}

void uring_backend::wake() noexcept {
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(wake_fd_, &one, sizeof one);
}

io_uring_sqe* uring_backend::get_sqe() noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (sqe == nullptr) {
        io_uring_submit(&ring_);  // the queue is full: flush it now, then retry
        sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
}

void uring_backend::submit_cancel(uring_op* target) noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel(sqe, target, 0);
    io_uring_sqe_set_data(sqe, nullptr);
}

void uring_backend::poll(std::chrono::nanoseconds timeout) {
    if (timeout.count() == 0) {
        io_uring_submit_and_get_events(&ring_);
    } else if (timeout.count() < 0) {
        io_uring_submit_and_wait(&ring_, 1);
    } else {
        __kernel_timespec ts{};
        ts.tv_sec = timeout.count() / 1'000'000'000;
        ts.tv_nsec = timeout.count() % 1'000'000'000;
        io_uring_cqe* cqe = nullptr;
        io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
    reap();
}

void uring_backend::reap() noexcept {
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        if (auto* op = static_cast<uring_op*>(io_uring_cqe_get_data(cqe))) {
            op->complete(cqe->res, cqe->flags);
        }
    }
    io_uring_cq_advance(&ring_, seen);
}

// Runs on the scheduler thread once its loop is over (the ring accepts
// submissions only from the thread that created it). The eventfd and the
// buffers stay until the destructor: a late wake() may still write to it.
void uring_backend::finish() noexcept {
    if (ring_ready_) {
        ring_ready_ = false;
        io_uring_queue_exit(&ring_);
    }
}

result<std::unique_ptr<stream_impl>> uring_backend::adopt(unique_fd fd) {
    // io_uring waits for readiness itself; blocking mode keeps the kernel from
    // answering EAGAIN to our receives.
    if (auto r = set_non_blocking(fd.get(), false); !r) {
        return r.error();
    }
    set_nodelay(fd.get());
    return std::unique_ptr<stream_impl>(new uring_stream(*this, std::move(fd)));
}

result<std::unique_ptr<stream_impl>> uring_backend::connect(const endpoint& to,
                                                            time_point deadline) {
    auto fd = open_stream_socket(to.family(), false);
    if (!fd) {
        return fd.error();
    }
    const endpoint target = to;  // read by the kernel until completion; run() waits
    const int raw = fd->get();
    const op_outcome out = run(nullptr, deadline, [&](io_uring_sqe* sqe) {
        io_uring_prep_connect(sqe, raw, target.data(), target.size());
    });
    if (out.res < 0) {
        return out.error();
    }
    return std::unique_ptr<stream_impl>(new uring_stream(*this, std::move(*fd)));
}

result<std::unique_ptr<listener_impl>> uring_backend::listen(const endpoint& at, int backlog) {
    auto fd = open_listen_socket(at, backlog, false);
    if (!fd) {
        return fd.error();
    }
    return std::unique_ptr<listener_impl>(new uring_listener(*this, std::move(*fd)));
}

}  // namespace

result<std::unique_ptr<io_backend>> make_uring_backend(scheduler& sched,
                                                       const runtime_options& options) {
    auto backend = std::make_unique<uring_backend>(sched, options);
    if (auto r = backend->init(); !r) {
        return r.error();
    }
    return std::unique_ptr<io_backend>(std::move(backend));
}

bool probe_uring(std::string& why_not) {
    io_uring ring{};
    if (const int rc = io_uring_queue_init(8, &ring, 0); rc < 0) {
        why_not = std::string("io_uring_queue_init failed: ") + std::strerror(-rc);
        return false;
    }
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    bool ok = probe != nullptr;
    if (!ok) {
        why_not = "the kernel cannot list its io_uring operations";
    }
    const std::pair<int, const char*> needed[] = {
        {IORING_OP_ACCEPT, "accept"},   {IORING_OP_RECV, "recv"},
        {IORING_OP_SEND, "send"},       {IORING_OP_SENDMSG, "sendmsg"},
        {IORING_OP_CONNECT, "connect"}, {IORING_OP_ASYNC_CANCEL, "cancel"},
        {IORING_OP_READ, "read"}};
    for (const auto& [op, op_name] : needed) {
        if (ok && !io_uring_opcode_supported(probe, op)) {
            why_not = std::string("the kernel's io_uring lacks ") + op_name;
            ok = false;
        }
    }
    if (probe != nullptr) {
        io_uring_free_probe(probe);
    }
    io_uring_queue_exit(&ring);
    return ok;
}

}  // namespace stampede::runtime::detail
