// TLS as a transport stream, on both I/O backends: handshakes, bulk echo,
// record coalescing, close_notify, client certificates under each
// verify_client mode, refused protocol versions and ciphers, renegotiation,
// session tickets, handshake deadlines, and a certificate reload under an
// open connection.

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <vector>

#include "tls_pki.hpp"
#include "tls_test_support.hpp"

using namespace stampede;
using namespace stampede::transport;
using namespace stampede::transport::test;

namespace {

std::shared_ptr<const tls_context> server_context(verify_client verify = verify_client::none,
                                                  const cert_files* cert = nullptr) {
    const test_pki& pki = test_pki::shared();
    const cert_files& c = cert != nullptr ? *cert : pki.server;
    return tls_context::server({c.cert, c.key, pki.ca, verify});
}

std::shared_ptr<const tls_context> client_context(const cert_files* cert = nullptr,
                                                  bool resume = false) {
    const test_pki& pki = test_pki::shared();
    tls_client_options options;
    options.ca = pki.ca;
    if (cert != nullptr) {
        options.cert = cert->cert;
        options.key = cert->key;
    }
    options.resume_sessions = resume;
    return tls_context::client(options);
}

char pattern_byte(std::uint64_t offset) {
    return static_cast<char>((offset * 131 + 7) % 251);
}

// Ends a client connection (the stream's destructor closes it).
void drop(runtime::result<std::unique_ptr<stream>>& client) {
    if (client) {
        client->reset();
    }
}

bool is_openssl_reason(const boost::system::error_code& e, int reason) {
    return e.category() == openssl_category() &&
           ERR_GET_REASON(static_cast<unsigned long>(e.value())) == reason;
}

struct echo_outcome {
    std::string error;
    std::uint64_t received = 0;
    std::uint64_t mismatches = 0;
    boost::system::error_code end;
    std::string kind;
};

// Sends `total` bytes in batches of messages of varying sizes from one fiber
// while another reads the echo back and checks every byte.
echo_outcome echo_bytes(std::uint64_t total, std::size_t max_message) {
    tls_context_slot slot(server_context());
    tls_test_server server(slot);
    echo_outcome out;
    auto client = connect_tls(server.port(), client_context());
    if (!client) {
        out.error = client.error().message();
        server.stop();
        return out;
    }
    stream& s = **client;
    out.kind = std::string(s.kind());
    bool writer_done = false;
    runtime::this_scheduler()->spawn([&] {
        std::vector<char> batch(256 * 1024);
        std::uint64_t sent = 0;
        std::size_t next_size = 1;
        while (sent < total) {
            const std::size_t bytes = std::min<std::uint64_t>(batch.size(), total - sent);
            for (std::size_t i = 0; i < bytes; ++i) {
                batch[i] = pattern_byte(sent + i);
            }
            std::vector<iovec> parts;
            std::vector<std::uint32_t> sizes;
            for (std::size_t at = 0; at < bytes;) {
                const std::size_t n = std::min(bytes - at, next_size);
                parts.push_back({batch.data() + at, n});
                sizes.push_back(static_cast<std::uint32_t>(n));
                at += n;
                next_size = next_size * 7 % max_message + 1;
            }
            if (auto w = s.write_messages(parts, sizes, runtime::deadline_after(30s)); !w) {
                out.error = "write: " + w.error().message();
                break;
            }
            sent += bytes;
        }
        s.shutdown_send();
        writer_done = true;
    });
    for (;;) {
        auto data = s.receive(runtime::deadline_after(30s));
        if (!data) {
            out.end = data.error();
            break;
        }
        for (std::size_t i = 0; i < data->size(); ++i) {
            out.mismatches += (*data)[i] != pattern_byte(out.received + i) ? 1 : 0;
        }
        out.received += data->size();
    }
    while (!writer_done) {
        runtime::this_fiber::yield();
    }
    client->reset();
    server.stop();
    return out;
}

}  // namespace

TEST_CASE("a TLS echo carries 1 byte to 16 MiB intact and ends with close_notify",
          "[transport][tls]") {
    STAMPEDE_EACH_BACKEND(backend);
    const std::uint64_t total =
        GENERATE(1ull, 100ull, 16384ull, 16385ull, 100'000ull, 1ull << 20, 16ull << 20);
    INFO("bytes: " << total);
    const echo_outcome out = run_on_fiber(backend, [&] { return echo_bytes(total, 70'000); });
    CHECK(out.error.empty());
    CHECK(out.kind == "tls");
    CHECK(out.received == total);
    CHECK(out.mismatches == 0);
    CHECK(out.end == runtime::errc::end_of_stream);
}

TEST_CASE("many small TLS messages arrive intact and in order", "[transport][tls]") {
    STAMPEDE_EACH_BACKEND(backend);
    const echo_outcome out = run_on_fiber(backend, [&] { return echo_bytes(4 << 20, 300); });
    CHECK(out.error.empty());
    CHECK(out.received == (4u << 20));
    CHECK(out.mismatches == 0);
}

TEST_CASE("a batch of small messages goes out in full-size TLS records", "[transport][tls]") {
    STAMPEDE_EACH_BACKEND(backend);
    constexpr std::size_t messages = 1000;
    constexpr std::size_t message_size = 10;
    struct outcome {
        bool ok = false;
        int records = -1;
    };
    const outcome out = run_on_fiber(backend, [&] {
        outcome result;
        tls_context_slot slot(server_context());
        // The server answers "burst" with 1,000 messages in one write_messages.
        tls_test_server server(slot, [&](stream& s) {
            (void)receive_exactly(s, 5);
            std::string bytes(messages * message_size, 'm');
            std::vector<iovec> parts(messages);
            std::vector<std::uint32_t> sizes(messages, message_size);
            for (std::size_t i = 0; i < messages; ++i) {
                parts[i] = {bytes.data() + i * message_size, message_size};
            }
            (void)s.write_messages(parts, sizes);
            (void)receive_until_end(s);
        });
        auto context = client_context();
        static std::atomic<int> records{0};
        SSL_CTX_set_msg_callback(
            context->native_handle(),
            [](int write_p, int, int type, const void* buf, std::size_t len, SSL*, void*) {
                if (write_p == 0 && type == SSL3_RT_HEADER && len >= 1 &&
                    static_cast<const unsigned char*>(buf)[0] == SSL3_RT_APPLICATION_DATA) {
                    ++records;
                }
            });
        auto client = connect_tls(server.port(), context);
        if (client) {
            records = 0;
            (void)send_text(**client, "burst");
            const std::string got = receive_exactly(**client, messages * message_size);
            result.ok = got == std::string(messages * message_size, 'm');
            result.records = records.load();
            drop(client);
        }
        server.stop();
        return result;
    });
    CHECK(out.ok);
    // 10,000 bytes fit one record; TLS 1.3's session ticket may add one.
    CHECK(out.records >= 1);
    CHECK(out.records <= 2);
}

TEST_CASE("close_notify ends the peer's input while the other direction goes on",
          "[transport][tls]") {
    STAMPEDE_EACH_BACKEND(backend);
    struct outcome {
        boost::system::error_code client_end;
        std::string server_got;
        boost::system::error_code server_end;
        bool write_after_shutdown_refused = false;
    };
    const outcome out = run_on_fiber(backend, [&] {
        outcome result;
        tls_context_slot slot(server_context());
        tls_test_server server(slot, [&](stream& s) {
            s.shutdown_send();  // at once: the client reads end of stream
            result.write_after_shutdown_refused = !send_text(s, "late");
            result.server_end = receive_until_end(s, &result.server_got);
        });
        auto client = connect_tls(server.port(), client_context());
        if (client) {
            result.client_end = receive_until_end(**client);
            (void)send_text(**client, "still talking");
            (**client).shutdown_send();
            (void)server.wait_handshake(0);
            client->reset();
        }
        server.stop();
        return result;
    });
    CHECK(out.client_end == runtime::errc::end_of_stream);
    CHECK(out.write_after_shutdown_refused);
    CHECK(out.server_got == "still talking");
    CHECK(out.server_end == runtime::errc::end_of_stream);
}

namespace {

enum class client_cert { good, expired, unknown_ca, none };

const char* name_of(client_cert c) {
    switch (c) {
        case client_cert::good:
            return "good";
        case client_cert::expired:
            return "expired";
        case client_cert::unknown_ca:
            return "unknown CA";
        case client_cert::none:
            return "none";
    }
    return "?";
}

}  // namespace

TEST_CASE("client certificates are checked as verify_client says", "[transport][tls]") {
    STAMPEDE_EACH_BACKEND(backend);
    const verify_client verify =
        GENERATE(verify_client::none, verify_client::optional, verify_client::required);
    const client_cert cert = GENERATE(client_cert::good, client_cert::expired,
                                      client_cert::unknown_ca, client_cert::none);
    INFO("verify_client " << to_string(verify) << ", client certificate " << name_of(cert));
    const test_pki& pki = test_pki::shared();
    const cert_files* files = cert == client_cert::good         ? &pki.alice
                              : cert == client_cert::expired    ? &pki.expired
                              : cert == client_cert::unknown_ca ? &pki.stranger
                                                                : nullptr;
    struct outcome {
        handshake_record server;
        bool client_round_trip = false;
    };
    const outcome out = run_on_fiber(backend, [&] {
        outcome result;
        tls_context_slot slot(server_context(verify));
        tls_test_server server(slot);
        auto client = connect_tls(server.port(), client_context(files));
        result.server = server.wait_handshake(0);
        // TLS 1.3 clients finish before the server has judged their
        // certificate: a refusal shows on the first read.
        result.client_round_trip = client && round_trip(**client, "ping");
        drop(client);
        server.stop();
        return result;
    });
    const bool should_pass = verify == verify_client::none || cert == client_cert::good ||
                             (verify == verify_client::optional && cert == client_cert::none);
    CHECK(!out.server.error == should_pass);
    CHECK(out.client_round_trip == should_pass);
    if (!should_pass) {
        INFO("server error: " << out.server.error.message());
        if (cert == client_cert::expired) {
            CHECK(out.server.error ==
                  boost::system::error_code(X509_V_ERR_CERT_HAS_EXPIRED, x509_category()));
        } else if (cert == client_cert::unknown_ca) {
            CHECK(out.server.error ==
                  boost::system::error_code(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
                                            x509_category()));
        } else {
            CHECK(is_openssl_reason(out.server.error, SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE));
        }
    }
    const bool named = should_pass && cert == client_cert::good && verify != verify_client::none;
    CHECK(out.server.peer_name == (named ? "alice" : ""));
}

TEST_CASE("TLS 1.1 and weak TLS 1.2 ciphers are refused, TLS 1.2 with a strong one is not",
          "[transport][tls]") {
    STAMPEDE_EACH_BACKEND(backend);
    enum class offer { tls11, tls12_cbc_rsa, tls12_gcm, tls13 };
    const offer what = GENERATE(offer::tls11, offer::tls12_cbc_rsa, offer::tls12_gcm, offer::tls13);
    INFO("client offer " << static_cast<int>(what));
    const handshake_record server_side = run_on_fiber(backend, [&] {
        tls_context_slot slot(server_context());
        tls_test_server server(slot);
        auto context = client_context();
        SSL_CTX* ctx = context->native_handle();
        switch (what) {
            case offer::tls11:
                SSL_CTX_set_security_level(ctx, 0);
                SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
                SSL_CTX_set_max_proto_version(ctx, TLS1_1_VERSION);
                SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
                break;
            case offer::tls12_cbc_rsa:
                SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
                SSL_CTX_set_cipher_list(
                    ctx, "AES128-SHA:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA256");
                break;
            case offer::tls12_gcm:
                SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
                break;
            case offer::tls13:
                break;
        }
        auto client = connect_tls(server.port(), context);
        handshake_record record = server.wait_handshake(0);
        if (client && !round_trip(**client, "ping")) {
            record.protocol += " (no round trip)";
        }
        drop(client);
        server.stop();
        return record;
    });
    INFO("server: " << server_side.error.message());
    switch (what) {
        case offer::tls11:
            CHECK(is_openssl_reason(server_side.error, SSL_R_UNSUPPORTED_PROTOCOL));
            break;
        case offer::tls12_cbc_rsa:
            CHECK(is_openssl_reason(server_side.error, SSL_R_NO_SHARED_CIPHER));
            break;
        case offer::tls12_gcm:
            CHECK(!server_side.error);
            CHECK(server_side.protocol == "TLSv1.2");
            break;
        case offer::tls13:
            CHECK(!server_side.error);
            CHECK(server_side.protocol == "TLSv1.3");
            break;
    }
}

TEST_CASE("a session ticket resumes the next TLS 1.2 and TLS 1.3 session", "[transport][tls]") {
    STAMPEDE_EACH_BACKEND(backend);
    const bool tls12 = GENERATE(false, true);
    INFO((tls12 ? "TLS 1.2" : "TLS 1.3"));
    struct outcome {
        bool first_resumed = true;
        bool second_resumed = false;
        bool server_saw_resumption = false;
        bool round_trips = false;
    };
    const outcome out = run_on_fiber(backend, [&] {
        outcome result;
        tls_context_slot slot(server_context());
        tls_test_server server(slot);
        auto context = client_context(nullptr, true);
        if (tls12) {
            SSL_CTX_set_max_proto_version(context->native_handle(), TLS1_2_VERSION);
        }
        auto first = connect_tls(server.port(), context);
        // A TLS 1.3 ticket comes after the handshake: a round trip reads it.
        result.round_trips = first && round_trip(**first, "one");
        result.first_resumed = first && tls_info(**first)->resumed;
        if (first) {
            // OpenSSL resumes only sessions that ended with close_notify.
            (**first).shutdown_send();
        }
        drop(first);
        auto second = connect_tls(server.port(), context);
        result.round_trips = result.round_trips && second && round_trip(**second, "two");
        result.second_resumed = second && tls_info(**second)->resumed;
        result.server_saw_resumption = server.wait_handshake(1).resumed;
        drop(second);
        server.stop();
        return result;
    });
    CHECK(out.round_trips);
    CHECK_FALSE(out.first_resumed);
    CHECK(out.second_resumed);
    CHECK(out.server_saw_resumption);
}

TEST_CASE("a reloaded certificate serves new handshakes while open connections go on",
          "[transport][tls]") {
    STAMPEDE_EACH_BACKEND(backend);
    struct outcome {
        std::string first_name, second_name, third_name;
        bool old_still_works = false;
        bool old_still_works_later = false;
        bool bad_reload_threw = false;
    };
    const outcome out = run_on_fiber(backend, [&] {
        outcome result;
        const test_pki& pki = test_pki::shared();
        tls_context_slot slot(server_context());
        tls_test_server server(slot);
        auto context = client_context();
        auto first = connect_tls(server.port(), context);
        if (first) {
            result.first_name = (**first).peer().certificate_name;
        }
        slot.reload({pki.server2.cert, pki.server2.key, pki.ca, verify_client::none});
        auto second = connect_tls(server.port(), context);
        if (second) {
            result.second_name = (**second).peer().certificate_name;
        }
        result.old_still_works = first && round_trip(**first, "still here");
        try {
            slot.reload(
                {pki.dir.string() + "/missing.pem", pki.server.key, "", verify_client::none});
        } catch (const tls_config_error&) {
            result.bad_reload_threw = true;
        }
        auto third = connect_tls(server.port(), context);
        if (third) {
            result.third_name = (**third).peer().certificate_name;
        }
        result.old_still_works_later = first && round_trip(**first, "and here");
        drop(first);
        drop(second);
        drop(third);
        server.stop();
        return result;
    });
    CHECK(out.first_name == "server-1");
    CHECK(out.second_name == "server-2");
    CHECK(out.old_still_works);
    CHECK(out.bad_reload_threw);
    CHECK(out.third_name == "server-2");
    CHECK(out.old_still_works_later);
}

TEST_CASE("a client that never speaks fails the handshake at its deadline", "[transport][tls]") {
    STAMPEDE_EACH_BACKEND(backend);
    const handshake_record record = run_on_fiber(backend, [&] {
        tls_context_slot slot(server_context());
        tls_test_server server(slot, echo_session, 100ms);
        auto silent = runtime::tcp_stream::connect(runtime::endpoint::loopback(server.port()));
        handshake_record r = server.wait_handshake(0);
        if (silent) {
            silent->close();
        }
        server.stop();
        return r;
    });
    CHECK(record.error == runtime::errc::timeout);
}

TEST_CASE("plain STOMP sent to a TLS port fails the handshake at once", "[transport][tls]") {
    STAMPEDE_EACH_BACKEND(backend);
    const handshake_record record = run_on_fiber(backend, [&] {
        tls_context_slot slot(server_context());
        tls_test_server server(slot);
        auto plain = runtime::tcp_stream::connect(runtime::endpoint::loopback(server.port()));
        if (plain) {
            const char frame[] = "CONNECT\naccept-version:1.2\nhost:/\n\n";
            (void)plain->write({frame, sizeof frame});
        }
        handshake_record r = server.wait_handshake(0);
        if (plain) {
            plain->close();
        }
        server.stop();
        return r;
    });
    INFO("server: " << record.error.message());
    CHECK(record.error.category() == openssl_category());
}

TEST_CASE("a client checks the server's name", "[transport][tls]") {
    STAMPEDE_EACH_BACKEND(backend);
    struct outcome {
        bool by_name = false, by_ip = false, wrong_name_refused = false;
        std::string name;
    };
    const outcome out = run_on_fiber(backend, [&] {
        outcome result;
        tls_context_slot slot(server_context());
        tls_test_server server(slot);
        auto context = client_context();
        auto a = connect_tls(server.port(), context, "localhost");
        result.by_name = a && round_trip(**a, "x");
        if (a) {
            result.name = (**a).peer().certificate_name;
        }
        auto b = connect_tls(server.port(), context, "127.0.0.1");
        result.by_ip = b && round_trip(**b, "x");
        auto c = connect_tls(server.port(), context, "broker.example.com");
        result.wrong_name_refused =
            !c &&
            c.error() == boost::system::error_code(X509_V_ERR_HOSTNAME_MISMATCH, x509_category());
        drop(a);
        drop(b);
        drop(c);
        server.stop();
        return result;
    });
    CHECK(out.by_name);
    CHECK(out.name == "server-1");
    CHECK(out.by_ip);
    CHECK(out.wrong_name_refused);
}

TEST_CASE("closing a TLS stream interrupts a receive blocked on it", "[transport][tls]") {
    STAMPEDE_EACH_BACKEND(backend);
    const boost::system::error_code error = run_on_fiber(backend, [&] {
        tls_context_slot slot(server_context());
        tls_test_server server(slot);
        auto client = connect_tls(server.port(), client_context());
        boost::system::error_code reader_error;
        bool reader_done = false;
        if (client) {
            runtime::this_scheduler()->spawn([&] {
                auto got = (**client).receive();
                reader_error = got ? boost::system::error_code{} : got.error();
                reader_done = true;
            });
            (void)runtime::this_fiber::sleep_for(10ms);
            (**client).close();  // returns once the reader has left the stream
        }
        const bool left = reader_done;
        drop(client);
        server.stop();
        return left ? reader_error : make_error_code(runtime::errc::timeout);
    });
    CHECK(error == runtime::errc::stream_closed);
}

TEST_CASE("a server context refuses missing files and a key that does not match",
          "[transport][tls]") {
    const test_pki& pki = test_pki::shared();
    CHECK_THROWS_AS(tls_context::server(
                        {pki.dir.string() + "/nope.pem", pki.server.key, "", verify_client::none}),
                    tls_config_error);
    CHECK_THROWS_AS(tls_context::server({pki.server.cert, pki.alice.key, "", verify_client::none}),
                    tls_config_error);
    CHECK_THROWS_AS(
        tls_context::server({pki.server.cert, pki.server.key, "", verify_client::required}),
        tls_config_error);
    const auto good =
        tls_context::server({pki.server.cert, pki.server.key, pki.ca, verify_client::optional});
    CHECK(good->is_server());
    CHECK(good->description().find("CN=server-1") != std::string::npos);
    verify_client parsed{};
    CHECK(parse_verify_client("required", parsed));
    CHECK(parsed == verify_client::required);
    CHECK_FALSE(parse_verify_client("yes", parsed));
}

namespace {

// A blocking OpenSSL client on the test's own thread (no fibers): it can do
// what tls_connect never does, such as renegotiating or updating keys.
class raw_client {
  public:
    raw_client(std::uint16_t port, int max_version) {
        ctx_ = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_max_proto_version(ctx_, max_version);
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        const timeval timeout{10, 0};  // a server that never answers fails the test, not hangs it
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        const auto at = runtime::endpoint::loopback(port);
        if (::connect(fd_, at.data(), at.size()) != 0) {
            return;
        }
        ssl_ = SSL_new(ctx_);
        SSL_set_fd(ssl_, fd_);
        connected_ = retrying([&] { return SSL_connect(ssl_); }) == 1;
    }
    ~raw_client() {
        SSL_free(ssl_);
        SSL_CTX_free(ctx_);
        ::close(fd_);
    }
    raw_client(const raw_client&) = delete;
    raw_client& operator=(const raw_client&) = delete;

    bool connected() const { return connected_; }
    SSL* ssl() const { return ssl_; }

    bool round_trip(const std::string& text) {
        if (retrying([&] { return SSL_write(ssl_, text.data(), static_cast<int>(text.size())); }) <=
            0) {
            return false;
        }
        std::string got;
        char buffer[4096];
        while (got.size() < text.size()) {
            const int n = retrying([&] { return SSL_read(ssl_, buffer, sizeof buffer); });
            if (n <= 0) {
                return false;
            }
            got.append(buffer, static_cast<std::size_t>(n));
        }
        return got == text;
    }

    // Calls `op` again while it is cut short: the socket has a receive
    // timeout, so the kernel does not restart a call that io_uring's task
    // work interrupts (EINTR), which OpenSSL reports as "want read/write".
    template <class Op>
    int retrying(Op op) const {
        for (;;) {
            errno = 0;
            const int n = op();
            const int e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl_, n);
            if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) || errno != EINTR) {
                return n;  // done, failed, or timed out (EAGAIN)
            }
        }
    }

  private:
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    int fd_ = -1;
    bool connected_ = false;
};

// Runs `client(port)` on this thread against a TLS echo server in a runtime.
template <class Fn>
auto against_echo_server(runtime::io_mode backend, Fn client) {
    runtime::runtime_options options;
    options.schedulers = 1;
    options.io = backend;
    runtime::runtime rt(options);
    rt.start();
    tls_context_slot slot(server_context());
    std::unique_ptr<tls_test_server> server;
    const std::uint16_t port = rt.run_on(0, [&] {
        server = std::make_unique<tls_test_server>(slot);
        return server->port();
    });
    auto out = client(port);
    rt.run_on(0, [&] {
        server->stop();
        server.reset();
    });
    rt.stop();
    return out;
}

}  // namespace

TEST_CASE("a TLS 1.2 client cannot renegotiate", "[transport][tls]") {
    STAMPEDE_EACH_BACKEND(backend);
    struct outcome {
        bool connected = false, before = false, renegotiated = true;
        int reason = 0;
    };
    const outcome out = against_echo_server(backend, [](std::uint16_t port) {
        outcome result;
        raw_client client(port, TLS1_2_VERSION);
        result.connected = client.connected();
        result.before = result.connected && client.round_trip("before");
        if (result.connected) {
            ERR_clear_error();
            SSL_renegotiate(client.ssl());
            result.renegotiated =
                client.retrying([&] { return SSL_do_handshake(client.ssl()); }) == 1;
            result.reason = ERR_GET_REASON(ERR_peek_error());
        }
        return result;
    });
    CHECK(out.connected);
    CHECK(out.before);
    CHECK_FALSE(out.renegotiated);
    CHECK(out.reason == SSL_R_NO_RENEGOTIATION);
}

TEST_CASE("a TLS 1.3 key update from the client is answered and the echo goes on",
          "[transport][tls]") {
    STAMPEDE_EACH_BACKEND(backend);
    struct outcome {
        bool connected = false;
        int round_trips = 0;
    };
    const outcome out = against_echo_server(backend, [](std::uint16_t port) {
        outcome result;
        raw_client client(port, TLS1_3_VERSION);
        result.connected = client.connected();
        for (int i = 0; result.connected && i < 5; ++i) {
            // Asks the server to update its keys too: its reader must send
            // that KeyUpdate, or the client could not read the echo.
            if (SSL_key_update(client.ssl(), SSL_KEY_UPDATE_REQUESTED) != 1 ||
                !client.round_trip("after update " + std::to_string(i))) {
                break;
            }
            ++result.round_trips;
        }
        return result;
    });
    CHECK(out.connected);
    CHECK(out.round_trips == 5);
}
