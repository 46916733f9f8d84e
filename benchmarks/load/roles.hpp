#pragma once

// The roles a scenario is built from (the Python driver's clients.py):
// receivers that count what arrives, publishers that send at a rate or as
// fast as the socket allows, and helpers to connect and close many clients.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "accounting.hpp"
#include "connection.hpp"
#include "coordinator.hpp"
#include "options.hpp"
#include "wire.hpp"

namespace stampede::load {

/// Error texts of one worker: a count and the first few.
struct errors {
    static constexpr std::size_t keep = 10;
    std::uint64_t count = 0;
    std::vector<std::string> samples;

    void add(std::string text);
    /// Adds "<role>: <error>" when the connection recorded one.
    void from_connection(std::string_view role, const connection* c);
    /// Another worker's errors, or failures of the run.
    void merge(const errors& other);
};

/// The errors/error_samples fields over every worker's errors plus the failures.
json merge_errors(const std::vector<const errors*>& parts,
                  const std::vector<std::string>& failures);

/// Latencies into one histogram, or one per interval since the origin (soak).
class latency_sink {
  public:
    explicit latency_sink(double interval_seconds = 0);
    void set_origin(std::int64_t t0_ns) noexcept { t0_ns_ = t0_ns; }
    void record(std::int64_t value, std::int64_t now);
    /// Histograms by interval index (one when not split).
    std::vector<latency_histogram>& parts() noexcept { return parts_; }
    latency_histogram whole() const;

  private:
    std::int64_t interval_ns_ = 0;
    std::int64_t t0_ns_ = 0;
    std::vector<latency_histogram> parts_;
};

/// Counts the MESSAGEs of one subscription: ids, latency, rate; ACKs each
/// one (all of a received buffer in one write) when `ack` is set.
class receiver final : public message_handler {
  public:
    receiver(connection& conn, worker_counters& tally, counter key, latency_sink& latency,
             bool ack);

    void set_origin(std::int64_t t0_ns) noexcept { per_second_.set_origin(t0_ns); }

    /// Called for every MESSAGE after it was counted: arrival time, its
    /// bench-ts, its body id, whether it was the first of that id here.
    using arrival_hook = std::function<void(std::int64_t now, std::optional<std::int64_t> sent,
                                            const std::optional<body_id>& id, bool first,
                                            const protocol::frame_view& frame)>;
    void set_hook(arrival_hook hook) { hook_ = std::move(hook); }

    /// Reads at most `per_second` messages a second from `start_ns` on (a
    /// consumer slower than the broker, so that a burst leaves a backlog).
    void limit_rate(double per_second, std::int64_t start_ns) noexcept {
        limit_ = per_second;
        limit_start_ = start_ns;
    }

    void on_message(connection& conn, const protocol::frame_view& frame) override;
    void after_frames(connection& conn) override;

    connection& conn() const noexcept { return conn_; }
    const sequence_tracker& tracker() const noexcept { return tracker_; }
    const per_second& series() const noexcept { return per_second_; }
    std::optional<std::int64_t> first_latency_ns() const noexcept { return first_latency_; }
    std::optional<std::int64_t> first_ns() const noexcept { return first_ns_; }
    std::optional<std::int64_t> last_ns() const noexcept { return last_ns_; }

  private:
    connection& conn_;
    worker_counters& tally_;
    counter key_;
    latency_sink& latency_;
    bool ack_;
    arrival_hook hook_;
    double limit_ = 0;
    std::int64_t limit_start_ = 0;
    std::int64_t limit_next_ = 0;
    std::uint64_t limited_ = 0;  // messages already charged to the bucket
    out_buffer acks_;
    sequence_tracker tracker_;
    per_second per_second_;
    std::optional<std::int64_t> first_latency_;
    std::optional<std::int64_t> first_ns_;
    std::optional<std::int64_t> last_ns_;
};

/// What a publisher did, as plain data.
struct publisher_stats {
    std::uint64_t sent = 0;
    std::optional<std::int64_t> first_ns;    // first send
    std::optional<std::int64_t> last_ns;     // last send
    std::optional<std::int64_t> receipt_ns;  // the broker confirmed the last one
    std::int64_t blocked_ns = 0;             // waiting for the socket to drain
    std::vector<std::uint64_t> per_second;
};

/// Sends `count` messages of one stream, as fast as the socket allows or at
/// a rate, many frames per write; the last one asks for a receipt.
class publisher {
  public:
    publisher(connection& conn, std::string destination, std::string stream, std::size_t body_size,
              std::int64_t t0_ns, worker_counters& tally);

    /// Publishes; returns early (without the receipt) when `stop` is set.
    /// rate 0: as fast as possible.
    void run(std::uint64_t count, double rate, const link* stop, double receipt_timeout = 60.0);

    const std::string& stream() const noexcept { return stream_; }
    publisher_stats stats() const;

  private:
    std::uint64_t write_batch(std::uint64_t seq, std::uint64_t due);
    void send_last(std::uint64_t seq, double receipt_timeout);
    void count_sent(std::int64_t t, std::uint64_t n);

    connection& conn_;
    std::string destination_;
    std::string stream_;
    send_spec spec_;
    worker_counters& tally_;
    out_buffer batch_;
    per_second per_second_;
    publisher_stats stats_;
};

/// A connected client of one role, by index.
using indexed_connections = std::vector<std::pair<std::size_t, std::unique_ptr<connection>>>;

/// Runs on a connection once it is open (for example to subscribe); false
/// with `why` set when it failed.
using setup_fn = std::function<bool(std::size_t index, connection& conn, std::string& why)>;

/// The broker address of the command line.
broker_address address_of(const args& a);

/// Connects one client per index, at most `limit` at once, and runs `setup`
/// on each. Returns those that succeeded, by index; failures go to `errs` as
/// "<role> <index>: <why>".
indexed_connections connect_limited(const broker_address& to,
                                    const std::vector<std::size_t>& indexes, std::size_t limit,
                                    const setup_fn& setup, errors& errs, std::string_view role);

/// DISCONNECTs every live connection (all at once, each waiting for its
/// receipt up to `timeout` seconds), then closes them all.
void close_all(const std::vector<connection*>& conns, double timeout = 5.0);

/// The raw pointers of a role's connections.
std::vector<connection*> pointers(const indexed_connections& conns);

}  // namespace stampede::load
