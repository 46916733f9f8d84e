#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

namespace stampede::runtime {

using clock = std::chrono::steady_clock;
using time_point = clock::time_point;
using duration = clock::duration;

/// "No deadline".
inline constexpr time_point no_deadline = time_point::max();

/// A deadline `d` from now, saturating instead of overflowing.
inline time_point deadline_after(duration d) noexcept {
    const auto now = clock::now();
    return d >= no_deadline - now ? no_deadline : now + d;
}

namespace detail {

/// An entry of a scheduler's timer heap. Owned by whoever arms it (often a
/// waiting fiber's stack frame), which must disarm it before it goes away.
struct timer_node {
    static constexpr std::size_t not_armed = std::numeric_limits<std::size_t>::max();

    time_point deadline{};
    std::uint64_t sequence = 0;  ///< ties broken first-armed, first-fired
    std::size_t heap_index = not_armed;
    void (*fire)(timer_node&) = nullptr;  ///< runs on the scheduler's own context; must not block
    void* context = nullptr;              ///< for `fire`: whatever owns the node

    bool armed() const noexcept { return heap_index != not_armed; }
};

/// Binary min-heap of timer nodes with O(log n) arm and disarm.
class timer_heap {
  public:
    void arm(timer_node& node, time_point deadline);
    void disarm(timer_node& node) noexcept;

    bool empty() const noexcept { return heap_.empty(); }
    std::size_t size() const noexcept { return heap_.size(); }
    std::optional<time_point> next_deadline() const noexcept;

    /// Removes and fires every node whose deadline is at or before `now`; returns how many.
    std::size_t fire_expired(time_point now);

  private:
    bool before(std::size_t a, std::size_t b) const noexcept;
    void place(std::size_t index, timer_node* node) noexcept;
    void sift_up(std::size_t index) noexcept;
    void sift_down(std::size_t index) noexcept;
    void remove_at(std::size_t index) noexcept;

    std::vector<timer_node*> heap_;
    std::uint64_t next_sequence_ = 0;
};

}  // namespace detail
}  // namespace stampede::runtime
