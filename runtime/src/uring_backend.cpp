// The io_uring backend: liburing directly, one ring per scheduler thread.
// This file: the ring, its buffer ring and wake-ups, blocking operations and
// the listener (multishot accept); streams are in uring_stream.cpp.

#include "uring_backend.hpp"

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>

#include "stampede/runtime/log.hpp"

namespace stampede::runtime::detail {

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

namespace {

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

}  // namespace

// ---- backend ----

uring_backend::uring_backend(scheduler& sched, const runtime_options& options) noexcept
    : sched_(sched),
      buffer_size_(options.recv_buffer_size),
      buffer_count_(options.recv_buffer_count),
      entries_(options.uring_entries),
      fallback_(options.recv_buffer_size, 64),
      multishot_wanted_(options.uring_multishot_receive) {}

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
    // Multishot receive came with Linux 6.0, DEFER_TASKRUN with 6.1.
    defer_taskrun_ = rc == 0;
    multishot_receive_ = defer_taskrun_ && multishot_wanted_;
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
    reg.bgid = uring_buffer_group;
    if (const int rc = io_uring_register_buf_ring(&ring_, &reg, 0); rc != 0) {
        log::info("provided-buffer rings unavailable (", std::strerror(-rc),
                  "); receiving into heap buffers");
        ::munmap(ring_memory, buffer_ring_bytes_);
        ::munmap(buffer_memory, buffer_count_ * buffer_size_);
        return;
    }
    buffer_ring_ = static_cast<io_uring_buf_ring*>(ring_memory);
    buffer_stats_.ring_size = buffer_count_;
    lent_.assign(buffer_count_, 0);
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

void uring_backend::recycle(unsigned bid) noexcept {
    --buffer_stats_.ring_out;
    lent_[bid] = 0;
    const int mask = io_uring_buf_ring_mask(static_cast<std::uint32_t>(buffer_count_));
    io_uring_buf_ring_add(buffer_ring_, buffer_at(bid), static_cast<unsigned>(buffer_size_),
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
    idle_release_.stop();
    if (ring_ready_) {
        ring_ready_ = false;
        io_uring_queue_exit(&ring_);
        standing_.for_each([](uring_standing_op* op) { op->ring_gone(); });
    }
}

// The pages of ring buffers that no reader holds go back to the kernel: it
// faults fresh ones in when it next fills them. Safe only because with
// DEFER_TASKRUN the kernel writes into ring buffers inside this thread's own
// io_uring_enter, never while we run; otherwise they stay resident.
bool uring_backend::release_idle_buffers() noexcept {
    ++buffer_stats_.idle_releases;
    fallback_.trim();
    if (buffers_ == nullptr || !defer_taskrun_) {
        return true;
    }
    for (std::size_t first = 0; first < buffer_count_;) {
        if (lent_[first] != 0) {
            ++first;
            continue;
        }
        std::size_t end = first;
        while (end < buffer_count_ && lent_[end] == 0) {
            ++end;
        }
        ::madvise(buffers_ + first * buffer_size_, (end - first) * buffer_size_, MADV_DONTNEED);
        first = end;
    }
    return true;
}

void uring_backend::begin_shutdown() noexcept {
    finishing_ = true;
    standing_.for_each([](uring_standing_op* op) { op->stop(); });
}

result<std::unique_ptr<stream_impl>> uring_backend::adopt(unique_fd fd) {
    // io_uring waits for readiness itself; blocking mode keeps the kernel from
    // answering EAGAIN to our receives.
    if (auto r = set_non_blocking(fd.get(), false); !r) {
        return r.error();
    }
    set_nodelay(fd.get());
    return make_uring_stream(*this, std::move(fd));
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
    return make_uring_stream(*this, std::move(*fd));
}

result<std::unique_ptr<listener_impl>> uring_backend::listen(const endpoint& at, int backlog) {
    auto fd = open_listen_socket(at, backlog, false);
    if (!fd) {
        return fd.error();
    }
    return std::unique_ptr<listener_impl>(new uring_listener(*this, std::move(*fd)));
}

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
