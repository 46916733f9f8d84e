#pragma once

// Stack-switch annotations for AddressSanitizer. Boost's fcontext fibers do not
// announce their switches; without these, ASan reports false stack overflows.
// TSan builds use Boost's ucontext fibers instead, which announce their own
// switches at the one place that keeps TSan's shadow stacks paired (inside
// resume()); the TSan hooks here are then empty. In normal builds every
// function here is an empty inline.

#include <cstddef>

#if defined(STAMPEDE_ASAN)
extern "C" {
void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, std::size_t size);
void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old,
                                     std::size_t* size_old);
void __asan_unpoison_memory_region(void const volatile* addr, std::size_t size);
}
#endif
#if defined(STAMPEDE_TSAN) && !defined(BOOST_USE_TSAN)
extern "C" {
void* __tsan_get_current_fiber(void);
void* __tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void* fiber);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
}
#endif

namespace stampede::runtime::detail::sanitizer {

/// Before switching stacks: `fake_stack_save` is null when the current stack dies.
inline void start_switch([[maybe_unused]] void** fake_stack_save,
                         [[maybe_unused]] const void* bottom,
                         [[maybe_unused]] std::size_t size) noexcept {
#if defined(STAMPEDE_ASAN)
    __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#endif
}

/// After arriving on a stack; reports the bounds of the stack we came from.
inline void finish_switch([[maybe_unused]] void* fake_stack_save,
                          [[maybe_unused]] const void** bottom_old,
                          [[maybe_unused]] std::size_t* size_old) noexcept {
#if defined(STAMPEDE_ASAN)
    __sanitizer_finish_switch_fiber(fake_stack_save, bottom_old, size_old);
#endif
}

/// A fiber stack leaves use (cached or unmapped). The frames of a fiber that
/// never returned (its last ones, or all of a fiber destroyed suspended) keep
/// their redzones poisoned; ASan would blame whatever is mapped there next.
inline void forget_stack([[maybe_unused]] const void* mapping,
                         [[maybe_unused]] std::size_t size) noexcept {
#if defined(STAMPEDE_ASAN)
    __asan_unpoison_memory_region(mapping, size);
#endif
}

inline void* current_fiber() noexcept {
#if defined(STAMPEDE_TSAN) && !defined(BOOST_USE_TSAN)
    return __tsan_get_current_fiber();
#else
    return nullptr;
#endif
}

inline void* create_fiber() noexcept {
#if defined(STAMPEDE_TSAN) && !defined(BOOST_USE_TSAN)
    return __tsan_create_fiber(0);
#else
    return nullptr;
#endif
}

inline void destroy_fiber([[maybe_unused]] void* fiber) noexcept {
#if defined(STAMPEDE_TSAN) && !defined(BOOST_USE_TSAN)
    __tsan_destroy_fiber(fiber);
#endif
}

inline void switch_to([[maybe_unused]] void* fiber) noexcept {
#if defined(STAMPEDE_TSAN) && !defined(BOOST_USE_TSAN)
    __tsan_switch_to_fiber(fiber, 0);
#endif
}

}  // namespace stampede::runtime::detail::sanitizer
