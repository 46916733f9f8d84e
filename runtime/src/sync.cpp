#include "stampede/runtime/sync.hpp"

#include <cassert>

namespace stampede::runtime {

event::~event() {
    assert(waiters_.empty() && "event destroyed while fibers wait on it");
}

void event::node::interrupt(errc) noexcept {
    owner.wake(*this);
}

void event::wake(node& n) noexcept {
    if (n.event_hook.linked()) {
        waiters_.erase(&n);
    }
    this_scheduler()->wake(n);
}

result<void> event::wait(time_point deadline) {
    scheduler* here = this_scheduler();
    if (here == nullptr || here->current_fiber() == nullptr) {
        return errc::not_on_fiber;
    }
    node n(*this);
    waiters_.push_back(&n);
    here->block(n, deadline);
    if (n.interrupted_by != errc{}) {
        return n.interrupted_by;
    }
    return {};
}

void event::notify_one() noexcept {
    if (node* n = waiters_.front()) {
        wake(*n);
    }
}

void event::notify_all() noexcept {
    while (node* n = waiters_.front()) {
        wake(*n);
    }
}

void wait_group::done() noexcept {
    assert(count_ > 0);
    if (--count_ == 0) {
        zero_.notify_all();
    }
}

result<void> wait_group::wait(time_point deadline) {
    while (count_ > 0) {
        if (auto r = zero_.wait(deadline); !r) {
            return r;
        }
    }
    return {};
}

}  // namespace stampede::runtime
