#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "message.hpp"

namespace stampede::broker {

/// What an outbound entry is, for policies that treat them differently.
enum class entry_kind : std::uint8_t {
    control,        ///< CONNECTED, RECEIPT, ERROR, heart-beats: never dropped
    topic_message,  ///< a MESSAGE from a topic: the one kind a slow consumer may lose
    queue_message,  ///< a MESSAGE from a queue: never dropped (the queue keeps it unacked)
};

/// One frame in the queue.
struct outbound_entry {
    std::uint32_t size = 0;         ///< bytes of the frame on the wire
    std::uint32_t inline_size = 0;  ///< of which in the queue's buffer; the rest is body_ and a NUL
    entry_kind kind = entry_kind::control;
    std::uint64_t slot = 0;      ///< subscription slot (0: none)
    std::uint64_t sequence = 0;  ///< queue: its sequence (auto-ack settles); topic: delivery number
    message_ptr body;            ///< shared fan-out: the body goes out from the message itself
};

/// A growable byte buffer that, unlike std::vector<char>, does not zero what
/// it grows into: every byte is about to be overwritten by a serializer.
class byte_buffer {
  public:
    char* data() noexcept { return data_.get(); }
    const char* data() const noexcept { return data_.get(); }
    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return capacity_; }
    bool empty() const noexcept { return size_ == 0; }

    /// Appends `n` bytes of room and returns where they start.
    char* append(std::size_t n);
    /// Keeps the first `n` bytes.
    void truncate(std::size_t n) noexcept { size_ = n < size_ ? n : size_; }
    void clear() noexcept { size_ = 0; }
    void swap(byte_buffer& other) noexcept;
    /// Frees the memory.
    void release() noexcept;

  private:
    std::unique_ptr<char[]> data_;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

/// The bytes queued for one connection's writer, in order: frames in one
/// contiguous buffer (or, in shared fan-out, their headers there and their
/// bodies referenced), plus their boundaries. Frames are serialized straight
/// into it; the writer takes everything at once and writes it with one call.
/// Owned by one session, on its scheduler.
class outbound_queue {
  public:
    /// Room for `size` bytes at the end; fill all of it, then commit() an
    /// entry whose inline_size is `size`. Valid until the next call.
    std::span<char> reserve(std::size_t size);
    void commit(outbound_entry entry);

    /// Queues a frame already in serialized form.
    void push(std::string_view bytes, entry_kind kind);

    std::size_t bytes() const noexcept { return bytes_; }
    /// Bytes of the entries of one kind.
    std::size_t bytes_of(entry_kind kind) const noexcept {
        return kind_bytes_[static_cast<std::size_t>(kind)];
    }
    std::size_t frames() const noexcept { return entries_.size(); }
    bool empty() const noexcept { return entries_.empty(); }

    /// Moves every queued frame into `bytes` and `entries` (which must be
    /// empty) and leaves the queue empty.
    void take(byte_buffer& bytes, std::vector<outbound_entry>& entries);

    /// Drops the oldest entries for which `droppable` holds until at most
    /// `target` bytes remain (or none can be dropped); returns them.
    std::vector<outbound_entry> drop_oldest(
        const std::function<bool(const outbound_entry&)>& droppable, std::size_t target);

    /// Below this an empty queue's allocations are worth keeping for the next burst.
    static constexpr std::size_t burst_keep = 16 * 1024;

    /// Frees the allocations of an empty queue that are larger than `keep`
    /// bytes: `burst_keep` after a burst, 0 for a connection gone idle.
    void release_memory(std::size_t keep = burst_keep) noexcept;

  private:
    byte_buffer buffer_;
    std::vector<outbound_entry> entries_;  // (a deque would allocate even when empty)
    std::size_t bytes_ = 0;
    std::size_t kind_bytes_[3] = {0, 0, 0};
};

/// The iovecs that write `entries` taken with `bytes`: inline runs merged,
/// shared bodies and their NULs in between. `out` is cleared first.
void gather_iovecs(const byte_buffer& bytes, const std::vector<outbound_entry>& entries,
                   std::vector<iovec>& out);

/// True if any entry refers to a shared body (and so needs writev).
bool has_shared_bodies(const std::vector<outbound_entry>& entries) noexcept;

}  // namespace stampede::broker
