#pragma once

#include <array>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "actors.hpp"
#include "context.hpp"
#include "durable.hpp"
#include "flow.hpp"
#include "stampede/protocol/serializer.hpp"
#include "stampede/routing/subscription_index.hpp"
#include "stampede/routing/timer_queue.hpp"
#include "stats.hpp"

namespace stampede::broker {

/// A topic: publish/subscribe. It knows which schedulers have subscribers
/// (through their relays) and sends each published message once to each of
/// them; the relays make the per-subscriber copies. One hop per scheduler per
/// message, never one per subscriber. Schedulers whose relay holds wildcard
/// subscriptions of the topic's virtual host get every message too, and
/// match it there. Delayed messages (AMQ_SCHEDULED_DELAY) wait here, within
/// topics.max_delayed_bytes; expired ones are dropped, counted. Lives on its
/// registry shard.
class topic_actor : public runtime::gen_server<topic_actor> {
  public:
    topic_actor(broker_context& ctx, std::string vhost, std::string name, std::string key,
                unsigned shard, std::shared_ptr<destination_gate> gate);

    bool init(runtime::exit_reason&);
    void terminate(const runtime::exit_reason&);

    void handle_cast(topic_publish& publish);
    runtime::call_result<publish_outcome> handle_call(topic_publish_sync& publish,
                                                      const runtime::from<publish_outcome>&);
    runtime::call_result<runtime::ok> handle_call(attach_relay& attach,
                                                  const runtime::from<runtime::ok>&);
    void handle_cast(detach_relay& detach);
    void handle_cast(congestion& change);
    void handle_cast(await_gate& waiting);
    void handle_cast(dropped_for_slow_consumer& dropped) { counters_.dropped += dropped.messages; }
    void handle_cast(reclaim&);
    void handle_cast(reclaim_refused&) { ++counters_.reclaim_refusals; }
    void handle_cast(temporary_deleted&);
    void handle_info(runtime::receive_timeout&);
    /// Durable subscriptions (durable.hpp): queues fed whatever they select.
    runtime::call_result<bool> handle_call(add_durable_subscriber& add, const runtime::from<bool>&);
    void handle_cast(remove_durable_subscriber& remove);
    struct delay_timer {};
    void handle_info(delay_timer&);

  private:
    struct relay_slot {
        unsigned scheduler;
        runtime::actor_ref<relay_actor> relay;
    };

    /// Takes a published message: now, later (delayed) or not at all.
    publish_outcome accept(const message_ptr& msg, std::uint64_t token);
    /// `token` (0: none) is sealed once the durable subscriptions have their copies.
    void fan_out(const message_ptr& msg, std::uint64_t token = 0);
    void arm_timer();

    broker_context& ctx_;
    std::string key_;
    unsigned shard_;
    unsigned vhost_;        ///< index in config.virtual_hosts
    bool deleted_ = false;  ///< a temporary topic whose owner has gone
    routing::timer_queue<message_ptr> delayed_;
    std::size_t delayed_bytes_ = 0;
    std::optional<runtime::timer_id> timer_;
    std::int64_t timer_due_ = 0;
    std::vector<relay_slot> relays_;
    std::shared_ptr<destination_gate> gate_;
    std::unordered_set<std::uint64_t> congested_;  ///< sessions holding the gate closed
    gate_waiters waiters_;
    destination_counters counters_;
    struct durable_subscriber {
        std::string name;
        destination_handle queue;  ///< attached in the registry while it lasts
        selector_ptr selector;
    };
    std::vector<durable_subscriber> durables_;
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
    relay_actor(broker_context& ctx, unsigned index)
        : ctx_(ctx), index_(index), wildcards_(ctx.cfg.virtual_hosts.size()) {}

    void terminate(const runtime::exit_reason&);

    runtime::call_result<bool> handle_call(relay_subscribe& subscribe, const runtime::from<bool>&);
    void handle_cast(relay_unsubscribe& unsubscribe);
    void handle_cast(relay_fanout& fanout);
    runtime::call_result<pattern_ref> handle_call(relay_subscribe_pattern& subscribe,
                                                  const runtime::from<pattern_ref>&);
    void handle_cast(relay_unsubscribe_pattern& unsubscribe);

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
    /// The local subscriptions of one wildcard pattern: counted under the
    /// pattern's name (/topic/a.*) in /stats.
    struct pattern_counters {
        destination_counters counters;
        std::size_t subscriptions = 0;
    };
    struct pattern_subscriber {
        std::shared_ptr<session> target;
        std::uint64_t slot = 0;
        pattern_counters* counted = nullptr;
    };
    /// The wildcard subscriptions of one virtual host on this scheduler.
    struct wildcard_set {
        routing::subscription_index<pattern_subscriber> index;
        std::unordered_map<std::string, std::unique_ptr<pattern_counters>> patterns;
    };

    void deliver_wildcards(const relay_fanout& fanout, template_cache& templates);

    broker_context& ctx_;
    unsigned index_;
    std::unordered_map<runtime::actor_id, local_topic> topics_;
    std::vector<wildcard_set> wildcards_;  ///< by virtual host index
};

}  // namespace stampede::broker
