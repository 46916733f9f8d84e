#pragma once

// The publishing side's flow control: between frames, the reader of a
// connection that publishes stops while its credit window is used up, while
// the destination it last published to holds its gate closed, or while the
// broker's memory alarm is up. Not reading is the whole mechanism: TCP then
// holds the client back.

#include <atomic>
#include <memory>

#include "actors.hpp"
#include "flow.hpp"
#include "stampede/runtime/timer.hpp"

namespace stampede::broker {

class publisher_gate {
  public:
    publisher_gate(runtime::actor_ref<session_actor> owner, const publisher_config& window,
                   const std::atomic<bool>& memory_alarm)
        : owner_(owner),
          credit_(std::make_shared<publish_credit>(std::move(owner), window)),
          alarm_(memory_alarm) {}

    /// Charges `msg` to this publisher's window (given back once it is in place).
    void charge(message& msg) { msg.charge(credit_); }

    /// Remembers the destination just published to: its gate counts from now on.
    void published_to(const destination_handle& destination);

    /// Whether the reader must wait before reading another frame.
    bool must_wait() const noexcept;

    /// Before waiting: asks whoever holds the publisher back to send a
    /// resume_reading when it may go on. Returns when to look again anyway
    /// (a wake-up can go astray: the gate's destination was reclaimed, say).
    runtime::time_point request_wake();

  private:
    runtime::actor_ref<session_actor> owner_;
    std::shared_ptr<publish_credit> credit_;
    const std::atomic<bool>& alarm_;
    std::shared_ptr<destination_gate> gate_;  ///< of the destination last published to
    destination_kind kind_ = destination_kind::topic;
    runtime::actor_ref<topic_actor> topic_;
    runtime::actor_ref<queue_actor> queue_;
};

}  // namespace stampede::broker
