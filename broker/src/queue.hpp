#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors.hpp"
#include "consumer_set.hpp"
#include "context.hpp"
#include "durable.hpp"
#include "flow.hpp"
#include "queue_pager.hpp"
#include "queue_store.hpp"
#include "stats.hpp"

namespace stampede::broker {

/// A queue: point to point. Delivers to the consumers that have prefetch
/// room (consumer_set.hpp says who is next), highest priority first (the
/// ready messages live in a queue_store, with the delayed ones), keeps every
/// delivery until it is settled (acknowledged, or written for auto-ack
/// consumers), puts back what is refused (NACK) or was held by a consumer
/// that went away, and dead-letters a message after max_deliveries. Expired
/// messages are never delivered: dropped, or dead-lettered when configured,
/// counted either way. The queue, not the session, is the record of what is
/// unacknowledged, so a lost connection can never lose a message.
///
/// Consumers may carry a selector (they take the first ready message they
/// select; with none ready they park until one arrives), be exclusive (the
/// first exclusive consumer takes everything while it stays), or browse
/// (they see the ready messages without taking them, in pages as they
/// settle, then an end marker).
class queue_actor : public runtime::gen_server<queue_actor> {
  public:
    queue_actor(broker_context& ctx, std::string vhost, std::string name, std::string key,
                unsigned shard, std::shared_ptr<destination_gate> gate);

    bool init(runtime::exit_reason&);
    void terminate(const runtime::exit_reason&);

    void handle_cast(queue_publish& publish);
    /// Start-up: messages recovered from the journal (durable.hpp).
    void handle_cast(queue_restore& restore);
    /// A durable subscription removed: its messages go, for good.
    void handle_cast(queue_purge& purge);
    /// Queues larger than memory (queue_pager.hpp): messages of the paged
    /// tail read back, and news that the journal wrote something of ours.
    void handle_cast(queue_paged_in& in);
    void handle_cast(journal_progress&);
    runtime::call_result<publish_outcome> handle_call(queue_publish_sync& publish,
                                                      const runtime::from<publish_outcome>&);
    runtime::call_result<runtime::ok> handle_call(add_consumer& add,
                                                  const runtime::from<runtime::ok>&);
    runtime::call_result<bool> handle_call(queue_reserve& reserve, const runtime::from<bool>&);
    void handle_cast(queue_unreserve& unreserve);
    void handle_cast(remove_consumer& remove);
    void handle_cast(settle& done);
    void handle_cast(reclaim&);
    void handle_cast(reclaim_refused&) { ++counters_.reclaim_refusals; }
    void handle_cast(temporary_deleted&);
    void handle_cast(await_gate& waiting);
    void handle_info(runtime::down& gone);
    void handle_info(runtime::receive_timeout&);
    struct fairness_retry {};
    void handle_info(fairness_retry&);
    /// A delayed message is due or a message may have expired.
    struct store_timer {};
    void handle_info(store_timer&);
    /// A browser with a selector looked at a page without finding anything:
    /// it goes on in a later turn.
    struct browse_more {
        consumer_key key;
    };
    void handle_info(browse_more& more);

  private:
    struct delivered {
        stored_message item;
        consumer_key consumer;
    };
    struct browser {
        consumer_key key;
        runtime::actor_ref<session_actor> session;
        selector_ptr selector;
        queue_store::cursor cursor;
        std::size_t prefetch = 1;
        std::size_t in_flight = 0;
        runtime::monitor_id monitor = 0;
    };

    publish_outcome accept(const message_ptr& msg, bool reserved, std::uint64_t token = 0,
                           bool persistent = false);
    /// Persistence (durable.hpp): opens this queue in the journal on first
    /// need; false when it is not durable (or its journal queue is quarantined).
    bool open_journal();
    /// Removes messages from the journal for good (acknowledged, expired,
    /// dropped, dead-lettered) and completes `token` once that is durable.
    void forget(std::span<const storage::message_id> ids, std::uint64_t token = 0);
    void forget(const stored_message& item);
    /// Reads the next chunk of the paged tail when the pager says so
    /// (queue_paging.cpp); a purge reads it all.
    void page_in();
    /// The message a paged-in record becomes: its deliveries as stored, at
    /// least 1 when it was recovered (whether it reached a consumer before
    /// the restart cannot be told).
    std::uint32_t restored_deliveries(storage::message_id id, std::uint32_t stored) const noexcept;
    bool make_room(std::size_t incoming);
    bool has_room(std::size_t messages, std::size_t bytes) const noexcept;
    void dispatch();
    queue_consumer* next_consumer(runtime::time_point now);
    void deliver(queue_consumer& to, stored_message item);
    void requeue(std::vector<stored_message> items);
    void dead_letter(stored_message item, std::string_view reason);
    void expire(std::vector<stored_message>& expired);
    void wake_parked(const message* arrived);
    bool wake_truncated();
    void drop_consumer(const consumer_key& key);
    void pump_browser(browser& b);
    void update_depth() noexcept;
    void arm_timer();
    bool full() const noexcept;
    /// Everything a turn that changed the queue ends with.
    void settle_turn();

    broker_context& ctx_;
    std::string key_;
    unsigned shard_;
    queue_store store_;
    std::unordered_map<std::uint64_t, delivered> unacked_;
    consumer_set consumers_;
    std::vector<consumer_key> exclusives_;  ///< exclusive consumers, first come first
    std::vector<consumer_key> parked_;      ///< consumers waiting for a message they select
    std::unordered_map<consumer_key, browser, consumer_key_hash> browsers_;
    bool fairness_retry_pending_ = false;
    std::uint64_t taken_ = 0;  ///< messages taken from the store for consumers, ever
    std::optional<runtime::timer_id> timer_;
    epoch_ms timer_due_ = 0;  ///< when timer_ fires
    std::size_t unacked_bytes_ = 0;
    std::size_t reserved_messages_ = 0;  ///< room set aside for COMMITs under way
    std::size_t reserved_bytes_ = 0;
    bool dead_letter_expired_ = false;
    bool deleted_ = false;  ///< a temporary queue whose owner has gone
    std::optional<destination_handle> dead_letters_;
    std::shared_ptr<destination_gate> gate_;
    gate_waiters waiters_;
    destination_counters counters_;
    bool durable_ = false;  ///< open in the journal
    storage::queue_id journal_queue_ = 0;
    queue_pager pager_;
    /// Set while the pager waits for a journal completion: the queue's
    /// completion handler (on a journal thread) then casts journal_progress.
    std::shared_ptr<std::atomic<bool>> journal_wake_ = std::make_shared<std::atomic<bool>>(false);
    /// Purges reading the paged tail to forget it: their tokens complete
    /// once the whole tail is forgotten.
    std::vector<std::uint64_t> purge_tokens_;
};

}  // namespace stampede::broker
