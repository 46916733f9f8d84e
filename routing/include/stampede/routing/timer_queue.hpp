#pragma once

// Deadlines for delayed delivery (AMQ_SCHEDULED_DELAY) and expiry: a 4-ary min-heap of
// (deadline, sequence, value) with lazy deletion.
//
// Why a heap and not a timing wheel: an entry is 16 bytes plus the value (24 for a 64-bit
// message id) in one contiguous array, so a million pending timers cost ~24-48 MB with the
// array's growth slack and no per-entry allocation; insertion is O(1) on average for deadlines
// that mostly increase (a destination's TTL, similar delays) and O(log4 n) at worst; firing is
// O(log4 n) per entry. NOTES.md has the measurements. Cancelling is lazy: the owner keeps
// whatever tells it a timer is stale (a message already consumed, a generation number) and
// ignores such values when they fire; remove_if() drops them in bulk when they pile up.
//
// Time is whatever integer the caller uses (epoch_ms in the broker), passed in, so tests run
// on a fake clock. Equal deadlines fire in insertion order.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace stampede::routing {

template <class T>
class timer_queue {
  public:
    /// Schedules `value` for `deadline`.
    void push(std::int64_t deadline, T value) {
        heap_.push_back(node{deadline, next_sequence_++, std::move(value)});
        sift_up(heap_.size() - 1);
    }

    /// The earliest deadline, or nullopt when nothing is scheduled (for arming one runtime
    /// timer at a time).
    std::optional<std::int64_t> next_deadline() const noexcept {
        return heap_.empty() ? std::nullopt : std::optional<std::int64_t>(heap_.front().deadline);
    }

    /// Removes every entry whose deadline is at or before `now` and calls `fire(T&&)` for each,
    /// earliest first (insertion order among equals), at most `limit` of them (so that a
    /// million entries falling due at once are spread over several turns of an actor).
    /// Returns how many fired. `fire` may push() new entries; they fire in this call only if
    /// due and within the limit.
    template <class Fire>
    std::size_t fire_due(std::int64_t now, Fire&& fire, std::size_t limit = SIZE_MAX) {
        std::size_t fired = 0;
        while (fired < limit && !heap_.empty() && heap_.front().deadline <= now) {
            T value = pop_front();
            ++fired;
            fire(std::move(value));
        }
        return fired;
    }

    /// Drops the entries for which `stale(const T&)` is true; O(n) (re-heapifies).
    template <class Stale>
    std::size_t remove_if(Stale&& stale) {
        std::size_t kept = 0;
        for (std::size_t i = 0; i < heap_.size(); ++i) {
            if (!stale(std::as_const(heap_[i].value))) {
                if (kept != i) {
                    heap_[kept] = std::move(heap_[i]);
                }
                ++kept;
            }
        }
        const std::size_t removed = heap_.size() - kept;
        heap_.resize(kept);
        for (std::size_t i = heap_.size() / arity + 1; i-- > 0;) {
            if (i < heap_.size()) {
                sift_down(i);
            }
        }
        return removed;
    }

    std::size_t size() const noexcept { return heap_.size(); }
    bool empty() const noexcept { return heap_.empty(); }
    /// Bytes held by the heap's array (capacity, not size).
    std::size_t memory_bytes() const noexcept { return heap_.capacity() * sizeof(node); }
    /// Gives back memory after a large batch has fired.
    void shrink_to_fit() { heap_.shrink_to_fit(); }

  private:
    static constexpr std::size_t arity = 4;

    struct node {
        std::int64_t deadline;
        std::uint64_t sequence;
        T value;
    };

    static bool before(const node& a, const node& b) noexcept {
        return a.deadline < b.deadline || (a.deadline == b.deadline && a.sequence < b.sequence);
    }

    T pop_front() {
        T value = std::move(heap_.front().value);
        if (heap_.size() > 1) {
            heap_.front() = std::move(heap_.back());
        }
        heap_.pop_back();
        if (!heap_.empty()) {
            sift_down(0);
        }
        return value;
    }

    void sift_up(std::size_t i) {
        node moving = std::move(heap_[i]);
        while (i > 0) {
            const std::size_t parent = (i - 1) / arity;
            if (!before(moving, heap_[parent])) {
                break;
            }
            heap_[i] = std::move(heap_[parent]);
            i = parent;
        }
        heap_[i] = std::move(moving);
    }

    void sift_down(std::size_t i) {
        node moving = std::move(heap_[i]);
        const std::size_t n = heap_.size();
        for (;;) {
            const std::size_t first = i * arity + 1;
            if (first >= n) {
                break;
            }
            std::size_t best = first;
            const std::size_t last = first + arity < n ? first + arity : n;
            for (std::size_t c = first + 1; c < last; ++c) {
                if (before(heap_[c], heap_[best])) {
                    best = c;
                }
            }
            if (!before(heap_[best], moving)) {
                break;
            }
            heap_[i] = std::move(heap_[best]);
            i = best;
        }
        heap_[i] = std::move(moving);
    }

    std::vector<node> heap_;
    std::uint64_t next_sequence_ = 0;
};

}  // namespace stampede::routing
