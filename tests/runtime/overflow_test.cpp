#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>

#include "stampede/runtime/actor.hpp"
#include "stampede/runtime/runtime.hpp"
#include "test_support.hpp"

using namespace stampede::runtime;
using namespace std::chrono_literals;

namespace {

// Recurses until the stack runs out; each frame keeps 512 bytes alive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winfinite-recursion"
[[gnu::noinline]] int recurse_forever(int depth) {
    volatile char frame[512];
    frame[0] = static_cast<char>(depth);
    return recurse_forever(depth + 1) + frame[0];
}
#pragma GCC diagnostic pop

struct dive {};
class deep_thinker : public gen_server<deep_thinker> {
  public:
    void handle_cast(dive&) { recurse_forever(0); }
};

struct child_result {
    int signal = 0;
    std::string stderr_text;
};

// Runs `body` in a child process with stderr captured; returns how it died.
template <class Body>
child_result in_child(Body body) {
    int err_pipe[2];
    REQUIRE(::pipe(err_pipe) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::dup2(err_pipe[1], STDERR_FILENO);
        ::close(err_pipe[0]);
        body();
        ::_exit(0);  // not reached when the guard page works
    }
    ::close(err_pipe[1]);
    child_result out;
    char buffer[4096];
    for (ssize_t n; (n = ::read(err_pipe[0], buffer, sizeof buffer)) > 0;) {
        out.stderr_text.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(err_pipe[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    out.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return out;
}

}  // namespace

TEST_CASE("a fiber overflowing its stack is reported by name before the process aborts",
          "[runtime][stack][overflow]") {
    STAMPEDE_EACH_BACKEND(backend);
    const child_result died = in_child([backend] {
        runtime rt(test::options_for(backend, 1));
        rt.start();
        rt.at(0).spawn([] { recurse_forever(0); }, {16 * 1024, "recursor"});
        std::this_thread::sleep_for(10s);
    });
    INFO(died.stderr_text);
    CHECK(died.signal == SIGABRT);
    CHECK(died.stderr_text.find("fiber stack overflow") != std::string::npos);
    CHECK(died.stderr_text.find("'recursor'") != std::string::npos);
    CHECK(died.stderr_text.find("stack size 16384 bytes") != std::string::npos);
}

TEST_CASE("an actor overflowing its worker's stack is reported with the actor's name",
          "[runtime][stack][overflow]") {
    STAMPEDE_EACH_BACKEND(backend);
    const child_result died = in_child([backend] {
        runtime_options options = test::options_for(backend, 1);
        options.default_stack_size = 32 * 1024;
        runtime rt(options);
        rt.start();
        auto thinker = spawn<deep_thinker>(rt.at(0), "deep-thinker");
        thinker.cast(dive{});
        std::this_thread::sleep_for(10s);
    });
    INFO(died.stderr_text);
    CHECK(died.signal == SIGABRT);
    CHECK(died.stderr_text.find("'worker'") != std::string::npos);
    CHECK(died.stderr_text.find("actor 'deep-thinker'") != std::string::npos);
    CHECK(died.stderr_text.find("stack size 32768 bytes") != std::string::npos);
}
