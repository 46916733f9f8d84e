#pragma once

#include <cstddef>
#include <vector>

#include "stampede/runtime/errc.hpp"

namespace stampede::runtime {

/// A fixed-size fiber stack with a guard page below it:
///
///     mapping: [ guard page (PROT_NONE) | usable bytes ........ top ]
///
/// Stacks grow down from `top()`; running into the guard page faults, and the
/// overflow handler reports which fiber it was (see overflow_guard.hpp).
/// Each stack costs two kernel memory mappings (vm.max_map_count).
struct fiber_stack {
    char* mapping = nullptr;
    std::size_t mapping_size = 0;

    bool valid() const noexcept { return mapping != nullptr; }
    char* guard_begin() const noexcept { return mapping; }
    char* bottom() const noexcept;  ///< lowest usable byte (just above the guard page)
    char* top() const noexcept { return mapping + mapping_size; }
    std::size_t usable_size() const noexcept;
};

/// Size of a memory page on this machine.
std::size_t page_size() noexcept;

/// Rounds a requested stack size up to whole pages, with a floor of 4 pages.
std::size_t round_stack_size(std::size_t requested) noexcept;

/// Bytes between the top of `stack` and its deepest resident page: the stack's
/// high-water mark. One mincore(2) call; pages are only resident once touched
/// (the pool drops them on release), so this is cheap enough to leave on.
std::size_t stack_high_water(const fiber_stack& stack) noexcept;

/// Bytes of `stack` currently resident in memory.
std::size_t stack_resident_bytes(const fiber_stack& stack) noexcept;

/// Returns to the kernel the resident pages of `stack` that lie wholly
/// below `deepest_in_use` (an address on the stack, with everything above it
/// still in use), keeping the guard page as it is. The next touch of such a
/// page faults in a zero page, as on a fresh stack. Returns the bytes given
/// back (0 when nothing was).
std::size_t release_stack_below(const fiber_stack& stack, const char* deepest_in_use) noexcept;

/// A cache of guarded stacks for one scheduler. Not thread-safe.
///
/// acquire() reuses a cached stack of the same size or maps a new one; release()
/// returns the stack's touched pages to the kernel (so neither RSS nor the next
/// user's high-water mark inherit them) and caches it, up to `cache_limit`.
class stack_pool {
  public:
    explicit stack_pool(std::size_t cache_limit = 256) noexcept : cache_limit_(cache_limit) {}
    ~stack_pool();
    stack_pool(const stack_pool&) = delete;
    stack_pool& operator=(const stack_pool&) = delete;

    /// A stack with `size` usable bytes (rounded up to pages), or the mmap/mprotect
    /// error (ENOMEM when vm.max_map_count is reached).
    [[nodiscard]] result<fiber_stack> acquire(std::size_t size);
    void release(fiber_stack stack) noexcept;

    std::size_t cached() const noexcept { return cache_.size(); }
    std::size_t live() const noexcept { return live_; }

  private:
    std::size_t cache_limit_;
    std::size_t live_ = 0;
    std::vector<fiber_stack> cache_;
};

}  // namespace stampede::runtime
