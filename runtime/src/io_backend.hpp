#pragma once

// The interface between the schedulers and an I/O backend (io_uring or Asio),
// and the machinery both backends share: operations that block a fiber, and
// streams that close only once none of their operations is in flight.

#include <chrono>
#include <memory>
#include <vector>

#include "stampede/runtime/detail/fiber_ctl.hpp"
#include "stampede/runtime/detail/intrusive.hpp"
#include "stampede/runtime/io.hpp"
#include "stampede/runtime/runtime.hpp"
#include "stampede/runtime/scheduler.hpp"

namespace stampede::runtime::detail {

/// One blocking operation of a fiber on a stream or listener.
class io_waiter : public waiter {
  public:
    list_hook owner_hook;  ///< in the stream's list of operations in flight
};

/// Operations in flight on one fd, so that close can interrupt and await them
/// (STYLE.md buffers rule 4: an fd closes only when none of them is in flight),
/// and the fibers still inside the stream's methods: an operation completes
/// before its fiber resumes and leaves, and only then may the stream go.
class op_registry {
  public:
    /// Marks the calling fiber as inside a method for the guard's life.
    class inside {
      public:
        explicit inside(op_registry& r) noexcept : registry_(r) { ++registry_.inside_; }
        ~inside();
        inside(const inside&) = delete;
        inside& operator=(const inside&) = delete;

      private:
        op_registry& registry_;
    };

    bool idle() const noexcept { return ops_.empty() && inside_ == 0; }

    void started(io_waiter& op) noexcept { ops_.push_back(&op); }

    /// The operation's completion arrived; wakes a closer waiting for the last one.
    void finished(scheduler& sched, io_waiter& op) noexcept;

    /// Interrupts every operation in flight with `why`, then waits (on the
    /// calling fiber) until all of them have completed.
    void interrupt_and_drain(scheduler& sched, errc why) noexcept;

  private:
    void wake_drain() noexcept;

    intrusive_list<io_waiter, &io_waiter::owner_hook> ops_;
    std::size_t inside_ = 0;
    waiter* drain_ = nullptr;
};

/// The error an interrupted operation reports: why it was interrupted.
inline boost::system::error_code interruption_error(const waiter& w, int err) noexcept {
    if (w.interrupted_by != errc{}) {
        return make_error_code(w.interrupted_by);
    }
    return errno_code(err);
}

class stream_impl {
  public:
    virtual ~stream_impl() = default;
    virtual result<rx_buffer> receive(time_point deadline) = 0;
    virtual result<std::size_t> read_some(std::span<char> into, time_point deadline) = 0;
    virtual result<void> write(std::span<const char> bytes, time_point deadline) = 0;
    virtual result<void> writev(std::span<iovec> parts, time_point deadline) = 0;
    virtual void shutdown_send() noexcept = 0;
    virtual void close() noexcept = 0;
    virtual bool is_open() const noexcept = 0;
    virtual int fd() const noexcept = 0;
};

class listener_impl {
  public:
    virtual ~listener_impl() = default;
    virtual result<unique_fd> accept(time_point deadline) = 0;
    virtual void close() noexcept = 0;
    virtual bool is_open() const noexcept = 0;
    virtual endpoint local_endpoint() const = 0;
};

/// A scheduler's I/O engine. poll(), has_pending_work() and the factories run
/// on the scheduler's thread; wake() on any thread.
class io_backend {
  public:
    virtual ~io_backend() = default;
    virtual const char* name() const noexcept = 0;

    /// Submits what is queued and handles completions; waits up to `timeout`
    /// for one when there is none (negative: no limit; zero: do not wait).
    virtual void poll(std::chrono::nanoseconds timeout) = 0;

    /// True when operations are in flight or submissions are queued.
    virtual bool has_pending_work() const noexcept = 0;

    /// Ends a poll() that is waiting. Any thread.
    virtual void wake() noexcept = 0;

    /// Shutdown has begun: stop re-arming internal operations.
    virtual void begin_shutdown() noexcept = 0;

    /// The scheduler loop has ended; release what must be released on its
    /// own thread. wake() must stay harmless afterwards.
    virtual void finish() noexcept = 0;

    virtual result<std::unique_ptr<stream_impl>> adopt(unique_fd fd) = 0;
    virtual result<std::unique_ptr<stream_impl>> connect(const endpoint& to,
                                                         time_point deadline) = 0;
    virtual result<std::unique_ptr<listener_impl>> listen(const endpoint& at, int backlog) = 0;

    virtual receive_buffer_stats buffer_stats() const noexcept = 0;

    /// Receiving has been quiet for a while: give what the receive buffers
    /// made resident back to the kernel. False if it cannot now (buffers are
    /// held), to be asked again later. On the scheduler's context; must not block.
    virtual bool release_idle_buffers() noexcept = 0;
};

/// Calls io_backend::release_idle_buffers() once receiving has been quiet for
/// a full `quiet_period`: after a burst, the memory its buffers touched goes
/// back to the kernel instead of staying resident while the broker idles. Armed
/// by activity only, so an idle scheduler is never woken by it.
class idle_buffer_release {
  public:
    static constexpr auto quiet_period = std::chrono::seconds(1);

    idle_buffer_release(scheduler& sched, io_backend& io) noexcept : sched_(sched), io_(io) {
        node_.fire = &fire;
        node_.context = this;
    }
    idle_buffer_release(const idle_buffer_release&) = delete;
    idle_buffer_release& operator=(const idle_buffer_release&) = delete;

    /// Buffers were used: release them once that stops.
    void activity() noexcept {
        ++activity_;
        if (!node_.armed() && !stopped_) {
            checked_ = activity_ - 1;
            sched_.arm_timer(node_, deadline_after(quiet_period));
        }
    }
    /// No more checks (the scheduler loop has ended).
    void stop() noexcept {
        stopped_ = true;
        sched_.disarm_timer(node_);
    }

  private:
    static void fire(timer_node& node) noexcept {
        auto& self = *static_cast<idle_buffer_release*>(node.context);
        if (self.activity_ == self.checked_ && self.io_.release_idle_buffers()) {
            return;  // quiet for a whole period, and released: sleep until used again
        }
        self.checked_ = self.activity_;
        self.sched_.arm_timer(self.node_, deadline_after(quiet_period));
    }

    scheduler& sched_;
    io_backend& io_;
    timer_node node_;
    std::uint64_t activity_ = 0;
    std::uint64_t checked_ = 0;  ///< activity_ at the last check
    bool stopped_ = false;
};

/// Creates the io_uring backend for the calling scheduler thread, or the reason it cannot.
result<std::unique_ptr<io_backend>> make_uring_backend(scheduler& sched,
                                                       const runtime_options& options);
/// Creates the Asio backend for the calling scheduler thread.
std::unique_ptr<io_backend> make_asio_backend(scheduler& sched, const runtime_options& options);

/// Whether io_uring can be used here at all, and if not why (for io_mode::automatic).
bool probe_uring(std::string& why_not);

// Socket helpers shared by both backends (socket.cpp).
result<unique_fd> open_stream_socket(int family, bool non_blocking);
result<unique_fd> open_listen_socket(const endpoint& at, int backlog, bool non_blocking);
void set_nodelay(int fd) noexcept;
result<void> set_non_blocking(int fd, bool on) noexcept;

/// A free list of heap receive buffers: the Asio backend's pool, and the
/// io_uring backend's fallback when its provided-buffer ring runs dry.
class heap_buffer_pool final : public buffer_source {
  public:
    heap_buffer_pool(std::size_t buffer_size, std::size_t keep) : size_(buffer_size), keep_(keep) {}
    ~heap_buffer_pool() override;
    std::size_t buffer_size() const noexcept { return size_; }
    char* acquire();
    void give_back(char* data, std::uint32_t) noexcept override;
    /// Frees the buffers kept for reuse.
    void trim() noexcept;

  private:
    std::size_t size_;
    std::size_t keep_;
    std::vector<char*> free_;
};

/// Drops `written` bytes from the front of `parts`, which shrinks
/// accordingly (after a short vectored write; both backends' writev).
inline void consume_iovecs(std::span<iovec>& parts, std::size_t written) noexcept {
    while (!parts.empty() && written >= parts.front().iov_len) {
        written -= parts.front().iov_len;
        parts = parts.subspan(1);
    }
    if (!parts.empty() && written > 0) {
        parts.front().iov_base = static_cast<char*>(parts.front().iov_base) + written;
        parts.front().iov_len -= written;
    }
}

}  // namespace stampede::runtime::detail
