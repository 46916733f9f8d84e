#include <atomic>
#include <string>
#include <vector>

#include "stampede/runtime/runtime.hpp"
#include "stampede/runtime/sync.hpp"
#include "test_support.hpp"

using namespace stampede::runtime;
using namespace std::chrono_literals;

TEST_CASE("fibers run in spawn order and interleave at yields", "[runtime][fiber]") {
    STAMPEDE_EACH_BACKEND(backend);
    const std::string trace = test::run_in_runtime(backend, 1, [](runtime&) {
        std::string out;
        int done = 0;
        for (char name : {'a', 'b', 'c'}) {
            this_scheduler()->spawn([&out, &done, name] {
                for (int i = 0; i < 3; ++i) {
                    out.push_back(name);
                    this_fiber::yield();
                }
                ++done;
            });
        }
        while (done < 3) {
            this_fiber::yield();
        }
        return out;
    });
    CHECK(trace == "abcabcabc");
}

TEST_CASE("sleep_for wakes fibers in deadline order", "[runtime][fiber][timer]") {
    STAMPEDE_EACH_BACKEND(backend);
    const std::vector<int> order = test::run_in_runtime(backend, 1, [](runtime&) {
        std::vector<int> out;
        int done = 0;
        for (int delay_ms : {30, 10, 20}) {
            this_scheduler()->spawn([&out, &done, delay_ms] {
                auto slept = this_fiber::sleep_for(std::chrono::milliseconds(delay_ms));
                out.push_back(slept ? delay_ms : -1);
                ++done;
            });
        }
        while (done < 3) {
            (void)this_fiber::sleep_for(1ms);
        }
        return out;
    });
    CHECK(order == std::vector<int>{10, 20, 30});
}

TEST_CASE("a fiber that throws ends alone and the scheduler carries on", "[runtime][fiber]") {
    STAMPEDE_EACH_BACKEND(backend);
    const bool still_running = test::run_in_runtime(backend, 1, [](runtime&) {
        bool thrown = false;
        this_scheduler()->spawn([&thrown] {
            thrown = true;
            throw std::runtime_error("on purpose");
        });
        while (!thrown) {
            this_fiber::yield();
        }
        this_fiber::yield();
        return true;
    });
    CHECK(still_running);
}

TEST_CASE("stacks come from a pool and are reused", "[runtime][fiber][stack]") {
    STAMPEDE_EACH_BACKEND(backend);
    const auto [live_before, live_after, cached] = test::run_in_runtime(backend, 1, [](runtime&) {
        scheduler& here = *this_scheduler();
        const std::size_t before = here.stacks().live();
        for (int round = 0; round < 1000; ++round) {
            bool finished = false;
            here.spawn([&finished] { finished = true; });
            while (!finished) {
                this_fiber::yield();
            }
        }
        this_fiber::yield();  // let the last one be reclaimed
        return std::tuple{before, here.stacks().live(), here.stacks().cached()};
    });
    CHECK(live_after == live_before);
    CHECK(cached >= 1);
    CHECK(cached <= 4);  // 1000 sequential fibers needed only a handful of stacks
}

namespace {
// Touches `bytes` of stack below the caller, out of the optimiser's reach.
[[gnu::noinline]] std::size_t touch_stack(std::size_t bytes) {
    volatile char block[4096];
    block[0] = 1;
    block[sizeof block - 1] = 1;
    if (bytes <= sizeof block) {
        return block[0];
    }
    return touch_stack(bytes - sizeof block) + block[sizeof block - 1];
}
}  // namespace

TEST_CASE("the stack high-water mark follows what a fiber touched", "[runtime][fiber][stack]") {
    STAMPEDE_EACH_BACKEND(backend);
    const auto [shallow, deep, size] = test::run_in_runtime(backend, 1, [](runtime&) {
        std::size_t low = 0;
        std::size_t high = 0;
        std::size_t usable = 0;
        bool done = false;
        this_scheduler()->spawn([&] {
            low = this_fiber::stack_high_water();
            touch_stack(24 * 1024);
            high = this_fiber::stack_high_water();
            usable = this_fiber::stack_size();
            done = true;
        });
        while (!done) {
            this_fiber::yield();
        }
        return std::tuple{low, high, usable};
    });
    CHECK(size == 64 * 1024);
    CHECK(shallow <= 8 * 1024);
    CHECK(deep >= 24 * 1024);
    CHECK(deep < size);
}

TEST_CASE("a fiber that once ran deep gives those stack pages back", "[runtime][fiber][stack]") {
    STAMPEDE_EACH_BACKEND(backend);
    const auto [deep, released, after_suspended, own_released, after_own, survived] =
        test::run_in_runtime(backend, 1, [](runtime&) {
            std::size_t high = 0;
            std::size_t own = 0;
            std::size_t own_after = 0;
            bool parked = false;
            bool done = false;
            event go_on;
            fiber_handle handle;
            this_scheduler()->spawn([&] {
                handle = this_fiber::handle();
                touch_stack(24 * 1024);
                high = this_fiber::stack_high_water();
                parked = true;
                (void)go_on.wait();  // suspended here while the other fiber trims
                // Its own stack, from the inside: the frames above still work.
                touch_stack(24 * 1024);
                own = release_unused_stack(this_fiber::handle());
                own_after = this_fiber::stack_high_water();
                done = true;
            });
            while (!parked) {
                this_fiber::yield();
            }
            const std::size_t given = release_unused_stack(handle);
            const std::size_t after = stack_high_water(handle.get()->stack);
            go_on.notify_all();
            while (!done) {
                this_fiber::yield();
            }
            return std::tuple{high, given, after, own, own_after, done};
        });
#if defined(STAMPEDE_ASAN) || defined(STAMPEDE_TSAN)
    // Sanitizer builds keep a page more below the frame (scheduler.cpp) and
    // have deeper frames.
    constexpr std::size_t kept = 16 * 1024;
#else
    constexpr std::size_t kept = 8 * 1024;
#endif
    CHECK(deep >= 24 * 1024);
    CHECK(released >= 24 * 1024 - kept);
    CHECK(after_suspended <= kept);
    CHECK(own_released >= 24 * 1024 - kept);
    CHECK(after_own <= kept);
    CHECK(survived);
}

TEST_CASE("spawning on another scheduler runs the fiber there", "[runtime][fiber]") {
    STAMPEDE_EACH_BACKEND(backend);
    const int where = test::run_in_runtime(backend, 2, [](runtime& rt) {
        std::atomic<int> index{-1};
        rt.at(1).spawn([&index] { index = static_cast<int>(this_scheduler()->index()); });
        while (index.load() < 0) {
            (void)this_fiber::sleep_for(1ms);
        }
        return index.load();
    });
    CHECK(where == 1);
}
