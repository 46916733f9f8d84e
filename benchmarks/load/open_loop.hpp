#pragma once

// The open-loop pieces of the load phases (rate, cliff, mixed, burst):
// publishers whose send times are computed from the start of the schedule,
// never from the previous send, so a broker that stalls them shows up as
// latency (every SEND's bench-ts is its scheduled time: no coordinated
// omission) rather than as a quietly lower rate; and time series finer than
// a second.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "coordinator.hpp"
#include "roles.hpp"

namespace stampede::load {

/// Counts in slices of `width_ns` since an origin (events before it count in
/// slice 0).
class time_series {
  public:
    explicit time_series(std::int64_t width_ns = 100'000'000) : width_ns_(width_ns) {}
    void set_origin(std::int64_t t0_ns) noexcept { t0_ns_ = t0_ns; }
    void add(std::int64_t t_ns, std::uint64_t n = 1);
    const std::vector<std::uint64_t>& counts() const noexcept { return counts_; }

  private:
    std::int64_t width_ns_;
    std::int64_t t0_ns_ = 0;
    std::vector<std::uint64_t> counts_;
};

/// What a scheduled publisher did over all its segments.
struct schedule_stats {
    std::uint64_t planned = 0;       // messages the schedule asked for
    std::uint64_t sent = 0;          // written to the socket
    std::uint64_t sent_on_time = 0;  // written before their segment ended
    std::uint64_t behind = 0;        // still unsent when the publisher gave up
    std::int64_t max_late_ns = 0;    // latest write after its scheduled time
    std::int64_t blocked_ns = 0;     // waiting for the socket to drain
    std::optional<std::int64_t> first_ns, last_ns;
    std::vector<std::uint64_t> per_second;
    std::vector<std::uint64_t> slices;  // sends per time_series slice
};

/// Sends one stream on an open-loop schedule: in a segment [start, end) at
/// rate r, message k of the segment is due at start + k / r and its bench-ts
/// is that due time, whenever it is actually written. Messages that fell due
/// while the socket was blocked go out together as soon as it drains.
class scheduled_publisher {
  public:
    /// `extra`: whole header lines ("name:value\n") added to every SEND.
    scheduled_publisher(connection& conn, std::string destination, std::string stream,
                        std::size_t body_size, std::string extra, std::int64_t t0_ns,
                        worker_counters& tally);

    /// Starts a new stream (sequence numbers from 0 again).
    void set_stream(std::string stream);
    const std::string& stream() const noexcept { return stream_; }
    /// Messages of the current stream written so far.
    std::uint64_t stream_sent() const noexcept { return seq_; }

    /// One segment. Returns when every message due before `end_ns` was
    /// written, or `give_up_after` seconds past `end_ns`, or on stop.
    void run(std::int64_t start_ns, std::int64_t end_ns, double rate, const link* stop,
             double give_up_after = 1.0);

    const schedule_stats& stats() const;

  private:
    void write_due(std::uint64_t first, std::uint64_t last, std::int64_t start, double interval,
                   std::int64_t end_ns);

    connection& conn_;
    std::string destination_;
    std::string stream_;
    std::string extra_;
    std::size_t body_size_;
    worker_counters& tally_;
    out_buffer batch_;
    per_second per_second_;
    time_series slices_;
    mutable schedule_stats stats_;
    std::uint64_t seq_ = 0;
};

/// Messages a segment of `seconds` at `rate` schedules.
std::uint64_t planned_count(double rate, double seconds);

/// The latency of a MESSAGE: now minus its bench-ts, when it has one.
std::optional<std::int64_t> sent_time_of(const protocol::frame_view& frame);

}  // namespace stampede::load
