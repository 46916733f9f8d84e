#pragma once

// Counting what arrived: message ids, latency histograms, per-second series,
// completeness, loss and fairness. No I/O; the same arithmetic as
// benchmarks/driver/accounting.py, so both drivers' figures mean the same.

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace stampede::load {

using json = nlohmann::ordered_json;

__extension__ using uint128 = unsigned __int128;  // a sum of latencies cannot overflow

/// Writes `<stream>-<seq>;` padded with 'x' to `size` bytes (longer when the id
/// alone does not fit) at `out`, which must hold body_size(stream, seq, size).
std::size_t write_body(char* out, std::string_view stream, std::uint64_t seq, std::size_t size);

/// The length write_body() produces.
std::size_t body_size(std::string_view stream, std::uint64_t seq, std::size_t size);

/// A message id read from a body: `<stream>-<seq>;` within its first 64 bytes.
struct body_id {
    std::string_view stream;
    std::uint64_t seq = 0;
    bool operator==(const body_id&) const = default;
};

/// The id at the start of `body`, or nullopt when it has none.
std::optional<body_id> parse_body_id(std::string_view body) noexcept;

/// Splits `total` into `parts` counts differing by at most one, larger first.
std::vector<std::uint64_t> split_evenly(std::uint64_t total, std::size_t parts);

/// Nanosecond latencies in log-linear buckets (exact below 128, then 64 per
/// power of two): percentiles within 1.6%, maximum and mean exact. Mergeable.
class latency_histogram {
  public:
    void record(std::int64_t value);
    void merge(const latency_histogram& other);

    std::uint64_t count() const noexcept { return count_; }

    /// The bucket floor below which a fraction q of the samples fall; the
    /// exact maximum for q >= 1; nullopt when empty.
    std::optional<std::uint64_t> percentile(double q) const;

    /// The DRIVER.md latency object.
    json summary() const;

  private:
    std::vector<std::uint64_t> buckets_;  // grown to the largest bucket seen
    std::uint64_t count_ = 0;
    uint128 total_ = 0;
    std::uint64_t max_ = 0;
};

/// Counts per whole second since t0_ns; events before t0 count in second 0.
/// Until the origin is set (a receiver can see traffic before its worker
/// hears that the load started) events are counted, then folded into second
/// 0 by set_origin(), as the Python driver's PerSecond.rebase() does.
class per_second {
  public:
    void set_origin(std::int64_t t0_ns);
    void add(std::int64_t t_ns, std::uint64_t n = 1);
    const std::vector<std::uint64_t>& counts() const noexcept { return counts_; }

  private:
    std::optional<std::int64_t> t0_ns_;
    std::uint64_t early_ = 0;  // counted before there was an origin
    std::vector<std::uint64_t> counts_;
};

/// Element-wise sum of series of different lengths.
void add_into(std::vector<std::uint64_t>& sum, const std::vector<std::uint64_t>& series);

/// Which sequence numbers of which streams were seen, and how often (a count
/// per message saturating at 255), so the trackers of competing consumers
/// merge into one view of a queue.
class sequence_tracker {
  public:
    /// Counts one arrival; true the first time (stream, seq) is seen.
    bool record(std::string_view stream, std::uint64_t seq);
    void merge(const sequence_tracker& other);

    std::uint64_t total() const noexcept { return total_; }
    std::uint64_t distinct() const noexcept { return distinct_; }
    std::uint64_t duplicates() const noexcept { return total_ - distinct_; }

    /// Against what was sent (stream -> count, sequences 0..count-1): the
    /// ids never seen, and the distinct ids seen that were never sent.
    std::pair<std::uint64_t, std::uint64_t> check(
        const std::vector<std::pair<std::string, std::uint64_t>>& expected) const;

  private:
    // Sequences this large are kept in a set rather than a counter array.
    static constexpr std::uint64_t dense_limit = std::uint64_t{1} << 26;

    struct stream_counts {
        std::string name;
        std::vector<std::uint8_t> counts;
        std::unordered_map<std::uint64_t, std::uint8_t> sparse;
    };

    stream_counts& find(std::string_view stream);
    static bool bump(std::uint8_t& c) noexcept;

    std::vector<stream_counts> streams_;
    std::size_t last_ = 0;
    std::uint64_t total_ = 0;
    std::uint64_t distinct_ = 0;
};

/// The expected messages of a role: stream names `<prefix><i>` with counts.
using expectation = std::vector<std::pair<std::string, std::uint64_t>>;
expectation expected_streams(char prefix, const std::vector<std::uint64_t>& counts);
std::uint64_t expected_total(const expectation& expected);

/// What a subscriber's tracker says against the expectation.
struct subscriber_counts {
    std::uint64_t distinct = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t missing = 0;
    std::uint64_t unexpected = 0;
};
subscriber_counts counts_of(const sequence_tracker& t, const expectation& expected);

/// Fanout completeness over (subscriber index, counts): the DRIVER.md fields
/// expected_deliveries .. missing_by_subscriber and complete.
json completeness(const expectation& expected,
                  const std::vector<std::pair<std::size_t, subscriber_counts>>& subscribers);

/// Queue verdict over the union of the consumers: consumed, lost, duplicates, unexpected.
json queue_loss(const expectation& expected, const sequence_tracker& consumed);

/// fairness, share_min and share_max of the per-consumer counts.
json fairness(const std::vector<std::uint64_t>& counts);

/// `count / seconds`, or null when seconds is unknown or zero.
json rate(double count, const std::optional<double>& seconds);

/// Seconds from the earliest start to the latest end, ignoring unknowns.
std::optional<double> span_seconds(const std::vector<std::optional<std::int64_t>>& starts,
                                   const std::vector<std::optional<std::int64_t>>& ends);

/// An optional as JSON (null when empty).
template <class T>
json or_null(const std::optional<T>& v) {
    return v ? json(*v) : json(nullptr);
}

}  // namespace stampede::load
