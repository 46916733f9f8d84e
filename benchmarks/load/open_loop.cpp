#include "open_loop.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "clock.hpp"
#include "stampede/runtime/scheduler.hpp"

namespace stampede::load {

namespace {

namespace rt = stampede::runtime;

// As the closed-loop publisher: many SENDs per write, but each with its own
// scheduled bench-ts.
constexpr std::size_t batch_frames = 512;
constexpr std::size_t batch_bytes = 128 * 1024;
constexpr double min_sleep_seconds = 0.0002;

}  // namespace

void time_series::add(std::int64_t t_ns, std::uint64_t n) {
    const std::int64_t i = t_ns <= t0_ns_ ? 0 : (t_ns - t0_ns_) / width_ns_;
    const auto index = static_cast<std::size_t>(i);
    if (index >= counts_.size()) {
        counts_.resize(index + 1, 0);
    }
    counts_[index] += n;
}

std::uint64_t planned_count(double rate, double seconds) {
    if (rate <= 0 || seconds <= 0) {
        return 0;
    }
    return static_cast<std::uint64_t>(std::ceil(rate * seconds - 1e-9));
}

std::optional<std::int64_t> sent_time_of(const protocol::frame_view& frame) {
    const auto ts = frame.get("bench-ts");
    if (!ts) {
        return std::nullopt;
    }
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(ts->data(), ts->data() + ts->size(), v);
    if (ec != std::errc{} || end != ts->data() + ts->size()) {
        return std::nullopt;
    }
    return v;
}

scheduled_publisher::scheduled_publisher(connection& conn, std::string destination,
                                         std::string stream, std::size_t body_size,
                                         std::string extra, std::int64_t t0_ns,
                                         worker_counters& tally)
    : conn_(conn),
      destination_(std::move(destination)),
      stream_(std::move(stream)),
      extra_(std::move(extra)),
      body_size_(body_size),
      tally_(tally) {
    per_second_.set_origin(t0_ns);
    slices_.set_origin(t0_ns);
}

void scheduled_publisher::set_stream(std::string stream) {
    stream_ = std::move(stream);
    seq_ = 0;
}

// Writes messages first..last-1 of the segment, each stamped with its due time.
void scheduled_publisher::write_due(std::uint64_t first, std::uint64_t last, std::int64_t start,
                                    double interval, std::int64_t end_ns) {
    const send_spec spec{destination_, extra_, stream_, body_size_};
    batch_.clear();
    std::int64_t latest_due = 0;
    for (std::uint64_t k = first; k < last; ++k) {
        latest_due = start + static_cast<std::int64_t>(static_cast<double>(k) * interval);
        add_send(batch_, spec, seq_ + (k - first), latest_due);
    }
    const std::int64_t t = now_ns();
    const auto n = last - first;
    if (!conn_.send(batch_.bytes(), &stats_.blocked_ns)) {
        return;
    }
    seq_ += n;
    const std::int64_t done = now_ns();
    stats_.sent += n;
    if (done < end_ns) {
        stats_.sent_on_time += n;
    }
    const std::int64_t first_due =
        start + static_cast<std::int64_t>(static_cast<double>(first) * interval);
    stats_.max_late_ns = std::max(stats_.max_late_ns, done - std::min(first_due, latest_due));
    if (!stats_.first_ns) {
        stats_.first_ns = t;
    }
    stats_.last_ns = done;
    tally_.add(counter::sent, n);
    per_second_.add(t, n);
    slices_.add(t, n);
}

void scheduled_publisher::run(std::int64_t start_ns, std::int64_t end_ns, double rate,
                              const link* stop, double give_up_after) {
    const std::uint64_t total = planned_count(rate, static_cast<double>(end_ns - start_ns) / 1e9);
    stats_.planned += total;
    if (total == 0) {
        return;
    }
    const double interval = 1e9 / rate;
    const std::int64_t give_up = end_ns + static_cast<std::int64_t>(give_up_after * 1e9);
    std::uint64_t k = 0;
    while (k < total && conn_.alive() && (stop == nullptr || !stop->stopped())) {
        const std::int64_t now = now_ns();
        if (now > give_up) {
            break;
        }
        const std::uint64_t due =
            now < start_ns
                ? 0
                : std::min<std::uint64_t>(
                      total,
                      static_cast<std::uint64_t>(static_cast<double>(now - start_ns) / interval) +
                          1);
        if (due > k) {
            std::uint64_t upto = std::min(due, k + batch_frames);
            if (body_size_ > 0) {
                upto = std::min(upto, k + std::max<std::uint64_t>(1, batch_bytes / body_size_));
            }
            write_due(k, upto, start_ns, interval, end_ns);
            k = upto;
            rt::this_fiber::yield();
            continue;
        }
        const double next = static_cast<double>(start_ns) + static_cast<double>(k) * interval;
        const double wait = (next - static_cast<double>(now_ns())) / 1e9;
        if (!rt::this_fiber::sleep_for(seconds(std::max(min_sleep_seconds, wait)))) {
            break;
        }
    }
    stats_.behind += total - std::min(total, k);
}

const schedule_stats& scheduled_publisher::stats() const {
    stats_.per_second = per_second_.counts();
    stats_.slices = slices_.counts();
    return stats_;
}

}  // namespace stampede::load
