#include "stampede/runtime/stack.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "sanitizer.hpp"

namespace stampede::runtime {

std::size_t page_size() noexcept {
    static const std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return size;
}

char* fiber_stack::bottom() const noexcept {
    return mapping + page_size();
}

std::size_t fiber_stack::usable_size() const noexcept {
    return mapping_size - page_size();
}

std::size_t round_stack_size(std::size_t requested) noexcept {
    const std::size_t page = page_size();
    const std::size_t rounded = (requested + page - 1) / page * page;
    return std::max(rounded, 4 * page);
}

namespace {

// Residency vector for mincore; thread-local so it is allocated once per thread
// and never on a fiber stack (a 1 MiB stack needs 256 bytes of it).
std::vector<unsigned char>& residency_buffer(std::size_t pages) {
    thread_local std::vector<unsigned char> buffer;
    if (buffer.size() < pages) {
        buffer.resize(pages);
    }
    return buffer;
}

// Calls fn(page_index, resident) for each usable page, lowest address first.
template <class Fn>
void for_each_page(const fiber_stack& stack, Fn&& fn) noexcept {
    const std::size_t pages = stack.usable_size() / page_size();
    auto& residency = residency_buffer(pages);
    if (::mincore(stack.bottom(), stack.usable_size(), residency.data()) != 0) {
        return;
    }
    for (std::size_t i = 0; i < pages; ++i) {
        if (!fn(i, (residency[i] & 1) != 0)) {
            return;
        }
    }
}

}  // namespace

std::size_t stack_high_water(const fiber_stack& stack) noexcept {
    std::size_t deepest = stack.usable_size() / page_size();
    for_each_page(stack, [&](std::size_t i, bool resident) {
        if (resident) {
            deepest = i;
            return false;  // lowest resident page found
        }
        return true;
    });
    return stack.usable_size() - deepest * page_size();
}

std::size_t stack_resident_bytes(const fiber_stack& stack) noexcept {
    std::size_t resident_pages = 0;
    for_each_page(stack, [&](std::size_t, bool resident) {
        resident_pages += resident ? 1 : 0;
        return true;
    });
    return resident_pages * page_size();
}

std::size_t release_stack_below(const fiber_stack& stack, const char* deepest_in_use) noexcept {
    if (deepest_in_use <= stack.bottom() || deepest_in_use > stack.top()) {
        return 0;  // not on this stack: nothing is known to be free
    }
    const std::size_t page = page_size();
    const auto offset = static_cast<std::size_t>(deepest_in_use - stack.bottom());
    const std::size_t free_bytes = offset / page * page;  // whole pages below it
    if (free_bytes == 0) {
        return 0;
    }
    const std::size_t resident = stack_resident_bytes(stack);
    if (::madvise(stack.bottom(), free_bytes, MADV_DONTNEED) != 0) {
        return 0;
    }
    const std::size_t after = stack_resident_bytes(stack);
    return resident > after ? resident - after : 0;
}

stack_pool::~stack_pool() {
    for (auto& stack : cache_) {
        ::munmap(stack.mapping, stack.mapping_size);  // unpoisoned when cached
    }
}

result<fiber_stack> stack_pool::acquire(std::size_t size) {
    const std::size_t usable = round_stack_size(size);
    const auto cached = std::find_if(cache_.begin(), cache_.end(), [&](const fiber_stack& s) {
        return s.usable_size() == usable;
    });
    if (cached != cache_.end()) {
        fiber_stack stack = *cached;
        *cached = cache_.back();
        cache_.pop_back();
        ++live_;
        return stack;
    }
    const std::size_t total = usable + page_size();
    // MAP_NORESERVE: pages cost memory only once touched; MAP_STACK documents intent.
    void* mem = ::mmap(nullptr, total, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (mem == MAP_FAILED) {
        return errno_code(errno);
    }
    if (::mprotect(mem, page_size(), PROT_NONE) != 0) {
        const int err = errno;  // ENOMEM here usually means vm.max_map_count
        ::munmap(mem, total);
        return errno_code(err);
    }
    ++live_;
    return fiber_stack{static_cast<char*>(mem), total};
}

void stack_pool::release(fiber_stack stack) noexcept {
    --live_;
    detail::sanitizer::forget_stack(stack.mapping, stack.mapping_size);
    if (cache_.size() >= cache_limit_) {
        ::munmap(stack.mapping, stack.mapping_size);
        return;
    }
    // Keep the top page (the next fiber touches it at once); drop the rest.
    const std::size_t droppable = stack.usable_size() - page_size();
    ::madvise(stack.bottom(), droppable, MADV_DONTNEED);
    cache_.push_back(stack);
}

}  // namespace stampede::runtime
