#pragma once

#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors.hpp"
#include "consumer_set.hpp"
#include "context.hpp"
#include "flow.hpp"
#include "stats.hpp"

namespace stampede::broker {

/// A queue: point to point. Delivers round-robin to the consumers that have
/// prefetch room, keeps every delivery until it is settled (acknowledged, or
/// written for auto-ack consumers), puts back what is refused (NACK) or was
/// held by a consumer that went away, and dead-letters a message after
/// max_deliveries. The queue, not the session, is the record of what is
/// unacknowledged, so a lost connection can never lose a message.
class queue_actor : public runtime::gen_server<queue_actor> {
  public:
    queue_actor(broker_context& ctx, std::string vhost, std::string name, std::string key,
                unsigned shard, std::shared_ptr<destination_gate> gate);

    bool init(runtime::exit_reason&);
    void terminate(const runtime::exit_reason&);

    void handle_cast(queue_publish& publish);
    runtime::call_result<publish_outcome> handle_call(queue_publish_sync& publish,
                                                      const runtime::from<publish_outcome>&);
    runtime::call_result<runtime::ok> handle_call(add_consumer& add,
                                                  const runtime::from<runtime::ok>&);
    runtime::call_result<bool> handle_call(queue_reserve& reserve, const runtime::from<bool>&);
    void handle_cast(queue_unreserve& unreserve);
    void handle_cast(remove_consumer& remove);
    void handle_cast(settle& done);
    void handle_cast(reclaim&);
    void handle_cast(await_gate& waiting);
    void handle_info(runtime::down& gone);
    void handle_info(runtime::receive_timeout&);
    struct fairness_retry {};
    void handle_info(fairness_retry&);

  private:
    struct held {
        message_ptr msg;
        std::uint64_t sequence = 0;
        std::uint32_t deliveries = 0;
    };
    struct delivered {
        held item;
        consumer_key consumer;
    };

    publish_outcome accept(const message_ptr& msg, bool reserved);
    bool make_room(std::size_t incoming);
    bool has_room(std::size_t messages, std::size_t bytes) const noexcept;
    void dispatch();
    void deliver(queue_consumer& to, held item);
    void requeue(std::vector<held> items);
    void dead_letter(held item);
    void drop_consumer(const consumer_key& key);
    void update_depth() noexcept;
    bool full() const noexcept;

    broker_context& ctx_;
    std::string key_;
    unsigned shard_;
    std::deque<held> ready_;
    std::unordered_map<std::uint64_t, delivered> unacked_;
    consumer_set consumers_;
    bool fairness_retry_pending_ = false;
    std::uint64_t next_sequence_ = 1;
    std::size_t ready_bytes_ = 0;
    std::size_t unacked_bytes_ = 0;
    std::size_t reserved_messages_ = 0;  ///< room set aside for COMMITs under way
    std::size_t reserved_bytes_ = 0;
    std::optional<destination_handle> dead_letters_;
    std::shared_ptr<destination_gate> gate_;
    gate_waiters waiters_;
    destination_counters counters_;
};

}  // namespace stampede::broker
