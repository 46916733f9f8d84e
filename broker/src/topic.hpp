#pragma once

#include <array>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "actors.hpp"
#include "context.hpp"
#include "flow.hpp"
#include "stampede/protocol/serializer.hpp"
#include "stats.hpp"

namespace stampede::broker {

/// A topic: publish/subscribe. It knows which schedulers have subscribers
/// (through their relays) and sends each published message once to each of
/// them; the relays make the per-subscriber copies. One hop per scheduler per
/// message, never one per subscriber. Lives on its registry shard.
class topic_actor : public runtime::gen_server<topic_actor> {
  public:
    topic_actor(broker_context& ctx, std::string vhost, std::string name, std::string key,
                unsigned shard, std::shared_ptr<destination_gate> gate);

    bool init(runtime::exit_reason&);
    void terminate(const runtime::exit_reason&);

    void handle_cast(topic_publish& publish) { fan_out(publish.msg); }
    runtime::call_result<runtime::ok> handle_call(topic_publish_sync& publish,
                                                  const runtime::from<runtime::ok>&);
    runtime::call_result<runtime::ok> handle_call(attach_relay& attach,
                                                  const runtime::from<runtime::ok>&);
    void handle_cast(detach_relay& detach);
    void handle_cast(congestion& change);
    void handle_cast(await_gate& waiting);
    void handle_cast(dropped_for_slow_consumer& dropped) { counters_.dropped += dropped.messages; }
    void handle_cast(reclaim&);
    void handle_info(runtime::receive_timeout&);

  private:
    struct relay_slot {
        unsigned scheduler;
        runtime::actor_ref<relay_actor> relay;
    };

    void fan_out(const message_ptr& msg);

    broker_context& ctx_;
    std::string key_;
    unsigned shard_;
    std::vector<relay_slot> relays_;
    std::shared_ptr<destination_gate> gate_;
    std::unordered_set<std::uint64_t> congested_;  ///< sessions holding the gate closed
    gate_waiters waiters_;
    destination_counters counters_;
};

/// MESSAGE templates of one published message, built per protocol version on
/// first need, for one fan-out on one scheduler.
class template_cache {
  public:
    explicit template_cache(const message& msg) : msg_(msg) {}
    const protocol::message_template& get(protocol::version v);

  private:
    const message& msg_;
    std::array<std::optional<protocol::message_template>, 3> by_version_;
};

/// One per scheduler: the local end of every topic that has subscribers
/// here. Receives each message once from the topic and copies it into each
/// local subscriber's outbound queue, on this scheduler's core.
class relay_actor : public runtime::gen_server<relay_actor> {
  public:
    relay_actor(broker_context& ctx, unsigned index) : ctx_(ctx), index_(index) {}

    void terminate(const runtime::exit_reason&);

    runtime::call_result<bool> handle_call(relay_subscribe& subscribe, const runtime::from<bool>&);
    void handle_cast(relay_unsubscribe& unsubscribe);
    void handle_cast(relay_fanout& fanout);

  private:
    struct subscriber {
        std::shared_ptr<session> target;
        std::uint64_t slot;
    };
    struct local_topic {
        runtime::actor_ref<topic_actor> topic;
        std::vector<subscriber> subscribers;
        destination_counters counters;  ///< deliveries made on this scheduler
    };

    broker_context& ctx_;
    unsigned index_;
    std::unordered_map<runtime::actor_id, local_topic> topics_;
};

}  // namespace stampede::broker
