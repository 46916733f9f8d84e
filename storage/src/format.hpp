#pragma once

// The journal's on-disk format. A segment file is a sequence of records, each
// 8-byte aligned:
//
//   u64 checksum   XXH3_64bits of everything after it: the rest of the header and the payload
//   u32 length     payload bytes (the record occupies align8(24 + length) bytes)
//   u8  type       record_type
//   u8  version    format_version
//   u16 reserved   zero
//   u64 seq        strictly increasing across the whole journal
//   payload        little-endian fields, below
//
// A zero header (type 0) marks the end of written data (segments are
// preallocated, so they read as zeros past it). A record whose seq is not
// above its predecessor's is stale (left by a failed or torn write that was
// later overwritten) and also ends the data. Every write batch starts with a
// batch_start record carrying the highest seq known to be durable then, which
// is how recovery tells a torn tail (never confirmed) from damage to records
// that had been confirmed.

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace stampede::storage::detail {

static_assert(std::endian::native == std::endian::little, "the journal format is little-endian");

enum class record_type : std::uint8_t {
    segment_start = 1,  // u64 magic, u32 segment number, u32 segment bytes
    batch_start = 2,    // u64 synced_through
    seal = 3,           // u32 next segment number: nothing follows in this segment
    queue_declare = 10, // u32 queue, u64 next_id, u16 name length, name
    queue_delete = 11,  // u32 queue, u32 n, n x u32 segment that held its records
    message = 20,       // see message_layout
    ack = 21,           // u32 queue, u32 n, n x (u64 id, u32 segment of its message)
    delivered = 22,     // same layout as ack: one delivery each
    subscription_put = 30,     // u32 queue, u16 name, u16 destination, u32 selector lengths, bytes
    subscription_remove = 31,  // u32 segment of the put it cancels, u16 name length, name
};

inline constexpr std::uint8_t format_version = 1;
inline constexpr std::size_t header_size = 24;
inline constexpr std::uint64_t segment_magic = 0x314e52'4a504d'5453ull;  // "STMPJRN1"
/// Records are at most this big (the index packs a record's size in 24 bits).
inline constexpr std::size_t max_record_size = (1u << 24) - 8;

/// Message payload: u32 queue, u64 id, u8 priority, 3 pad, u32 deliveries,
/// i64 expires_at_ms, i64 deliver_at_ms, u32 headers length, headers, body.
struct message_layout {
    static constexpr std::size_t queue = 0;
    static constexpr std::size_t id = 4;
    static constexpr std::size_t priority = 12;
    static constexpr std::size_t deliveries = 16;
    static constexpr std::size_t expires = 20;
    static constexpr std::size_t deliver_at = 28;
    static constexpr std::size_t headers_length = 36;
    static constexpr std::size_t fixed = 40;
};

/// Entry of an ack or delivered record after its u32 queue and u32 count.
inline constexpr std::size_t ref_entry_size = 12;
inline constexpr std::size_t ref_header_size = 8;

constexpr std::size_t align8(std::size_t n) noexcept {
    return (n + 7) & ~std::size_t{7};
}
/// Bytes a record with `payload` bytes occupies.
constexpr std::size_t record_size(std::size_t payload) noexcept {
    return align8(header_size + payload);
}

template <class T>
T load(const char* p) noexcept {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
template <class T>
void store(char* p, T v) noexcept {
    std::memcpy(p, &v, sizeof v);
}

/// Writes a whole record at `dst` (record_size(payload.size()) bytes, zero
/// padded) with its checksum.
void encode_record(char* dst, record_type type, std::uint64_t seq, std::string_view payload);

/// Recomputes the checksum of the record at `p` after its payload was patched.
void reseal_record(char* p) noexcept;

struct record_view {
    record_type type{};
    std::uint64_t seq = 0;
    std::string_view payload;
    std::size_t size = 0;  ///< aligned bytes the record occupies
};

enum class parse_status {
    ok,
    end,  ///< a zero header: no data from here on
    bad,  ///< not a valid record (torn, flipped, garbage)
};

/// Parses the record at the start of `region`, verifying its checksum when
/// `verify` (compaction and reads of records this process wrote may skip it).
parse_status parse_record(std::string_view region, record_view& out, bool verify = true) noexcept;

bool known_type(std::uint8_t type) noexcept;

/// Appends little-endian fields to a payload.
class payload_writer {
  public:
    explicit payload_writer(std::string& out) : out_(out) {}
    template <class T>
    void put(T v) {
        char b[sizeof v];
        std::memcpy(b, &v, sizeof v);
        out_.append(b, sizeof v);
    }
    void bytes(std::string_view s) { out_.append(s); }

  private:
    std::string& out_;
};

/// Reads little-endian fields from a payload; every read is bounds-checked and
/// a failed one leaves ok() false.
class payload_reader {
  public:
    explicit payload_reader(std::string_view in) : in_(in) {}
    template <class T>
    T get() noexcept {
        if (!ok_ || in_.size() - pos_ < sizeof(T)) {
            ok_ = false;
            return T{};
        }
        T v = load<T>(in_.data() + pos_);
        pos_ += sizeof(T);
        return v;
    }
    std::string_view bytes(std::size_t n) noexcept {
        if (!ok_ || in_.size() - pos_ < n) {
            ok_ = false;
            return {};
        }
        std::string_view v = in_.substr(pos_, n);
        pos_ += n;
        return v;
    }
    std::string_view rest() noexcept { return bytes(in_.size() - pos_); }
    bool ok() const noexcept { return ok_; }

  private:
    std::string_view in_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

/// "journal-00000042.seg"
std::string segment_file_name(std::uint32_t number);
/// The number in a segment file name, or 0 if `name` is not one.
std::uint32_t parse_segment_file_name(std::string_view name) noexcept;

}  // namespace stampede::storage::detail
