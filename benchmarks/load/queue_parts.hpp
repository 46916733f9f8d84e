#pragma once

// What the queue scenarios share (queue, load-unload): competing consumers
// with acks and prefetch, producers' shares, and the verdict over the union
// of what the consumers got.

#include <map>
#include <memory>

#include "scenario.hpp"

namespace stampede::load {

/// This worker's consumers: connections and their receivers, by index.
struct consumer_set {
    indexed_connections conns;
    std::map<std::size_t, std::unique_ptr<receiver>> receivers;

    void set_origin(std::int64_t t0_ns);
    void report_errors(errors& errs) const;
};

/// What a worker's consumers got, as plain data.
struct consumers_result {
    std::vector<std::pair<std::size_t, std::uint64_t>> consumers;  // (index, receptions)
    sequence_tracker tracker;                                      // their union
    std::vector<std::optional<std::int64_t>> last_arrival;
    std::vector<std::uint64_t> consumed_per_second;
};

/// Connects this worker's share of `n` consumers of --destination with
/// --ack and --prefetch; receptions count as `received` and into `latency`.
consumer_set subscribe_consumers(link& l, const args& a, const broker_address& to, std::size_t n,
                                 latency_sink& latency, errors& errs);

/// Publishes the shares of this worker's producers at once, as fast as possible.
std::vector<publisher_stats> publish_share(link& l, const args& a,
                                           const indexed_connections& producers, std::int64_t t0);

consumers_result consumer_result(const consumer_set& set);

/// consumed, lost, duplicates, unexpected, fairness, share_min, share_max and
/// per_consumer (by consumer index) over every worker's consumers.
json merge_consumed(const args& a, const std::vector<const consumers_result*>& parts);

/// The producers of every worker, summed.
struct publish_summary {
    std::uint64_t published = 0;
    std::optional<double> seconds;  // first send to the last receipt
    std::vector<std::optional<std::int64_t>> firsts;
    std::vector<std::uint64_t> per_second;
};
publish_summary summarize(const std::vector<const std::vector<publisher_stats>*>& parts);

/// The producers' expected streams P0.. with their shares of --messages.
expectation producer_streams(const args& a);

}  // namespace stampede::load
