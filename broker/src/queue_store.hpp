#pragma once

// The messages a queue holds that no consumer has: the ready ones by
// priority (FIFO within a priority, with routing::priority_list's bound on
// starvation), the delayed ones until they are due, and the deadlines of
// both. Pure bookkeeping: no actor, no clock (the caller passes the time in
// epoch ms), so that it can be tested alone and a journal can sit beside it.
// The queue actor keeps what is in flight to consumers.
//
// Layout. Each message lives in a slot of one array (reused through a free
// list); the ready list and the timer heap hold slot numbers, so a message is
// never copied between them. A timer entry names (slot, generation): when a
// slot is freed its generation moves on and its old entries go stale, to be
// skipped when they fire. A message that expires while ready leaves its
// message at once (its bytes and count go) but its slot stays in the ready
// list as a tombstone until it is reached or swept. Stale timers and
// tombstones are swept when they outnumber the live entries, so both cost
// O(1) amortized and neither grows without bound.
//
// Order. Within a priority the ready list is kept in ascending sequence
// order: new messages take the next sequence at the back; a delayed message
// takes its sequence when it becomes ready (it joins the back, as if sent
// then); a message put back (NACK, consumer gone) keeps its sequence and goes
// back to its place. That order is what lets a browser resume after the last
// message it saw.

#include <cstdint>
#include <optional>
#include <vector>

#include "message.hpp"
#include "stampede/routing/priority_list.hpp"
#include "stampede/routing/timer_queue.hpp"

namespace stampede::broker {

using epoch_ms = std::int64_t;

/// One message of a queue with what the queue knows of it.
struct stored_message {
    message_ptr msg;
    std::uint64_t sequence = 0;    ///< ready order; the key of its delivery
    std::uint32_t deliveries = 0;  ///< how often it has been delivered
    std::uint64_t journal_id = 0;  ///< its record in the journal (durable.hpp); 0: memory only
};

class queue_store {
  public:
    struct options {
        bool priorities = true;  ///< false: one FIFO, whatever the priority headers say
        std::uint32_t starvation_limit = 16;
        std::size_t max_scan = 1000;  ///< take_if() looks at most this many messages
    };

    /// Where browsing has got to: browse() resumes after it.
    struct cursor {
        std::uint8_t level = 9;
        std::uint64_t after = 0;   ///< the last sequence seen on `level`
        std::uint64_t before = 0;  ///< only messages ready before the browse began
        bool done = false;
    };

    explicit queue_store(options o);

    /// Adds a message accepted at `now`: ready at once with the next sequence,
    /// or held until its deliver_at.
    void add(message_ptr msg, epoch_ms now, std::uint64_t journal_id = 0,
             std::uint32_t deliveries = 0);

    /// Puts back a message that was delivered (refused, or its consumer went
    /// away): ready again, ahead of every message of its priority that became
    /// ready after it.
    void put_back(stored_message item);

    /// The next ready message by priority. Expired messages met on the way are
    /// moved to `expired`. nullopt: nothing ready.
    std::optional<stored_message> take(epoch_ms now, std::vector<stored_message>& expired);

    /// The first ready message, highest priority first and FIFO within one,
    /// for which `wanted(const message&)` holds (a consumer's selector),
    /// looking at no more than options.max_scan messages. `exhausted` is set
    /// when every ready message was looked at (so none was missed).
    template <class Wanted>
    std::optional<stored_message> take_if(Wanted&& wanted, epoch_ms now,
                                          std::vector<stored_message>& expired, bool& exhausted);

    /// Makes the delayed messages due at `now` ready and takes out those that
    /// have expired (into `expired`), handling at most `limit` timer entries.
    /// Returns how many became ready.
    std::size_t advance(epoch_ms now, std::vector<stored_message>& expired,
                        std::size_t limit = SIZE_MAX);

    /// When advance() has something to do next, or nullopt. May be early (a
    /// timer of a message that has left since): advance() then does nothing.
    std::optional<epoch_ms> next_deadline() const noexcept { return timers_.next_deadline(); }

    /// Drop-head overflow: takes out the oldest ready message of the lowest
    /// priority; nullopt when nothing is ready (delayed messages are not
    /// dropped).
    std::optional<stored_message> drop_oldest();

    /// Takes out every message, ready and delayed.
    std::vector<stored_message> take_all();

    /// A cursor over the messages ready now.
    cursor browse_start() const noexcept { return {9, 0, next_sequence_, false}; }

    /// Calls `fn(const stored_message&)` for the ready messages after `c`
    /// (highest priority first, FIFO within one, only those ready when the
    /// browse began) until it has returned true `max` times, and moves `c`
    /// past those it was called for; sets c.done when there are no more.
    /// A false from `fn` means the message was passed over; `fn` stops the
    /// page early by passing over everything.
    template <class Fn>
    void browse(cursor& c, std::size_t max, Fn&& fn) const;

    /// Messages held: ready and delayed.
    std::size_t size() const noexcept { return ready_count_ + scheduled_count_; }
    bool empty() const noexcept { return size() == 0; }
    std::size_t ready() const noexcept { return ready_count_; }
    std::size_t scheduled() const noexcept { return scheduled_count_; }
    /// Footprint of the messages held.
    std::size_t bytes() const noexcept { return bytes_; }
    /// Footprint of the ready messages (held less delayed).
    std::size_t ready_bytes() const noexcept { return bytes_ - scheduled_bytes_; }
    /// Entries of the internal structures, live or not (tests and statistics).
    std::size_t timer_entries() const noexcept { return timers_.size(); }
    std::size_t tombstones() const noexcept { return dead_count_; }

  private:
    enum class slot_state : std::uint8_t { free, scheduled, ready, dead };
    struct slot {
        stored_message item;
        std::uint32_t generation = 0;
        std::uint8_t level = 0;
        slot_state state = slot_state::free;
        bool timed = false;  ///< has a live entry in timers_
    };
    struct timer_ref {
        std::uint32_t slot = 0;
        std::uint32_t generation = 0;
    };

    std::uint8_t level_of(const message& m) const noexcept {
        return options_.priorities ? std::min<std::uint8_t>(m.priority(), 9) : 0;
    }
    std::uint32_t allocate(stored_message item);
    void release(std::uint32_t index) noexcept;
    void make_ready(std::uint32_t index);
    void insert_ordered(std::uint32_t index);
    void schedule(std::uint32_t index, epoch_ms when);
    void untime(slot& s) noexcept;
    /// A ready slot found expired: its message goes to `expired`, it stays a tombstone.
    void kill(std::uint32_t index, std::vector<stored_message>& expired);
    /// Takes a ready slot's message out and frees the slot (it has left the ready list).
    stored_message take_slot(std::uint32_t index);
    /// As take_slot, for a message found expired: it goes to `expired`.
    void expire_taken(std::uint32_t index, std::vector<stored_message>& expired);
    void fire(const timer_ref& t, epoch_ms now, std::vector<stored_message>& expired,
              std::size_t& made_ready);
    void sweep_if_needed();
    /// Frees the slot vectors of a drained store that grew past a floor.
    void shrink_if_drained();
    /// The index in level `level` of the first element whose sequence is above `after`.
    std::size_t first_after(std::uint8_t level, std::uint64_t after) const;

    options options_;
    std::vector<slot> slots_;
    std::vector<std::uint32_t> free_slots_;
    routing::priority_list<std::uint32_t> ready_list_;
    routing::timer_queue<timer_ref> timers_;
    std::size_t live_timers_ = 0;
    std::size_t ready_count_ = 0;
    std::size_t scheduled_count_ = 0;
    std::size_t dead_count_ = 0;
    std::size_t bytes_ = 0;
    std::size_t scheduled_bytes_ = 0;  ///< of bytes_, the delayed messages'
    std::uint64_t next_sequence_ = 1;
};

template <class Wanted>
std::optional<stored_message> queue_store::take_if(Wanted&& wanted, epoch_ms now,
                                                   std::vector<stored_message>& expired,
                                                   bool& exhausted) {
    std::size_t scanned = 0;
    exhausted = false;
    for (int p = 9; p >= 0; --p) {
        const auto level = static_cast<std::uint8_t>(p);
        for (std::size_t i = 0; i < ready_list_.size(level);) {
            const std::uint32_t index = ready_list_.at(level, i);
            if (slots_[index].state == slot_state::dead) {
                ready_list_.take_at(level, i);  // a tombstone met on the way goes now
                --dead_count_;
                release(index);
                continue;
            }
            if (scanned++ == options_.max_scan) {
                return std::nullopt;
            }
            const message& m = *slots_[index].item.msg;
            if (m.expired(now)) {
                ready_list_.take_at(level, i);
                expire_taken(index, expired);
                continue;
            }
            if (wanted(m)) {
                ready_list_.take_at(level, i);
                return take_slot(index);
            }
            ++i;
        }
    }
    exhausted = true;
    return std::nullopt;
}

template <class Fn>
void queue_store::browse(cursor& c, std::size_t max, Fn&& fn) const {
    std::size_t given = 0;
    std::size_t passed_budget = max * 64 + 1024;  // messages passed over, per page
    while (!c.done && given < max) {
        const std::uint8_t level = c.level;
        const std::size_t n = ready_list_.size(level);
        std::size_t i = first_after(level, c.after);
        for (; i < n && given < max; ++i) {
            const slot& s = slots_[ready_list_.at(level, i)];
            if (s.item.sequence >= c.before) {
                i = n;  // the rest became ready after the browse began
                break;
            }
            if (s.state == slot_state::ready && !fn(std::as_const(s.item))) {
                if (passed_budget-- == 0) {
                    return;  // c stays before this message: the next page starts here
                }
            } else if (s.state == slot_state::ready) {
                ++given;
            }
            c.after = s.item.sequence;
        }
        if (i >= n) {
            if (c.level == 0) {
                c.done = true;
            } else {
                --c.level;
                c.after = 0;
            }
        }
    }
}

}  // namespace stampede::broker
