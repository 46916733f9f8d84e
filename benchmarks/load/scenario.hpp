#pragma once

// A scenario of DRIVER.md: its flags, how many workers it can use, and how
// it runs (workers on the schedulers, then the merge of their results into
// the scenario's JSON fields).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "accounting.hpp"
#include "connection.hpp"
#include "coordinator.hpp"
#include "options.hpp"
#include "roles.hpp"

namespace stampede::load {

/// What a scenario's run() gets and gives back besides its fields.
struct run_context {
    const args& a;
    coordinator& co;
    broker_address to;
    run_report report;
    std::optional<std::int64_t> t0_ns;  // the earliest worker's t0

    /// The settings of run_workers for this run.
    run_settings settings(stop_condition stop_when,
                          std::function<std::string(const totals&)> show) const;
};

struct scenario {
    std::string_view name;
    std::string_view kind;  // "topic" or "queue": the default destination's prefix
    std::vector<flag_spec> (*flags)();
    std::size_t (*max_workers)(const args&);
    /// Runs the scenario; returns its fields (DRIVER.md), "ok" among them.
    json (*run)(run_context&);
    /// Its clients cannot be split: one worker whatever --workers says.
    bool single_worker = false;
};

scenario fanout_scenario();
scenario slow_scenario();
scenario queue_scenario();
scenario soak_scenario();
scenario conns_scenario();
scenario load_unload_scenario();
scenario request_reply_scenario();
scenario rate_scenario();
scenario cliff_scenario();
scenario mixed_scenario();
scenario burst_scenario();
scenario abuse_scenario();
scenario crash_scenario();
scenario restart_scenario();
scenario multiproc_scenario();
scenario multiproc_consumer_scenario();

// ---- helpers shared by the scenarios ----

/// Runs every job on a fiber of its own on this scheduler and waits for all.
void run_all(std::vector<std::function<void()>> jobs);

/// {count, p50, p100} of a few numbers (first-message latencies).
json summary_of(const std::vector<std::optional<std::int64_t>>& values);

/// The results of the workers that finished.
template <class R>
std::vector<const R*> live(const std::vector<std::optional<R>>& results) {
    std::vector<const R*> out;
    for (const auto& r : results) {
        if (r) {
            out.push_back(&*r);
        }
    }
    return out;
}

/// The earliest t0 of the workers that reported one.
template <class R>
std::optional<std::int64_t> min_t0(const std::vector<std::optional<R>>& results) {
    std::optional<std::int64_t> out;
    for (const auto& r : results) {
        if (r && r->t0 && (!out || *r->t0 < *out)) {
            out = r->t0;
        }
    }
    return out;
}

/// Their errors, merged with the run's failures.
template <class R>
json merged_errors(const std::vector<std::optional<R>>& results, const run_report& report) {
    std::vector<const errors*> parts;
    for (const auto& r : results) {
        if (r) {
            parts.push_back(&r->errs);
        }
    }
    return merge_errors(parts, report.failures);
}

/// "<prefix><i>", e.g. "P3" or "s12".
std::string name_of(std::string_view prefix, std::size_t i);

/// Appends the items of `more` to `into`.
template <class T>
void append(std::vector<T>& into, const std::vector<T>& more) {
    into.insert(into.end(), more.begin(), more.end());
}

/// Adds every field of `more` to `into`.
void update(json& into, const json& more);

}  // namespace stampede::load
