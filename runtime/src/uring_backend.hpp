#pragma once

// The io_uring backend's parts shared by its files: the ring owner
// (uring_backend.cpp), streams with their multishot receive (uring_stream.cpp)
// and the listener.
//
// Every SQE's user_data points at a uring_op with one completion entry point;
// whatever an SQE points at lives in that op (or in the backend) until its
// completion arrives (STYLE.md, buffers rules 1-3). Submissions are batched:
// the scheduler loop calls poll() once a turn, which is one io_uring_enter.

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "io_backend.hpp"

namespace stampede::runtime::detail {

inline constexpr std::uint16_t uring_buffer_group = 1;

/// A completion target. user_data of every SQE we submit (cancels use null).
class uring_op {
  public:
    virtual void complete(int res, unsigned flags) noexcept = 0;

  protected:
    ~uring_op() = default;
};

/// A completion as a fiber sees it, with why its wait was interrupted.
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

/// Something the backend must stop at shutdown (a stream's multishot receive).
class uring_standing_op : public uring_op {
  public:
    /// Shutdown has begun: cancel whatever is armed, arm nothing more.
    virtual void stop() noexcept = 0;
    /// The ring is gone (its completions with it): forget what was armed.
    virtual void ring_gone() noexcept = 0;
    list_hook backend_hook;

  protected:
    ~uring_standing_op() = default;
};

class uring_backend final : public io_backend, public buffer_source {
  public:
    uring_backend(scheduler& sched, const runtime_options& options) noexcept;
    ~uring_backend() override;

    result<void> init();

    const char* name() const noexcept override { return "uring"; }
    void poll(std::chrono::nanoseconds timeout) override;
    /// Our own eventfd read does not count: it is always armed.
    bool has_pending_work() const noexcept override { return inflight_ > 0; }
    void wake() noexcept override;
    void begin_shutdown() noexcept override;
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
    /// False once shutdown has begun or the ring is gone: arm nothing new.
    bool accepting() const noexcept { return ring_ready_ && !finishing_; }

    void add_standing(uring_standing_op& op) noexcept { standing_.push_back(&op); }
    void remove_standing(uring_standing_op& op) noexcept {
        if (op.backend_hook.linked()) {
            standing_.erase(&op);
        }
    }

    /// Streams receive through a standing multishot op (see uring_stream.cpp).
    bool multishot_receive() const noexcept { return multishot_receive_; }
    bool has_buffer_ring() const noexcept { return buffer_ring_ != nullptr; }
    std::size_t buffer_size() const noexcept { return buffer_size_; }
    /// The ring buffer `bid` as a received buffer of `length` bytes from `offset`.
    rx_buffer lend(unsigned bid, std::size_t offset, std::size_t length) noexcept {
        return {this, buffer_at(bid) + offset, length, bid};
    }
    /// A completion handed us ring buffer `bid` (ours until recycle()).
    void buffer_taken(unsigned bid) noexcept {
        ++buffer_stats_.ring_out;
        lent_[bid] = 1;
        idle_release_.activity();
    }
    void heap_receive() noexcept {
        ++buffer_stats_.heap_receives;
        idle_release_.activity();
    }
    receive_buffer_stats buffer_stats() const noexcept override { return buffer_stats_; }
    bool release_idle_buffers() noexcept override;
    /// The kernel refused a multishot receive's total byte limit (before Linux
    /// 6.17). Without it one wake-up fills buffer after buffer for a reader
    /// that paused (65 of 256 measured, tests/runtime/receive_test.cpp), so
    /// streams go back to one receive per call.
    void multishot_limit_refused() noexcept { multishot_receive_ = false; }

    char* buffer_at(unsigned bid) const noexcept { return buffers_ + bid * buffer_size_; }
    /// Hands ring buffer `bid` back to the kernel.
    void recycle(unsigned bid) noexcept;
    void give_back(char*, std::uint32_t bid) noexcept override { recycle(bid); }
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
    receive_buffer_stats buffer_stats_;
    bool multishot_receive_ = false;
    bool multishot_wanted_;
    bool defer_taskrun_ = false;      ///< the kernel fills buffers only inside our io_uring_enter
    std::vector<std::uint8_t> lent_;  ///< per ring buffer: taken by a completion, not yet recycled
    idle_buffer_release idle_release_{sched_, *this};
    intrusive_list<uring_standing_op, &uring_standing_op::backend_hook> standing_;
};

/// A connected socket served by `io` (uring_stream.cpp).
std::unique_ptr<stream_impl> make_uring_stream(uring_backend& io, unique_fd fd);

}  // namespace stampede::runtime::detail
