// The opening handshake on the server and the client side, over scripted
// streams (every split and every refusal without a socket).

#include <catch2/catch.hpp>

#include "websocket_test_support.hpp"

using namespace stampede;
using namespace stampede::transport;
using namespace stampede::transport::test;

namespace {

struct accepted {
    runtime::result<std::unique_ptr<websocket_stream>> stream;
    std::shared_ptr<script> s;
    std::string head;  ///< the server's HTTP answer
    std::string rest;  ///< what it wrote after the answer
};

accepted accept_chunks(std::vector<std::string> chunks, const websocket_options& options = {}) {
    auto s = std::make_shared<script>();
    for (auto& c : chunks) {
        s->input.push_back(std::move(c));
    }
    accepted a{websocket_accept(std::make_unique<scripted_stream>(s), options,
                                runtime::deadline_after(std::chrono::seconds(5))),
               s,
               {},
               {}};
    a.rest = s->written;
    a.head = take_http_head(a.rest);
    return a;
}

accepted accept_request(const std::string& request, const websocket_options& options = {}) {
    return accept_chunks({request}, options);
}

std::string status_line(const std::string& head) {
    return head.substr(0, head.find("\r\n"));
}

}  // namespace

TEST_CASE("the server picks the highest STOMP subprotocol offered, for every combination",
          "[transport][websocket]") {
    const std::vector<std::string> ours{"v10.stomp", "v11.stomp", "v12.stomp"};
    for (unsigned mask = 0; mask < 8; ++mask) {
        for (const bool reversed : {false, true}) {
            for (const bool noise : {false, true}) {
                std::vector<std::string> offer;
                if (noise) {
                    offer.push_back("mqtt");
                }
                std::string expected;
                for (unsigned i = 0; i < 3; ++i) {
                    if ((mask & (1u << i)) != 0) {
                        offer.push_back(ours[i]);
                        expected = ours[i];  // the last set bit is the highest
                    }
                }
                if (noise) {
                    offer.push_back("stomp");
                }
                if (reversed) {
                    std::reverse(offer.begin(), offer.end());
                }
                std::string header;
                for (const auto& p : offer) {
                    header += (header.empty() ? "" : ", ") + p;
                }
                INFO("offered: '" << header << "'");
                auto a = accept_request(upgrade_request(header));
                REQUIRE(a.stream);
                CHECK(status_line(a.head) == "HTTP/1.1 101 Switching Protocols");
                CHECK(header_value(a.head, "Sec-WebSocket-Accept") == std::string(test_accept));
                CHECK((*a.stream)->subprotocol() == expected);
                if (expected.empty()) {
                    CHECK_FALSE(header_value(a.head, "Sec-WebSocket-Protocol"));
                } else {
                    CHECK(header_value(a.head, "Sec-WebSocket-Protocol") == expected);
                }
            }
        }
    }
}

TEST_CASE("offers spread over several Sec-WebSocket-Protocol lines count together",
          "[transport][websocket]") {
    auto a = accept_request(
        upgrade_request("v10.stomp", "", "/ws", "Sec-WebSocket-Protocol: x, v12.stomp\r\n"));
    REQUIRE(a.stream);
    CHECK((*a.stream)->subprotocol() == "v12.stomp");
    CHECK(stomp_version_of((*a.stream)->subprotocol()) == "1.2");
}

TEST_CASE("a subprotocol the client did not offer is never echoed", "[transport][websocket]") {
    // Case differs, a near miss, a foreign one: none is ours.
    auto a = accept_request(upgrade_request("V12.STOMP, stomp, v12.stomp2, mqtt"));
    REQUIRE(a.stream);
    CHECK((*a.stream)->subprotocol().empty());
    CHECK_FALSE(header_value(a.head, "Sec-WebSocket-Protocol"));
    CHECK(stomp_version_of("") == "");
}

TEST_CASE("permessage-deflate offered is not negotiated", "[transport][websocket]") {
    auto a = accept_request(upgrade_request(
        "v12.stomp", "", "/ws",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"));
    REQUIRE(a.stream);
    CHECK_FALSE(header_value(a.head, "Sec-WebSocket-Extensions"));
}

TEST_CASE("an upgrade request split at every offset is accepted the same",
          "[transport][websocket]") {
    const std::string request = upgrade_request("v11.stomp", "http://localhost:8080");
    for (std::size_t split = 1; split < request.size(); ++split) {
        INFO("split at " << split);
        auto a = accept_chunks({request.substr(0, split), request.substr(split)});
        REQUIRE(a.stream);
        REQUIRE((*a.stream)->subprotocol() == "v11.stomp");
        REQUIRE((*a.stream)->origin() == "http://localhost:8080");
    }
}

TEST_CASE("frames sent right behind the upgrade request are read first", "[transport][websocket]") {
    const std::string hello = client_frame(ws::opcode::text, "CONNECT\n\n") +
                              client_frame(ws::opcode::text, std::string("\0", 1));
    auto a = accept_chunks({upgrade_request("v12.stomp") + hello.substr(0, 5), hello.substr(5)});
    REQUIRE(a.stream);
    const drained d = drain(**a.stream);
    CHECK(d.bytes == std::string("CONNECT\n\n\0", 10));
    CHECK(d.error == runtime::errc::end_of_stream);
}

TEST_CASE("refused origins get 403 and the connection closes", "[transport][websocket]") {
    websocket_options options;
    options.allowed_origins = std::vector<std::string>{"http://localhost:8080", "https://app"};
    auto refused = accept_request(upgrade_request("v12.stomp", "http://evil.example"), options);
    CHECK(refused.stream.error() == websocket_errc::origin_refused);
    CHECK(status_line(refused.head) == "HTTP/1.1 403 Forbidden");
    CHECK(refused.s->shut_down);
    CHECK(refused.s->closed);

    // Listed origins pass, whatever the case of scheme and host.
    CHECK(accept_request(upgrade_request("", "http://LOCALHOST:8080"), options).stream);
    CHECK(accept_request(upgrade_request("", "https://app"), options).stream);
    // Not a browser (no Origin): allowed unless an origin is required.
    CHECK(accept_request(upgrade_request(""), options).stream);
    options.require_origin = true;
    CHECK(accept_request(upgrade_request(""), options).stream.error() ==
          websocket_errc::origin_refused);
    // No list: every origin.
    CHECK(accept_request(upgrade_request("", "http://evil.example")).stream);
    // An empty list: none.
    options.allowed_origins = std::vector<std::string>{};
    options.require_origin = false;
    CHECK(accept_request(upgrade_request("", "http://localhost:8080"), options).stream.error() ==
          websocket_errc::origin_refused);
}

TEST_CASE("each malformed upgrade gets its HTTP refusal", "[transport][websocket]") {
    struct refusal_case {
        std::string request;
        websocket_errc error;
        std::string status;
    };
    const std::string good = upgrade_request("v12.stomp");
    auto replace = [&](std::string_view from, std::string_view to) {
        std::string r = good;
        r.replace(r.find(from), from.size(), to);
        return r;
    };
    const std::vector<refusal_case> cases{
        {upgrade_request("", "", "/other"), websocket_errc::wrong_path, "HTTP/1.1 404 Not Found"},
        {replace("GET", "POST"), websocket_errc::bad_request, "HTTP/1.1 400 Bad Request"},
        {replace("HTTP/1.1", "HTTP/1.0"), websocket_errc::bad_request, "HTTP/1.1 400 Bad Request"},
        {replace("Upgrade: websocket\r\n", ""), websocket_errc::bad_request,
         "HTTP/1.1 400 Bad Request"},
        {replace("Connection: Upgrade", "Connection: keep-alive"), websocket_errc::bad_request,
         "HTTP/1.1 400 Bad Request"},
        {replace("Host: localhost\r\n", ""), websocket_errc::bad_request,
         "HTTP/1.1 400 Bad Request"},
        {replace(std::string(test_key), "c2hvcnQ="), websocket_errc::bad_request,
         "HTTP/1.1 400 Bad Request"},
        {replace("Version: 13", "Version: 8"), websocket_errc::unsupported_version,
         "HTTP/1.1 426 Upgrade Required"},
        {replace("\r\n\r\n", "\r\nContent-Length: 3\r\n\r\nabc"), websocket_errc::bad_request,
         "HTTP/1.1 400 Bad Request"},
        {"NOT HTTP AT ALL\r\n\r\n", websocket_errc::bad_request, "HTTP/1.1 400 Bad Request"},
    };
    for (const auto& c : cases) {
        INFO(c.request);
        auto a = accept_request(c.request);
        CHECK(a.stream.error() == c.error);
        CHECK(status_line(a.head) == c.status);
        CHECK(a.s->closed);
        if (c.error == websocket_errc::unsupported_version) {
            CHECK(header_value(a.head, "Sec-WebSocket-Version") == "13");
        }
    }
}

TEST_CASE("an upgrade request over the size limit gets 431", "[transport][websocket]") {
    websocket_options options;
    options.max_request_bytes = 4096;
    const std::string big = "X-Filler: " + std::string(5000, 'a') + "\r\n";
    // In one piece, and trickled in 100-byte pieces that never end the head.
    auto one = accept_request(upgrade_request("", "", "/ws", big), options);
    CHECK(one.stream.error() == websocket_errc::request_too_large);
    CHECK(status_line(one.head) == "HTTP/1.1 431 Request Header Fields Too Large");
    std::vector<std::string> trickle;
    for (int i = 0; i < 100; ++i) {
        trickle.push_back("X-Filler: " + std::string(88, 'b') + "\r\n");
    }
    trickle.front() = upgrade_request().substr(0, 60);
    auto slow = accept_chunks(trickle, options);
    CHECK(slow.stream.error() == websocket_errc::request_too_large);
    CHECK(status_line(slow.head) == "HTTP/1.1 431 Request Header Fields Too Large");
    CHECK(slow.s->receives_at_first_write < 60);  // refused once over the limit, not at the end
    // Just under the limit is fine.
    const std::string fits = "X-Filler: " + std::string(3500, 'c') + "\r\n";
    CHECK(accept_request(upgrade_request("", "", "/ws", fits), options).stream);
}

TEST_CASE("an upgrade cut short gets no answer", "[transport][websocket]") {
    auto a = accept_request(upgrade_request().substr(0, 50));
    CHECK(a.stream.error() == runtime::errc::end_of_stream);
    CHECK(a.s->written.empty());
    CHECK(a.s->closed);
}

// ---- the client side ----

namespace {

struct connected {
    runtime::result<std::unique_ptr<websocket_stream>> stream;
    std::shared_ptr<script> s;
};

// A client handshake against a scripted answer. The key is random, so the
// answer's accept value is computed by `answer(key)`.
template <class Answer>
connected connect_with(Answer answer, websocket_client_options options = {}) {
    // The client writes its request before reading: give it a stream that
    // answers from what was written.
    class answering_stream final : public stream {
      public:
        answering_stream(std::shared_ptr<script> s, Answer a)
            : inner_(s), s_(std::move(s)), answer_(std::move(a)) {}
        runtime::result<std::span<char>> receive(runtime::time_point d) override {
            if (!answered_) {
                answered_ = true;
                const auto key = header_value(s_->written, "Sec-WebSocket-Key");
                s_->input.push_front(answer_(key.value_or("")));
            }
            return inner_.receive(d);
        }
        void release_input() noexcept override { inner_.release_input(); }
        runtime::result<void> write_messages(std::span<iovec> p, std::span<const std::uint32_t> z,
                                             runtime::time_point d) override {
            return inner_.write_messages(p, z, d);
        }
        void shutdown_send(close_reason w) noexcept override { inner_.shutdown_send(w); }
        void close() noexcept override { inner_.close(); }
        bool is_open() const noexcept override { return inner_.is_open(); }
        const peer_identity& peer() const noexcept override { return inner_.peer(); }
        std::string_view kind() const noexcept override { return "tcp"; }
        int native_handle() const noexcept override { return -1; }

      private:
        scripted_stream inner_;
        std::shared_ptr<script> s_;
        Answer answer_;
        bool answered_ = false;
    };
    auto s = std::make_shared<script>();
    return {websocket_connect(std::make_unique<answering_stream>(s, std::move(answer)), options,
                              runtime::deadline_after(std::chrono::seconds(5))),
            s};
}

// The accept value of a key, by a server we trust to have it right (ours,
// checked against RFC 6455's example above).
std::string accept_of(const std::string& key) {
    std::string request = upgrade_request();
    request.replace(request.find(test_key), test_key.size(), key);
    auto a = accept_request(request);
    return header_value(a.head, "Sec-WebSocket-Accept").value_or("?");
}

std::string answer_101(const std::string& accept, std::string_view protocol = "v12.stomp",
                       std::string_view extra = "") {
    std::string r =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        accept + "\r\n";
    if (!protocol.empty()) {
        r += "Sec-WebSocket-Protocol: " + std::string(protocol) + "\r\n";
    }
    r += extra;
    return r + "\r\n";
}

}  // namespace

TEST_CASE("the client's upgrade request offers its subprotocols and checks the answer",
          "[transport][websocket]") {
    websocket_client_options options;
    options.origin = "http://localhost:8080";
    auto ok =
        connect_with([](const std::string& key) { return answer_101(accept_of(key)); }, options);
    REQUIRE(ok.stream);
    CHECK((*ok.stream)->subprotocol() == "v12.stomp");
    const std::string head = ok.s->written;
    CHECK(head.rfind("GET /ws HTTP/1.1\r\n", 0) == 0);
    CHECK(header_value(head, "Sec-WebSocket-Protocol") == "v12.stomp, v11.stomp, v10.stomp");
    CHECK(header_value(head, "Origin") == "http://localhost:8080");
    CHECK(header_value(head, "Sec-WebSocket-Key").value_or("").size() == 24);

    auto none = connect_with([](const std::string& key) { return answer_101(accept_of(key), ""); });
    REQUIRE(none.stream);
    CHECK((*none.stream)->subprotocol().empty());
}

TEST_CASE("the client refuses a wrong 101 and reports a refusal", "[transport][websocket]") {
    auto wrong_key =
        connect_with([](const std::string&) { return answer_101(std::string(test_accept)); });
    CHECK(wrong_key.stream.error() == websocket_errc::bad_handshake_response);
    auto unoffered = connect_with(
        [](const std::string& key) { return answer_101(accept_of(key), "v13.stomp"); });
    CHECK(unoffered.stream.error() == websocket_errc::bad_handshake_response);
    auto extension = connect_with([](const std::string& key) {
        return answer_101(accept_of(key), "", "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    });
    CHECK(extension.stream.error() == websocket_errc::bad_handshake_response);
    auto refused = connect_with([](const std::string&) {
        return std::string("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    });
    CHECK(refused.stream.error() == websocket_errc::handshake_refused);
}
