#include "stampede/runtime/overflow_guard.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "stampede/runtime/detail/actor_cell.hpp"
#include "stampede/runtime/detail/fiber_ctl.hpp"
#include "stampede/runtime/detail/thread_state.hpp"

namespace stampede::runtime {
namespace {

struct sigaction previous_segv {};
struct sigaction previous_bus {};

// Everything below runs inside a signal handler: async-signal-safe calls only
// (write, abort), no allocation, no locks.
class signal_safe_line {
  public:
    signal_safe_line& text(const char* s) { return text(s, std::strlen(s)); }
    signal_safe_line& text(const char* s, std::size_t n) {
        for (std::size_t i = 0; i < n && used_ < sizeof buffer_ - 1; ++i) {
            buffer_[used_++] = s[i];
        }
        return *this;
    }
    signal_safe_line& number(std::uint64_t value) {
        char digits[24];
        int n = 0;
        do {
            digits[n++] = static_cast<char>('0' + value % 10);
            value /= 10;
        } while (value != 0);
        while (n > 0 && used_ < sizeof buffer_ - 1) {
            buffer_[used_++] = digits[--n];
        }
        return *this;
    }
    void write_to_stderr() {
        buffer_[used_++] = '\n';
        [[maybe_unused]] const auto n = ::write(STDERR_FILENO, buffer_, used_);
    }

  private:
    char buffer_[512];
    std::size_t used_ = 0;
};

// A fault at most this far below the guard page still counts as an overflow: a
// large frame can step over the guard before touching it (we also build with
// -fstack-clash-protection, which probes every page of large frames).
constexpr std::uintptr_t below_guard_slack = 64 * 1024;

bool in_guard_zone(const detail::fiber_ctl& fiber, const void* address) {
    const auto addr = reinterpret_cast<std::uintptr_t>(address);
    const auto guard = reinterpret_cast<std::uintptr_t>(fiber.stack.guard_begin());
    const auto bottom = reinterpret_cast<std::uintptr_t>(fiber.stack.bottom());
    return addr < bottom && addr + below_guard_slack >= guard;
}

void report_overflow(const detail::fiber_ctl& fiber) {
    signal_safe_line line;
    line.text("stampede: fiber stack overflow: fiber '")
        .text(fiber.kind)
        .text("' (id ")
        .number(fiber.id)
        .text(") on scheduler ")
        .number(static_cast<std::uint64_t>(detail::tls.index))
        .text(", stack size ")
        .number(fiber.stack.usable_size())
        .text(" bytes");
    if (const detail::actor_cell* actor = fiber.actor) {
        line.text(", running actor '")
            .text(actor->name().data(), actor->name().size())
            .text("' (id ")
            .number(actor->id())
            .text(")");
    }
    line.text("; raise the stack size (stack_size in fiber_options, --stack-size for the broker)");
    line.write_to_stderr();
}

void chain(const struct sigaction& previous, int sig, siginfo_t* info, void* context) {
    if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
        previous.sa_sigaction(sig, info, context);
        return;
    }
    if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN &&
        previous.sa_handler != nullptr) {
        previous.sa_handler(sig);
        return;
    }
    // Default action: restore it and return, so the faulting instruction faults again.
    ::signal(sig, SIG_DFL);
}

void on_fault(int sig, siginfo_t* info, void* context) {
    const detail::fiber_ctl* fiber = detail::tls.fiber;
    if (fiber != nullptr && in_guard_zone(*fiber, info->si_addr)) {
        report_overflow(*fiber);
        std::abort();
    }
    chain(sig == SIGBUS ? previous_bus : previous_segv, sig, info, context);
}

// Frees the thread's alternate signal stack when the thread ends.
struct signal_stack {
    void* memory = nullptr;
    std::size_t size = 0;
    ~signal_stack() {
        if (memory != nullptr) {
            stack_t disable{};
            disable.ss_flags = SS_DISABLE;
            ::sigaltstack(&disable, nullptr);
            ::munmap(memory, size);
        }
    }
};

}  // namespace

void install_overflow_guard() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction action {};
        action.sa_sigaction = &on_fault;
        action.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigemptyset(&action.sa_mask);
        ::sigaction(SIGSEGV, &action, &previous_segv);
        ::sigaction(SIGBUS, &action, &previous_bus);
    });
    install_signal_stack();
}

void install_signal_stack() {
    thread_local signal_stack stack;
    if (stack.memory != nullptr) {
        return;
    }
    stack_t current{};
    if (::sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE) == 0 &&
        current.ss_size >= 32 * 1024) {
        return;  // somebody (a sanitizer) already gave this thread one
    }
    stack.size = 64 * 1024;
    stack.memory =
        ::mmap(nullptr, stack.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack.memory == MAP_FAILED) {
        stack.memory = nullptr;
        return;
    }
    stack_t alt{};
    alt.ss_sp = stack.memory;
    alt.ss_size = stack.size;
    ::sigaltstack(&alt, nullptr);
}

}  // namespace stampede::runtime
