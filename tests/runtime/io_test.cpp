#include "stampede/runtime/io.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

#include "stampede/runtime/actor.hpp"
#include "stampede/runtime/runtime.hpp"
#include "test_support.hpp"

using namespace stampede::runtime;
using namespace std::chrono_literals;

namespace {

char pattern_byte(std::uint64_t offset) {
    return static_cast<char>((offset * 131 + 7) % 251);
}

// Echoes everything until the peer half-closes, then half-closes too.
void echo(tcp_stream stream) {
    for (;;) {
        auto data = stream.receive();
        if (!data) {
            break;
        }
        if (!stream.write(data->data())) {
            return;
        }
    }
    stream.shutdown_send();
}

struct echo_outcome {
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
    std::uint64_t mismatches = 0;
    std::string error;
};

}  // namespace

TEST_CASE("a loopback echo moves a gibibyte intact", "[runtime][io]") {
    STAMPEDE_EACH_BACKEND(backend);
    constexpr std::uint64_t total = 1ull << 30;
    const echo_outcome out = test::run_in_runtime(backend, 2, [](runtime& rt) {
        echo_outcome result;
        auto listener = tcp_listener::listen(endpoint::loopback(0));
        if (!listener) {
            result.error = listener.error().message();
            return result;
        }
        const auto port = listener->local_endpoint().port();
        this_scheduler()->spawn([&] { (void)serve(*listener, rt, echo); });

        auto client = tcp_stream::connect(endpoint::loopback(port));
        if (!client) {
            result.error = client.error().message();
            return result;
        }
        bool writer_done = false;
        this_scheduler()->spawn([&] {
            std::vector<char> chunk(256 * 1024);
            while (result.sent < total) {
                for (std::size_t i = 0; i < chunk.size(); ++i) {
                    chunk[i] = pattern_byte(result.sent + i);
                }
                if (auto w = client->write(chunk); !w) {
                    result.error = w.error().message();
                    break;
                }
                result.sent += chunk.size();
            }
            client->shutdown_send();
            writer_done = true;
        });
        std::vector<char> buffer(256 * 1024);
        for (;;) {
            auto got = client->read_some(buffer);
            if (!got) {
                break;
            }
            for (std::size_t i = 0; i < *got; ++i) {
                result.mismatches += buffer[i] != pattern_byte(result.received + i) ? 1 : 0;
            }
            result.received += *got;
        }
        while (!writer_done) {
            this_fiber::yield();
        }
        listener->close();
        return result;
    });
    CHECK(out.error.empty());
    CHECK(out.sent == total);
    CHECK(out.received == total);
    CHECK(out.mismatches == 0);
}

TEST_CASE("a receive past its deadline times out and the stream stays usable", "[runtime][io]") {
    STAMPEDE_EACH_BACKEND(backend);
    const auto [timed_out, then_received] = test::run_in_runtime(backend, 1, [](runtime& rt) {
        auto listener = tcp_listener::listen(endpoint::loopback(0));
        const auto port = listener->local_endpoint().port();
        this_scheduler()->spawn([&] { (void)serve(*listener, rt, echo); });
        auto client = tcp_stream::connect(endpoint::loopback(port));
        auto first = client->receive(deadline_after(30ms));
        const bool timeout = first.has_error() && first.error() == errc::timeout;
        const char hello[] = "hello";
        (void)client->write({hello, 5});
        auto second = client->receive(deadline_after(5s));
        listener->close();
        return std::pair{timeout, second ? std::string(second->data().data(), second->size())
                                         : second.error().message()};
    });
    CHECK(timed_out);
    CHECK(then_received == "hello");
}

TEST_CASE("closing a stream interrupts a receive blocked on it", "[runtime][io]") {
    STAMPEDE_EACH_BACKEND(backend);
    const bool interrupted = test::run_in_runtime(backend, 1, [](runtime& rt) {
        auto listener = tcp_listener::listen(endpoint::loopback(0));
        const auto port = listener->local_endpoint().port();
        this_scheduler()->spawn([&] { (void)serve(*listener, rt, echo); });
        auto client = tcp_stream::connect(endpoint::loopback(port));
        std::optional<boost::system::error_code> reader_error;
        this_scheduler()->spawn([&] {
            auto got = client->receive();
            reader_error = got ? boost::system::error_code{} : got.error();
        });
        (void)this_fiber::sleep_for(10ms);
        client->close();  // waits for the reader's operation to complete
        listener->close();
        return reader_error && *reader_error == errc::stream_closed;
    });
    CHECK(interrupted);
}

TEST_CASE("connecting to a closed port fails with connection refused", "[runtime][io]") {
    STAMPEDE_EACH_BACKEND(backend);
    const auto error = test::run_in_runtime(backend, 1, [](runtime&) {
        std::uint16_t port = 0;
        {
            auto listener = tcp_listener::listen(endpoint::loopback(0));
            port = listener->local_endpoint().port();
        }
        auto client = tcp_stream::connect(endpoint::loopback(port));
        return client ? boost::system::error_code{} : client.error();
    });
    CHECK(error == boost::system::errc::connection_refused);
}

namespace {

void raise_fd_limit() {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
}

// The client side of the many-connections test, in a child process (each
// side needs its own 10,000 descriptors). Exits 0 when every connection
// echoed and all of them were open at the same time.
[[noreturn]] void run_many_clients(io_mode backend, int port_pipe, int connections) {
    std::uint16_t port = 0;
    if (::read(port_pipe, &port, sizeof port) != sizeof port) {
        ::_exit(3);
    }
    raise_fd_limit();
    runtime rt(test::options_for(backend, 2));
    rt.start();
    std::atomic<int> echoed{0};
    std::atomic<int> failed{0};
    std::atomic<int> finished{0};
    for (int i = 0; i < connections; ++i) {
        rt.at(static_cast<unsigned>(i) % 2).spawn([&, port] {
            auto stream = tcp_stream::connect(endpoint::loopback(port), deadline_after(60s));
            char reply[4] = {};
            const bool ok = stream && stream->write({"ping", 4}) &&
                            stream->read_some({reply, 4}, deadline_after(60s)) &&
                            std::memcmp(reply, "ping", 4) == 0;
            ++(ok ? echoed : failed);
            // Hold the connection until everyone has echoed: all open at once.
            while (echoed.load() + failed.load() < connections) {
                (void)this_fiber::sleep_for(10ms);
            }
            ++finished;
        });
    }
    while (finished.load() < connections) {
        std::this_thread::sleep_for(10ms);
    }
    rt.stop();
    if (failed.load() != 0 || echoed.load() != connections) {
        std::fprintf(stderr, "clients: %d of %d echoed, %d failed (connect or echo: error or 60 s deadline)\n",
                     echoed.load(), connections, failed.load());
        ::_exit(1);
    }
    ::_exit(0);
}

}  // namespace

TEST_CASE("ten thousand concurrent connections on loopback", "[runtime][io][scale]") {
    STAMPEDE_EACH_BACKEND(backend);
#if defined(STAMPEDE_TSAN)
    // TSan maps a 1.2 MiB trace per fiber: 20,000 fibers exhaust it.
    constexpr int connections = 1'000;
    WARN("ThreadSanitizer build: " << connections << " connections instead of 10,000");
#else
    constexpr int connections = 10'000;
#endif
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();  // before this process starts any thread
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(fds[1]);
        run_many_clients(backend, fds[0], connections);
    }
    ::close(fds[0]);
    raise_fd_limit();

    runtime rt(test::options_for(backend, 2));
    rt.start();
    std::atomic<int> open{0};
    std::atomic<int> peak{0};
    std::atomic<int> served{0};
    auto port = rt.run_on(0, [&] {
        auto listener = tcp_listener::listen(endpoint::loopback(0), 16384);
        const std::uint16_t bound = listener ? listener->local_endpoint().port() : 0;
        this_scheduler()->spawn([&rt, &open, &peak, &served, l = std::move(*listener)]() mutable {
            (void)serve(l, rt, [&](tcp_stream stream) {
                const int now = ++open;
                int seen = peak.load();
                while (now > seen && !peak.compare_exchange_weak(seen, now)) {
                }
                echo(std::move(stream));
                --open;
                ++served;
            });
        });
        return bound;
    });
    REQUIRE(port != 0);
    REQUIRE(::write(fds[1], &port, sizeof port) == sizeof port);
    ::close(fds[1]);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (served.load() < connections && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    rt.stop();
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(peak.load() == connections);
    CHECK(served.load() == connections);
}

namespace {
struct hold_forever {
    using reply_type = int;
};
class never_answers : public gen_server<never_answers> {
  public:
    call_result<int> handle_call(hold_forever&, const from<int>& f) {
        kept_.push_back(f);
        return noreply;
    }

  private:
    std::vector<from<int>> kept_;
};
}  // namespace

namespace {
// A plain blocking socket held by the test thread, outside the runtime, so
// that only the runtime's shutdown can end the waits on its other end.
unique_fd raw_connect(std::uint16_t port) {
    unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const endpoint to = endpoint::loopback(port);
    REQUIRE(::connect(fd.get(), to.data(), to.size()) == 0);
    return fd;
}
unique_fd raw_listen(std::uint16_t& port) {
    unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const endpoint at = endpoint::loopback(0);
    REQUIRE(::bind(fd.get(), at.data(), at.size()) == 0);
    REQUIRE(::listen(fd.get(), 8) == 0);
    port = endpoint::local_of(fd.get())->port();
    return fd;
}
}  // namespace

TEST_CASE("shutdown interrupts every kind of wait in flight", "[runtime][io][shutdown]") {
    STAMPEDE_EACH_BACKEND(backend);
    runtime rt(test::options_for(backend, 2));
    rt.start();
    std::mutex mutex;
    std::vector<std::string> endings;
    auto record = [&](const char* what, const boost::system::error_code& ec) {
        std::lock_guard lock(mutex);
        endings.push_back(std::string(what) + ": " + ec.message());
    };
    // Never accepted, never read: a writer to it blocks once buffers fill.
    std::uint16_t sink_port = 0;
    const unique_fd sink = raw_listen(sink_port);

    const std::uint16_t port = rt.run_on(0, [&] {
        auto listener = tcp_listener::listen(endpoint::loopback(0));
        const auto bound = listener->local_endpoint().port();
        this_scheduler()->spawn([&, l = std::move(*listener)]() mutable {
            auto r = serve(l, rt, [&](tcp_stream s) {
                auto got = s.receive();  // the raw client never sends
                record("receive", got ? boost::system::error_code{} : got.error());
            });
            record("serve", r ? boost::system::error_code{} : r.error());
        });
        rt.at(1).spawn([&, sink_port] {
            auto s = tcp_stream::connect(endpoint::loopback(sink_port));
            std::vector<char> chunk(1 << 20, 'x');
            boost::system::error_code last = s ? boost::system::error_code{} : s.error();
            while (s) {
                if (auto w = s->write(chunk); !w) {
                    last = w.error();
                    break;
                }
            }
            record("write", last);
        });
        this_scheduler()->spawn([&] {
            auto slept = this_fiber::sleep_for(1h);
            record("sleep", slept ? boost::system::error_code{} : slept.error());
        });
        auto silent = spawn<never_answers>(rt.at(1), "silent");
        this_scheduler()->spawn([&, silent] {
            auto r = call(silent, hold_forever{}, 1h);
            record("call", r ? boost::system::error_code{} : r.error());
        });
        return bound;
    });
    const unique_fd idle_client = raw_connect(port);
    std::this_thread::sleep_for(200ms);  // everyone is blocked now
    {
        std::lock_guard lock(mutex);
        REQUIRE(endings.empty());
    }
    rt.stop();
    std::sort(endings.begin(), endings.end());
    const std::string shutdown = make_error_code(errc::shutdown).message();
    const std::string exited = make_error_code(errc::actor_exited).message();
    REQUIRE(endings.size() == 5);
    // The caller may see its own interruption or the callee's end first.
    CHECK((endings[0] == "call: " + shutdown || endings[0] == "call: " + exited));
    CHECK(endings[1] == "receive: " + shutdown);
    CHECK(endings[2] == "serve: " + shutdown);
    CHECK(endings[3] == "sleep: " + shutdown);
    CHECK(endings[4] == "write: " + shutdown);
}
