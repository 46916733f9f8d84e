#include "stampede/runtime/actor.hpp"

#include <cassert>
#include <exception>

#include "stampede/runtime/detail/actor_cell.hpp"
#include "stampede/runtime/log.hpp"
#include "stampede/runtime/scheduler.hpp"

namespace stampede::runtime {

std::string exit_reason::describe() const {
    switch (kind) {
        case exit_kind::normal:
            return "normal";
        case exit_kind::shutdown:
            return "shutdown";
        case exit_kind::error:
            return "error: " + detail;
        case exit_kind::noproc:
            return "noproc";
    }
    return "unknown";
}

namespace detail {
namespace {

std::atomic<actor_id> next_actor_id{1};
std::atomic<monitor_id> next_monitor_id{1};

// The first message of every actor.
class init_envelope final : public envelope {
  public:
    void deliver(actor_cell& cell) override {
        exit_reason why_not;
        if (cell.behavior().do_init(why_not)) {
            cell.mark_initialized();  // only an initialised actor gets terminate()
        } else {
            cell.request_stop(std::move(why_not));
        }
    }
};

class receive_timeout_envelope final : public envelope {
  public:
    void deliver(actor_cell& cell) override { cell.behavior().do_receive_timeout(); }
};

class down_envelope final : public envelope {
  public:
    explicit down_envelope(down d) : notice(std::move(d)) {}
    void deliver(actor_cell& cell) override {
        if (cell.take_monitor(notice.monitor)) {  // else demonitored meanwhile
            cell.behavior().do_down(notice);
        }
    }
    down notice;
};

// Registers a watcher with its target; a target already gone answers noproc.
class monitor_envelope final : public envelope {
  public:
    monitor_envelope(actor_cell* w, actor_id t, monitor_id m) : watcher(w), target_id(t), id(m) {}
    ~monitor_envelope() override {
        if (watcher != nullptr) {
            watcher->release();
        }
    }
    bool is_system() const noexcept override { return true; }
    void deliver(actor_cell& cell) override {
        cell.add_watcher(watcher, id);  // the watcher's reference moves with it
        watcher = nullptr;
    }
    void bounce(const exit_reason&) noexcept override {
        watcher->send(new down_envelope(down{id, target_id, exit_reason::noproc()}));
    }
    actor_cell* watcher;
    actor_id target_id;
    monitor_id id;
};

class demonitor_envelope final : public envelope {
  public:
    explicit demonitor_envelope(monitor_id m) : id(m) {}
    bool is_system() const noexcept override { return true; }
    void deliver(actor_cell& cell) override { cell.remove_watcher(id); }
    monitor_id id;
};

// Carries post_start() to another scheduler. If that scheduler has already
// stopped, the actor never starts and its own reference is dropped here.
class start_task final : public remote_task {
  public:
    explicit start_task(actor_cell* c) : cell(c) {}
    void run(scheduler&) noexcept override {
        cell->start();
        delete this;
    }
    void discard() noexcept override {
        cell->release();
        delete this;
    }
    actor_cell* cell;
};

}  // namespace

// ---- Envelopes in transit ----

void envelope::run(scheduler&) noexcept {
    actor_cell* cell = target;
    target = nullptr;
    cell->accept(this);
    cell->release();
}

void envelope::discard() noexcept {
    actor_cell* cell = target;
    bounce(exit_reason::shutdown());
    delete this;
    if (cell != nullptr) {
        cell->release();
    }
}

// ---- Life cycle ----

struct actor_cell::pending_timer {
    ~pending_timer() { delete env; }
    timer_node node;
    envelope* env = nullptr;
    actor_cell* cell = nullptr;
    timer_id id = 0;
};

actor_cell::actor_cell(scheduler& home, std::string name, std::unique_ptr<actor_behavior> behavior)
    : id_(next_actor_id.fetch_add(1, std::memory_order_relaxed)),
      name_(std::move(name)),
      home_(&home),
      behavior_(std::move(behavior)) {
    receive_timer_.fire = &fire_receive_timeout;
    receive_timer_.context = this;
}

actor_cell::~actor_cell() {
    assert(mailbox_.empty());
}

void actor_cell::release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        delete this;
    }
}

void actor_cell::post_start() noexcept {
    if (this_scheduler() == home_) {
        start();
    } else {
        home_->post(new start_task(this));
    }
}

void actor_cell::start() noexcept {
    home_->register_actor(this);
    mailbox_.push_front(new init_envelope);
    if (home_->stopping()) {
        request_stop(exit_reason::shutdown());
    }
    schedule();
}

actor_cell* actor_cell::current() noexcept {
    fiber_ctl* fiber = tls.fiber;
    return fiber != nullptr ? fiber->actor : nullptr;
}

void actor_cell::request_stop(exit_reason reason) noexcept {
    if (!stop_requested_) {
        stop_requested_ = true;
        stop_reason_ = std::move(reason);
    }
}

void actor_cell::shut_down() noexcept {
    if (state_ == state::ended) {
        return;
    }
    request_stop(exit_reason::shutdown());
    if (state_ == state::idle) {
        schedule();
    }
}

// Runs on the home's own context after the last reference to a running actor
// may be gone: must not touch `this` after release().
void actor_cell::end(const exit_reason& reason) noexcept {
    state_ = state::ended;
    final_reason_ = reason;
    ended_.store(true, std::memory_order_release);
    home_->disarm_timer(receive_timer_);
    for (auto& [id, timer] : timers_) {
        home_->disarm_timer(timer->node);
    }
    timers_.clear();
    if (initialized_) {
        try {
            behavior_->do_terminate(reason);
        } catch (const std::exception& e) {
            log::error("actor '", name_, "' threw from terminate: ", e.what());
        } catch (...) {
            log::error("actor '", name_, "' threw from terminate");
        }
    }
    behavior_.reset();
    while (envelope* env = mailbox_.pop_front()) {
        env->bounce(reason);
        delete env;
    }
    notify_watchers(reason);
    for (auto& [id, target] : my_monitors_) {
        target->send(new demonitor_envelope(id));
        target->release();
    }
    my_monitors_.clear();
    home_->unregister_actor(this);
    release();
}

// ---- Mail ----

void actor_cell::send(envelope* env) noexcept {
    if (this_scheduler() == home_) {
        accept(env);
        return;
    }
    add_ref();
    env->target = this;
    home_->post(env);
}

void actor_cell::accept(envelope* env) noexcept {
    if (state_ == state::ended) {
        env->bounce(final_reason_);
        delete env;
        return;
    }
    if (env->is_system()) {
        env->deliver(*this);
        delete env;
        return;
    }
    home_->disarm_timer(receive_timer_);
    mailbox_.push_back(env);
    if (state_ == state::idle) {
        schedule();
    }
}

void actor_cell::schedule() noexcept {
    state_ = state::queued;
    home_->activate(this);
}

// Handles up to a budget of messages, then yields its place in the queue so
// that one busy actor cannot starve the others on this scheduler.
void actor_cell::run_batch(scheduler&) {
    constexpr int budget = 64;
    state_ = state::running;
    for (int n = 0; n < budget && !stop_requested_; ++n) {
        envelope* env = mailbox_.pop_front();
        if (env == nullptr) {
            break;
        }
        deliver_one(env);
    }
    if (stop_requested_) {
        end(stop_reason_);
        return;
    }
    if (!mailbox_.empty()) {
        schedule();
        return;
    }
    state_ = state::idle;
    arm_receive_timeout();
}

void actor_cell::deliver_one(envelope* env) {
    try {
        env->deliver(*this);
    } catch (const std::exception& e) {
        log::error("actor '", name_, "' (", id_, ") ended by an exception: ", e.what());
        request_stop(exit_reason::error(e.what()));
    } catch (...) {
        log::error("actor '", name_, "' (", id_, ") ended by an unknown exception");
        request_stop(exit_reason::error("unknown exception"));
    }
    delete env;  // a call's `from` dies here: an unanswered call gets an error
}

// ---- Monitors ----

monitor_id actor_cell::watch(actor_cell& target) {
    const monitor_id id = next_monitor_id.fetch_add(1, std::memory_order_relaxed);
    target.add_ref();
    my_monitors_.emplace(id, &target);
    add_ref();
    target.send(new monitor_envelope(this, target.id(), id));
    return id;
}

void actor_cell::unwatch(actor_cell& target, monitor_id id) {
    const auto it = my_monitors_.find(id);
    if (it == my_monitors_.end()) {
        return;
    }
    it->second->release();
    my_monitors_.erase(it);
    target.send(new demonitor_envelope(id));
}

bool actor_cell::take_monitor(monitor_id id) noexcept {
    const auto it = my_monitors_.find(id);
    if (it == my_monitors_.end()) {
        return false;
    }
    it->second->release();
    my_monitors_.erase(it);
    return true;
}

void actor_cell::add_watcher(actor_cell* watcher_cell, monitor_id id) {
    watchers_.push_back({watcher_cell, id});
}

void actor_cell::remove_watcher(monitor_id id) noexcept {
    for (auto it = watchers_.begin(); it != watchers_.end(); ++it) {
        if (it->id == id) {
            it->cell->release();
            watchers_.erase(it);
            return;
        }
    }
}

void actor_cell::notify_watchers(const exit_reason& reason) noexcept {
    for (const watcher& w : watchers_) {
        w.cell->send(new down_envelope(down{w.id, id_, reason}));
        w.cell->release();
    }
    watchers_.clear();
}

// ---- Timers ----

timer_id actor_cell::start_timer(duration delay, envelope* env) {
    auto timer = std::make_unique<pending_timer>();
    timer->env = env;
    timer->cell = this;
    timer->id = next_timer_++;
    timer->node.fire = &fire_timer;
    timer->node.context = timer.get();
    home_->arm_timer(timer->node, deadline_after(delay));
    const timer_id id = timer->id;
    timers_.emplace(id, std::move(timer));
    return id;
}

bool actor_cell::cancel_timer(timer_id id) noexcept {
    const auto it = timers_.find(id);
    if (it == timers_.end()) {
        return false;
    }
    home_->disarm_timer(it->second->node);
    timers_.erase(it);
    return true;
}

void actor_cell::fire_timer(timer_node& node) {
    auto* timer = static_cast<pending_timer*>(node.context);
    actor_cell* cell = timer->cell;
    envelope* env = timer->env;
    timer->env = nullptr;
    cell->timers_.erase(timer->id);
    cell->accept(env);
}

void actor_cell::arm_receive_timeout() noexcept {
    if (receive_timeout_.count() > 0) {
        home_->arm_timer(receive_timer_, deadline_after(receive_timeout_));
    }
}

void actor_cell::fire_receive_timeout(timer_node& node) {
    static_cast<actor_cell*>(node.context)->accept(new receive_timeout_envelope);
}

}  // namespace detail
}  // namespace stampede::runtime
