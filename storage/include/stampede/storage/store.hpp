#pragma once

// The contract between a queue and its store: append, ack, read from, recover.
// Kept narrow on purpose (DESIGN.md) so that a second store (a replicated one)
// can slot in beside the local journal.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stampede/storage/errc.hpp"

namespace stampede::storage {

/// A queue's number in the store, given by open_queue(); never reused.
using queue_id = std::uint32_t;

/// A message's number within its queue, given by append(): strictly increasing
/// per queue and never reused, so it orders a queue's messages.
using message_id = std::uint64_t;

/// Passed as the token of an operation whose completion nobody waits for.
inline constexpr std::uint64_t no_token = 0;

/// What a queue needs to know about a message besides its bytes.
struct message_properties {
    std::uint8_t priority = 4;       ///< 0-9, STOMP/JMS convention
    std::int64_t expires_at_ms = 0;  ///< wall-clock ms since the epoch; 0: never
    std::int64_t deliver_at_ms = 0;  ///< delayed delivery: not before (wall-clock ms); 0: at once
    std::uint32_t deliveries = 0;    ///< times handed to a consumer; > 0 means redelivered:true
};

/// A message to store. The views need only live for the call to append().
struct message_in {
    message_properties properties;
    std::string_view headers;  ///< opaque to the store: the broker's own encoding
    std::string_view body;
};

/// A message read back: owned bytes, and its properties with the delivery
/// count as the store knows it (stored count plus mark_delivered() calls).
struct stored_message {
    message_id id = 0;
    message_properties properties;
    std::string headers;
    std::string body;
};

/// Completions of one queue's operations, in the order they were submitted:
/// `tokens` are the tokens given to append(), ack() and mark_delivered(), and
/// `error` is empty when they are durable as the sync mode promises (after an
/// fdatasync that covers them in sync mode `always`), or says why they were
/// not stored.
struct completion {
    queue_id queue = 0;
    boost::system::error_code error;
    std::vector<std::uint64_t> tokens;
};

/// Called on a journal thread, once per queue per batch. Must not block and
/// must not call back into the store: hand the completion to the queue's
/// actor (`actor_ref::cast`) or scheduler (`scheduler::execute`). Closing
/// the store may still call it for work in flight, so what it refers to must
/// outlive the store.
using completion_handler = std::function<void(completion&&)>;

/// Completion of one control operation (queue deletion, subscriptions); same
/// thread rules as completion_handler.
using done_handler = std::function<void(boost::system::error_code)>;

/// How much one read() may return.
struct read_limits {
    std::size_t max_messages = 256;
    std::size_t max_bytes = 4u << 20;  ///< headers + bodies; at least one message is returned
};

/// Receives the messages of a read(), or why they could not be read. Called on
/// the store's reader thread; same rules as completion_handler.
using read_handler = std::function<void(result<std::vector<stored_message>>)>;

/// A durable topic subscription: its messages are kept in `queue` while the
/// subscriber is away. `name` is the broker's key (for example
/// "client-id/subscription-name" for ActiveMQ's form, the subscription id for
/// RabbitMQ's).
struct subscription_record {
    std::string name;
    std::string destination;
    std::string selector;
    queue_id queue = 0;
};

/// One problem found in the journal while recovering.
struct damage_report {
    enum class kind {
        torn_tail,        ///< the newest records were cut at `offset` (never confirmed, or a tail bit flip)
        damaged,          ///< a record confirmed earlier is unreadable: its queues are quarantined
        missing_segment,  ///< a segment file listed in the manifest is gone: its queues are quarantined
    };
    kind what = kind::torn_tail;
    std::string file;         ///< path of the segment
    std::uint64_t offset = 0; ///< byte offset in `file` where the damage starts
    std::string detail;       ///< one line for the log
};

/// A queue as recovery found it.
struct queue_summary {
    queue_id id = 0;
    std::string name;             ///< empty when its declaration was lost with damaged records
    std::uint64_t messages = 0;   ///< pending (appended, not acknowledged)
    std::uint64_t bytes = 0;      ///< their record bytes on disk
    message_id first = 0;         ///< lowest pending id (next_id when none)
    message_id next_id = 1;       ///< the id the next append() will get
    bool quarantined = false;     ///< damaged: not served, readable by `stampede-journal`
    std::string reason;           ///< why it is quarantined
};

/// What recovery did: every queue and durable subscription that survived,
/// and every problem it found (for a log line each and for /metrics).
struct recovery_report {
    std::vector<queue_summary> queues;
    std::vector<subscription_record> subscriptions;
    std::vector<damage_report> damage;
    std::vector<std::string> notes;  ///< repairs that lost nothing (an interrupted roll or deletion)
    std::uint64_t segments = 0;    ///< segment files read
    std::uint64_t records = 0;     ///< records read
    std::uint64_t tail_cuts = 0;   ///< damage entries of kind torn_tail
    double seconds = 0;            ///< time recovery took
};

/// Counters for /stats and /metrics; a snapshot.
struct store_stats {
    std::uint64_t appends = 0;         ///< records appended (all kinds)
    std::uint64_t batches = 0;         ///< write batches
    std::uint64_t syncs = 0;           ///< fdatasync calls
    std::uint64_t write_errors = 0;    ///< records that failed to be stored
    std::uint64_t pending_bytes = 0;   ///< submitted, not yet written
    std::uint64_t disk_bytes = 0;      ///< segment files on disk (allocated size)
    std::uint64_t segments = 0;
    std::uint64_t live_bytes = 0;      ///< bytes of records still needed
    std::uint64_t live_messages = 0;
    std::uint64_t compacted_segments = 0;
    std::uint64_t tail_cuts = 0;       ///< from recovery
    bool failed = false;               ///< a sync failed: no more writes until reopened
};

/// The store a queue talks to. Every method may be called from any thread
/// and never blocks on the disk: records are encoded into the current batch
/// under a short lock and written and synced by the store's own threads.
///
/// Ordering: the operations of one queue take effect, and complete, in the
/// order they were submitted. A caller that submits an ack after the append
/// of the same message may do so before the append completes.
class message_store {
  public:
    virtual ~message_store() = default;

    /// What recovery found when the store was opened.
    virtual const recovery_report& recovery() const noexcept = 0;

    /// Returns the id of the queue named `name`, declaring it (durably, in
    /// order before its first append) if the store does not know it, and
    /// routes its completions to `on_complete` from now on. Fails with
    /// errc::quarantined for a damaged queue.
    [[nodiscard]] virtual result<queue_id> open_queue(std::string_view name,
                                                      completion_handler on_complete) = 0;

    /// Stops routing completions of `queue` anywhere (its actor is ending);
    /// the queue and its messages stay. open_queue() routes them again.
    virtual void close_queue(queue_id queue) = 0;

    /// Deletes `queue` and every message in it; `done` runs once that is durable.
    [[nodiscard]] virtual result<void> delete_queue(queue_id queue, done_handler done) = 0;

    /// Appends a message to `queue` and returns its id at once. The queue's
    /// completion handler later receives `token` (unless it is no_token).
    [[nodiscard]] virtual result<message_id> append(queue_id queue, const message_in& message,
                                                    std::uint64_t token) = 0;

    /// Removes messages for good (acknowledged, expired, dead-lettered, dropped):
    /// once durable they are never recovered. Unknown ids are ignored.
    [[nodiscard]] virtual result<void> ack(queue_id queue, std::span<const message_id> ids,
                                           std::uint64_t token) = 0;

    /// Counts one delivery of each message, so that recovery can set
    /// redelivered:true (and max-delivery limits survive a restart). To be
    /// exact across a crash, deliver after this completes; delivering at once
    /// only risks a missing redelivered flag after a crash.
    [[nodiscard]] virtual result<void> mark_delivered(queue_id queue,
                                                      std::span<const message_id> ids,
                                                      std::uint64_t token) = 0;

    /// Reads, in id order, the pending messages of `queue` with id >= `from`
    /// and hands them to `done` on the reader thread. Only messages whose
    /// append has completed are guaranteed to be found.
    virtual void read(queue_id queue, message_id from, read_limits limits, read_handler done) = 0;

    /// Creates or replaces the durable subscription `record.name`.
    [[nodiscard]] virtual result<void> put_subscription(const subscription_record& record,
                                                        done_handler done) = 0;

    /// Removes the durable subscription `name` (not its queue: delete_queue()).
    [[nodiscard]] virtual result<void> remove_subscription(std::string_view name,
                                                           done_handler done) = 0;

    /// The durable subscriptions as they stand (recovered plus changes since).
    virtual std::vector<subscription_record> subscriptions() const = 0;

    virtual store_stats stats() const = 0;
};

}  // namespace stampede::storage
