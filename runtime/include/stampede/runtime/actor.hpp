#pragma once

// gen_server-style actors.
//
//     struct get { using reply_type = int; };
//     struct add { int n; };
//
//     class counter : public gen_server<counter> {
//     public:
//         void handle_cast(add& m) { total_ += m.n; }
//         call_result<int> handle_call(get&, const from<int>&) { return reply(total_); }
//     private:
//         int total_ = 0;
//     };
//
//     auto ref = spawn<counter>(sched, "counter");
//     ref.cast(add{2});
//     result<int> total = call(ref, get{});   // on a fiber; 5 s timeout by default
//
// Messages are C++ types; sending one the server has no handler for does not
// compile. Handlers run on worker fibers of the actor's home scheduler, one
// message at a time, and may block (call another actor, sleep). Calls follow a
// written-down acyclic graph (NOTES.md); anything flowing back is a cast.

#include <atomic>
#include <boost/intrusive_ptr.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "stampede/runtime/detail/actor_cell.hpp"
#include "stampede/runtime/detail/fiber_ctl.hpp"
#include "stampede/runtime/errc.hpp"
#include "stampede/runtime/scheduler.hpp"

namespace stampede::runtime {

inline constexpr duration default_call_timeout = std::chrono::seconds(5);

/// Reply type for calls that only acknowledge.
struct ok {};

namespace detail {

inline void intrusive_ptr_add_ref(actor_cell* cell) noexcept {
    cell->add_ref();
}
inline void intrusive_ptr_release(actor_cell* cell) noexcept {
    cell->release();
}

/// Shared between a blocked caller and whoever holds its `from` tokens.
///
/// Exactly one side wins the `status` race out of `pending`: the replier
/// (done) or the caller's timeout/shutdown (abandoned). Only the winner wakes
/// the caller, so a wait ends exactly once.
template <class R>
class call_state {
  public:
    enum : int { pending = 0, done = 1, abandoned = 2 };

    class call_waiter final : public waiter {
      public:
        explicit call_waiter(call_state& s) : state(s) {}
        void interrupt(errc) noexcept override {
            int expected = pending;
            if (state.status.compare_exchange_strong(expected, abandoned,
                                                     std::memory_order_acq_rel)) {
                this_scheduler()->wake(*this);
            }  // else the reply won and its wake-up is on its way
        }
        call_state& state;
    };

    /// Stores the reply and wakes the caller, unless it gave up. Any thread.
    void complete(result<R> value) noexcept {
        int expected = pending;
        if (!status.compare_exchange_strong(expected, done, std::memory_order_acq_rel)) {
            return;
        }
        value_.emplace(std::move(value));
        scheduler& home = *caller_home;
        call_waiter* w = caller;
        if (this_scheduler() == &home) {
            home.wake(*w);
        } else {
            home.execute([w] { this_scheduler()->wake(*w); });
        }
    }

    result<R> take() noexcept { return std::move(*value_); }

    void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
    void release() noexcept {
        if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            delete this;
        }
    }
    void add_responder() noexcept { responders_.fetch_add(1, std::memory_order_relaxed); }
    /// A `from` token went away; the last one without a reply answers with an error.
    void drop_responder() noexcept {
        if (responders_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            complete(errc::actor_exited);
        }
    }

    std::atomic<int> status{pending};
    call_waiter* caller = nullptr;
    scheduler* caller_home = nullptr;

  private:
    std::atomic<std::uint32_t> refs_{1};
    std::atomic<std::uint32_t> responders_{0};
    std::optional<result<R>> value_;
};

template <class R>
void intrusive_ptr_add_ref(call_state<R>* s) noexcept {
    s->add_ref();
}
template <class R>
void intrusive_ptr_release(call_state<R>* s) noexcept {
    s->release();
}

}  // namespace detail

/// Where a call's reply goes. Copy it to reply later (from any thread) with
/// reply(from, value); if every copy is dropped without a reply, the caller
/// gets errc::actor_exited instead of waiting for its timeout.
template <class R>
class from {
  public:
    explicit from(boost::intrusive_ptr<detail::call_state<R>> state) : state_(std::move(state)) {
        state_->add_responder();
    }
    from(const from& other) : state_(other.state_) {
        if (state_) {
            state_->add_responder();
        }
    }
    from& operator=(const from& other) {
        from copy(other);
        std::swap(state_, copy.state_);
        return *this;
    }
    ~from() {
        if (state_) {
            state_->drop_responder();
        }
    }

    /// Answers the call (first answer wins; later ones are ignored).
    void send(result<R> value) const noexcept { state_->complete(std::move(value)); }

  private:
    boost::intrusive_ptr<detail::call_state<R>> state_;
};

/// Sends a deferred reply. Any thread.
template <class R, class V>
void reply(const from<R>& to, V&& value) {
    to.send(result<R>(std::forward<V>(value)));
}

template <class T>
struct reply_value {
    T value;
};
/// handle_call's "reply now with `value`".
template <class T>
reply_value<std::decay_t<T>> reply(T&& value) {
    return {std::forward<T>(value)};
}

struct noreply_t {};
/// handle_call's "no reply now; I kept the `from` and will reply later".
inline constexpr noreply_t noreply{};

struct stop_t {
    exit_reason reason;
};
/// handle_call's "stop this actor" (callers get errc::actor_exited).
inline stop_t stop_actor(exit_reason reason = exit_reason::normal()) {
    return {std::move(reason)};
}

template <class T>
struct reply_and_stop_t {
    T value;
    exit_reason reason;
};
/// handle_call's "reply with `value`, then stop this actor".
template <class T>
reply_and_stop_t<std::decay_t<T>> reply_and_stop(T&& value,
                                                 exit_reason reason = exit_reason::normal()) {
    return {std::forward<T>(value), std::move(reason)};
}

/// What handle_call returns: reply(v), noreply, stop_actor(reason) or
/// reply_and_stop(v, reason).
template <class R>
class call_result {
  public:
    template <class U>
    call_result(reply_value<U> r) : value_(std::move(r.value)) {}  // NOLINT: implicit by design
    call_result(noreply_t) {}                                      // NOLINT
    call_result(stop_t s) : stop_(std::move(s.reason)) {}          // NOLINT
    template <class U>
    call_result(reply_and_stop_t<U> r)  // NOLINT
        : value_(std::move(r.value)), stop_(std::move(r.reason)) {}

    std::optional<R>& value() noexcept { return value_; }
    std::optional<exit_reason>& stop() noexcept { return stop_; }

  private:
    std::optional<R> value_;
    std::optional<exit_reason> stop_;
};

namespace detail {

template <class Server, class Msg>
class cast_envelope final : public envelope {
  public:
    explicit cast_envelope(Msg m) : message(std::move(m)) {}
    void deliver(actor_cell& cell) override {
        static_cast<Server&>(cell.behavior()).handle_cast(message);
    }
    Msg message;
};

template <class Server, class Msg>
class info_envelope final : public envelope {
  public:
    explicit info_envelope(Msg m) : message(std::move(m)) {}
    void deliver(actor_cell& cell) override {
        static_cast<Server&>(cell.behavior()).handle_info(message);
    }
    Msg message;
};

template <class Server, class Req>
class call_envelope final : public envelope {
  public:
    using reply_type = typename Req::reply_type;

    call_envelope(Req r, from<reply_type> f) : request(std::move(r)), origin(std::move(f)) {}

    void deliver(actor_cell& cell) override {
        call_result<reply_type> outcome =
            static_cast<Server&>(cell.behavior()).handle_call(request, origin);
        if (outcome.value()) {
            origin.send(std::move(*outcome.value()));
        }
        if (outcome.stop()) {
            cell.request_stop(std::move(*outcome.stop()));
        }
    }
    void bounce(const exit_reason&) noexcept override { origin.send(errc::actor_exited); }

    Req request;
    from<reply_type> origin;
};

}  // namespace detail

/// An untyped reference to an actor: enough to monitor it or compare identities.
class any_actor {
  public:
    any_actor() = default;
    explicit any_actor(detail::actor_cell* cell) : cell_(cell) {}

    bool valid() const noexcept { return cell_ != nullptr; }
    actor_id id() const noexcept { return cell_ ? cell_->id() : 0; }
    const std::string& name() const noexcept { return cell_->name(); }
    /// True once the actor has ended. Any thread.
    bool ended() const noexcept { return cell_ == nullptr || cell_->ended(); }
    detail::actor_cell* cell() const noexcept { return cell_.get(); }

    friend bool operator==(const any_actor& a, const any_actor& b) noexcept {
        return a.cell_ == b.cell_;
    }

  protected:
    boost::intrusive_ptr<detail::actor_cell> cell_;
};

/// A typed reference to an actor running `Server`. Copyable; any thread.
template <class Server>
class actor_ref : public any_actor {
  public:
    actor_ref() = default;
    explicit actor_ref(detail::actor_cell* cell) : any_actor(cell) {}

    /// Sends an asynchronous message, handled by Server::handle_cast(Msg&).
    template <class Msg>
    void cast(Msg message) const {
        static_assert(
            requires(Server & s, Msg & m) { s.handle_cast(m); },
            "the server has no handle_cast for this message type (or its class is "
            "incomplete here: include its header)");
        cell_->send(new detail::cast_envelope<Server, Msg>(std::move(message)));
    }

    /// Sends a message to Server::handle_info(Msg&).
    template <class Msg>
    void info(Msg message) const {
        static_assert(
            requires(Server & s, Msg & m) { s.handle_info(m); },
            "the server has no handle_info for this message type (or its class is "
            "incomplete here: include its header)");
        cell_->send(new detail::info_envelope<Server, Msg>(std::move(message)));
    }
};

/// Sends `request` and waits (suspending the calling fiber) for the reply.
///
/// Returns the reply, or: errc::timeout after `timeout` (a late reply is then
/// dropped); errc::actor_exited if the actor has ended or ends before replying;
/// errc::call_to_self from the actor's own handler; errc::shutdown when the
/// runtime stops meanwhile; errc::not_on_fiber outside a runtime fiber.
template <class Server, class Req>
result<typename Req::reply_type> call(const actor_ref<Server>& target, Req request,
                                      duration timeout = default_call_timeout) {
    using reply_type = typename Req::reply_type;
    static_assert(
        requires(Server & s, Req & r, const from<reply_type>& f) {
            { s.handle_call(r, f) } -> std::convertible_to<call_result<reply_type>>;
        },
        "the server has no handle_call(Req&, const from<reply_type>&) for this request type");
    scheduler* here = this_scheduler();
    if (here == nullptr || here->current_fiber() == nullptr) {
        return errc::not_on_fiber;
    }
    if (detail::actor_cell::current() == target.cell()) {
        return errc::call_to_self;
    }
    boost::intrusive_ptr<detail::call_state<reply_type>> state(new detail::call_state<reply_type>,
                                                               false);
    typename detail::call_state<reply_type>::call_waiter waiter(*state);
    state->caller = &waiter;
    state->caller_home = here;
    target.cell()->send(
        new detail::call_envelope<Server, Req>(std::move(request), from<reply_type>(state)));
    here->block(waiter, deadline_after(timeout));
    if (state->status.load(std::memory_order_acquire) == detail::call_state<reply_type>::done) {
        return state->take();
    }
    return waiter.interrupted_by == errc::shutdown ? errc::shutdown : errc::timeout;
}

/// Base of a gen_server. `Self` provides any of:
///   bool init(exit_reason& why_not)          (default: succeeds)
///   void handle_cast(Msg&)                   one per cast message type
///   call_result<R> handle_call(Req&, const from<R>&)   Req::reply_type == R
///   void handle_info(Msg&)                   timers, `down`, `receive_timeout`
///   void terminate(const exit_reason&)       (default: nothing)
template <class Self>
class gen_server : public detail::actor_behavior {
  public:
    bool init(exit_reason&) { return true; }
    void terminate(const exit_reason&) {}

  protected:
    /// This actor's own reference.
    actor_ref<Self> self() const { return actor_ref<Self>(cell()); }

    /// Ends the actor once the running handler returns.
    void stop(exit_reason reason = exit_reason::normal()) {
        cell()->request_stop(std::move(reason));
    }

    /// Asks for a `down` message when `target` ends (at once if it already has).
    monitor_id monitor(const any_actor& target) { return cell()->watch(*target.cell()); }

    /// Cancels a monitor; no `down` arrives for it afterwards.
    void demonitor(const any_actor& target, monitor_id id) { cell()->unwatch(*target.cell(), id); }

    /// Delivers `message` to this actor's handle_info after `delay`.
    template <class Msg>
    timer_id send_after(duration delay, Msg message) {
        return cell()->start_timer(delay, new detail::info_envelope<Self, Msg>(std::move(message)));
    }

    /// Cancels a send_after() timer; false if it already fired.
    bool cancel_timer(timer_id id) { return cell()->cancel_timer(id); }

    /// After each handler, if no message arrives within `period`, handle_info
    /// gets `receive_timeout`. Zero turns it off.
    void set_receive_timeout(duration period) { cell()->set_receive_timeout(period); }

  private:
    detail::actor_cell* cell() const { return detail::actor_cell::current(); }

    bool do_init(exit_reason& why_not) override { return static_cast<Self&>(*this).init(why_not); }
    void do_terminate(const exit_reason& reason) override {
        static_cast<Self&>(*this).terminate(reason);
    }
    void do_down(down& notice) override {
        if constexpr (requires(Self & s, down & d) { s.handle_info(d); }) {
            static_cast<Self&>(*this).handle_info(notice);
        }
    }
    void do_receive_timeout() override {
        if constexpr (requires(Self & s, receive_timeout & t) { s.handle_info(t); }) {
            receive_timeout notice;
            static_cast<Self&>(*this).handle_info(notice);
        }
    }
};

/// Starts an actor running `Server(args...)` on `home`. Any thread. init()
/// runs on the actor's home before any message; messages sent meanwhile wait.
template <class Server, class... Args>
actor_ref<Server> spawn(scheduler& home, std::string name, Args&&... args) {
    auto* cell = new detail::actor_cell(home, std::move(name),
                                        std::make_unique<Server>(std::forward<Args>(args)...));
    actor_ref<Server> ref(cell);
    cell->post_start();
    return ref;
}

}  // namespace stampede::runtime
