#include "stampede/runtime/scheduler.hpp"

#include <algorithm>
#include <cassert>
#include <exception>
#include <map>

#include "io_backend.hpp"
#include "sanitizer.hpp"
#include "stampede/runtime/detail/actor_cell.hpp"
#include "stampede/runtime/log.hpp"
#include "stampede/runtime/runtime.hpp"

namespace stampede::runtime {

namespace {

// Lends a pooled stack to Boost.Context; the fiber record it builds at the top
// of the stack calls deallocate() once the fiber has finished, on the next context.
struct pooled_stack_allocator {
    fiber_stack stack;
    stack_pool* pool;

    boost::context::stack_context allocate() const noexcept {
        boost::context::stack_context context;
        context.size = stack.usable_size();
        context.sp = stack.top();
        return context;
    }
    void deallocate(boost::context::stack_context&) const noexcept { pool->release(stack); }
};

constexpr auto stuck_report_interval = std::chrono::seconds(5);

void fire_waiter_deadline(detail::timer_node& node) {
    auto& w = *static_cast<detail::waiter*>(node.context);
    this_scheduler()->interrupt(w, errc::timeout);
}

}  // namespace

scheduler::scheduler(runtime& owner, unsigned index)
    : owner_(owner),
      index_(index),
      stacks_(owner.options().stack_cache_per_scheduler),
      next_fiber_id_(static_cast<std::uint64_t>(index) << 48 | 1) {}

scheduler::~scheduler() {
    discard_remote_tasks();
}

// ---- Spawning and switching ----

void scheduler::spawn(detail::unique_function<void()> fn, fiber_options options) {
    if (this_scheduler() == this) {
        if (auto r = spawn_here(std::move(fn), options); !r) {
            log::error("cannot spawn a '", options.kind, "' fiber: ", r.error().message());
        }
        return;
    }
    execute([this, fn = std::move(fn), options]() mutable {
        if (auto r = spawn_here(std::move(fn), options); !r && r.error() != errc::shutdown) {
            log::error("cannot spawn a '", options.kind, "' fiber: ", r.error().message());
        }
    });
}

result<void> scheduler::spawn_here(detail::unique_function<void()> fn, fiber_options options) {
    auto fiber = spawn_fiber(std::move(fn), options);
    if (!fiber) {
        return fiber.error();
    }
    return {};
}

result<detail::fiber_ctl*> scheduler::spawn_fiber(detail::unique_function<void()> fn,
                                                  fiber_options options) {
    assert(this_scheduler() == this);
    if (stopping()) {
        return errc::shutdown;
    }
    const std::size_t size =
        options.stack_size != 0 ? options.stack_size : owner_.options().default_stack_size;
    auto stack = stacks_.acquire(size);
    if (!stack) {
        return stack.error();
    }
    auto* fiber = new detail::fiber_ctl;
    fiber->id = next_fiber_id_++;
    fiber->kind = options.kind;
    fiber->home = this;
    fiber->stack = *stack;
    fiber->entry = std::move(fn);
    fiber->context =
        boost::context::fiber(std::allocator_arg, pooled_stack_allocator{*stack, &stacks_},
                              [fiber](boost::context::fiber&& caller) {
                                  fiber->caller = std::move(caller);
                                  fiber_entry(fiber);
                                  return std::move(fiber->caller);
                              });
    fiber->tsan_fiber = detail::sanitizer::create_fiber();
    fibers_.push_back(fiber);
    fiber->state = detail::fiber_state::suspended;  // created, never run
    make_ready(fiber);
    return fiber;
}

// Runs on the new fiber. Everything the entry function owns is destroyed here,
// still on the fiber, because destructors (closing a stream, say) may block.
void scheduler::fiber_entry(detail::fiber_ctl* fiber) {
    scheduler& self = *fiber->home;
    detail::sanitizer::finish_switch(nullptr, &self.main_stack_bottom_, &self.main_stack_size_);
    try {
        fiber->entry();
    } catch (const boost::context::detail::forced_unwind&) {
        throw;  // Boost.Context unwinding a fiber it destroys: must pass through
    } catch (const std::exception& e) {
        log::error("fiber '", fiber->kind, "' ended by an exception: ", e.what());
    } catch (...) {
        log::error("fiber '", fiber->kind, "' ended by an unknown exception");
    }
    fiber->entry = {};
    fiber->state = detail::fiber_state::finished;
    fiber->high_water_at_exit = stack_high_water(fiber->stack);
    detail::sanitizer::switch_to(self.main_tsan_fiber_);
    detail::sanitizer::start_switch(nullptr, self.main_stack_bottom_, self.main_stack_size_);
}

void scheduler::resume(detail::fiber_ctl* fiber) {
    assert(fiber->state == detail::fiber_state::ready);
    current_ = fiber;
    detail::tls.fiber = fiber;
    fiber->state = detail::fiber_state::running;
    detail::sanitizer::start_switch(&main_asan_fake_stack_, fiber->stack.bottom(),
                                    fiber->stack.usable_size());
    detail::sanitizer::switch_to(fiber->tsan_fiber);
    fiber->context = std::move(fiber->context).resume();
    detail::sanitizer::finish_switch(main_asan_fake_stack_, nullptr, nullptr);
    current_ = nullptr;
    detail::tls.fiber = nullptr;
    if (fiber->state == detail::fiber_state::finished) {
        fiber_finished(fiber);
    }
}

[[gnu::noinline]] void scheduler::switch_to_scheduler(detail::fiber_ctl* fiber) {
    if (fiber->state == detail::fiber_state::running) {
        fiber->state = detail::fiber_state::suspended;  // else yield() made it ready already
    }
    fiber->suspended_frame = static_cast<const char*>(__builtin_frame_address(0));
    detail::sanitizer::start_switch(&fiber->asan_fake_stack, main_stack_bottom_, main_stack_size_);
    detail::sanitizer::switch_to(main_tsan_fiber_);
    fiber->caller = std::move(fiber->caller).resume();
    detail::sanitizer::finish_switch(fiber->asan_fake_stack, &main_stack_bottom_,
                                     &main_stack_size_);
}

void scheduler::fiber_finished(detail::fiber_ctl* fiber) {
    auto stats = std::find_if(ended_stats_.begin(), ended_stats_.end(),
                              [&](const fiber_kind_stats& s) { return s.kind == fiber->kind; });
    if (stats == ended_stats_.end()) {
        ended_stats_.push_back({fiber->kind, 0, 0, 0, 0});
        stats = ended_stats_.end() - 1;
    }
    stats->stack_size = std::max(stats->stack_size, fiber->stack.usable_size());
    stats->max_high_water = std::max(stats->max_high_water, fiber->high_water_at_exit);
    fibers_.erase(fiber);
    detail::sanitizer::destroy_fiber(fiber->tsan_fiber);
    delete fiber;
}

// ---- Blocking ----

void scheduler::make_ready(detail::fiber_ctl* fiber) noexcept {
    assert(fiber->state == detail::fiber_state::suspended ||
           (fiber->state == detail::fiber_state::running && fiber == current_));
    fiber->state = detail::fiber_state::ready;
    ready_.push_back(fiber);
}

// A worker that blocks inside a handler stops counting as busy, so that the
// actors queued behind it get a fresh worker instead of waiting for it.
void scheduler::suspend_current() {
    detail::fiber_ctl* fiber = current_;
    assert(fiber != nullptr && "blocking call outside a fiber");
    const bool worker = fiber->is_worker;
    if (worker) {
        --busy_workers_;
        if (!ready_actors_.empty()) {
            ensure_worker();
        }
    }
    switch_to_scheduler(fiber);
    if (worker) {
        ++busy_workers_;
    }
}

void scheduler::block(detail::waiter& w, time_point deadline) {
    w.fiber = current_;
    if (w.woken) {
        return;  // completed before the fiber got here (a call bounced at once, say)
    }
    blocked_.push_back(&w);
    if (deadline != no_deadline) {
        w.deadline_timer.fire = &fire_waiter_deadline;
        w.deadline_timer.context = &w;
        timers_.arm(w.deadline_timer, deadline);
    }
    if (stopping()) {
        interrupt(w, errc::shutdown);
    }
    while (!w.woken) {
        suspend_current();
    }
}

void scheduler::wake(detail::waiter& w) noexcept {
    if (w.woken) {
        return;
    }
    w.woken = true;
    timers_.disarm(w.deadline_timer);
    if (w.blocked_hook.linked()) {
        blocked_.erase(&w);
    }
    // Woken before it suspended (before or inside block()): block() sees `woken`.
    if (w.fiber != nullptr && w.fiber->state == detail::fiber_state::suspended) {
        make_ready(w.fiber);
    }
}

void scheduler::interrupt(detail::waiter& w, errc why) noexcept {
    if (w.woken || w.interrupted_by != errc{}) {
        return;
    }
    w.interrupted_by = why;
    timers_.disarm(w.deadline_timer);
    if (w.blocked_hook.linked()) {
        blocked_.erase(&w);
    }
    w.interrupt(why);
}

void scheduler::yield() {
    make_ready(current_);
    suspend_current();
}

// ---- Actors on worker fibers ----
//
// An actor owns no stack. When it has mail it is queued here, and a worker
// fiber runs its handlers. A handler that blocks (a call, say) keeps its worker;
// another worker takes over the queue. Workers park when idle; beyond
// max_idle_workers they end, returning their stacks.

void scheduler::activate(detail::actor_cell* actor) noexcept {
    ready_actors_.push_back(actor);
    ensure_worker();
}

void scheduler::ensure_worker() noexcept {
    if (busy_workers_ > 0) {
        return;  // a running worker takes queued actors before it parks
    }
    ++busy_workers_;
    if (!idle_workers_.empty()) {
        detail::fiber_ctl* worker = idle_workers_.back();
        idle_workers_.pop_back();
        make_ready(worker);
        return;
    }
    auto worker = spawn_fiber([this] { worker_main(current_); }, {0, "worker"});
    if (!worker) {
        --busy_workers_;
        log::error("cannot start a worker fiber, actors are stalled: ", worker.error().message());
        return;
    }
    (*worker)->is_worker = true;
}

void scheduler::worker_main(detail::fiber_ctl* self) {
    for (;;) {
        if (ready_actors_.empty()) {
            --busy_workers_;
            if (stopping() || idle_workers_.size() >= owner_.options().max_idle_workers) {
                return;
            }
            idle_workers_.push_back(self);
            switch_to_scheduler(self);  // whoever wakes us counted us busy again
            continue;
        }
        detail::actor_cell* actor = ready_actors_.front();
        ready_actors_.pop_front();
        self->actor = actor;
        actor->run_batch(*this);
        self->actor = nullptr;
    }
}

// ---- The loop ----

void scheduler::post(detail::remote_task* task) noexcept {
    remote_.push(task);
    // Pairs with the seq_cst store/check in loop(): either the loop sees the task
    // before sleeping, or we see it asleep and wake it.
    if (sleeping_.load(std::memory_order_seq_cst) &&
        sleeping_.exchange(false, std::memory_order_seq_cst)) {
        io_->wake();
    }
}

void scheduler::run() {
    detail::tls.sched = this;
    detail::tls.index = static_cast<int>(index_);
    main_tsan_fiber_ = detail::sanitizer::current_fiber();
    loop();
    detail::tls = {};
}

void scheduler::run_remote_tasks() noexcept {
    while (detail::mpsc_node* node = remote_.pop()) {
        static_cast<detail::remote_task*>(node)->run(*this);
    }
}

void scheduler::run_ready_fibers() {
    // Only those ready now: fibers readied meanwhile wait for the next turn, so
    // that I/O and remote tasks are never starved by fibers that keep yielding.
    for (std::size_t n = ready_.size(); n > 0; --n) {
        resume(ready_.pop_front());
    }
}

bool scheduler::finished() const noexcept {
    return fibers_.empty() && actors_.empty() && remote_.empty() && ready_.empty();
}

void scheduler::loop() {
    for (;;) {
        run_remote_tasks();
        run_ready_fibers();
        const time_point now = clock::now();
        timers_.fire_expired(now);
        if (shutdown_begun_) {
            if (finished() && !io_->has_pending_work()) {
                return;
            }
            report_stuck_shutdown(now);
        }
        if (!ready_.empty()) {
            if (io_->has_pending_work()) {
                io_->poll(std::chrono::nanoseconds(0));
            }
            continue;
        }
        sleeping_.store(true, std::memory_order_seq_cst);
        if (!remote_.empty()) {
            sleeping_.store(false, std::memory_order_relaxed);
            continue;
        }
        poll_io(now);
        sleeping_.store(false, std::memory_order_relaxed);
    }
}

// Sleeps in the I/O backend until a completion, a wake-up or the next timer.
void scheduler::poll_io(time_point now) {
    std::chrono::nanoseconds timeout(-1);
    if (const auto next = timers_.next_deadline()) {
        timeout = std::max(std::chrono::nanoseconds(0),
                           std::chrono::duration_cast<std::chrono::nanoseconds>(*next - now));
    }
    if (shutdown_begun_) {
        // Poll instead of sleeping for ever, to report what keeps shutdown waiting.
        timeout = timeout.count() < 0
                      ? std::chrono::nanoseconds(stuck_report_interval)
                      : std::min(timeout, std::chrono::nanoseconds(stuck_report_interval));
    }
    io_->poll(timeout);
}

// ---- Shutdown ----

void scheduler::begin_shutdown() {
    if (shutdown_begun_) {
        return;
    }
    shutdown_begun_ = true;
    shutdown_started_ = last_stuck_report_ = clock::now();
    stopping_.store(true, std::memory_order_release);
    io_->begin_shutdown();
    blocked_.for_each([this](detail::waiter* w) { interrupt(*w, errc::shutdown); });
    std::vector<detail::actor_cell*> actors(actors_.begin(), actors_.end());
    for (detail::actor_cell* actor : actors) {
        actor->shut_down();
    }
    while (!idle_workers_.empty()) {
        detail::fiber_ctl* worker = idle_workers_.back();
        idle_workers_.pop_back();
        ++busy_workers_;
        make_ready(worker);
    }
}

void scheduler::report_stuck_shutdown(time_point now) {
    if (now - last_stuck_report_ < stuck_report_interval) {
        return;
    }
    last_stuck_report_ = now;
    std::map<std::string, int> kinds;
    fibers_.for_each([&](detail::fiber_ctl* f) { ++kinds[f->kind]; });
    std::string listing;
    for (const auto& [kind, count] : kinds) {
        listing += " " + kind + "=" + std::to_string(count);
    }
    log::warn("shutdown has waited ",
              std::chrono::duration_cast<std::chrono::seconds>(now - shutdown_started_).count(),
              " s for fibers:", listing, "; actors: ", actors_.size());
}

void scheduler::discard_remote_tasks() noexcept {
    while (!remote_.empty()) {
        if (detail::mpsc_node* node = remote_.pop()) {
            static_cast<detail::remote_task*>(node)->discard();
        }
    }
}

// ---- Statistics ----

std::vector<fiber_kind_stats> scheduler::collect_stack_stats() const {
    std::vector<fiber_kind_stats> out = ended_stats_;
    auto& self = const_cast<fiber_list&>(fibers_);
    self.for_each([&](detail::fiber_ctl* f) {
        auto it = std::find_if(out.begin(), out.end(),
                               [&](const fiber_kind_stats& s) { return s.kind == f->kind; });
        if (it == out.end()) {
            out.push_back({f->kind, 0, 0, 0, 0});
            it = out.end() - 1;
        }
        ++it->fibers;
        it->stack_size = std::max(it->stack_size, f->stack.usable_size());
        it->max_high_water = std::max(it->max_high_water, stack_high_water(f->stack));
        it->resident_bytes += stack_resident_bytes(f->stack);
    });
    return out;
}

// ---- Giving stack pages back ----

namespace {

// Below a suspended fiber's recorded frame the context switch itself still
// pushes its saved registers and return addresses (Boost.Context's
// jump_fcontext: 72 bytes; switch_to_scheduler's own registers and locals
// sit just below its frame address, and it is never inlined): what lies this
// far below the frame is free for sure. With 1 KiB an idle session reader
// kept a second page resident; with 512 bytes it keeps its top page only.
#if defined(STAMPEDE_ASAN) || defined(STAMPEDE_TSAN)
constexpr std::size_t switch_margin = 4096;  // instrumented frames, ucontext's switch (TSan)
#else
constexpr std::size_t switch_margin = 512;
#endif

// The caller's own case: a frame of this non-inlined function is below
// every frame of the caller; the madvise wrapper runs below it, on pages
// that fault back in (one, at most).
[[gnu::noinline]] std::size_t release_own_stack(const fiber_stack& stack) noexcept {
    const char* here = static_cast<const char*>(__builtin_frame_address(0));
    return release_stack_below(stack, here - switch_margin);
}

}  // namespace

std::size_t release_unused_stack(fiber_handle handle) noexcept {
    detail::fiber_ctl* fiber = handle.get();
    if (fiber == nullptr) {
        return 0;
    }
    assert(fiber->home == this_scheduler());
    if (fiber == detail::tls.fiber) {
        return release_own_stack(fiber->stack);
    }
    if (fiber->state != detail::fiber_state::suspended || fiber->suspended_frame == nullptr) {
        return 0;  // ready to run, or never ran: it is about to use its stack anyway
    }
    return release_stack_below(fiber->stack, fiber->suspended_frame - switch_margin);
}

// ---- this_fiber ----

namespace this_fiber {
namespace {

struct sleep_waiter final : detail::waiter {
    void interrupt(errc) noexcept override { this_scheduler()->wake(*this); }
};

}  // namespace

bool on_fiber() noexcept {
    return detail::tls.fiber != nullptr;
}

std::size_t stack_high_water() noexcept {
    return on_fiber() ? ::stampede::runtime::stack_high_water(detail::tls.fiber->stack) : 0;
}

std::size_t stack_size() noexcept {
    return on_fiber() ? detail::tls.fiber->stack.usable_size() : 0;
}

fiber_handle handle() noexcept {
    return fiber_handle(detail::tls.fiber);
}

void yield() {
    assert(on_fiber());
    this_scheduler()->yield();
}

result<void> sleep_until(time_point deadline) {
    if (!on_fiber()) {
        return errc::not_on_fiber;
    }
    sleep_waiter w;
    this_scheduler()->block(w, deadline);
    if (w.interrupted_by == errc::shutdown) {
        return errc::shutdown;
    }
    return {};
}

result<void> sleep_for(duration d) {
    return sleep_until(deadline_after(d));
}

}  // namespace this_fiber
}  // namespace stampede::runtime
