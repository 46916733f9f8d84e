#pragma once

// Queues larger than memory (issue 10): the bookkeeping of a durable queue's
// messages that are kept in the journal only ("paged out"). Pure: no actor,
// no journal, no clock, so that it can be tested alone; the queue actor
// (queue_paging.cpp) does the I/O and follows what this says.
//
// The shape is a paged tail, after ActiveMQ Artemis's paging: once a queue's
// messages in memory would pass its budget, every later persistent message
// goes to the journal only, in arrival order, and the queue remembers no
// more of them than where the tail starts, how many there are and roughly
// how many bytes. Journal ids grow with arrival, and a journal read returns
// a queue's pending messages in id order from a given id, so the tail costs
// the queue nothing per message: the journal's own index (12 bytes a
// message, storage/src/state.hpp) is the only per-message memory. The tail
// is read back, a chunk at a time, whenever the ready messages in memory
// leave room for a chunk under the budget: ahead of the consumers, so that a
// delivery does not wait for a read.
//
// What a tail costs in semantics (NOTES.md says it too): paged messages are
// ordered among themselves by arrival, not by priority (priority orders the
// messages in memory); their expiry is seen when they are read back; browsers
// and selectors see only the messages in memory; a non-persistent message,
// which cannot be paged, can overtake the tail.
//
// Reads and writes race: a read finds only messages whose append has
// completed. A read that finds nothing though the tail is not empty waits for
// the next journal completion of the queue (wake()), never for a timer.

#include <cstddef>
#include <cstdint>
#include <optional>

#include "stampede/storage/store.hpp"

namespace stampede::broker {

class queue_pager {
  public:
    /// A read to issue: `from` is the first id wanted.
    struct read_plan {
        storage::message_id from = 0;
        storage::read_limits limits;
    };

    /// `budget`: bytes of messages the queue keeps in memory; 0 never pages.
    explicit queue_pager(std::size_t budget) noexcept : budget_(budget) {}

    std::size_t budget() const noexcept { return budget_; }
    /// Messages in the tail (on disk only), and their bytes (approximate
    /// after a restart: the journal's record bytes).
    std::uint64_t count() const noexcept { return count_; }
    std::uint64_t bytes() const noexcept { return bytes_; }
    bool empty() const noexcept { return count_ == 0; }
    /// Whether nothing is under way: no tail and no read in flight.
    bool idle() const noexcept { return count_ == 0 && !reading_; }

    /// Whether a persistent message of `size` bytes, arriving while the
    /// queue holds `resident` bytes in memory, goes to the tail: when the
    /// tail is not empty (arrival order), or when it would pass the budget.
    bool should_page(std::size_t resident, std::size_t size) const noexcept {
        return budget_ != 0 && (count_ > 0 || resident + size > budget_);
    }

    /// Message `id` (appended to the journal) joins the tail.
    void page_out(storage::message_id id, std::size_t size) noexcept;

    /// Start-up: `count` recovered messages from id `from` on, `size` bytes
    /// in all, are in the journal only. Ids below `recovered_below` were
    /// recovered (they come back marked redelivered).
    void restore(storage::message_id from, std::uint64_t count, std::uint64_t size,
                 storage::message_id recovered_below) noexcept;
    storage::message_id recovered_below() const noexcept { return recovered_below_; }

    /// The read to issue now, if any: none while one is in flight, while the
    /// tail is empty or waits for a write, or while the `ready_resident`
    /// bytes in memory leave no room for a chunk under the budget (unless
    /// `drain`: a purge reads whatever the budget says). Marks the read in
    /// flight.
    std::optional<read_plan> next_read(std::size_t ready_resident, bool drain = false) noexcept;

    /// The read came back. Each message found is passed to take(id, size)
    /// in id order; take() returns false for a message that is not part of
    /// the tail (to be left alone). Then read_finished(), `failed` when the
    /// read itself failed (it is tried again at the next completion).
    bool take(storage::message_id id, std::size_t size) noexcept;
    void read_finished(bool failed) noexcept;

    /// A journal completion of the queue arrived (any of its writes is done).
    /// True when a read should be tried again now.
    bool wake() noexcept;
    /// Whether a completion is awaited (a read is in flight or found nothing).
    bool wants_wake() const noexcept { return reading_ || waiting_; }

    /// The read-back chunk for a budget: a quarter of it, within 64 KiB-4 MiB.
    static storage::read_limits chunk_for(std::size_t budget) noexcept;

  private:
    std::size_t budget_;
    std::uint64_t count_ = 0;
    std::uint64_t bytes_ = 0;
    storage::message_id next_ = 0;     ///< the first id of the tail
    storage::message_id recovered_below_ = 0;
    std::uint64_t taken_in_read_ = 0;  ///< messages the read in flight has given
    bool reading_ = false;
    bool waiting_ = false;   ///< the last read found nothing: wait for a write
    bool woken_ = false;     ///< a completion came while a read was in flight
};

}  // namespace stampede::broker
