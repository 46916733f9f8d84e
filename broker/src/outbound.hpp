#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace stampede::broker {

/// What an outbound entry is, for policies that treat them differently.
enum class entry_kind : std::uint8_t {
    control,        ///< CONNECTED, RECEIPT, ERROR, heart-beats: never dropped
    topic_message,  ///< a MESSAGE from a topic: the one kind a slow consumer may lose
    queue_message,  ///< a MESSAGE from a queue: never dropped (the queue keeps it unacked)
};

/// One frame in the queue; `slot` and `sequence` say which queue delivery it
/// was, so that an auto-ack delivery can be settled once it is written.
struct outbound_entry {
    std::uint32_t size = 0;
    entry_kind kind = entry_kind::control;
    std::uint32_t slot = 0;  ///< subscription slot (0: none)
    std::uint64_t sequence = 0;
};

/// The bytes queued for one connection's writer, in order: contiguous frames
/// plus their boundaries. Frames are serialized straight into it (one copy per
/// delivery); the writer takes everything at once and writes it in one call.
/// Owned by one session, on its scheduler.
class outbound_queue {
  public:
    /// Room for a frame of exactly `size` bytes at the end; fill all of it,
    /// then commit(). Valid until the next call on this queue.
    std::span<char> reserve(std::size_t size);
    void commit(outbound_entry entry);

    /// Queues a frame already in serialized form.
    void push(std::string_view bytes, entry_kind kind);

    std::size_t bytes() const noexcept { return bytes_; }
    std::size_t frames() const noexcept { return entries_.size(); }
    bool empty() const noexcept { return entries_.empty(); }

    /// Moves every queued frame into `bytes` and `entries` (which must be
    /// empty) and leaves the queue empty.
    void take(std::vector<char>& bytes, std::vector<outbound_entry>& entries);

    /// Gives memory back when the queue has drained after a burst.
    void release_memory() noexcept;

  private:
    std::vector<char> buffer_;
    std::vector<outbound_entry> entries_;  // (a deque would allocate even when empty)
    std::size_t bytes_ = 0;
};

}  // namespace stampede::broker
