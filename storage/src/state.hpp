#pragma once

// The journal's in-memory picture of its records: where each pending message
// is, how much of each segment is still needed, and which segments must
// outlive which. Recovery builds it by applying every record in journal
// order; at run time the writer thread applies each run of records right
// after writing it, by the same apply(). Readers take the journal's index
// lock; only the writer thread mutates.

#include <array>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>

#include "format.hpp"
#include "stampede/storage/store.hpp"

namespace stampede::storage::detail {

/// Where a record is: segment number (0: nowhere), byte offset, aligned size.
struct location {
    std::uint32_t segment = 0;
    std::uint32_t offset = 0;
    std::uint32_t size = 0;
};

/// One pending message's place in the journal, 12 bytes: the index holds one
/// per message, so a queue far larger than memory costs 12 bytes a message.
struct slot {
    std::uint32_t segment = 0;  // 0: no message under this id
    std::uint32_t offset = 0;
    std::uint32_t packed = 0;   // record size (low 24 bits) | deliveries (high 8, saturating)

    static slot make(location where, std::uint32_t deliveries) noexcept {
        const std::uint32_t d = deliveries > 255 ? 255 : deliveries;
        return {where.segment, where.offset, (where.size & 0xffffffu) | (d << 24)};
    }
    bool live() const noexcept { return segment != 0; }
    std::uint32_t size() const noexcept { return packed & 0xffffffu; }
    std::uint32_t deliveries() const noexcept { return packed >> 24; }
    void add_delivery() noexcept {
        if (deliveries() < 255) {
            packed += 1u << 24;
        }
    }
    location where() const noexcept { return {segment, offset, size()}; }
};

/// An open segment file; closed when the last holder lets go, so a reader
/// can finish a pread on a segment that compaction has just unlinked.
class segment_file {
  public:
    segment_file(int fd, std::uint32_t number, std::filesystem::path path)
        : fd_(fd), number_(number), path_(std::move(path)) {}
    ~segment_file();
    segment_file(const segment_file&) = delete;
    segment_file& operator=(const segment_file&) = delete;

    int fd() const noexcept { return fd_; }
    std::uint32_t number() const noexcept { return number_; }
    const std::filesystem::path& path() const noexcept { return path_; }

  private:
    int fd_;
    std::uint32_t number_;
    std::filesystem::path path_;
};

struct segment_info {
    std::uint32_t number = 0;
    std::shared_ptr<segment_file> file;
    std::uint64_t used = 0;   ///< bytes of valid data from the start of the file
    std::uint64_t live = 0;   ///< bytes of records still needed (messages, declarations, subscriptions)
    bool sealed = false;      ///< ends with a seal record
    bool damaged = false;     ///< recovery found unreadable records: kept for the operator
    bool missing = false;     ///< listed in the manifest, file gone: kept listed, never read
    bool superseded = false;  ///< holds records copied elsewhere: compact it first
    std::set<queue_id> queues;  ///< queues with any record here (the manifest keeps this)
    /// Segments this one's references point into (ack, delivered, deletions),
    /// with counts: while such a segment exists, those references must survive.
    std::map<std::uint32_t, std::uint32_t> deps;
};

/// The slots of one queue by id, in chunks of 1,024 ids: a chunk whose
/// messages are all gone is freed, so one old message stuck at the head of a
/// busy queue pins 8 bytes per 1,024 ids, not 12 bytes per id.
class slot_table {
  public:
    static constexpr std::size_t chunk_slots = 1024;

    slot* find(message_id id) noexcept;
    const slot* find(message_id id) const noexcept;
    /// Sets the slot of `id` (live), growing at either end as needed.
    void put(message_id id, slot s);
    /// Clears the slot of `id`; returns what was there (dead if nothing).
    slot erase(message_id id) noexcept;
    /// The lowest live id >= `from`, or 0 if none.
    message_id next_live(message_id from) const noexcept;
    void clear() noexcept { chunks_.clear(); }

  private:
    struct chunk {
        std::array<slot, chunk_slots> slots{};
        std::uint32_t live = 0;
    };
    std::uint64_t first_ = 0;  // chunk number of chunks_.front()
    std::deque<std::unique_ptr<chunk>> chunks_;
};

struct queue_state {
    queue_id id = 0;
    std::string name;
    location declare;          ///< its queue_declare record
    message_id next_id = 1;    ///< above every id applied
    slot_table slots;
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
    bool quarantined = false;
    std::string reason;
};

struct subscription_state {
    subscription_record record;
    location where;
};

class journal_state {
  public:
    std::map<std::uint32_t, segment_info> segments;
    std::unordered_map<queue_id, queue_state> queues;
    std::unordered_map<std::string, queue_id> names;
    std::map<std::string, subscription_state> subscriptions;
    queue_id next_queue = 1;
    std::uint64_t live_bytes = 0;
    std::uint64_t live_messages = 0;

    /// Applies record `r` found at `where`: the one code path for recovery and
    /// for the writer. False if its payload is malformed (nothing applied).
    bool apply(const record_view& r, location where);

    /// Forgets segment `number` (deleted): references into it no longer matter.
    void drop_segment(std::uint32_t number);

    queue_state* find_queue(queue_id id) noexcept;
    const queue_state* find_queue(queue_id id) const noexcept;
    bool segment_exists(std::uint32_t number) const noexcept {
        return number != 0 && segments.contains(number);
    }

    /// Liveness of the record at `where`, as compaction asks it.
    bool message_live_at(queue_id queue, message_id id, location where) const noexcept;
    bool declare_live_at(queue_id queue, location where) const noexcept;
    bool subscription_live_at(std::string_view name, location where) const noexcept;

  private:
    bool apply_declare(std::string_view payload, location where, segment_info* seg);
    bool apply_delete(std::string_view payload, location where, segment_info* seg);
    bool apply_message(std::string_view payload, location where, segment_info* seg);
    bool apply_refs(std::string_view payload, location where, segment_info* seg, bool ack);
    bool apply_subscription_put(std::string_view payload, location where, segment_info* seg);
    bool apply_subscription_remove(std::string_view payload, location where, segment_info* seg);
    void add_live(location where) noexcept;
    void remove_live(location where) noexcept;
    void add_dep(segment_info* seg, std::uint32_t target);
    queue_state& queue_for_record(queue_id id);
};

}  // namespace stampede::storage::detail
