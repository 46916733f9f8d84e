#include "tls_pki.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

namespace stampede::transport::test {

namespace {

struct key_free {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct cert_free {
    void operator()(X509* c) const noexcept { X509_free(c); }
};
using key_ptr = std::unique_ptr<EVP_PKEY, key_free>;
using cert_ptr = std::unique_ptr<X509, cert_free>;

void check(bool ok, const char* what) {
    if (!ok) {
        throw std::runtime_error(std::string("test PKI: ") + what);
    }
}

key_ptr make_key(key_kind kind) {
    key_ptr key(kind == key_kind::rsa_2048 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256"));
    check(key != nullptr, "key generation");
    return key;
}

void add_extension(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    check(ext != nullptr, "extension");
    check(X509_add_ext(cert, ext, -1) == 1, "adding an extension");
    X509_EXTENSION_free(ext);
}

enum class role { ca, server, client };

struct issuer_ref {
    X509* cert;
    EVP_PKEY* key;
};

// A certificate for `key`, valid from `from` to `to` seconds relative to now,
// signed by `by` (or by itself when by.cert is null).
cert_ptr make_cert(EVP_PKEY* key, const char* cn, role r, issuer_ref by, long from, long to) {
    static long serial = 1;
    cert_ptr cert(X509_new());
    check(cert != nullptr, "X509_new");
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), ++serial);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), from);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), to);
    X509_set_pubkey(cert.get(), key);
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                               -1, -1, 0);
    X509* issuer = by.cert != nullptr ? by.cert : cert.get();
    X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer));
    add_extension(cert.get(), issuer, NID_subject_key_identifier, "hash");
    add_extension(cert.get(), issuer, NID_authority_key_identifier, "keyid:always");
    switch (r) {
        case role::ca:
            add_extension(cert.get(), issuer, NID_basic_constraints, "critical,CA:TRUE");
            add_extension(cert.get(), issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
            break;
        case role::server:
            add_extension(cert.get(), issuer, NID_basic_constraints, "CA:FALSE");
            add_extension(cert.get(), issuer, NID_ext_key_usage, "serverAuth");
            add_extension(cert.get(), issuer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
            break;
        case role::client:
            add_extension(cert.get(), issuer, NID_basic_constraints, "CA:FALSE");
            add_extension(cert.get(), issuer, NID_ext_key_usage, "clientAuth");
            break;
    }
    EVP_PKEY* signer = by.key != nullptr ? by.key : key;
    check(X509_sign(cert.get(), signer, EVP_sha256()) > 0, "signing");
    return cert;
}

void write_cert(const std::filesystem::path& path, X509* cert) {
    FILE* f = std::fopen(path.c_str(), "w");
    check(f != nullptr, "opening a certificate file");
    const bool ok = PEM_write_X509(f, cert) == 1;
    std::fclose(f);
    check(ok, "writing a certificate");
}

void write_key(const std::filesystem::path& path, EVP_PKEY* key) {
    FILE* f = std::fopen(path.c_str(), "w");
    check(f != nullptr, "opening a key file");
    const bool ok = PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
    std::fclose(f);
    check(ok, "writing a key");
}

constexpr long day = 24 * 3600;

}  // namespace

test_pki::test_pki(key_kind leaf_keys) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/stampede-tls-XXXXXX";
    check(::mkdtemp(pattern.data()) != nullptr, "mkdtemp");
    dir = pattern;

    const auto leaf = [&](const char* file, const char* cn, role r, issuer_ref by, long from,
                          long to) {
        key_ptr key = make_key(leaf_keys);
        cert_ptr cert = make_cert(key.get(), cn, r, by, from, to);
        cert_files out{(dir / (std::string(file) + ".pem")).string(),
                       (dir / (std::string(file) + ".key")).string()};
        write_cert(out.cert, cert.get());
        write_key(out.key, key.get());
        return out;
    };

    key_ptr ca_key = make_key(key_kind::ec_p256);
    cert_ptr ca_cert =
        make_cert(ca_key.get(), "Stampede Test CA", role::ca, {nullptr, nullptr}, -day, 30 * day);
    ca = (dir / "ca.pem").string();
    write_cert(ca, ca_cert.get());

    key_ptr other_key = make_key(key_kind::ec_p256);
    cert_ptr other_cert = make_cert(other_key.get(), "Somebody Else's CA", role::ca,
                                    {nullptr, nullptr}, -day, 30 * day);
    other_ca = (dir / "other-ca.pem").string();
    write_cert(other_ca, other_cert.get());

    const issuer_ref by_ca{ca_cert.get(), ca_key.get()};
    server = leaf("server-1", "server-1", role::server, by_ca, -day, 30 * day);
    server2 = leaf("server-2", "server-2", role::server, by_ca, -day, 30 * day);
    alice = leaf("alice", "alice", role::client, by_ca, -day, 30 * day);
    expired = leaf("expired", "old-alice", role::client, by_ca, -30 * day, -day);
    stranger = leaf("stranger", "mallory", role::client, {other_cert.get(), other_key.get()}, -day,
                    30 * day);
}

test_pki::~test_pki() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
}

const test_pki& test_pki::shared() {
    static const test_pki instance;
    return instance;
}

}  // namespace stampede::transport::test
