// TSan builds only (BOOST_USE_UCONTEXT): Debian's libboost_context is built for
// fcontext, so the few out-of-line pieces of Boost's ucontext fibers are
// missing from it. These are the equivalents of Boost's own src/fiber.cpp.
#if defined(BOOST_USE_UCONTEXT)

#include <boost/context/fiber.hpp>

namespace boost::context::detail {

namespace {
thread_local fiber_activation_record* current_record = nullptr;
thread_local std::size_t initializer_count = 0;
}  // namespace

fiber_activation_record_initializer::fiber_activation_record_initializer() noexcept {
    if (initializer_count++ == 0) {
        current_record = new fiber_activation_record();
    }
}

fiber_activation_record_initializer::~fiber_activation_record_initializer() {
    if (--initializer_count == 0) {
        delete current_record;
    }
}

fiber_activation_record*& fiber_activation_record::current() noexcept {
    // The calling thread's main context record, created on first use.
    thread_local static fiber_activation_record_initializer initializer;
    return current_record;
}

}  // namespace boost::context::detail

#endif
