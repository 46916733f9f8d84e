#pragma once

// Running one scenario on every scheduler: the Python driver's workers.py on
// threads instead of processes. Each scheduler runs one worker fiber with a
// link to the coordinator; the main thread watches their counters, prints
// progress, decides when to stop and enforces --timeout.
//
// Barriers order the steps across workers (nobody publishes before every
// subscriber of every worker holds its receipt); the last worker to arrive
// releases them all with the CLOCK_MONOTONIC time of release.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "stampede/runtime/runtime.hpp"
#include "stampede/runtime/sync.hpp"

namespace stampede::load {

/// The progress counters a worker publishes (the Python driver's Tally keys).
enum class counter : unsigned { sent, received, topic, queue, fast, slow, connected, failed };
inline constexpr std::size_t counter_count = 8;

/// Counters summed over the workers.
struct totals {
    std::array<std::uint64_t, counter_count> values{};
    std::uint64_t operator[](counter c) const noexcept { return values[static_cast<unsigned>(c)]; }
};

/// One worker's counters: written by its scheduler only, read by the main thread.
class worker_counters {
  public:
    void add(counter c, std::uint64_t n = 1) noexcept {
        auto& v = values_[static_cast<unsigned>(c)];
        v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void set(counter c, std::uint64_t n) noexcept {
        values_[static_cast<unsigned>(c)].store(n, std::memory_order_relaxed);
    }
    std::uint64_t get(counter c) const noexcept {
        return values_[static_cast<unsigned>(c)].load(std::memory_order_relaxed);
    }

  private:
    std::array<std::atomic<std::uint64_t>, counter_count> values_{};
};

class coordinator;

/// A worker's view of the coordinator. Must be used on the worker's scheduler.
class link {
  public:
    link(coordinator& co, unsigned index, unsigned count) : co_(co), index_(index), count_(count) {}

    unsigned index() const noexcept { return index_; }
    unsigned count() const noexcept { return count_; }

    /// The indexes 0..n-1 of one role that this worker runs (every count-th).
    std::vector<std::size_t> mine(std::size_t n) const;

    /// Waits until every worker reached `name`; the release time, or nullopt
    /// when told to stop instead.
    std::optional<std::int64_t> barrier(std::string_view name);

    /// A barrier at which every worker casts a vote: whether all voted yes,
    /// or nullopt when told to stop instead.
    std::optional<bool> vote(std::string_view name, bool yes);

    /// The counters summed over every worker (a snapshot).
    totals sum() const;

    /// True once the coordinator said stop.
    bool stopped() const noexcept;

    /// Waits for the stop (true) or until `timeout` seconds passed (false).
    bool wait_stop(std::optional<double> timeout = std::nullopt);

    worker_counters& counters() noexcept;

  private:
    coordinator& co_;
    unsigned index_;
    unsigned count_;
};

/// When to tell the workers to stop: checked with the summed counters and
/// the barriers every worker has passed.
using stop_condition = std::function<bool(const totals&, const std::set<std::string>&)>;

/// The Python driver's done_or_idle: once `barrier` is passed, stop when the
/// counters `keys` sum to `want`, or have not moved for `idle_seconds`.
stop_condition done_or_idle(std::string barrier, std::vector<counter> keys, std::uint64_t want,
                            double idle_seconds);

class coordinator {
  public:
    coordinator(runtime::runtime& rt, unsigned workers);

    // ---- from workers' fibers ----
    std::optional<std::int64_t> barrier(unsigned worker, std::string_view name, bool vote = true,
                                        bool* all_yes = nullptr);
    bool stopped() const noexcept { return stop_.load(std::memory_order_acquire); }
    bool wait_stop(unsigned worker, std::optional<double> timeout);
    worker_counters& counters(unsigned worker) noexcept { return slots_[worker]->counters; }

    // ---- from the main thread ----
    void request_stop();
    std::set<std::string> passed();
    totals sum() const;
    unsigned workers() const noexcept { return workers_; }
    runtime::runtime& rt() noexcept { return rt_; }

  private:
    struct slot {
        runtime::event wake;  // on the worker's scheduler only
        worker_counters counters;
    };
    struct barrier_state {
        unsigned arrived = 0;
        bool released = false;
        bool all_yes = true;
        std::int64_t t_ns = 0;
    };

    void wake_all();

    runtime::runtime& rt_;
    unsigned workers_;
    std::vector<std::unique_ptr<slot>> slots_;
    std::mutex mutex_;  // held only to read or update barriers_, never across a wait
    std::map<std::string, barrier_state, std::less<>> barriers_;
    std::atomic<bool> stop_{false};
};

/// What running the workers produced besides their results.
struct run_report {
    bool timed_out = false;
    std::vector<std::string> failures;
};

/// Options of run_workers_loop.
struct run_settings {
    std::string name;
    double timeout = 600;
    stop_condition stop_when;                        // may be empty
    std::function<std::string(const totals&)> show;  // the progress line
};

/// Runs `start(i)` (which spawns worker i's fiber and returns its done flag
/// readers) ... see run_workers below; this is its non-template part: it
/// watches `done`/`failure` until every worker finished, printing progress,
/// stopping on the condition, a failure or the timeout (then 15 s of grace
/// before the runtime is stopped under the workers). Returns which finished.
std::vector<bool> watch_workers(coordinator& co, const run_settings& s,
                                const std::function<bool(unsigned)>& done,
                                const std::function<std::optional<std::string>(unsigned)>& failed,
                                run_report& report);

/// Runs `fn(link&) -> R` on one fiber per scheduler and returns each
/// worker's result (nullopt for one that failed or did not finish).
template <class R, class Fn>
std::vector<std::optional<R>> run_workers(coordinator& co, const run_settings& s, Fn fn,
                                          run_report& report) {
    struct state {
        std::atomic<bool> done{false};
        std::optional<R> result;
        std::optional<std::string> failure;
    };
    const unsigned n = co.workers();
    auto states = std::make_shared<std::vector<state>>(n);
    for (unsigned i = 0; i < n; ++i) {
        co.rt().at(i).spawn(
            [&co, fn, states, i, n] {
                state& st = (*states)[i];
                try {
                    link l(co, i, n);
                    st.result.emplace(fn(l));
                } catch (const std::exception& e) {
                    st.failure = "worker " + std::to_string(i) + ": " + e.what();
                } catch (...) {
                    st.failure = "worker " + std::to_string(i) + ": unknown exception";
                }
                st.done.store(true, std::memory_order_release);
            },
            {0, "load.worker"});
    }
    const auto finished = watch_workers(
        co, s, [&](unsigned i) { return (*states)[i].done.load(std::memory_order_acquire); },
        [&](unsigned i) { return (*states)[i].failure; }, report);
    std::vector<std::optional<R>> out(n);
    for (unsigned i = 0; i < n; ++i) {
        if (finished[i]) {
            out[i] = std::move((*states)[i].result);
        }
    }
    return out;
}

}  // namespace stampede::load
