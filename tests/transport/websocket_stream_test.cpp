// The WebSocket stream over scripted input: frames split and packed every
// way, fragments, control frames, every rule a peer can break and the close
// code it earns, and what the writer puts on the wire.

#include "websocket_stream.hpp"

#include <catch2/catch.hpp>

#include "websocket_test_support.hpp"

using namespace stampede;
using namespace stampede::transport;
using namespace stampede::transport::test;
using ws::opcode;

namespace {

struct server {
    std::unique_ptr<websocket_stream> stream;
    std::shared_ptr<script> s;
};

// A server stream past its handshake, reading `chunks` next.
server server_over(std::vector<std::string> chunks, const websocket_options& options = {}) {
    auto s = std::make_shared<script>();
    s->input.push_back(upgrade_request("v12.stomp"));
    for (auto& c : chunks) {
        s->input.push_back(std::move(c));
    }
    auto accepted = websocket_accept(std::make_unique<scripted_stream>(s), options,
                                     runtime::deadline_after(std::chrono::seconds(5)));
    REQUIRE(accepted);
    s->written.clear();  // the 101
    s->write_calls = 0;
    s->message_sizes.clear();
    return {std::move(*accepted), s};
}

std::vector<std::string> split_at(const std::string& wire, std::size_t at) {
    return {wire.substr(0, at), wire.substr(at)};
}

std::vector<std::string> bytewise(const std::string& wire) {
    std::vector<std::string> out;
    for (char c : wire) {
        out.emplace_back(1, c);
    }
    return out;
}

std::string all_bytes() {
    std::string b(256, '\0');
    for (int i = 0; i < 256; ++i) {
        b[static_cast<std::size_t>(i)] = static_cast<char>(i);
    }
    return b;
}

// A conversation exercising every decoding path, and what it must yield.
struct conversation {
    std::string wire;
    std::string payload;
};

conversation mixed_conversation() {
    conversation c;
    auto add = [&](const std::string& frame, std::string_view payload = "") {
        c.wire += frame;
        c.payload += payload;
    };
    const std::string send("SEND\ndestination:/queue/a\n\nhello\0", 33);
    add(client_frame(opcode::text, send), send);
    add(client_frame(opcode::binary, all_bytes()), all_bytes());
    // A fragmented text message with a ping and an empty fragment inside.
    add(client_frame(opcode::text, "MESS", false), "MESS");
    add(client_frame(opcode::ping, "p1"));
    add(client_frame(opcode::continuation, "AGE\xC3", false), "AGE\xC3");  // é split here
    add(client_frame(opcode::continuation, "", false));
    add(client_frame(opcode::continuation, std::string("\xA9\n\n\0", 4)),
        std::string("\xA9\n\n\0", 4));
    add(client_frame(opcode::text, ""));  // an empty message
    add(client_frame(opcode::pong, "unsolicited"));
    // Two STOMP frames packed in one message, a heart-beat EOL alone.
    const std::string two("SEND\ndestination:/a\n\n1\0SEND\ndestination:/b\n\n2\0", 44);
    add(client_frame(opcode::text, two), two);
    add(client_frame(opcode::text, "\n"), "\n");
    // 200 bytes: a 16-bit length.
    add(client_frame(opcode::binary, std::string(200, 'z')), std::string(200, 'z'));
    return c;
}

void check_conversation(const server& srv, const conversation& c, const drained& d) {
    CHECK(d.bytes == c.payload);
    CHECK(d.error == runtime::errc::end_of_stream);
    std::string written = srv.s->written;
    const auto frames = parse_frames(written);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].op == opcode::pong);
    CHECK(frames[0].payload == "p1");
    CHECK_FALSE(frames[0].masked);
}

}  // namespace

TEST_CASE("frames split at every offset decode to the same bytes", "[transport][websocket]") {
    const conversation c = mixed_conversation();
    for (std::size_t at = 0; at <= c.wire.size(); ++at) {
        INFO("split at " << at);
        server srv = server_over(split_at(c.wire, at));
        check_conversation(srv, c, drain(*srv.stream));
    }
}

TEST_CASE("frames fed byte by byte decode to the same bytes", "[transport][websocket]") {
    const conversation c = mixed_conversation();
    server srv = server_over(bytewise(c.wire));
    const drained d = drain(*srv.stream);
    check_conversation(srv, c, d);
}

TEST_CASE("many messages packed into one read come out in order", "[transport][websocket]") {
    std::string wire;
    std::string expected;
    for (int i = 0; i < 500; ++i) {
        const std::string frame = "SEND\ndestination:/q\n\n" + std::to_string(i) + '\0';
        wire += client_frame(i % 2 == 0 ? opcode::text : opcode::binary, frame);
        expected += frame;
    }
    server srv = server_over({wire});
    const drained d = drain(*srv.stream);
    CHECK(d.bytes == expected);
    CHECK(d.receives == 500);  // one payload per message, none copied together
}

TEST_CASE("a large frame is handed over in the pieces it arrives in", "[transport][websocket]") {
    std::string payload(300000, '\0');
    for (std::size_t i = 0; i < payload.size(); ++i) {
        payload[i] = static_cast<char>('a' + i % 26);
    }
    const std::string wire = client_frame(opcode::text, payload);  // a 64-bit length
    std::vector<std::string> chunks;
    for (std::size_t at = 0; at < wire.size(); at += 32768) {
        chunks.push_back(wire.substr(at, 32768));
    }
    server srv = server_over(chunks);
    const drained d = drain(*srv.stream);
    CHECK(d.bytes == payload);
}

TEST_CASE("input kept over release_input is decoded afterwards", "[transport][websocket]") {
    const std::string wire = client_frame(opcode::text, "one") +
                             client_frame(opcode::text, "two", false) +
                             client_frame(opcode::continuation, "three");
    server srv = server_over(split_at(wire, wire.size() - 4));
    auto first = srv.stream->receive(runtime::no_deadline);
    REQUIRE(first.has_value());
    CHECK(std::string(first->data(), first->size()) == "one");
    // The reader is told to wait: it gives the lent buffer back (which the
    // scripted stream then poisons).
    srv.stream->release_input();
    const drained rest = drain(*srv.stream);
    CHECK(rest.bytes == "twothree");
    CHECK(srv.s->releases >= 1);
}

TEST_CASE("every rule a client breaks earns its close code", "[transport][websocket]") {
    struct broken {
        std::string name;
        std::string wire;
        websocket_errc error;
        std::uint16_t code;
    };
    const std::string big(126, 'p');
    std::vector<broken> cases{
        {"unmasked frame", client_frame(opcode::text, "hi", true, false),
         websocket_errc::protocol_error, 1002},
        {"reserved bit set", client_frame(opcode::text, "hi", true, true, 4),
         websocket_errc::protocol_error, 1002},
        {"unknown data opcode", client_frame(static_cast<opcode>(3), "hi"),
         websocket_errc::protocol_error, 1002},
        {"unknown control opcode", client_frame(static_cast<opcode>(0xB), "hi"),
         websocket_errc::protocol_error, 1002},
        {"continuation with nothing to continue", client_frame(opcode::continuation, "hi"),
         websocket_errc::protocol_error, 1002},
        {"a new message inside a fragmented one",
         client_frame(opcode::text, "a", false) + client_frame(opcode::binary, "b"),
         websocket_errc::protocol_error, 1002},
        {"fragmented ping", client_frame(opcode::ping, "x", false), websocket_errc::protocol_error,
         1002},
        {"ping over 125 bytes", client_frame(opcode::ping, big), websocket_errc::protocol_error,
         1002},
        {"close with a one-byte payload", client_frame(opcode::close, "x"),
         websocket_errc::protocol_error, 1002},
        {"close with a reserved code", client_frame(opcode::close, close_payload(1005)),
         websocket_errc::protocol_error, 1002},
        {"close reason not UTF-8", client_frame(opcode::close, close_payload(1000, "\xC3")),
         websocket_errc::invalid_utf8, 1007},
        {"text not UTF-8", client_frame(opcode::text, "ok\xFFno"), websocket_errc::invalid_utf8,
         1007},
        {"text ending inside a character",
         client_frame(opcode::text, "ab\xE2", false) + client_frame(opcode::continuation, "\x82"),
         websocket_errc::invalid_utf8, 1007},
    };
    // Over the size limit: refused at the header, before the payload comes.
    std::string oversized = client_frame(opcode::binary, std::string(70000, 'x'));
    oversized.resize(20);
    cases.push_back(
        {"message over the size limit", oversized, websocket_errc::message_too_big, 1009});
    cases.push_back({"fragments adding up over the size limit",
                     client_frame(opcode::text, std::string(40000, 'a'), false) +
                         client_frame(opcode::continuation, std::string(40000, 'a')),
                     websocket_errc::message_too_big, 1009});
    websocket_options options;
    options.max_message_bytes = 65536;
    for (const auto& c : cases) {
        INFO(c.name);
        // A good message first: what came before the violation is delivered.
        server srv = server_over({client_frame(opcode::text, "ok") + c.wire}, options);
        const drained d = drain(*srv.stream);
        CHECK(d.bytes.substr(0, 2) == "ok");
        CHECK(d.error == c.error);
        std::string written = srv.s->written;
        const auto frames = parse_frames(written);
        REQUIRE(frames.size() == 1);
        CHECK(frames[0].op == opcode::close);
        CHECK(frames[0].close_code() == c.code);
        CHECK(srv.s->shut_down);
        // The stream stays failed, and writes nothing after its close frame.
        CHECK(srv.stream->receive(runtime::no_deadline).error() == c.error);
        CHECK(write_all(*srv.stream, {"late"}).error() == websocket_errc::closed);
    }
}

TEST_CASE("the client's close is echoed with its code and ends the stream",
          "[transport][websocket]") {
    for (const std::uint16_t code : {1000, 1001, 1008, 4000}) {
        server srv = server_over({client_frame(opcode::close, close_payload(code, "bye"))});
        const drained d = drain(*srv.stream);
        CHECK(d.error == runtime::errc::end_of_stream);
        std::string written = srv.s->written;
        const auto frames = parse_frames(written);
        REQUIRE(frames.size() == 1);
        CHECK(frames[0].op == opcode::close);
        CHECK(frames[0].close_code() == code);
        CHECK(srv.s->shut_down);
    }
    // A close without a code is answered without one.
    server srv = server_over({client_frame(opcode::close, "")});
    CHECK(drain(*srv.stream).error == runtime::errc::end_of_stream);
    std::string written = srv.s->written;
    const auto frames = parse_frames(written);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].payload.empty());
}

TEST_CASE("a peer gone without a close frame is an end of stream", "[transport][websocket]") {
    server srv = server_over({client_frame(opcode::text, "half", false)});
    const drained d = drain(*srv.stream);
    CHECK(d.bytes == "half");
    CHECK(d.error == runtime::errc::end_of_stream);
    CHECK(srv.s->written.empty());
}

TEST_CASE("each message written is one frame, text when UTF-8, else binary, all in one write",
          "[transport][websocket]") {
    server srv = server_over({});
    const std::string stomp("MESSAGE\ndestination:/t\n\ncaf\xC3\xA9\0", 30);
    const std::string binary = all_bytes();
    const std::string tail("\n", 1);
    // Part boundaries not at message boundaries: one part holds the first
    // message and the head of the second, the second spans three parts.
    std::string joined = stomp + binary.substr(0, 10);
    std::vector<iovec> parts{{joined.data(), joined.size()},
                             {const_cast<char*>(binary.data()) + 10, 100},
                             {const_cast<char*>(binary.data()) + 110, binary.size() - 110},
                             {const_cast<char*>(tail.data()), 1}};
    const std::vector<std::uint32_t> sizes{static_cast<std::uint32_t>(stomp.size()),
                                           static_cast<std::uint32_t>(binary.size()), 1};
    REQUIRE(srv.stream->write_messages(parts, sizes, runtime::no_deadline));
    CHECK(srv.s->write_calls == 1);
    std::string written = srv.s->written;
    const auto frames = parse_frames(written);
    REQUIRE(frames.size() == 3);
    CHECK(frames[0].op == opcode::text);
    CHECK(frames[0].payload == stomp);
    CHECK(frames[1].op == opcode::binary);
    CHECK(frames[1].payload == binary);
    CHECK(frames[2].op == opcode::text);
    CHECK(frames[2].payload == "\n");
    for (const auto& f : frames) {
        CHECK(f.fin);
        CHECK_FALSE(f.masked);
    }
    // The inner stream is told where each frame ends.
    REQUIRE(srv.s->message_sizes.size() == 3);
    CHECK(srv.s->message_sizes[0] == 2 + stomp.size());
    CHECK(srv.s->message_sizes[1] == 4 + binary.size());
    CHECK(written.empty());
}

TEST_CASE("a binary listener sends every message as binary", "[transport][websocket]") {
    websocket_options options;
    options.always_binary = true;
    server srv = server_over({}, options);
    REQUIRE(write_all(*srv.stream, {"plain text", std::string(70000, 'x')}));
    std::string written = srv.s->written;
    const auto frames = parse_frames(written);
    REQUIRE(frames.size() == 2);
    CHECK(frames[0].op == opcode::binary);
    CHECK(frames[1].op == opcode::binary);
    CHECK(frames[1].payload.size() == 70000);
}

TEST_CASE("ending the sending side sends the close code of its reason", "[transport][websocket]") {
    const std::vector<std::pair<close_reason, std::uint16_t>> reasons{
        {close_reason::normal, 1000},         {close_reason::going_away, 1001},
        {close_reason::protocol_error, 1002}, {close_reason::bad_data, 1007},
        {close_reason::policy, 1008},         {close_reason::too_big, 1009}};
    for (const auto& [why, code] : reasons) {
        CHECK(close_code(why) == code);
        server srv = server_over({client_frame(opcode::text, "x")});
        srv.stream->shutdown_send(why);
        srv.stream->shutdown_send(close_reason::normal);  // a second time: nothing more sent
        std::string written = srv.s->written;
        const auto frames = parse_frames(written);
        REQUIRE(frames.size() == 1);
        CHECK(frames[0].op == opcode::close);
        CHECK(frames[0].close_code() == code);
        CHECK(srv.s->shutdown_reason == why);
        CHECK(write_all(*srv.stream, {"late"}).error() == websocket_errc::closed);
        // Receiving goes on until the peer closes.
        auto got = srv.stream->receive(runtime::no_deadline);
        REQUIRE(got.has_value());
        CHECK(std::string(got->data(), got->size()) == "x");
    }
}

TEST_CASE("the stream names its kind, peer and subprotocol", "[transport][websocket]") {
    server srv = server_over({});
    CHECK(srv.stream->kind() == "ws");
    CHECK(srv.stream->peer().address == "127.0.0.1:1");
    CHECK(srv.stream->subprotocol() == "v12.stomp");
    CHECK(srv.stream->native_handle() == -1);
}

TEST_CASE("a client masks what it sends and refuses masked frames from a server",
          "[transport][websocket]") {
    auto s = std::make_shared<script>();
    ws::stream_settings settings;
    settings.side = ws::role::client;
    settings.max_message_bytes = 1 << 20;
    // A server frame must not be masked: this one is.
    s->input.push_back(client_frame(opcode::text, "masked"));
    auto client = ws::make_stream(std::make_unique<scripted_stream>(s), settings, {});
    REQUIRE(write_all(*client, {std::string("SEND\n\n\0", 7), all_bytes()}));
    std::string written = s->written;
    const auto frames = parse_frames(written);
    REQUIRE(frames.size() == 2);
    CHECK(frames[0].masked);
    CHECK(frames[0].payload == std::string("SEND\n\n\0", 7));
    CHECK(frames[0].op == opcode::text);
    CHECK(frames[1].masked);
    CHECK(frames[1].payload == all_bytes());
    CHECK(client->receive(runtime::no_deadline).error() == websocket_errc::protocol_error);
}
