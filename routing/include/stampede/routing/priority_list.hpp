#pragma once

// The ready list of a queue: messages waiting for a consumer, by JMS priority (0-9, higher
// first), FIFO within a priority, with a bound on how long higher priorities may keep a lower
// one waiting.
//
// Anti-starvation policy. Every delivery that passes over a waiting priority level counts
// against that level; a level passed over `starvation_limit` times gets the next delivery
// (the highest such level first) and its count restarts, as it does whenever the level
// empties. So under a steady stream of higher-priority messages a waiting lower-priority
// message moves up once per starvation_limit + 10 deliveries at worst, and against any one
// lower level a higher one still gets starvation_limit of every starvation_limit + 1
// deliveries. starvation_limit = 0 is strict priority (RabbitMQ's priority queues).
// JMS asks only for a best effort ("expedited" 5-9 ahead of "normal" 0-4); ActiveMQ's
// default store honours three bands with prioritizedMessages on, strictly.
//
// push, push_front and pop are O(1) (ten levels); an empty level allocates nothing, so an
// idle queue costs a few hundred bytes.

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

namespace stampede::routing {

/// A growable ring buffer: O(1) push and pop at both ends, nothing allocated while empty.
template <class T>
class ring {
  public:
    ring() = default;
    ring(ring&&) noexcept = default;
    ring& operator=(ring&&) noexcept = default;

    bool empty() const noexcept { return size_ == 0; }
    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return capacity_; }

    T& front() { return slots_[head_]; }
    const T& front() const { return slots_[head_]; }
    /// The i-th element from the front.
    T& operator[](std::size_t i) { return slots_[(head_ + i) & (capacity_ - 1)]; }
    const T& operator[](std::size_t i) const { return slots_[(head_ + i) & (capacity_ - 1)]; }

    void push_back(T value) {
        grow_if_full();
        slots_[(head_ + size_) & (capacity_ - 1)] = std::move(value);
        ++size_;
    }
    void push_front(T value) {
        grow_if_full();
        head_ = (head_ + capacity_ - 1) & (capacity_ - 1);
        slots_[head_] = std::move(value);
        ++size_;
    }
    /// Removes and returns the front. Precondition: !empty().
    T pop_front() {
        T value = std::move(slots_[head_]);
        head_ = (head_ + 1) & (capacity_ - 1);
        if (--size_ == 0) {
            release();
        }
        return value;
    }
    /// Inserts `value` before the i-th element (i == size(): at the back), opening the gap
    /// from the nearer end. Precondition: i <= size().
    void insert(std::size_t i, T value) {
        if (i == size_) {
            push_back(std::move(value));
            return;
        }
        if (i == 0) {
            push_front(std::move(value));
            return;
        }
        grow_if_full();
        if (i < size_ / 2) {
            head_ = (head_ + capacity_ - 1) & (capacity_ - 1);
            ++size_;
            for (std::size_t k = 0; k < i; ++k) {
                (*this)[k] = std::move((*this)[k + 1]);
            }
        } else {
            ++size_;
            for (std::size_t k = size_ - 1; k > i; --k) {
                (*this)[k] = std::move((*this)[k - 1]);
            }
        }
        (*this)[i] = std::move(value);
    }

    /// Removes and returns the i-th element from the front, closing the gap from the nearer
    /// end. Precondition: i < size().
    T take(std::size_t i) {
        T value = std::move((*this)[i]);
        if (i < size_ / 2) {
            for (std::size_t k = i; k > 0; --k) {
                (*this)[k] = std::move((*this)[k - 1]);
            }
            (*this)[0] = T{};
            head_ = (head_ + 1) & (capacity_ - 1);
        } else {
            for (std::size_t k = i; k + 1 < size_; ++k) {
                (*this)[k] = std::move((*this)[k + 1]);
            }
            (*this)[size_ - 1] = T{};
        }
        if (--size_ == 0) {
            release();
        }
        return value;
    }

    /// Keeps the elements for which `keep` is true, in order; returns how many went.
    template <class Keep>
    std::size_t retain(Keep&& keep) {
        std::size_t kept = 0;
        for (std::size_t i = 0; i < size_; ++i) {
            if (keep((*this)[i])) {
                if (kept != i) {
                    (*this)[kept] = std::move((*this)[i]);
                }
                ++kept;
            }
        }
        const std::size_t removed = size_ - kept;
        for (std::size_t i = kept; i < size_; ++i) {
            (*this)[i] = T{};
        }
        size_ = kept;
        if (size_ == 0) {
            release();
        }
        return removed;
    }

  private:
    void grow_if_full() {
        if (size_ < capacity_) {
            return;
        }
        const std::size_t bigger = capacity_ == 0 ? 4 : capacity_ * 2;
        auto slots = std::make_unique<T[]>(bigger);
        for (std::size_t i = 0; i < size_; ++i) {
            slots[i] = std::move((*this)[i]);
        }
        slots_ = std::move(slots);
        capacity_ = bigger;
        head_ = 0;
    }
    // An emptied level gives its memory back: a burst must not pin its peak for good.
    void release() {
        slots_.reset();
        capacity_ = 0;
        head_ = 0;
    }

    std::unique_ptr<T[]> slots_;
    std::size_t capacity_ = 0;  ///< a power of two, or 0
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

/// Counts every element as zero bytes: for a priority_list that keeps no byte totals.
struct no_bytes {
    template <class T>
    std::size_t operator()(const T&) const noexcept {
        return 0;
    }
};

/// Elements T by priority 0-9, with the anti-starvation policy above. `Bytes` gives an
/// element's size for the bytes() totals (the queue's memory accounting).
template <class T, class Bytes = no_bytes>
class priority_list {
  public:
    static constexpr std::size_t levels = 10;

    explicit priority_list(std::uint32_t starvation_limit = 16, Bytes bytes = {})
        : starvation_limit_(starvation_limit), bytes_of_(std::move(bytes)) {}

    /// Appends `value` at `priority` (values above 9 count as 9).
    void push(std::uint8_t priority, T value) {
        const std::size_t p = clamp(priority);
        account_in(p, value);
        levels_[p].push_back(std::move(value));
    }

    /// Puts `value` back at the front of its priority: for a redelivered message, which
    /// goes before the messages of its priority that arrived after it.
    void push_front(std::uint8_t priority, T value) {
        const std::size_t p = clamp(priority);
        account_in(p, value);
        levels_[p].push_front(std::move(value));
    }

    /// The i-th element of level `priority`, FIFO order. Precondition: i < size(priority).
    const T& at(std::uint8_t priority, std::size_t i) const { return levels_[clamp(priority)][i]; }

    /// Inserts `value` at position i of level `priority` (0: the front; size(priority): the
    /// back), for an owner that keeps each level in an order of its own (a queue putting a
    /// refused message back where it was). Precondition: i <= size(priority).
    void insert(std::uint8_t priority, std::size_t i, T value) {
        const std::size_t p = clamp(priority);
        account_in(p, value);
        levels_[p].insert(i, std::move(value));
    }

    /// Removes and returns the i-th element of level `priority`, outside the delivery order
    /// (it counts as no delivery for the anti-starvation policy). Precondition: i <
    /// size(priority).
    T take_at(std::uint8_t priority, std::size_t i) {
        const std::size_t p = clamp(priority);
        T value = levels_[p].take(i);
        account_out(p, value);
        return value;
    }

    /// The level pop() would take from next, or nullopt when empty.
    std::optional<std::uint8_t> next_level() const noexcept {
        if (nonempty_ == 0) {
            return std::nullopt;
        }
        return static_cast<std::uint8_t>(choose());
    }

    /// Removes and returns the next element by the policy, with its priority.
    std::optional<std::pair<std::uint8_t, T>> pop() {
        if (nonempty_ == 0) {
            return std::nullopt;
        }
        const std::size_t chosen = choose();
        for (unsigned mask = nonempty_; mask != 0; mask &= mask - 1) {
            ++passed_over_[static_cast<std::size_t>(std::countr_zero(mask))];
        }
        passed_over_[chosen] = 0;
        T value = levels_[chosen].pop_front();
        account_out(chosen, value);
        return std::pair<std::uint8_t, T>{static_cast<std::uint8_t>(chosen), std::move(value)};
    }

    /// Removes and returns the first element, in for_each() order, for which `wanted(const T&)`
    /// is true, looking at no more than `max_scan` elements: for a consumer with a selector,
    /// which takes the first message it selects. The bound keeps one picky consumer from
    /// making every dispatch O(depth); ActiveMQ bounds its scan the same way (maxPageSize).
    template <class Wanted>
    std::optional<std::pair<std::uint8_t, T>> take_first_if(Wanted&& wanted,
                                                            std::size_t max_scan = SIZE_MAX) {
        std::size_t scanned = 0;
        for (std::size_t p = levels; p-- > 0;) {
            ring<T>& level = levels_[p];
            for (std::size_t i = 0; i < level.size(); ++i) {
                if (scanned++ == max_scan) {
                    return std::nullopt;
                }
                if (wanted(std::as_const(level[i]))) {
                    T value = level.take(i);
                    account_out(p, value);
                    return std::pair<std::uint8_t, T>{static_cast<std::uint8_t>(p),
                                                      std::move(value)};
                }
            }
        }
        return std::nullopt;
    }

    /// Calls `fn(priority, const T&)` for every element, highest priority first, FIFO within
    /// one (the order of a browser; pop() may interleave levels differently).
    template <class Fn>
    void for_each(Fn&& fn) const {
        for (std::size_t p = levels; p-- > 0;) {
            for (std::size_t i = 0; i < levels_[p].size(); ++i) {
                fn(static_cast<std::uint8_t>(p), levels_[p][i]);
            }
        }
    }

    /// Removes every element for which `dead(const T&)` is true (expired messages, say);
    /// returns how many. Linear in size().
    template <class Dead>
    std::size_t remove_if(Dead&& dead) {
        std::size_t removed = 0;
        for (std::size_t p = 0; p < levels; ++p) {
            removed += levels_[p].retain([&](const T& v) {
                if (!dead(v)) {
                    return true;
                }
                account_out(p, v);
                return false;
            });
            if (levels_[p].empty()) {
                nonempty_ &= ~(1u << p);
                passed_over_[p] = 0;
            }
        }
        return removed;
    }

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    std::size_t size(std::uint8_t priority) const noexcept {
        return levels_[clamp(priority)].size();
    }
    /// The sum of Bytes over the elements.
    std::size_t bytes() const noexcept { return bytes_; }
    std::uint32_t starvation_limit() const noexcept { return starvation_limit_; }

  private:
    static std::size_t clamp(std::uint8_t p) noexcept {
        return std::min<std::size_t>(p, levels - 1);
    }

    /// The highest level passed over starvation_limit times, else the highest non-empty one.
    std::size_t choose() const noexcept {
        const std::size_t highest = static_cast<std::size_t>(std::bit_width(nonempty_) - 1);
        if (starvation_limit_ == 0) {
            return highest;
        }
        for (std::size_t p = highest; p-- > 0;) {
            if ((nonempty_ & (1u << p)) != 0 && passed_over_[p] >= starvation_limit_) {
                return p;
            }
        }
        return highest;
    }

    void account_in(std::size_t p, const T& v) {
        if (levels_[p].empty()) {
            nonempty_ |= 1u << p;
            passed_over_[p] = 0;
        }
        ++size_;
        bytes_ += bytes_of_(v);
    }
    // Called after the element left levels_[p].
    void account_out(std::size_t p, const T& v) {
        --size_;
        bytes_ -= bytes_of_(v);
        if (levels_[p].empty()) {
            nonempty_ &= ~(1u << p);
            passed_over_[p] = 0;
        }
    }

    std::array<ring<T>, levels> levels_;
    std::array<std::uint32_t, levels> passed_over_{};
    unsigned nonempty_ = 0;  ///< bit p: levels_[p] has elements
    std::uint32_t starvation_limit_;
    Bytes bytes_of_;
    std::size_t size_ = 0;
    std::size_t bytes_ = 0;
};

}  // namespace stampede::routing
