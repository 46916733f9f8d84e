// TLS contexts: the policy every Stampede TLS connection runs under, and the
// error categories that carry OpenSSL's reasons.

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>

#include "tls_detail.hpp"

namespace stampede::transport {

namespace {

// TLS 1.2 suites: forward-secret ECDHE only, AEAD only (Mozilla's
// "intermediate" profile without its finite-field DHE suites, which need
// large parameters to be safe and are slow). No CBC (Lucky13, padding
// oracles), no RSA key exchange (no forward secrecy), no SHA-1 MACs, no 3DES.
constexpr const char* tls12_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// TLS 1.3's suites are all AEAD; these are OpenSSL's defaults, named so a
// library update cannot widen them silently.
constexpr const char* tls13_suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

constexpr const char* key_groups = "X25519:P-256:P-384";

// Resumed sessions must belong to this application (OpenSSL refuses to resume
// a session with a client certificate without a session id context).
constexpr unsigned char session_id_context[] = "stampede";

struct ctx_deleter {
    void operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }
};
using ctx_ptr = std::unique_ptr<SSL_CTX, ctx_deleter>;

// Everything on this thread's OpenSSL error queue, "; "-separated; clears it.
std::string drain_errors() {
    std::string out;
    while (const unsigned long e = ERR_get_error()) {
        char text[256];
        ERR_error_string_n(e, text, sizeof text);
        if (!out.empty()) {
            out += "; ";
        }
        out += text;
    }
    return out.empty() ? "no reason given" : out;
}

[[noreturn]] void fail(const std::string& what) {
    throw tls_config_error("tls: " + what + ": " + drain_errors());
}

void require(int ok, const std::string& what) {
    if (ok != 1) {
        fail(what);
    }
}

// The settings both sides share: versions, suites, groups, no renegotiation,
// no compression, buffers released while idle.
void apply_policy(SSL_CTX* ctx) {
    require(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION), "setting TLS 1.2 as the minimum");
    require(SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION), "setting TLS 1.3 as the maximum");
    require(SSL_CTX_set_cipher_list(ctx, tls12_ciphers), "setting the TLS 1.2 cipher list");
    require(SSL_CTX_set_ciphersuites(ctx, tls13_suites), "setting the TLS 1.3 cipher suites");
    require(static_cast<int>(SSL_CTX_set1_groups_list(ctx, key_groups)), "setting the key groups");
    SSL_CTX_set_security_level(ctx, 2);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    // The record buffers (about 34 KiB) go back to the heap whenever nothing
    // is buffered: an idle connection keeps only its SSL state.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

void load_certificate(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
    require(SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()),
            "cannot load the certificate chain '" + cert + "'");
    require(SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM),
            "cannot load the private key '" + key + "'");
    require(SSL_CTX_check_private_key(ctx),
            "the private key '" + key + "' does not match the certificate '" + cert + "'");
}

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    return size > 0 ? std::string(data, static_cast<std::size_t>(size)) : std::string();
}

// "subject CN=broker, expires Jan  1 00:00:00 2030 GMT".
std::string describe_certificate(SSL_CTX* ctx) {
    X509* cert = SSL_CTX_get0_certificate(ctx);
    if (cert == nullptr) {
        return "no certificate";
    }
    BIO* bio = BIO_new(BIO_s_mem());
    if (bio == nullptr) {
        return "certificate";
    }
    BIO_puts(bio, "subject ");
    X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    BIO_puts(bio, ", expires ");
    ASN1_TIME_print(bio, X509_get0_notAfter(cert));
    std::string out = bio_text(bio);
    BIO_free(bio);
    return out;
}

int keep_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* slot =
        static_cast<tls_context::session_slot*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
    if (slot == nullptr) {
        return 0;
    }
    const std::lock_guard lock(slot->mutex);
    SSL_SESSION_free(slot->last);
    slot->last = session;
    return 1;  // we own the reference now
}

class tls_category_impl final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "stampede.tls"; }
    std::string message(int value) const override {
        switch (static_cast<tls_errc>(value)) {
            case tls_errc::handshake_failed:
                return "TLS handshake failed";
            case tls_errc::wrong_context_side:
                return "TLS context is for the other side of the connection";
            case tls_errc::session_failed:
                return "cannot create the TLS connection state";
        }
        return "unknown TLS error";
    }
};

class openssl_category_impl final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "openssl"; }
    std::string message(int value) const override {
        const auto e = static_cast<unsigned long>(value);
        const char* lib = ERR_lib_error_string(e);
        const char* reason = ERR_reason_error_string(e);
        std::string out = lib != nullptr ? std::string(lib) + ": " : std::string();
        out += reason != nullptr ? reason : "error " + std::to_string(ERR_GET_REASON(e));
        return out;
    }
};

class x509_category_impl final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "x509"; }
    std::string message(int value) const override {
        return std::string("certificate: ") + X509_verify_cert_error_string(value);
    }
};

}  // namespace

// ---- names ----

bool parse_verify_client(std::string_view text, verify_client& out) noexcept {
    if (text == "none") {
        out = verify_client::none;
    } else if (text == "optional") {
        out = verify_client::optional;
    } else if (text == "required") {
        out = verify_client::required;
    } else {
        return false;
    }
    return true;
}

std::string_view to_string(verify_client v) noexcept {
    switch (v) {
        case verify_client::none:
            return "none";
        case verify_client::optional:
            return "optional";
        case verify_client::required:
            return "required";
    }
    return "?";
}

// ---- error categories ----

const boost::system::error_category& tls_category() noexcept {
    static const tls_category_impl instance;
    return instance;
}

const boost::system::error_category& openssl_category() noexcept {
    static const openssl_category_impl instance;
    return instance;
}

const boost::system::error_category& x509_category() noexcept {
    static const x509_category_impl instance;
    return instance;
}

namespace detail {

boost::system::error_code take_openssl_error(tls_errc fallback) noexcept {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) {
        return fallback;
    }
    if (ERR_SYSTEM_ERROR(e)) {
        return runtime::errno_code(static_cast<int>(ERR_GET_REASON(e)));
    }
    // Library and reason codes fit in 31 bits (ERR_PACK); the function field is gone in 3.0.
    return {static_cast<int>(e & 0x7fffffffUL), openssl_category()};
}

}  // namespace detail

// ---- tls_context ----

tls_context::tls_context(SSL_CTX* ctx, bool server, verify_client verify)
    : ctx_(ctx), server_(server), verify_(verify) {}

tls_context::~tls_context() {
    SSL_CTX_free(ctx_);
}

std::shared_ptr<const tls_context> tls_context::server(const tls_server_options& options) {
    ERR_clear_error();
    if (options.cert.empty() || options.key.empty()) {
        throw tls_config_error("tls: a TLS listener needs 'cert' and 'key'");
    }
    if (options.verify != verify_client::none && options.ca.empty()) {
        throw tls_config_error("tls: verify_client '" + std::string(to_string(options.verify)) +
                               "' needs 'ca', the CAs that sign client certificates");
    }
    ctx_ptr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) {
        fail("cannot create a server context");
    }
    apply_policy(ctx.get());
    load_certificate(ctx.get(), options.cert, options.key);

    // Stateless tickets resume sessions; a server-side cache would only hold
    // memory (up to 20,480 sessions with their peer certificates by default).
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    require(SSL_CTX_set_session_id_context(ctx.get(), session_id_context,
                                           sizeof session_id_context - 1),
            "setting the session id context");
    SSL_CTX_set_num_tickets(ctx.get(), 1);

    if (options.verify != verify_client::none) {
        require(SSL_CTX_load_verify_locations(ctx.get(), options.ca.c_str(), nullptr),
                "cannot load the client CA file '" + options.ca + "'");
        STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.ca.c_str());
        if (names == nullptr) {
            fail("no CA certificate in '" + options.ca + "'");
        }
        SSL_CTX_set_client_CA_list(ctx.get(), names);  // takes ownership
        int mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
        if (options.verify == verify_client::required) {
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        }
        SSL_CTX_set_verify(ctx.get(), mode, nullptr);
        SSL_CTX_set_verify_depth(ctx.get(), 8);
    } else {
        SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
    }

    std::shared_ptr<tls_context> out(new tls_context(ctx.release(), true, options.verify));
    out->description_ = describe_certificate(out->ctx_) +
                        ", client certificates: " + std::string(to_string(options.verify));
    return out;
}

std::shared_ptr<const tls_context> tls_context::client(const tls_client_options& options) {
    ERR_clear_error();
    ctx_ptr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) {
        fail("cannot create a client context");
    }
    apply_policy(ctx.get());
    if (options.ca.empty()) {
        require(SSL_CTX_set_default_verify_paths(ctx.get()), "loading the system's CA store");
    } else {
        require(SSL_CTX_load_verify_locations(ctx.get(), options.ca.c_str(), nullptr),
                "cannot load the CA file '" + options.ca + "'");
    }
    if (!options.cert.empty()) {
        load_certificate(ctx.get(), options.cert, options.key);
    }
    SSL_CTX_set_verify(ctx.get(), options.verify_server ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                       nullptr);

    std::shared_ptr<tls_context> out(new tls_context(ctx.release(), false, verify_client::none));
    if (options.resume_sessions) {
        out->sessions_ = std::make_unique<session_slot>();
        SSL_CTX_set_app_data(out->ctx_, out->sessions_.get());
        SSL_CTX_set_session_cache_mode(out->ctx_,
                                       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(out->ctx_, keep_new_session);
    }
    out->description_ =
        options.cert.empty() ? "client" : "client, " + describe_certificate(out->ctx_);
    return out;
}

}  // namespace stampede::transport
