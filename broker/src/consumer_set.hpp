#pragma once

// A queue's competing consumers and the choice of who gets the next message:
// pure bookkeeping, no I/O, so the fairness rule can be tested alone.
//
// The rule: among the consumers with room (under their prefetch count and
// their unacknowledged byte limit), the one that has been given the fewest
// messages; ties go to the one that has waited longest. And no consumer gets
// more than two prefetch windows ahead of the least served *active* consumer
// (one with room, or that settled something within the last `active_window`):
// a consumer whose acknowledgements come back a little later (across a
// scheduler hop) keeps its share of a burst instead of losing it to those on
// the queue's own scheduler. A consumer that stops settling stops counting
// after active_window, so it can hold the others back for that long at most.

#include <chrono>
#include <cstdint>
#include <optional>
#include <queue>
#include <unordered_map>
#include <vector>

#include "actors.hpp"

namespace stampede::broker {

struct consumer_key_hash {
    std::size_t operator()(const consumer_key& k) const noexcept {
        return std::hash<std::uint64_t>{}(k.session * 0x9e3779b97f4a7c15ull ^ k.slot);
    }
};

struct queue_consumer {
    consumer_key key;
    runtime::actor_ref<session_actor> session;
    ack_mode mode = ack_mode::automatic;
    std::size_t prefetch = 1;
    std::size_t in_flight = 0;        ///< delivered, not yet settled
    std::size_t in_flight_bytes = 0;  ///< their footprint
    std::uint64_t given = 0;          ///< messages given, for the fairness rule
    std::chrono::steady_clock::time_point last_settled{};
    runtime::monitor_id monitor = 0;
    selector_ptr selector;   ///< takes only the messages it selects (null: any)
    bool exclusive = false;  ///< activemq.exclusive: everything while it is the first one
    /// Waiting for a message its selector takes: has no room until unparked.
    bool parked = false;
    /// It parked after looking at every ready message (so only a new message
    /// it selects can help), rather than after queues.selector_scan of them.
    bool parked_exhaustive = false;
    std::uint64_t parked_mark = 0;  ///< the queue's count of messages taken when it parked
};

class consumer_set {
  public:
    /// `max_in_flight_bytes` bounds each consumer's unsettled bytes (at least
    /// one message is always allowed, however large).
    using clock = std::chrono::steady_clock;

    consumer_set(std::size_t max_in_flight_bytes, clock::duration active_window) noexcept
        : max_in_flight_bytes_(max_in_flight_bytes), active_window_(active_window) {}

    /// Adds a consumer. It starts level with the least-served one, so a late
    /// joiner is neither flooded nor starved.
    queue_consumer& add(queue_consumer c);
    void remove(const consumer_key& key);
    queue_consumer* find(const consumer_key& key);

    /// The consumer the next message goes to at `now`, or null if none has
    /// room or all with room are a window ahead (then `held_for_fairness()`;
    /// try again after the next settle, or active_window at the latest).
    queue_consumer* pick(clock::time_point now);
    bool held_for_fairness() const noexcept { return held_; }
    clock::duration active_window() const noexcept { return active_window_; }

    /// `c` was given a message of `bytes`.
    void given(queue_consumer& c, std::size_t bytes);
    /// One of `c`'s messages of `bytes` was settled at `now` (acknowledged,
    /// written for auto-ack, or refused).
    void settled(queue_consumer& c, std::size_t bytes, clock::time_point now);

    bool has_room(const queue_consumer& c) const noexcept;

    /// `c` found nothing it selects: it takes no turn until unpark().
    void park(queue_consumer& c, bool exhaustive) noexcept;
    /// A message `c` may select has become ready: it queues for its turn again.
    void unpark(queue_consumer& c);
    std::size_t size() const noexcept { return consumers_.size(); }
    bool empty() const noexcept { return consumers_.empty(); }

    /// The keys of the consumers watched by monitor `id` (a session that ended).
    std::vector<consumer_key> watched_by(runtime::monitor_id id) const;

  private:
    struct turn {
        std::uint64_t given;
        std::uint64_t order;  ///< when it was queued: earlier first among equals
        consumer_key key;
        bool operator>(const turn& o) const noexcept {
            return given != o.given ? given > o.given : order > o.order;
        }
    };

    void offer(const queue_consumer& c);
    std::uint64_t least_active_given(clock::time_point now) const;
    /// How far ahead of the least served active consumer `c` may get: two of
    /// its windows, so that a consumer on the queue's scheduler rarely waits.
    static std::uint64_t lead(const queue_consumer& c) noexcept { return 2 * c.prefetch; }

    std::size_t max_in_flight_bytes_;
    clock::duration active_window_;
    std::uint64_t floor_ = 0;  ///< the least active consumer's count, as last computed
    bool held_ = false;
    std::unordered_map<consumer_key, queue_consumer, consumer_key_hash> consumers_;
    /// Consumers with room, least served first. Entries go stale (a consumer
    /// served, full or gone since): pick() skips those.
    std::priority_queue<turn, std::vector<turn>, std::greater<>> turns_;
    std::uint64_t next_order_ = 0;
};

}  // namespace stampede::broker
