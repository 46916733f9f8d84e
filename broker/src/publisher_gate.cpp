#include "publisher_gate.hpp"

#include "queue.hpp"
#include "topic.hpp"

namespace stampede::broker {

namespace {
// How long a paused reader waits before looking again, in case a wake-up went
// astray. Wake-ups are the norm.
constexpr auto flow_recheck = std::chrono::seconds(1);
// The memory alarm sends no wake-ups: paused readers look this often.
constexpr auto memory_recheck = std::chrono::milliseconds(50);
}  // namespace

void publisher_gate::published_to(const destination_handle& destination) {
    if (gate_ == destination.gate) {
        return;
    }
    gate_ = destination.gate;
    kind_ = destination.kind;
    topic_ = destination.topic;
    queue_ = destination.queue;
}

bool publisher_gate::must_wait() const noexcept {
    return credit_->exhausted() || alarm_.load(std::memory_order_relaxed) ||
           (gate_ != nullptr && gate_->closed());
}

runtime::time_point publisher_gate::request_wake() {
    if (credit_->exhausted()) {
        if (!credit_->request_wake()) {
            return runtime::clock::now();  // the window reopened meanwhile
        }
        return runtime::deadline_after(flow_recheck);
    }
    if (gate_ != nullptr && gate_->closed()) {
        if (kind_ == destination_kind::topic) {
            topic_.cast(await_gate{owner_});
        } else {
            queue_.cast(await_gate{owner_});
        }
        return runtime::deadline_after(flow_recheck);
    }
    return runtime::deadline_after(memory_recheck);
}

}  // namespace stampede::broker
