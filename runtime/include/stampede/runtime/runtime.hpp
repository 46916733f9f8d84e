#pragma once

#include <condition_variable>
#include <cstddef>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "stampede/runtime/scheduler.hpp"
#include "stampede/runtime/sync.hpp"

namespace stampede::runtime {

/// Sums per-scheduler stack statistics by fiber kind (max of the high-water
/// marks and sizes, sum of fibers and resident bytes).
std::vector<fiber_kind_stats> merge_stack_stats(
    const std::vector<std::vector<fiber_kind_stats>>& per_scheduler);

/// Which I/O backend the schedulers use.
enum class io_mode {
    automatic,  ///< io_uring when the kernel (and any seccomp profile) allows it, else Asio
    uring,      ///< io_uring only; start-up fails if it is refused
    asio,       ///< Boost.Asio (epoll) only
};

/// Parses "auto", "uring" or "asio".
bool parse_io_mode(std::string_view text, io_mode& out) noexcept;
std::string_view to_string(io_mode mode) noexcept;

struct runtime_options {
    unsigned schedulers = 0;  ///< 0: one per core
    io_mode io = io_mode::automatic;
    std::size_t default_stack_size = 64 * 1024;
    std::size_t stack_cache_per_scheduler = 256;
    std::size_t max_idle_workers = 4;          ///< parked worker fibers kept per scheduler
    std::size_t recv_buffer_size = 32 * 1024;  ///< receive buffer (provided-buffer ring entry)
    std::size_t recv_buffer_count = 256;       ///< per scheduler; a power of two
    unsigned uring_entries = 4096;             ///< submission queue size per scheduler
    /// io_uring: one standing multishot receive per stream (Linux 6.1+) rather
    /// than one receive submitted per call.
    bool uring_multishot_receive = true;
    bool install_overflow_guard = true;  ///< report fiber stack overflows by name
};

/// The actor runtime: N schedulers, each on its own thread.
///
/// Construct, start(), use, then stop() (from outside the runtime's threads) or
/// let the destructor stop it.
class runtime {
  public:
    explicit runtime(runtime_options options = {});
    ~runtime();
    runtime(const runtime&) = delete;
    runtime& operator=(const runtime&) = delete;

    /// Picks the I/O backend, creates the schedulers and starts their threads.
    /// Throws std::runtime_error when the requested backend cannot start.
    void start();

    /// Asks every scheduler to shut down: waits are interrupted with
    /// errc::shutdown, actors end with reason shutdown. Any thread; returns at once.
    void request_stop() noexcept;

    /// request_stop(), then joins the scheduler threads. Not from a runtime thread.
    void stop();

    /// Blocks the calling (non-runtime) thread until request_stop() has been called.
    void wait_for_stop_request();

    unsigned size() const noexcept { return static_cast<unsigned>(schedulers_.size()); }
    scheduler& at(unsigned index) noexcept { return *schedulers_[index]; }
    const runtime_options& options() const noexcept { return options_; }

    /// The backend actually running ("uring" or "asio") and why it was chosen.
    const std::string& io_backend_name() const noexcept { return backend_name_; }
    const std::string& io_backend_reason() const noexcept { return backend_reason_; }

    /// Runs `fn` on a new fiber of scheduler `index` and waits for its result.
    /// For tests and main(): must not be called from a runtime thread.
    template <class Fn>
    auto run_on(unsigned index, Fn fn) -> decltype(fn()) {
        using value_type = decltype(fn());
        std::promise<value_type> done;
        auto future = done.get_future();
        at(index).spawn([fn = std::move(fn), done = std::move(done)]() mutable {
            try {
                if constexpr (std::is_void_v<value_type>) {
                    fn();
                    done.set_value();
                } else {
                    done.set_value(fn());
                }
            } catch (...) {
                done.set_exception(std::current_exception());
            }
        });
        return future.get();
    }

    /// Stack statistics by fiber kind over all schedulers. Not from a runtime thread.
    std::vector<fiber_kind_stats> stack_stats();

    /// Runs `fn` on every scheduler's own context (not on a fiber: it must not
    /// block) and returns the results in scheduler order. For fibers: the
    /// caller waits suspended; errc::shutdown if the runtime stops first.
    template <class Fn>
    result<std::vector<std::invoke_result_t<Fn&>>> on_each_scheduler(Fn fn);

  private:
    std::unique_ptr<detail::io_backend> make_backend(unsigned index);
    void choose_backend();

    runtime_options options_;
    std::vector<std::unique_ptr<scheduler>> schedulers_;
    std::vector<std::thread> threads_;
    std::string backend_name_;
    std::string backend_reason_;
    bool use_uring_ = false;
    bool started_ = false;
    bool joined_ = false;

    std::mutex stop_mutex_;
    std::condition_variable stop_cv_;
    bool stop_requested_ = false;
};

namespace detail {

// What on_each_scheduler's tasks share with the waiting fiber. Results are
// brought back to the waiter's scheduler, so only that thread touches them;
// the tasks keep the state alive should the waiter give up first.
template <class T>
struct gather_state {
    std::vector<std::optional<T>> results;
    std::size_t remaining = 0;
    bool abandoned = false;
    event done;
};

}  // namespace detail

template <class Fn>
result<std::vector<std::invoke_result_t<Fn&>>> runtime::on_each_scheduler(Fn fn) {
    using value_type = std::invoke_result_t<Fn&>;
    scheduler* home = this_scheduler();
    if (home == nullptr || home->current_fiber() == nullptr) {
        return errc::not_on_fiber;
    }
    auto state = std::make_shared<detail::gather_state<value_type>>();
    state->results.resize(size());
    state->remaining = size();
    for (unsigned i = 0; i < size(); ++i) {
        at(i).execute([state, fn, home, i]() mutable {
            value_type value = fn();
            home->execute([state, i, value = std::move(value)]() mutable {
                state->results[i] = std::move(value);
                if (--state->remaining == 0 && !state->abandoned) {
                    state->done.notify_all();
                }
            });
        });
    }
    while (state->remaining > 0) {
        if (auto waited = state->done.wait(); !waited) {
            state->abandoned = true;
            return waited.error();
        }
    }
    std::vector<value_type> out;
    out.reserve(size());
    for (auto& r : state->results) {
        out.push_back(std::move(*r));
    }
    return out;
}

}  // namespace stampede::runtime
