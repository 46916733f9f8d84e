#pragma once

// A TLS server and client helpers for the transport tests. Everything runs on
// fibers of one scheduler, so the tests' shared state needs no locks.

#include <catch2/catch.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <string>

#include "stampede/runtime/io.hpp"
#include "stampede/runtime/runtime.hpp"
#include "stampede/runtime/sync.hpp"
#include "stampede/transport/tls.hpp"

namespace stampede::transport::test {

using namespace std::chrono_literals;

/// Picks each I/O backend in turn (Catch2 GENERATE) and names it in reports.
#define STAMPEDE_EACH_BACKEND(var)                                                         \
    const ::stampede::runtime::io_mode var =                                               \
        GENERATE(::stampede::runtime::io_mode::uring, ::stampede::runtime::io_mode::asio); \
    INFO("backend: " << ::stampede::runtime::to_string(var))

/// Starts a one-scheduler runtime on `backend`, runs `fn()` on a fiber, stops
/// it and returns what `fn` returned. Assertions belong in the test body.
template <class Fn>
auto run_on_fiber(runtime::io_mode backend, Fn fn) {
    runtime::runtime_options options;
    options.schedulers = 1;
    options.io = backend;
    runtime::runtime rt(options);
    rt.start();
    auto out = rt.run_on(0, [&] { return fn(); });
    rt.stop();
    return out;
}

/// How one server-side handshake ended.
struct handshake_record {
    boost::system::error_code error;  ///< empty: the connection was accepted
    std::string peer_name;            ///< the client certificate's CN
    std::string protocol;
    bool resumed = false;
};

/// Echoes what it receives until the peer closes, then closes its side.
inline void echo_session(stream& s) {
    for (;;) {
        auto data = s.receive();
        if (!data) {
            break;
        }
        iovec part{data->data(), data->size()};
        const auto size = static_cast<std::uint32_t>(data->size());
        if (!s.write_messages({&part, 1}, {&size, 1})) {
            return;
        }
    }
    s.shutdown_send();
}

/// A TLS server on 127.0.0.1 that takes each handshake's context from `slot`,
/// records how the handshake ended, and runs `session` on each accepted stream.
/// Construct, use and stop() on fibers of one scheduler.
class tls_test_server {
  public:
    using session_fn = std::function<void(stream&)>;

    explicit tls_test_server(tls_context_slot& slot, session_fn session = echo_session,
                             runtime::duration handshake_time = 10s)
        : slot_(slot), session_(std::move(session)), handshake_time_(handshake_time) {
        auto listener = runtime::tcp_listener::listen(runtime::endpoint::loopback(0));
        if (!listener) {
            throw std::runtime_error("listen: " + listener.error().message());
        }
        listener_ = std::move(*listener);
        live_.add();
        runtime::this_scheduler()->spawn([this] {
            accept_loop();
            live_.done();
        });
    }

    std::uint16_t port() const { return listener_.local_endpoint().port(); }

    /// Waits until handshake number `index` (from 0) has ended.
    handshake_record wait_handshake(std::size_t index) {
        while (records_.size() <= index) {
            if (!changed_.wait(runtime::deadline_after(30s))) {
                return {make_error_code(runtime::errc::timeout), {}, {}, false};
            }
        }
        return records_[index];
    }

    /// Stops accepting and waits for every connection to end.
    void stop() {
        listener_.close();
        (void)live_.wait(runtime::deadline_after(30s));
    }

  private:
    void accept_loop() {
        for (;;) {
            auto fd = listener_.accept();
            if (!fd) {
                return;
            }
            auto tcp = runtime::tcp_stream::adopt(std::move(*fd));
            if (!tcp) {
                continue;
            }
            live_.add();
            runtime::this_scheduler()->spawn([this, tcp = std::move(*tcp)]() mutable {
                serve_one(std::move(tcp));
                live_.done();
            });
        }
    }

    void serve_one(runtime::tcp_stream tcp) {
        auto s =
            tls_accept(std::move(tcp), slot_.current(), runtime::deadline_after(handshake_time_));
        handshake_record record;
        if (!s) {
            record.error = s.error();
        } else {
            record.peer_name = (*s)->peer().certificate_name;
            const auto info = tls_info(**s);
            record.protocol = info ? std::string(info->protocol) : "?";
            record.resumed = info && info->resumed;
        }
        records_.push_back(record);
        changed_.notify_all();
        if (s) {
            session_(**s);
        }
    }

    tls_context_slot& slot_;
    session_fn session_;
    runtime::duration handshake_time_;
    runtime::tcp_listener listener_;
    std::deque<handshake_record> records_;
    runtime::event changed_;
    runtime::wait_group live_;
};

/// Connects to 127.0.0.1:`port` and runs the client handshake.
inline runtime::result<std::unique_ptr<stream>> connect_tls(
    std::uint16_t port, std::shared_ptr<const tls_context> context,
    std::string_view server_name = "localhost") {
    auto tcp = runtime::tcp_stream::connect(runtime::endpoint::loopback(port),
                                            runtime::deadline_after(10s));
    if (!tcp) {
        return tcp.error();
    }
    return tls_connect(std::move(*tcp), std::move(context), server_name,
                       runtime::deadline_after(10s));
}

/// Writes `text` as one message.
inline runtime::result<void> send_text(stream& s, std::string_view text) {
    iovec part{const_cast<char*>(text.data()), text.size()};
    const auto size = static_cast<std::uint32_t>(text.size());
    return s.write_messages({&part, 1}, {&size, 1}, runtime::deadline_after(10s));
}

/// Reads exactly `n` bytes (fewer if the stream ends first).
inline std::string receive_exactly(stream& s, std::size_t n) {
    std::string out;
    while (out.size() < n) {
        auto data = s.receive(runtime::deadline_after(10s));
        if (!data) {
            break;
        }
        out.append(data->data(), data->size());
    }
    return out;
}

/// Sends `text`, reads the echo back; true when it came back intact.
inline bool round_trip(stream& s, std::string_view text) {
    return send_text(s, text) && receive_exactly(s, text.size()) == text;
}

/// Reads until the stream ends; returns what ended it.
inline boost::system::error_code receive_until_end(stream& s, std::string* into = nullptr) {
    for (;;) {
        auto data = s.receive(runtime::deadline_after(10s));
        if (!data) {
            return data.error();
        }
        if (into != nullptr) {
            into->append(data->data(), data->size());
        }
    }
}

}  // namespace stampede::transport::test
