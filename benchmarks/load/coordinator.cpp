#include "coordinator.hpp"

#include <chrono>
#include <cstdio>
#include <thread>

#include "clock.hpp"

namespace stampede::load {

namespace {

constexpr double poll_seconds = 0.05;
constexpr double report_seconds = 2.0;
constexpr double grace_seconds = 15.0;

double seconds_since(std::int64_t t_ns) {
    return static_cast<double>(now_ns() - t_ns) / 1e9;
}

}  // namespace

// ---- link ----

std::vector<std::size_t> link::mine(std::size_t n) const {
    std::vector<std::size_t> out;
    for (std::size_t i = index_; i < n; i += count_) {
        out.push_back(i);
    }
    return out;
}

std::optional<std::int64_t> link::barrier(std::string_view name) {
    return co_.barrier(index_, name);
}

std::optional<bool> link::vote(std::string_view name, bool yes) {
    bool all = true;
    if (!co_.barrier(index_, name, yes, &all)) {
        return std::nullopt;
    }
    return all;
}

totals link::sum() const {
    return co_.sum();
}

bool link::stopped() const noexcept {
    return co_.stopped();
}

bool link::wait_stop(std::optional<double> timeout) {
    return co_.wait_stop(index_, timeout);
}

worker_counters& link::counters() noexcept {
    return co_.counters(index_);
}

// ---- coordinator ----

coordinator::coordinator(runtime::runtime& rt, unsigned workers) : rt_(rt), workers_(workers) {
    for (unsigned i = 0; i < workers; ++i) {
        slots_.push_back(std::make_unique<slot>());
    }
}

// Each scheduler's event is notified on that scheduler, from a posted task.
void coordinator::wake_all() {
    for (unsigned i = 0; i < workers_; ++i) {
        slot* s = slots_[i].get();
        rt_.at(i).execute([s] { s->wake.notify_all(); });
    }
}

std::optional<std::int64_t> coordinator::barrier(unsigned worker, std::string_view name, bool vote,
                                                 bool* all_yes) {
    if (stopped()) {
        return std::nullopt;
    }
    bool release = false;
    {
        std::lock_guard lock(mutex_);
        auto it = barriers_.find(name);
        if (it == barriers_.end()) {
            it = barriers_.emplace(std::string(name), barrier_state{}).first;
        }
        it->second.all_yes = it->second.all_yes && vote;
        if (++it->second.arrived == workers_) {
            it->second.released = true;
            it->second.t_ns = now_ns();
            release = true;
        }
    }
    if (release) {
        wake_all();
    }
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            const auto& b = barriers_.find(name)->second;
            if (b.released) {
                if (all_yes != nullptr) {
                    *all_yes = b.all_yes;
                }
                return b.t_ns;
            }
        }
        if (stopped() || !slots_[worker]->wake.wait()) {
            return std::nullopt;
        }
    }
}

bool coordinator::wait_stop(unsigned worker, std::optional<double> timeout) {
    const runtime::time_point deadline = timeout ? after(*timeout) : runtime::no_deadline;
    while (!stopped()) {
        if (!slots_[worker]->wake.wait(deadline)) {
            return stopped();
        }
    }
    return true;
}

void coordinator::request_stop() {
    if (!stop_.exchange(true, std::memory_order_acq_rel)) {
        wake_all();
    }
}

std::set<std::string> coordinator::passed() {
    std::set<std::string> out;
    std::lock_guard lock(mutex_);
    for (const auto& [name, b] : barriers_) {
        if (b.released) {
            out.insert(name);
        }
    }
    return out;
}

totals coordinator::sum() const {
    totals t;
    for (const auto& s : slots_) {
        for (unsigned c = 0; c < counter_count; ++c) {
            t.values[c] += s->counters.get(static_cast<counter>(c));
        }
    }
    return t;
}

// ---- stop conditions ----

stop_condition done_or_idle(std::string barrier, std::vector<counter> keys, std::uint64_t want,
                            double idle_seconds) {
    struct idle_state {
        std::optional<std::uint64_t> value;
        std::int64_t since_ns = 0;
    };
    auto st = std::make_shared<idle_state>();
    return [=](const totals& t, const std::set<std::string>& passed) {
        if (passed.count(barrier) == 0) {
            return false;
        }
        std::uint64_t value = 0;
        for (counter k : keys) {
            value += t[k];
        }
        if (value >= want) {
            return true;
        }
        if (!st->value || *st->value != value) {
            st->value = value;
            st->since_ns = now_ns();
        }
        return seconds_since(st->since_ns) > idle_seconds;
    };
}

// ---- the main thread's loop ----

std::vector<bool> watch_workers(coordinator& co, const run_settings& s,
                                const std::function<bool(unsigned)>& done,
                                const std::function<std::optional<std::string>(unsigned)>& failed,
                                run_report& report) {
    const unsigned n = co.workers();
    std::vector<bool> finished(n, false);
    unsigned open = n;
    const std::int64_t start = now_ns();
    std::optional<std::int64_t> hard_deadline;
    double next_report = report_seconds;
    while (open > 0) {
        const double elapsed = seconds_since(start);
        if (elapsed >= s.timeout && !hard_deadline) {
            report.timed_out = true;
            std::fprintf(stderr, "[%s] timed out after %.0f s; stopping workers\n", s.name.c_str(),
                         s.timeout);
            co.request_stop();
            hard_deadline = now_ns() + static_cast<std::int64_t>(grace_seconds * 1e9);
        }
        if (hard_deadline && now_ns() >= *hard_deadline) {
            std::string which;
            for (unsigned i = 0; i < n; ++i) {
                if (!finished[i]) {
                    which += (which.empty() ? "" : ", ") + std::to_string(i);
                }
            }
            report.failures.push_back("workers [" + which + "] did not finish");
            co.rt().stop();  // interrupts whatever they wait for
            break;
        }
        for (unsigned i = 0; i < n; ++i) {
            if (finished[i] || !done(i)) {
                continue;
            }
            finished[i] = true;
            --open;
            if (auto why = failed(i)) {
                std::fprintf(stderr, "[%s] %s\n", s.name.c_str(), why->c_str());
                report.failures.push_back(*why);
                co.request_stop();
            }
        }
        if (s.stop_when && !co.stopped() && s.stop_when(co.sum(), co.passed())) {
            co.request_stop();
        }
        if (s.show && elapsed >= next_report) {
            next_report += report_seconds;
            std::fprintf(stderr, "[%s %.0fs] %s\n", s.name.c_str(), elapsed,
                         s.show(co.sum()).c_str());
        }
        if (open > 0) {
            std::this_thread::sleep_for(std::chrono::duration<double>(poll_seconds));
        }
    }
    return finished;
}

}  // namespace stampede::load
