#include "stampede/runtime/runtime.hpp"

#include <algorithm>
#include <stdexcept>

#include "io_backend.hpp"
#include "stampede/runtime/log.hpp"
#include "stampede/runtime/overflow_guard.hpp"

namespace stampede::runtime {

bool parse_io_mode(std::string_view text, io_mode& out) noexcept {
    if (text == "auto") {
        out = io_mode::automatic;
    } else if (text == "uring") {
        out = io_mode::uring;
    } else if (text == "asio") {
        out = io_mode::asio;
    } else {
        return false;
    }
    return true;
}

std::string_view to_string(io_mode mode) noexcept {
    switch (mode) {
        case io_mode::automatic:
            return "auto";
        case io_mode::uring:
            return "uring";
        case io_mode::asio:
            return "asio";
    }
    return "?";
}

runtime::runtime(runtime_options options) : options_(options) {
    if (options_.schedulers == 0) {
        options_.schedulers = std::max(1u, std::thread::hardware_concurrency());
    }
}

runtime::~runtime() {
    if (started_ && !joined_) {
        stop();
    }
}

void runtime::choose_backend() {
    std::string why_not;
    switch (options_.io) {
        case io_mode::asio:
            use_uring_ = false;
            backend_reason_ = "asio requested";
            break;
        case io_mode::uring:
            if (!detail::probe_uring(why_not)) {
                throw std::runtime_error("io_uring requested but unavailable: " + why_not);
            }
            use_uring_ = true;
            backend_reason_ = "uring requested";
            break;
        case io_mode::automatic:
            use_uring_ = detail::probe_uring(why_not);
            backend_reason_ = use_uring_ ? "io_uring is available" : "io_uring refused: " + why_not;
            break;
    }
    backend_name_ = use_uring_ ? "uring" : "asio";
}

std::unique_ptr<detail::io_backend> runtime::make_backend(unsigned index) {
    scheduler& sched = *schedulers_[index];
    if (!use_uring_) {
        return detail::make_asio_backend(sched, options_);
    }
    auto backend = detail::make_uring_backend(sched, options_);
    if (!backend) {
        log::error("scheduler ", index, ": cannot set up io_uring: ", backend.error().message());
        return nullptr;
    }
    return std::move(*backend);
}

void runtime::start() {
    if (started_) {
        return;
    }
    choose_backend();
    if (options_.install_overflow_guard) {
        install_overflow_guard();
    }
    const unsigned count = options_.schedulers;
    for (unsigned i = 0; i < count; ++i) {
        schedulers_.push_back(std::make_unique<scheduler>(*this, i));
    }
    std::mutex ready_mutex;
    std::condition_variable ready_cv;
    unsigned reported = 0;
    unsigned failed = 0;
    for (unsigned i = 0; i < count; ++i) {
        threads_.emplace_back([&, i] {
            install_signal_stack();
            scheduler& sched = *schedulers_[i];
            sched.io_ = make_backend(i);
            const bool ok = sched.io_ != nullptr;
            {
                // Notify under the lock: start() destroys the condition
                // variable as soon as it sees the last report.
                std::lock_guard lock(ready_mutex);
                ++reported;
                failed += ok ? 0 : 1;
                ready_cv.notify_all();
            }
            if (!ok) {
                return;
            }
            sched.run();
            sched.io_->finish();
        });
    }
    std::unique_lock lock(ready_mutex);
    ready_cv.wait(lock, [&] { return reported == count; });
    lock.unlock();
    started_ = true;
    if (failed > 0) {
        stop();
        throw std::runtime_error("the I/O backend could not start on every scheduler");
    }
    log::info("runtime: ", count, " scheduler(s), I/O backend ", backend_name_, " (",
              backend_reason_, "), default stack ", options_.default_stack_size / 1024, " KiB");
}

void runtime::request_stop() noexcept {
    {
        std::lock_guard lock(stop_mutex_);
        if (stop_requested_) {
            return;
        }
        stop_requested_ = true;
    }
    stop_cv_.notify_all();
    for (auto& sched : schedulers_) {
        if (sched->io_ != nullptr) {
            scheduler* s = sched.get();
            s->execute([s] { s->begin_shutdown(); });
        }
    }
}

void runtime::wait_for_stop_request() {
    std::unique_lock lock(stop_mutex_);
    stop_cv_.wait(lock, [this] { return stop_requested_; });
}

void runtime::stop() {
    if (joined_) {
        return;
    }
    request_stop();
    for (auto& thread : threads_) {
        if (thread.joinable()) {
            thread.join();
        }
    }
    // Whatever was posted to a scheduler after its loop ended is bounced now.
    for (auto& sched : schedulers_) {
        sched->discard_remote_tasks();
    }
    joined_ = true;
}

std::vector<fiber_kind_stats> merge_stack_stats(
    const std::vector<std::vector<fiber_kind_stats>>& per_scheduler) {
    std::vector<fiber_kind_stats> merged;
    for (const auto& part : per_scheduler) {
        for (const auto& stats : part) {
            auto it = std::find_if(merged.begin(), merged.end(),
                                   [&](const fiber_kind_stats& m) { return m.kind == stats.kind; });
            if (it == merged.end()) {
                merged.push_back(stats);
                continue;
            }
            it->fibers += stats.fibers;
            it->stack_size = std::max(it->stack_size, stats.stack_size);
            it->max_high_water = std::max(it->max_high_water, stats.max_high_water);
            it->resident_bytes += stats.resident_bytes;
        }
    }
    return merged;
}

std::vector<fiber_kind_stats> runtime::stack_stats() {
    std::vector<std::vector<fiber_kind_stats>> parts;
    for (auto& sched : schedulers_) {
        std::promise<std::vector<fiber_kind_stats>> done;
        auto future = done.get_future();
        scheduler* s = sched.get();
        s->execute([s, &done] { done.set_value(s->collect_stack_stats()); });
        parts.push_back(future.get());
    }
    return merge_stack_stats(parts);
}

}  // namespace stampede::runtime
