// WebSocket over real loopback sockets, on both I/O backends: our client
// and server, a hand-written client for what must be seen on the wire, and
// Beast's client as an independent implementation.

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <catch2/catch.hpp>
#include <thread>

#include "stampede/runtime/sync.hpp"
#include "websocket_test_support.hpp"

using namespace stampede;
using namespace stampede::transport;
using namespace stampede::transport::test;
using namespace std::chrono_literals;
using ws::opcode;

namespace {

// What the server side of a test saw, shared with the test's fiber (one
// scheduler: no locking needed).
struct server_log {
    boost::system::error_code accept_error;
    std::string subprotocol;
    std::string received;
    boost::system::error_code end;
    bool done = false;
    runtime::event finished;

    void finish() {
        done = true;
        finished.notify_all();
    }
    void wait() {
        while (!done) {
            (void)finished.wait();
        }
    }
};

using server_body = std::function<void(websocket_stream&, server_log&)>;

// Listens on loopback and runs `body` on every accepted WebSocket. Returns
// the port.
std::uint16_t start_server(runtime::runtime& rt, runtime::tcp_listener& listener, server_log& log,
                           websocket_options options, server_body body,
                           runtime::duration handshake_time = 10s) {
    listener = std::move(*runtime::tcp_listener::listen(runtime::endpoint::loopback(0)));
    runtime::this_scheduler()->spawn([&rt, &listener, &log, options, body, handshake_time] {
        (void)runtime::serve(
            listener, rt, [&log, options, body, handshake_time](runtime::tcp_stream tcp) {
                auto accepted = websocket_accept(make_tcp_stream(std::move(tcp)), options,
                                                 runtime::deadline_after(handshake_time));
                if (!accepted) {
                    log.accept_error = accepted.error();
                } else {
                    log.subprotocol = std::string((*accepted)->subprotocol());
                    body(**accepted, log);
                }
                log.finish();
            });
    });
    return listener.local_endpoint().port();
}

// Echoes each run of bytes received as one message, until the peer closes.
void echo(websocket_stream& s, server_log& log) {
    for (;;) {
        auto got = s.receive(runtime::no_deadline);
        if (!got) {
            log.end = got.error();
            return;
        }
        log.received.append(got->data(), got->size());
        if (!write_all(s, {std::string(got->data(), got->size())})) {
            return;
        }
    }
}

void collect(websocket_stream& s, server_log& log) {
    const drained d = drain(s);
    log.received = d.bytes;
    log.end = d.error;
}

// A client that writes and reads raw bytes, to see the wire.
struct raw_client {
    runtime::tcp_stream tcp;
    std::string in;

    static raw_client connect(std::uint16_t port) {
        return {std::move(*runtime::tcp_stream::connect(runtime::endpoint::loopback(port))), {}};
    }
    bool send(std::string_view bytes) { return tcp.write(bytes).has_value(); }
    bool read_more() {
        std::vector<char> buffer(64 * 1024);
        auto n = tcp.read_some(buffer, runtime::deadline_after(20s));
        if (!n) {
            return false;
        }
        in.append(buffer.data(), *n);
        return true;
    }
    std::string read_head() {
        for (;;) {
            if (auto head = take_http_head(in); !head.empty()) {
                return head;
            }
            if (!read_more()) {
                return {};
            }
        }
    }
    std::optional<wire_frame> read_frame() {
        for (;;) {
            auto frames = parse_frames(in);  // the test reads one at a time: at most a few
            if (!frames.empty()) {
                // Put back all but the first.
                std::string rest;
                for (std::size_t i = 1; i < frames.size(); ++i) {
                    std::array<std::uint8_t, ws::max_header_size> h{};
                    const auto n = ws::encode_header(h.data(), frames[i].op, frames[i].fin,
                                                     frames[i].payload.size(), nullptr);
                    rest.append(reinterpret_cast<const char*>(h.data()), n);
                    rest += frames[i].payload;
                }
                in = rest + in;
                return frames.front();
            }
            if (!read_more()) {
                return std::nullopt;
            }
        }
    }
    std::string read_to_end() {
        while (read_more()) {
        }
        return std::exchange(in, {});
    }
};

std::string pattern(std::size_t size) {
    std::string s(size, '\0');
    for (std::size_t i = 0; i < size; ++i) {
        s[i] = static_cast<char>('A' + (i * 7) % 58);
    }
    return s;
}

}  // namespace

TEST_CASE("a mebibyte in 3,000-byte messages crosses both ways intact", "[transport][websocket]") {
    STAMPEDE_EACH_BACKEND(backend);
    const std::string payload = pattern(1 << 20);
    struct outcome {
        std::string server_got, client_got, subprotocol_server, subprotocol_client;
        boost::system::error_code server_end, client_end;
    };
    const outcome out = runtime::test::run_in_runtime(backend, 1, [&](runtime::runtime& rt) {
        outcome o;
        runtime::tcp_listener listener;
        server_log log;
        const auto port = start_server(rt, listener, log, {}, echo);
        auto tcp = runtime::tcp_stream::connect(runtime::endpoint::loopback(port));
        websocket_client_options options;
        options.subprotocols = {"v11.stomp", "v12.stomp"};
        auto client = websocket_connect(make_tcp_stream(std::move(*tcp)), options,
                                        runtime::deadline_after(10s));
        if (!client) {
            o.client_end = client.error();
            return o;
        }
        o.subprotocol_client = std::string((*client)->subprotocol());
        bool reader_done = false;
        runtime::event reader_exit;
        runtime::this_scheduler()->spawn([&] {
            const drained d = drain(**client);
            o.client_got = d.bytes;
            o.client_end = d.error;
            reader_done = true;
            reader_exit.notify_all();
        });
        // Ten messages of 3,000 bytes per write, the last one short.
        for (std::size_t at = 0; at < payload.size();) {
            std::vector<std::string> batch;
            for (int i = 0; i < 10 && at < payload.size(); ++i) {
                batch.push_back(payload.substr(at, 3000));
                at += batch.back().size();
            }
            if (!write_all(**client, batch)) {
                break;
            }
        }
        (*client)->shutdown_send(close_reason::normal);
        while (!reader_done) {
            (void)reader_exit.wait();
        }
        log.wait();
        o.server_got = log.received;
        o.server_end = log.end;
        o.subprotocol_server = log.subprotocol;
        listener.close();
        return o;
    });
    CHECK(out.subprotocol_server == "v12.stomp");
    CHECK(out.subprotocol_client == "v12.stomp");
    CHECK(out.server_got.size() == payload.size());
    CHECK(out.server_got == payload);
    CHECK(out.server_end == runtime::errc::end_of_stream);
    CHECK(out.client_got == payload);
    CHECK(out.client_end == runtime::errc::end_of_stream);
}

TEST_CASE("binary bodies with every byte value cross intact", "[transport][websocket]") {
    STAMPEDE_EACH_BACKEND(backend);
    std::string body;
    for (int round = 0; round < 4; ++round) {
        for (int b = 0; b < 256; ++b) {
            body += static_cast<char>(b);
        }
    }
    const std::string frame = "SEND\ndestination:/queue/bin\ncontent-length:1024\n\n" + body + '\0';
    const auto got = runtime::test::run_in_runtime(backend, 1, [&](runtime::runtime& rt) {
        runtime::tcp_listener listener;
        server_log log;
        const auto port = start_server(rt, listener, log, {}, echo);
        auto raw = raw_client::connect(port);
        // The whole frame as one binary message.
        (void)raw.send(upgrade_request("v12.stomp") + client_frame(opcode::binary, frame) +
                       client_frame(opcode::close, close_payload(1000)));
        const std::string head = raw.read_head();
        std::string echoed;
        std::vector<opcode> ops;
        while (auto f = raw.read_frame()) {
            if (f->op == opcode::close) {
                break;
            }
            ops.push_back(f->op);
            echoed += f->payload;
        }
        log.wait();
        listener.close();
        const bool all_binary_after_text = !ops.empty() && ops.back() == opcode::binary;
        return std::tuple{head.substr(0, 12), echoed, log.received, all_binary_after_text};
    });
    CHECK(std::get<0>(got) == "HTTP/1.1 101");
    CHECK(std::get<2>(got) == frame);  // what the server read
    CHECK(std::get<1>(got) == frame);  // what came back
    CHECK(std::get<3>(got));           // the bytes past 0x7F went as binary
}

TEST_CASE("a ping is answered with a pong carrying its payload", "[transport][websocket]") {
    STAMPEDE_EACH_BACKEND(backend);
    const auto got = runtime::test::run_in_runtime(backend, 1, [&](runtime::runtime& rt) {
        runtime::tcp_listener listener;
        server_log log;
        const auto port = start_server(rt, listener, log, {}, collect);
        auto raw = raw_client::connect(port);
        (void)raw.send(upgrade_request() + client_frame(opcode::text, "a") +
                       client_frame(opcode::ping, "are you there?") +
                       client_frame(opcode::text, "b"));
        (void)raw.read_head();
        auto pong = raw.read_frame();
        (void)raw.send(client_frame(opcode::close, close_payload(1000)));
        auto close = raw.read_frame();
        log.wait();
        listener.close();
        return std::tuple{pong ? pong->op : opcode::text, pong ? pong->payload : "",
                          close ? close->close_code() : 0, log.received, log.end};
    });
    CHECK(std::get<0>(got) == opcode::pong);
    CHECK(std::get<1>(got) == "are you there?");
    CHECK(std::get<2>(got) == 1000);
    CHECK(std::get<3>(got) == "ab");  // pings are not data
    CHECK(std::get<4>(got) == runtime::errc::end_of_stream);
}

TEST_CASE("each close reason reaches the client as its close code", "[transport][websocket]") {
    STAMPEDE_EACH_BACKEND(backend);
    const std::vector<std::pair<close_reason, std::uint16_t>> reasons{
        {close_reason::normal, 1000},         {close_reason::going_away, 1001},
        {close_reason::protocol_error, 1002}, {close_reason::bad_data, 1007},
        {close_reason::policy, 1008},         {close_reason::too_big, 1009}};
    for (const auto& [why, code] : reasons) {
        const auto got = runtime::test::run_in_runtime(backend, 1, [&](runtime::runtime& rt) {
            runtime::tcp_listener listener;
            server_log log;
            const close_reason reason = why;
            const auto port =
                start_server(rt, listener, log, {}, [reason](websocket_stream& s, server_log& l) {
                    (void)write_all(s, {"CONNECTED\nversion:1.2\n\n" + std::string(1, '\0')});
                    s.shutdown_send(reason);
                    collect(s, l);
                });
            auto raw = raw_client::connect(port);
            (void)raw.send(upgrade_request());
            (void)raw.read_head();
            auto connected = raw.read_frame();
            auto close = raw.read_frame();
            // Answer the close, as a client does; the server then reads the end.
            (void)raw.send(
                client_frame(opcode::close, close_payload(close ? close->close_code() : 1000)));
            const std::string after = raw.read_to_end();
            log.wait();
            listener.close();
            return std::tuple{connected ? connected->op : opcode::close,
                              close ? close->close_code() : 0, after, log.end};
        });
        INFO("close code " << code);
        CHECK(std::get<0>(got) == opcode::text);
        CHECK(std::get<1>(got) == code);
        CHECK(std::get<2>(got).empty());  // nothing after the close frame
        CHECK(std::get<3>(got) == runtime::errc::end_of_stream);
    }
}

TEST_CASE("a client breaking the framing rules is closed with 1002, 1007 or 1009",
          "[transport][websocket]") {
    STAMPEDE_EACH_BACKEND(backend);
    const std::vector<std::tuple<std::string, std::uint16_t, websocket_errc>> cases{
        {client_frame(opcode::text, "unmasked", true, false), 1002, websocket_errc::protocol_error},
        {client_frame(opcode::text, "bad \xFF text"), 1007, websocket_errc::invalid_utf8},
        {client_frame(opcode::binary, std::string(5000, 'x')), 1009,
         websocket_errc::message_too_big},
    };
    websocket_options options;
    options.max_message_bytes = 4096;
    for (const auto& [wire, code, error] : cases) {
        const auto got = runtime::test::run_in_runtime(backend, 1, [&](runtime::runtime& rt) {
            runtime::tcp_listener listener;
            server_log log;
            const auto port = start_server(rt, listener, log, options, collect);
            auto raw = raw_client::connect(port);
            (void)raw.send(upgrade_request() + wire);
            (void)raw.read_head();
            auto close = raw.read_frame();
            raw.tcp.shutdown_send();  // as a client does once it has the close
            log.wait();
            listener.close();
            return std::pair{close ? close->close_code() : 0, log.end};
        });
        INFO("close code " << code);
        CHECK(got.first == code);
        CHECK(got.second == error);
    }
}

TEST_CASE("a refused origin gets 403 over a socket", "[transport][websocket]") {
    STAMPEDE_EACH_BACKEND(backend);
    websocket_options options;
    options.allowed_origins = std::vector<std::string>{"http://localhost:8080"};
    const auto got = runtime::test::run_in_runtime(backend, 1, [&](runtime::runtime& rt) {
        runtime::tcp_listener listener;
        server_log log;
        const auto port = start_server(rt, listener, log, options, collect);
        auto raw = raw_client::connect(port);
        (void)raw.send(upgrade_request("v12.stomp", "http://evil.example"));
        const std::string answer = raw.read_to_end();
        raw.tcp.shutdown_send();  // the server waits for this before closing
        log.wait();
        listener.close();
        return std::pair{answer, log.accept_error};
    });
    CHECK(got.first.rfind("HTTP/1.1 403 Forbidden\r\n", 0) == 0);
    CHECK(got.first.find("origin not allowed") != std::string::npos);
    CHECK(got.second == websocket_errc::origin_refused);
}

TEST_CASE("an oversized upgrade gets 431 over a socket", "[transport][websocket]") {
    STAMPEDE_EACH_BACKEND(backend);
    websocket_options options;
    options.max_request_bytes = 8192;
    const auto got = runtime::test::run_in_runtime(backend, 1, [&](runtime::runtime& rt) {
        runtime::tcp_listener listener;
        server_log log;
        const auto port = start_server(rt, listener, log, options, collect);
        auto raw = raw_client::connect(port);
        // A cookie header of 100 KiB: refused long before it is all sent.
        (void)raw.send(upgrade_request().substr(0, 40) + "Cookie: " + std::string(100000, 'c'));
        const std::string answer = raw.read_to_end();
        raw.tcp.shutdown_send();  // the server waits for this before closing
        log.wait();
        listener.close();
        return std::pair{answer, log.accept_error};
    });
    CHECK(got.first.rfind("HTTP/1.1 431 ", 0) == 0);
    CHECK(got.second == websocket_errc::request_too_large);
}

TEST_CASE("an upgrade not complete by its deadline is closed unanswered",
          "[transport][websocket]") {
    STAMPEDE_EACH_BACKEND(backend);
    const auto got = runtime::test::run_in_runtime(backend, 1, [&](runtime::runtime& rt) {
        runtime::tcp_listener listener;
        server_log log;
        // The client below never finishes its request: whenever the deadline
        // comes, the outcome is the same.
        const auto port = start_server(rt, listener, log, {}, collect, 100ms);
        auto raw = raw_client::connect(port);
        (void)raw.send(upgrade_request().substr(0, 30));
        const std::string answer = raw.read_to_end();
        raw.tcp.shutdown_send();  // the server waits for this before closing
        log.wait();
        listener.close();
        return std::pair{answer, log.accept_error};
    });
    CHECK(got.first.empty());
    CHECK(got.second == runtime::errc::timeout);
}

TEST_CASE("Beast's WebSocket client interoperates: subprotocol, fragments, ping, close",
          "[transport][websocket]") {
    STAMPEDE_EACH_BACKEND(backend);
    namespace beast = boost::beast;
    namespace net = boost::asio;
    runtime::runtime rt(runtime::test::options_for(backend, 1));
    rt.start();
    runtime::tcp_listener listener;
    server_log log;
    const auto port = rt.run_on(0, [&] { return start_server(rt, listener, log, {}, echo); });

    const std::string text = pattern(10000);
    std::string binary;
    for (int b = 255; b >= 0; --b) {
        binary += static_cast<char>(b);
    }
    std::string echoed;
    std::string pong_payload;
    std::string chosen;
    std::uint16_t close_code_seen = 0;
    std::string failure;
    try {
        net::io_context io;
        net::ip::tcp::socket socket(io);
        socket.connect({net::ip::address_v4::loopback(), port});
        beast::websocket::stream<net::ip::tcp::socket&> client(socket);
        client.set_option(
            beast::websocket::stream_base::decorator([](beast::websocket::request_type& req) {
                req.set(beast::http::field::sec_websocket_protocol, "v10.stomp, v12.stomp");
            }));
        client.control_callback([&](beast::websocket::frame_type kind, beast::string_view data) {
            if (kind == beast::websocket::frame_type::pong) {
                pong_payload.assign(data.data(), data.size());
            }
        });
        beast::websocket::response_type answer;
        client.handshake(answer, "localhost", "/ws");
        chosen = std::string(answer[beast::http::field::sec_websocket_protocol]);
        client.ping("hello");  // answered before the echoes, seen by the reads below
        // Fragmented into 1,000-byte frames by Beast.
        client.auto_fragment(true);
        client.write_buffer_bytes(1000);
        client.text(true);
        client.write(net::buffer(text));
        client.binary(true);
        client.write(net::buffer(binary));
        beast::flat_buffer buffer;
        while (echoed.size() < text.size() + binary.size()) {
            buffer.clear();
            client.read(buffer);
            echoed += beast::buffers_to_string(buffer.data());
        }
        client.close(beast::websocket::close_code::going_away);
        close_code_seen = client.reason().code;
    } catch (const std::exception& e) {
        failure = e.what();
    }
    rt.run_on(0, [&] {
        log.wait();
        listener.close();
    });
    rt.stop();
    CHECK(failure.empty());
    CHECK(chosen == "v12.stomp");
    CHECK(log.subprotocol == "v12.stomp");
    CHECK(log.received == text + binary);
    CHECK(echoed == text + binary);
    CHECK(pong_payload == "hello");
    CHECK(close_code_seen == 1001);  // our echo of its code
    CHECK(log.end == runtime::errc::end_of_stream);
}
