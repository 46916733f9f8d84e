#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "stampede/runtime/detail/intrusive.hpp"
#include "stampede/runtime/detail/remote_task.hpp"
#include "stampede/runtime/errc.hpp"
#include "stampede/runtime/timer.hpp"

namespace stampede::runtime {

class scheduler;

using actor_id = std::uint64_t;
using monitor_id = std::uint64_t;
using timer_id = std::uint64_t;

/// How an actor ended.
enum class exit_kind : std::uint8_t {
    normal,    ///< it stopped itself
    shutdown,  ///< the runtime is stopping
    error,     ///< a handler threw, or it stopped with an error
    noproc,    ///< (in `down`) it had already ended when the monitor was set
};

/// Why an actor ended: a kind and, for errors, what went wrong.
struct exit_reason {
    exit_kind kind = exit_kind::normal;
    std::string detail;

    static exit_reason normal() { return {}; }
    static exit_reason shutdown() { return {exit_kind::shutdown, {}}; }
    static exit_reason error(std::string what) { return {exit_kind::error, std::move(what)}; }
    static exit_reason noproc() { return {exit_kind::noproc, {}}; }

    /// "normal", "shutdown", "error: <detail>" or "noproc".
    std::string describe() const;
};

/// Delivered to handle_info of an actor that monitors one that ended.
struct down {
    monitor_id monitor = 0;
    actor_id actor = 0;
    exit_reason reason;
};

/// Delivered to handle_info when set_receive_timeout()'s period passes without mail.
struct receive_timeout {};

namespace detail {

class actor_cell;
class actor_behavior;

/// A message on its way to, or waiting in, an actor's mailbox.
///
/// Across schedulers it travels as a remote_task holding a reference to its
/// target; in the mailbox it holds none (the live actor is referenced by itself).
class envelope : public remote_task {
  public:
    /// Runs the handler for this message. On a worker fiber of the actor's home.
    virtual void deliver(actor_cell& cell) = 0;

    /// The actor is gone: answer a call with an error; drop anything else.
    virtual void bounce(const exit_reason&) noexcept {}

    /// System messages (monitor bookkeeping) are handled on arrival, without a
    /// worker, and never reach the behaviour.
    virtual bool is_system() const noexcept { return false; }

    void run(scheduler&) noexcept override;
    void discard() noexcept override;

    envelope* next_in_mailbox = nullptr;
    actor_cell* target = nullptr;  ///< set (with a reference) while in transit
};

/// Behaviour hooks every gen_server provides (see gen_server.hpp).
class actor_behavior {
  public:
    virtual ~actor_behavior() = default;
    virtual bool do_init(exit_reason& why_not) = 0;
    virtual void do_terminate(const exit_reason& reason) = 0;
    virtual void do_down(down& notice) = 0;
    virtual void do_receive_timeout() = 0;
};

/// The control block of one actor: identity, mailbox, state, monitors, timers.
///
/// Reference-counted (atomically) by actor_refs and in-flight envelopes; the
/// actor itself holds one reference from start until it ends. Everything but
/// the reference count and `ended_` is touched only on the home scheduler.
class actor_cell {
  public:
    actor_cell(scheduler& home, std::string name, std::unique_ptr<actor_behavior> behavior);
    ~actor_cell();
    actor_cell(const actor_cell&) = delete;
    actor_cell& operator=(const actor_cell&) = delete;

    actor_id id() const noexcept { return id_; }
    const std::string& name() const noexcept { return name_; }
    scheduler& home() const noexcept { return *home_; }
    bool ended() const noexcept { return ended_.load(std::memory_order_acquire); }
    actor_behavior& behavior() noexcept { return *behavior_; }

    // Any thread.
    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept;

    /// Sends `env` to this actor from any thread, taking ownership.
    void send(envelope* env) noexcept;

    /// Starts the actor on its home: registers it and queues init() first.
    /// Any thread (posts itself when called elsewhere).
    void post_start() noexcept;

    // Home scheduler only.
    void start() noexcept;
    void accept(envelope* env) noexcept;
    void run_batch(scheduler& sched);
    void shut_down() noexcept;
    void request_stop(exit_reason reason) noexcept;
    bool stop_requested() const noexcept { return stop_requested_; }
    void mark_initialized() noexcept { initialized_ = true; }

    void add_watcher(actor_cell* watcher, monitor_id id);
    void remove_watcher(monitor_id id) noexcept;
    monitor_id watch(actor_cell& target);
    void unwatch(actor_cell& target, monitor_id id);
    bool take_monitor(monitor_id id) noexcept;

    timer_id start_timer(duration delay, envelope* env);
    bool cancel_timer(timer_id id) noexcept;
    void set_receive_timeout(duration period) noexcept { receive_timeout_ = period; }

    /// The actor whose handler is running on the calling fiber, if any.
    static actor_cell* current() noexcept;

  private:
    enum class state : std::uint8_t { starting, idle, queued, running, ended };
    struct pending_timer;
    struct watcher {
        actor_cell* cell;  // referenced
        monitor_id id;
    };

    void schedule() noexcept;
    void deliver_one(envelope* env);
    void end(const exit_reason& reason) noexcept;
    void notify_watchers(const exit_reason& reason) noexcept;
    void arm_receive_timeout() noexcept;
    static void fire_timer(timer_node& node);
    static void fire_receive_timeout(timer_node& node);

    std::atomic<std::uint32_t> refs_{1};
    std::atomic<bool> ended_{false};
    const actor_id id_;
    const std::string name_;
    scheduler* const home_;
    std::unique_ptr<actor_behavior> behavior_;

    intrusive_fifo<envelope, &envelope::next_in_mailbox> mailbox_;
    state state_ = state::starting;
    bool initialized_ = false;
    bool stop_requested_ = false;
    exit_reason stop_reason_;
    exit_reason final_reason_;

    std::vector<watcher> watchers_;
    std::unordered_map<monitor_id, actor_cell*> my_monitors_;  // targets, referenced
    std::unordered_map<timer_id, std::unique_ptr<pending_timer>> timers_;
    timer_id next_timer_ = 1;
    duration receive_timeout_{0};
    timer_node receive_timer_;
};

/// Sends to the actor from any thread; `env` is owned by the call.
inline void send(actor_cell* cell, envelope* env) noexcept {
    cell->send(env);
}

}  // namespace detail
}  // namespace stampede::runtime
