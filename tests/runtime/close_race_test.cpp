// A stream or listener closed by one fiber while the fiber that owns it ends
// and destroys it (the broker's stop() and its acceptor fiber, commit 83fa2a3).
// The close blocks (draining operations, or waiting for the multishot accept's
// last completion); the destructor must neither free the implementation under
// it nor touch it once the closer has. Without the fix these end in a
// heap-use-after-free (ASan) or a crash.

#include <atomic>
#include <cstddef>
#include <utility>

#include "stampede/runtime/io.hpp"
#include "stampede/runtime/runtime.hpp"
#include "stampede/runtime/sync.hpp"
#include "test_support.hpp"

using namespace stampede::runtime;
using namespace std::chrono_literals;

namespace {

constexpr int iterations = 200;

// Marks a wait_group done when destroyed (a moved-from one does nothing).
class done_on_destroy {
  public:
    explicit done_on_destroy(wait_group& group) noexcept : group_(&group) { group.add(); }
    done_on_destroy(done_on_destroy&& other) noexcept
        : group_(std::exchange(other.group_, nullptr)) {}
    done_on_destroy& operator=(done_on_destroy&&) = delete;
    ~done_on_destroy() {
        if (group_ != nullptr) {
            group_->done();
        }
    }

  private:
    wait_group* group_;
};

// What an owner fiber keeps by value in its lambda. Members go in reverse
// order, so `gone` reports only once `handle` has been destroyed.
template <class Handle>
struct owned {
    done_on_destroy gone;
    Handle handle;
};

// Yields until `ready()` or 5 s have passed; false on timeout.
template <class Ready>
bool yield_until(Ready ready) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!ready()) {
        if (std::chrono::steady_clock::now() > deadline) {
            return false;
        }
        this_fiber::yield();
    }
    return true;
}

bool is(const boost::system::error_code& ec, errc what) {
    return ec == make_error_code(what);
}

struct race_outcome {
    int rounds = 0;       ///< iterations that completed
    int closed_ends = 0;  ///< the owner's (or reader's) wait ended with stream_closed
    int stuck = 0;        ///< an iteration's fibers did not finish within 5 s
};

// Plays `iterations` rounds against a loopback server running `handler`:
// each round gets a fresh client stream, and `round(client, i, result)` stages
// the race on it.
template <class Round>
race_outcome stream_rounds(runtime& rt, void (*handler)(tcp_stream), Round round) {
    race_outcome result;
    auto listener = tcp_listener::listen(endpoint::loopback(0));
    if (!listener) {
        return result;
    }
    const std::uint16_t port = listener->local_endpoint().port();
    this_scheduler()->spawn([&] { (void)serve(*listener, rt, handler); });
    for (int i = 0; i < iterations; ++i) {
        auto client = tcp_stream::connect(endpoint::loopback(port), deadline_after(5s));
        if (!client) {
            break;
        }
        round(std::move(*client), i, result);
        ++result.rounds;
    }
    listener->close();
    return result;
}

// A connection handler that sends small chunks until the peer goes.
void chatter(tcp_stream stream) {
    const char chunk[16] = "0123456789abcde";
    while (stream.write({chunk, sizeof chunk})) {
        this_fiber::yield();
    }
}

// A connection handler that holds the connection, sending nothing, until the peer goes.
void silent(tcp_stream stream) {
    while (stream.receive()) {
    }
}

}  // namespace

// As broker start_listener/stop: the acceptor fiber keeps the listener by
// value and publishes a pointer; another fiber closes it through the pointer.
// The acceptor's serve() returns, its fiber ends and destroys the listener
// while the close still waits (io_uring: for the cancelled multishot accept's
// last completion; Asio: for the acceptor to leave accept()). A client on the
// other scheduler keeps connecting, so accept completions are in flight.
TEST_CASE("a listener closed by another fiber while its owner ends and destroys it",
          "[runtime][io][close]") {
    STAMPEDE_EACH_BACKEND(backend);
    // Connection handlers may still run after their round: outlives the runtime.
    std::atomic<int> accepted{0};
    const race_outcome out = test::run_in_runtime(backend, 2, [&accepted](runtime& rt) {
        race_outcome result;
        for (int i = 0; i < iterations; ++i) {
            auto listener = tcp_listener::listen(endpoint::loopback(0));
            if (!listener) {
                break;
            }
            const std::uint16_t port = listener->local_endpoint().port();
            const int accepted_before = accepted.load();
            std::atomic<bool> stop_client{false};
            std::atomic<bool> client_done{false};
            wait_group gone;
            tcp_listener* published = nullptr;
            boost::system::error_code served;

            this_scheduler()->spawn(
                [&,
                 l = owned<tcp_listener>{done_on_destroy(gone), std::move(*listener)}]() mutable {
                    published = &l.handle;
                    auto r = serve(l.handle, rt, [&](tcp_stream) { ++accepted; });
                    served = r ? boost::system::error_code{} : r.error();
                    published = nullptr;
                },
                {0, "acceptor"});
            rt.at(1).spawn([&, port] {
                while (!stop_client.load()) {
                    (void)tcp_stream::connect(endpoint::loopback(port), deadline_after(1s));
                }
                client_done = true;
            });

            const int before_close = accepted_before + 1 + i % 4;
            if (!yield_until([&] { return accepted.load() >= before_close && published; })) {
                ++result.stuck;
            }
            if (published != nullptr) {
                published->close();  // the acceptor destroys `*published` meanwhile
            }
            if (!gone.wait(deadline_after(5s))) {
                ++result.stuck;
            }
            stop_client = true;
            if (!yield_until([&] { return client_done.load(); })) {
                ++result.stuck;
            }
            result.closed_ends += is(served, errc::stream_closed) ? 1 : 0;
            ++result.rounds;
        }
        return result;
    });
    CHECK(out.rounds == iterations);
    CHECK(out.stuck == 0);
    CHECK(out.closed_ends == iterations);
}

// The same for a stream: its owner fiber is blocked in receive (the peer keeps
// sending, so receives complete around the close) when another fiber closes
// it; the owner's receive fails, it ends and destroys the stream while the
// closer may still be draining.
TEST_CASE(
    "a stream closed by another fiber while its owner blocked in receive ends and destroys it",
    "[runtime][io][close]") {
    STAMPEDE_EACH_BACKEND(backend);
    const race_outcome out = test::run_in_runtime(backend, 2, [](runtime& rt) {
        return stream_rounds(rt, chatter, [](tcp_stream client, int i, race_outcome& result) {
            wait_group gone;
            tcp_stream* published = nullptr;
            int received = 0;
            boost::system::error_code ended;

            this_scheduler()->spawn(
                [&, s = owned<tcp_stream>{done_on_destroy(gone), std::move(client)}]() mutable {
                    published = &s.handle;
                    for (;;) {
                        auto got = s.handle.receive();
                        if (!got) {
                            ended = got.error();
                            break;
                        }
                        ++received;
                    }
                    published = nullptr;
                },
                {0, "owner"});

            const int before_close = 1 + i % 4;
            if (!yield_until([&] { return received >= before_close && published; })) {
                ++result.stuck;
            }
            if (published != nullptr) {
                published->close();  // the owner destroys `*published` meanwhile
            }
            if (!gone.wait(deadline_after(5s))) {
                ++result.stuck;
            }
            result.closed_ends += is(ended, errc::stream_closed) ? 1 : 0;
        });
    });
    CHECK(out.rounds == iterations);
    CHECK(out.stuck == 0);
    CHECK(out.closed_ends == iterations);
}

// Three fibers: the owner holds the stream, a reader is blocked in receive on
// it through a pointer, a closer closes it; the owner ends and destroys the
// stream as soon as the close has begun, while the closer is still waiting
// for the reader's receive to complete.
TEST_CASE("a stream closed under a blocked reader while a third fiber destroys it",
          "[runtime][io][close]") {
    STAMPEDE_EACH_BACKEND(backend);
    const race_outcome out = test::run_in_runtime(backend, 2, [](runtime& rt) {
        return stream_rounds(rt, silent, [](tcp_stream client, int, race_outcome& result) {
            wait_group gone;
            tcp_stream* published = nullptr;
            bool close_begun = false;
            bool reader_waiting = false;
            boost::system::error_code ended;

            this_scheduler()->spawn(
                [&, s = owned<tcp_stream>{done_on_destroy(gone), std::move(client)}]() mutable {
                    published = &s.handle;
                    (void)yield_until([&] { return close_begun; });
                },
                {0, "owner"});
            this_scheduler()->spawn([&, reader = done_on_destroy(gone)] {
                (void)yield_until([&] { return published != nullptr; });
                reader_waiting = true;
                auto got = published->receive();  // the handle may be gone once this returns
                ended = got ? boost::system::error_code{} : got.error();
            });

            // The reader blocks in receive() before this fiber runs again.
            if (!yield_until([&] { return reader_waiting; })) {
                ++result.stuck;
            }
            tcp_stream* target = published;
            close_begun = true;
            if (target != nullptr) {
                target->close();  // the owner destroys `*target` meanwhile
            }
            if (!gone.wait(deadline_after(5s))) {
                ++result.stuck;
            }
            result.closed_ends += is(ended, errc::stream_closed) ? 1 : 0;
        });
    });
    CHECK(out.rounds == iterations);
    CHECK(out.stuck == 0);
    CHECK(out.closed_ends == iterations);
}
