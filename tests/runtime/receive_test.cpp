// Receive buffers: a reader that pauses, mixed receive()/read_some(), buffers
// given back on close, and a buffer ring too small for its connections. On
// io_uring these exercise the standing multishot receive and its bounds.

#include <algorithm>
#include <atomic>
#include <optional>
#include <vector>

#include "stampede/runtime/io.hpp"
#include "stampede/runtime/runtime.hpp"
#include "stampede/runtime/sync.hpp"
#include "test_support.hpp"

using namespace stampede::runtime;
using namespace std::chrono_literals;

namespace {

char pattern_byte(std::uint64_t offset) {
    return static_cast<char>((offset * 131 + 7) % 251);
}

/// Writes `total` pattern bytes in 64 KiB writes, then half-closes.
void write_pattern(tcp_stream& stream, std::uint64_t total) {
    std::vector<char> chunk(64 * 1024);
    for (std::uint64_t sent = 0; sent < total;) {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), total - sent));
        for (std::size_t i = 0; i < n; ++i) {
            chunk[i] = pattern_byte(sent + i);
        }
        if (!stream.write({chunk.data(), n})) {
            return;
        }
        sent += n;
    }
    stream.shutdown_send();
}

/// Counts bytes and pattern mismatches of one received stream.
struct checker {
    std::uint64_t received = 0;
    std::uint64_t mismatches = 0;
    void take(std::span<const char> bytes) {
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            mismatches += bytes[i] != pattern_byte(received + i) ? 1 : 0;
        }
        received += bytes.size();
    }
};

/// A connected pair on the calling scheduler: {client, accepted server side}.
std::optional<std::pair<tcp_stream, tcp_stream>> connected_pair() {
    auto listener = tcp_listener::listen(endpoint::loopback(0));
    if (!listener) {
        return std::nullopt;
    }
    auto client = tcp_stream::connect(endpoint::loopback(listener->local_endpoint().port()));
    auto fd = listener->accept();
    if (!client || !fd) {
        return std::nullopt;
    }
    auto server = tcp_stream::adopt(std::move(*fd));
    if (!server) {
        return std::nullopt;
    }
    return std::pair{std::move(*client), std::move(*server)};
}

}  // namespace

TEST_CASE("a reader that stops reading holds few receive buffers and then gets every byte",
          "[runtime][io][receive]") {
    STAMPEDE_EACH_BACKEND(backend);
    constexpr std::uint64_t total = 32ull << 20;  // far more than the socket buffers hold
    struct outcome {
        bool connected = false;
        std::size_t ring_size = 0;
        std::size_t most_held = 0;
        checker seen;
    };
    const outcome out = test::run_in_runtime(backend, 1, [](runtime&) {
        outcome result;
        auto pair = connected_pair();
        if (!pair) {
            return result;
        }
        result.connected = true;
        auto& [client, server] = *pair;
        bool writer_done = false;
        this_scheduler()->spawn([&] {
            write_pattern(client, total);
            writer_done = true;
        });
        if (auto first = server.receive()) {
            result.seen.take(first->data());
        }
        // The reader pauses while the writer pushes all it can: whatever the
        // timing, a paused reader must never hold more than a few buffers.
        for (int i = 0; i < 200; ++i) {
            (void)this_fiber::sleep_for(1ms);
            result.most_held = std::max(result.most_held, local_receive_buffer_stats().ring_out);
        }
        result.ring_size = local_receive_buffer_stats().ring_size;
        for (;;) {
            auto data = server.receive();
            if (!data) {
                break;
            }
            result.seen.take(data->data());
        }
        while (!writer_done) {
            (void)this_fiber::sleep_for(1ms);
        }
        return result;
    });
    REQUIRE(out.connected);
    CHECK(out.seen.received == total);
    CHECK(out.seen.mismatches == 0);
    INFO("ring of " << out.ring_size << " buffers");
    CHECK(out.most_held <= 8);
}

TEST_CASE("receive and read_some on one stream see the bytes in order", "[runtime][io][receive]") {
    STAMPEDE_EACH_BACKEND(backend);
    constexpr std::uint64_t total = 4ull << 20;
    const auto out = test::run_in_runtime(backend, 1, [](runtime&) {
        checker seen;
        auto pair = connected_pair();
        if (!pair) {
            return seen;
        }
        auto& [client, server] = *pair;
        bool writer_done = false;
        this_scheduler()->spawn([&] {
            write_pattern(client, total);
            writer_done = true;
        });
        // Odd small reads leave most of each received buffer for the next call.
        std::vector<char> small(97);
        for (bool use_receive = true;; use_receive = !use_receive) {
            if (use_receive) {
                auto data = server.receive();
                if (!data) {
                    break;
                }
                seen.take(data->data());
            } else {
                auto n = server.read_some(small);
                if (!n) {
                    break;
                }
                seen.take({small.data(), *n});
            }
        }
        while (!writer_done) {
            (void)this_fiber::sleep_for(1ms);
        }
        return seen;
    });
    CHECK(out.received == total);
    CHECK(out.mismatches == 0);
}

TEST_CASE("a stream closed with received data waiting gives its buffers back",
          "[runtime][io][receive]") {
    STAMPEDE_EACH_BACKEND(backend);
    const auto [connected, held_after] = test::run_in_runtime(backend, 1, [](runtime&) {
        auto pair = connected_pair();
        if (!pair) {
            return std::pair{false, std::size_t{0}};
        }
        auto& [client, server] = *pair;
        this_scheduler()->spawn([&client] { write_pattern(client, 1 << 20); });
        (void)server.receive();  // arms the receive; more arrives behind it
        (void)this_fiber::sleep_for(20ms);
        server.close();
        client.close();
        // The buffers come back with the receive's last completion.
        const auto give_up = clock::now() + 10s;
        while (local_receive_buffer_stats().ring_out != 0 && clock::now() < give_up) {
            (void)this_fiber::sleep_for(1ms);
        }
        return std::pair{true, local_receive_buffer_stats().ring_out};
    });
    REQUIRE(connected);
    CHECK(held_after == 0);
}

namespace {

/// Echoes until the peer half-closes.
void echo(tcp_stream stream) {
    for (;;) {
        auto data = stream.receive();
        if (!data || !stream.write(data->data())) {
            break;
        }
    }
    stream.shutdown_send();
}

struct crowd_outcome {
    int intact = 0;
    std::uint64_t heap_receives = 0;
    std::size_t held_after = 0;
};

// `clients` connections each echo `bytes` through a server whose buffer ring
// has far fewer buffers than there are connections.
crowd_outcome run_crowd(runtime_options options, int clients, std::uint64_t bytes) {
    runtime rt(options);
    rt.start();
    crowd_outcome out = rt.run_on(0, [&] {
        crowd_outcome result;
        auto listener = tcp_listener::listen(endpoint::loopback(0));
        if (!listener) {
            return result;
        }
        const auto port = listener->local_endpoint().port();
        this_scheduler()->spawn([&] { (void)serve(*listener, rt, echo); });
        int finished = 0;
        event done;
        for (int c = 0; c < clients; ++c) {
            this_scheduler()->spawn([&] {
                auto stream = tcp_stream::connect(endpoint::loopback(port));
                if (stream) {
                    this_scheduler()->spawn([&s = *stream, bytes] { write_pattern(s, bytes); });
                    checker seen;
                    std::vector<char> buffer(16 * 1024);
                    while (auto n = stream->read_some(buffer)) {
                        seen.take({buffer.data(), *n});
                    }
                    result.intact += seen.received == bytes && seen.mismatches == 0 ? 1 : 0;
                    (void)this_fiber::sleep_for(1ms);  // the writer fiber leaves first
                }
                ++finished;
                done.notify_all();
            });
        }
        while (finished < clients) {
            (void)done.wait();
        }
        listener->close();
        result.heap_receives = local_receive_buffer_stats().heap_receives;
        result.held_after = local_receive_buffer_stats().ring_out;
        return result;
    });
    rt.stop();
    return out;
}

}  // namespace

TEST_CASE("a buffer ring smaller than its connections' needs falls back and loses nothing",
          "[runtime][io][receive]") {
    STAMPEDE_EACH_BACKEND(backend);
    const bool multishot = GENERATE(true, false);
    INFO("multishot receive: " << multishot);
    runtime_options options = test::options_for(backend, 1);
    options.recv_buffer_count = 4;
    options.uring_multishot_receive = multishot;
    constexpr int clients = 24;
    const crowd_outcome out = run_crowd(options, clients, 2 << 20);
    INFO("receives into heap buffers: " << out.heap_receives);
    CHECK(out.intact == clients);
    CHECK(out.held_after == 0);
}

TEST_CASE("when every ring buffer is held a receive falls back to a heap buffer",
          "[runtime][io][receive]") {
    STAMPEDE_EACH_BACKEND(backend);
    struct outcome {
        bool connected = false;
        std::size_t ring_size = 0;
        std::size_t held = 0;
        std::uint64_t heap_before = 0;
        std::uint64_t heap_after = 0;
        std::string second;
    };
    runtime_options options = test::options_for(backend, 1);
    options.recv_buffer_count = 2;
    runtime rt(options);
    rt.start();
    const outcome out = rt.run_on(0, [] {
        outcome result;
        auto a = connected_pair();
        auto b = connected_pair();
        if (!a || !b) {
            return result;
        }
        result.connected = true;
        this_scheduler()->spawn([&a] { write_pattern(a->first, 256 * 1024); });
        // A holds two received buffers: on io_uring, the whole ring.
        auto first = a->second.receive();
        auto second = a->second.receive();
        result.ring_size = local_receive_buffer_stats().ring_size;
        result.held = local_receive_buffer_stats().ring_out;
        result.heap_before = local_receive_buffer_stats().heap_receives;
        (void)b->first.write({"hello", 5});
        if (auto got = b->second.receive()) {
            result.second.assign(got->data().data(), got->size());
        }
        result.heap_after = local_receive_buffer_stats().heap_receives;
        return result;
    });
    rt.stop();
    REQUIRE(out.connected);
    CHECK(out.second == "hello");
    CHECK(out.heap_after == out.heap_before + 1);
    if (backend == io_mode::uring) {
        CHECK(out.ring_size == 2);
        CHECK(out.held == 2);
    }
}

TEST_CASE("receive buffers go back to the kernel once receiving is quiet, and work after",
          "[runtime][io][receive]") {
    STAMPEDE_EACH_BACKEND(backend);
    struct outcome {
        bool connected = false;
        std::uint64_t releases_before = 0;
        std::uint64_t releases_after = 0;
        checker first;
        checker second;
    };
    const outcome out = test::run_in_runtime(backend, 1, [](runtime&) {
        outcome result;
        auto pair = connected_pair();
        if (!pair) {
            return result;
        }
        result.connected = true;
        auto& [client, server] = *pair;
        auto transfer = [&](checker& seen, std::uint64_t bytes) {
            std::vector<char> chunk(64 * 1024);
            for (std::uint64_t sent = 0; sent < bytes; sent += chunk.size()) {
                for (std::size_t i = 0; i < chunk.size(); ++i) {
                    chunk[i] = pattern_byte(sent + i);
                }
                (void)client.write(chunk);
                while (seen.received < sent + chunk.size()) {
                    auto data = server.receive();
                    if (!data) {
                        return;
                    }
                    seen.take(data->data());
                }
            }
        };
        transfer(result.first, 4 << 20);
        result.releases_before = local_receive_buffer_stats().idle_releases;
        // Quiet now: within a few quiet periods the buffers are released.
        const auto give_up = clock::now() + 30s;
        while (local_receive_buffer_stats().idle_releases == result.releases_before &&
               clock::now() < give_up) {
            (void)this_fiber::sleep_for(10ms);
        }
        result.releases_after = local_receive_buffer_stats().idle_releases;
        transfer(result.second, 4 << 20);  // into pages the kernel faults in afresh
        return result;
    });
    REQUIRE(out.connected);
    CHECK(out.releases_after > out.releases_before);
    CHECK(out.first.received == 4u << 20);
    CHECK(out.first.mismatches == 0);
    CHECK(out.second.received == 4u << 20);
    CHECK(out.second.mismatches == 0);
}
