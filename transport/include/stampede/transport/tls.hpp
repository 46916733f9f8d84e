#pragma once

// TLS as a transport stream (OpenSSL 3). The record layer runs over the
// runtime's tcp_stream through a custom BIO driven by the calling fiber, so it
// works on both I/O backends and holds no buffer while a connection is idle.
//
// Policy (tls_context::server): TLS 1.2 and 1.3 only; TLS 1.2 restricted to
// ECDHE key exchange with AEAD ciphers (AES-GCM, ChaCha20-Poly1305); no
// renegotiation, no compression; session tickets on (stateless, no server
// session cache); OpenSSL security level 2 (RSA/DH >= 2048 bits, no SHA-1
// signatures).

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "stampede/runtime/errc.hpp"
#include "stampede/runtime/io.hpp"
#include "stampede/runtime/timer.hpp"
#include "stampede/transport/stream.hpp"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace stampede::transport {

/// Whether a TLS server asks for a client certificate.
enum class verify_client : std::uint8_t {
    none,      ///< never asks
    optional,  ///< asks; a client without one is let in, a bad one is refused
    required,  ///< asks; a client without a valid one is refused
};

/// Parses "none", "optional" or "required".
bool parse_verify_client(std::string_view text, verify_client& out) noexcept;
std::string_view to_string(verify_client v) noexcept;

/// What a TLS listener is configured with (the issue's `tls` block).
struct tls_server_options {
    std::string cert;  ///< PEM file: the server certificate, then its chain
    std::string key;   ///< PEM file: the certificate's private key
    std::string ca;    ///< PEM file: CAs trusted for client certificates (unless verify none)
    verify_client verify = verify_client::none;
};

/// What a TLS client (tests, the load driver) is configured with.
struct tls_client_options {
    std::string ca;                ///< PEM file of trusted CAs; empty: the system's default store
    std::string cert;              ///< optional client certificate (PEM file)
    std::string key;               ///< its private key
    bool verify_server = true;     ///< check the chain, and the name given to tls_connect
    bool resume_sessions = false;  ///< keep the last session ticket and offer it on connect
};

/// A TLS configuration that cannot be used: names the file and OpenSSL's reason.
class tls_config_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// An immutable OpenSSL context (SSL_CTX) for one side of TLS.
///
/// Shared by every connection made with it; a connection keeps its context
/// alive (OpenSSL counts references), so replacing a listener's context never
/// disturbs connections already open. Thread-safe once built.
class tls_context {
  public:
    /// Loads certificate, key and CA files and applies the server policy.
    /// Throws tls_config_error (configuration time, not the data path).
    static std::shared_ptr<const tls_context> server(const tls_server_options& options);

    /// A client context. Throws tls_config_error.
    static std::shared_ptr<const tls_context> client(const tls_client_options& options);

    ~tls_context();
    tls_context(const tls_context&) = delete;
    tls_context& operator=(const tls_context&) = delete;

    bool is_server() const noexcept { return server_; }
    verify_client client_verification() const noexcept { return verify_; }

    /// One line for logs: the certificate's subject and expiry, the client policy.
    const std::string& description() const noexcept { return description_; }

    /// The OpenSSL context, for tests that need a non-default client (an old
    /// protocol version, a weak cipher). Change it only before first use.
    ssl_ctx_st* native_handle() const noexcept { return ctx_; }

    struct session_slot;
    /// Client side: where tls_connect keeps the last session (nullptr unless
    /// the options asked to resume sessions).
    session_slot* sessions() const noexcept { return sessions_.get(); }

  private:
    tls_context(ssl_ctx_st* ctx, bool server, verify_client verify);

    ssl_ctx_st* ctx_;
    bool server_;
    verify_client verify_;
    std::string description_;
    std::unique_ptr<session_slot> sessions_;
};

/// The context a listener uses for its next handshake. replace() swaps in a
/// new one atomically (SIGHUP reloads certificates this way); handshakes
/// already started, and connections already open, keep the one they took.
/// Any thread.
class tls_context_slot {
  public:
    explicit tls_context_slot(std::shared_ptr<const tls_context> initial)
        : current_(std::move(initial)) {}

    std::shared_ptr<const tls_context> current() const noexcept { return current_.load(); }
    void replace(std::shared_ptr<const tls_context> next) noexcept {
        current_.store(std::move(next));
    }

    /// Builds a server context from `options` and swaps it in. On failure
    /// throws tls_config_error and the current context stays.
    void reload(const tls_server_options& options) { replace(tls_context::server(options)); }

  private:
    std::atomic<std::shared_ptr<const tls_context>> current_;
};

/// Why a TLS operation failed when OpenSSL gives no more precise reason.
/// OpenSSL's reasons come as codes of openssl_category() ("certificate verify
/// failed", "unsupported protocol", ...), a certificate's verification result
/// as codes of x509_category() (X509_V_ERR_*: "certificate has expired").
enum class tls_errc {
    handshake_failed = 1,  ///< the handshake failed without an OpenSSL reason
    wrong_context_side,    ///< a client context given to tls_accept, or the reverse
    session_failed,        ///< the connection's OpenSSL objects could not be created
};

const boost::system::error_category& tls_category() noexcept;
const boost::system::error_category& openssl_category() noexcept;
const boost::system::error_category& x509_category() noexcept;

inline boost::system::error_code make_error_code(tls_errc e) noexcept {
    return {static_cast<int>(e), tls_category()};
}

/// Runs the server side of a handshake on an accepted connection, on the
/// calling fiber, and returns the connection as a stream ("tls"). Fails with
/// runtime::errc::timeout at `deadline`, end_of_stream if the peer leaves, or
/// the TLS reason (a fatal alert has then been sent). With client
/// verification, peer().certificate_name is the verified certificate's CN
/// (empty when no certificate, or a subject without exactly one CN).
runtime::result<std::unique_ptr<stream>> tls_accept(runtime::tcp_stream tcp,
                                                    std::shared_ptr<const tls_context> context,
                                                    runtime::time_point deadline);

/// Runs the client side of a handshake. `server_name` goes out as SNI (when it
/// is a host name) and is checked against the server certificate when the
/// context verifies; peer().certificate_name is then the server's CN.
runtime::result<std::unique_ptr<stream>> tls_connect(runtime::tcp_stream tcp,
                                                     std::shared_ptr<const tls_context> context,
                                                     std::string_view server_name,
                                                     runtime::time_point deadline);

/// What a TLS stream negotiated, for logs and /stats; nullopt for other streams.
struct tls_session_info {
    std::string_view protocol;  ///< "TLSv1.3", "TLSv1.2"
    std::string_view cipher;    ///< OpenSSL's cipher name
    bool resumed = false;       ///< the handshake resumed a session (ticket)
};
std::optional<tls_session_info> tls_info(const stream& s) noexcept;

}  // namespace stampede::transport

namespace boost::system {
template <>
struct is_error_code_enum<stampede::transport::tls_errc> : std::true_type {};
}  // namespace boost::system
