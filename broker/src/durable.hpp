#pragma once

// The broker's side of the journal (issue 10): which destinations are
// durable, how a message is laid out in a journal record, and how a journal
// completion (on a journal thread) reaches the session waiting for it.
//
//   session  -- queue_publish{token} -->  queue  -- append(token) -->  journal
//   session  <-- durable_done{token} ---------------------------------  (sync lane)
//
// A token names one durable operation (a persistent SEND, an ACK with a
// receipt); the session registers it here before handing the operation to
// its queue, and the journal's completion handler casts the outcome straight
// back to the session actor. Nothing here waits on the disk.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actors.hpp"
#include "stampede/broker/config.hpp"
#include "stampede/storage/journal.hpp"

namespace stampede::broker {

struct broker_context;

/// To a session: the durable operation `token` is done (stored as the sync
/// mode promises), or was not stored and `error` says why.
struct durable_done {
    std::uint64_t token = 0;
    std::string error;
};

/// A message read back from the journal for queue restore.
struct restored_message {
    message_ptr msg;
    storage::message_id id = 0;
    std::uint32_t deliveries = 0;
};

/// To a queue at start-up, before any connection can publish to it: its
/// messages from the journal, oldest first (without a memory budget), or,
/// with queues.memory_budget set, none read yet: tail_count messages from id
/// tail_from on (tail_bytes record bytes) stay in the journal, and the queue
/// reads them back as its paged tail (queue_pager.hpp).
struct queue_restore {
    std::vector<restored_message> messages;
    storage::message_id tail_from = 0;
    std::uint64_t tail_count = 0;
    std::uint64_t tail_bytes = 0;
    storage::message_id recovered_below = 0;  ///< ids below: recovered, not sent since start
};

/// To a queue, from the journal's reader thread: messages of its paged tail
/// read back (queue_pager.hpp), decoded, in id order; `error` when the read
/// failed.
struct queue_paged_in {
    std::vector<restored_message> messages;
    std::string error;
};

/// To a queue, from a journal thread: one of its writes completed (a read of
/// its tail that found nothing may find something now).
struct journal_progress {};

// ---- durable topic subscriptions ----
//
// A durable subscription is a queue of its own (durable_queue_name()) that
// its topic feeds with every message it selects, whether or not the
// subscriber is connected; the subscriber consumes that queue. The topic
// holds the queue attached in the registry until the subscription is removed.

/// To a topic: feed queue `queue` (in `vhost`) as durable subscription
/// `name`, with `selector` (null: everything). Answered false when the
/// queue could not be made.
struct add_durable_subscriber {
    using reply_type = bool;
    std::string name;
    std::string vhost;
    std::string queue;
    selector_ptr selector;
};
/// To a topic: durable subscription `name` is gone.
struct remove_durable_subscriber {
    std::string name;
};
/// To a queue: drop every message it holds (a durable subscription removed);
/// `token` completed once that is durable.
struct queue_purge {
    std::uint64_t token = 0;
};

/// The queue behind durable subscription `name`.
std::string durable_queue_name(std::string_view name);
inline constexpr std::string_view durable_queue_prefix = "/durable-subscription/";

class durability {
  public:
    /// Opens (and recovers) the journal in cfg.data_dir. Throws
    /// std::runtime_error naming the directory when it cannot: another broker
    /// holds it, it cannot be created.
    static std::unique_ptr<durability> open(const config& cfg);
    ~durability();
    durability(const durability&) = delete;
    durability& operator=(const durability&) = delete;

    storage::journal& journal() noexcept { return *journal_; }

    /// Whether `persistent:true` messages to `destination` are journalled.
    bool durable(std::string_view destination) const noexcept;

    /// A new token whose outcome is cast to `who` as durable_done.
    std::uint64_t expect(runtime::actor_ref<session_actor> who);

    /// Tokens sessions have taken with expect() since start (for /stats:
    /// which operations waited on the journal, not how long they took).
    std::uint64_t tokens_taken() const noexcept {
        return tokens_taken_.load(std::memory_order_relaxed);
    }

    /// True once close() has begun: journal threads cast nothing more.
    bool closing() const noexcept { return closing_.load(std::memory_order_acquire); }

    /// Completes `token` without the journal (nothing to store, or refused
    /// before any record was written). no_token is ignored.
    void complete(std::uint64_t token, std::string error = {});

    /// One operation stored in several places (a persistent message to a
    /// topic, copied into each of its durable subscriptions' queues): a new
    /// token for one part of `whole`. `whole` completes, with the first part's
    /// error if any, once every part has and seal(whole) has been called.
    std::uint64_t part_of(std::uint64_t whole);
    /// No more parts of `whole` will be made: it completes when its parts
    /// have (at once when it has none).
    void seal(std::uint64_t whole);

    /// The handler every durable queue gives journal::open_queue().
    storage::completion_handler completions();

    /// Logs what recovery found and refills the recovered queues (from the
    /// journal, on the calling thread: main(), before the listener opens).
    void restore(broker_context& ctx);

    /// Stops casting completions (the runtime is stopping), then closes the
    /// journal: everything submitted is written and synced first.
    void close();

    /// A message's journal record: the broker's encoding of its identity,
    /// destination and user headers, and its body.
    static std::string encode_headers(const message& m);
    static storage::message_in record_of(const message& m, const std::string& headers);
    /// The message a record holds, or null when the record is not one of ours.
    static std::shared_ptr<message> decode(const storage::stored_message& stored);

    /// The journal's queue name of destination key `key` (virtual host and name).
    static std::string queue_name(std::string_view key) { return std::string(key); }

  private:
    explicit durability(const config& cfg, std::unique_ptr<storage::journal> journal);
    void dispatch(storage::completion&& done);
    bool restore_subscription(broker_context& ctx, const storage::subscription_record& sub);
    std::uint64_t restore_queue(const storage::queue_summary& q, const std::string& name,
                                const runtime::actor_ref<queue_actor>& queue);

    void part_done(std::uint64_t whole, std::string error);

    /// Who a token's outcome goes to: a session, or the whole it is a part of.
    struct waiter {
        runtime::actor_ref<session_actor> who;
        std::uint64_t whole = 0;
    };
    struct waiters {
        std::mutex mutex;
        std::unordered_map<std::uint64_t, waiter> by_token;
    };
    /// A token split into parts: outstanding counts the parts not yet done,
    /// plus one until it is sealed.
    struct split {
        std::uint32_t outstanding = 1;
        std::string error;
    };
    struct splits {
        std::mutex mutex;
        std::unordered_map<std::uint64_t, split> by_whole;
    };
    static constexpr std::size_t shard_count = 16;

    const config& cfg_;
    std::unique_ptr<storage::journal> journal_;
    std::array<waiters, shard_count> shards_;
    std::array<splits, shard_count> splits_;
    std::atomic<std::uint64_t> next_token_{1};
    std::atomic<std::uint64_t> tokens_taken_{0};
    std::atomic<bool> closing_{false};
};

/// True when the message was sent with `persistent:true`.
bool is_persistent(const message& m) noexcept;

}  // namespace stampede::broker
