#pragma once

// Test certificates, made at test time with the OpenSSL API into a temporary
// directory (no private key is committed): a CA, servers it signs, clients it
// signs (good, expired), and a client signed by a CA nobody trusts.

#include <filesystem>
#include <string>

namespace stampede::transport::test {

/// A certificate and its key, as PEM files.
struct cert_files {
    std::string cert;
    std::string key;
};

/// The key algorithm of generated leaf certificates.
enum class key_kind { ec_p256, rsa_2048 };

class test_pki {
  public:
    /// Generates everything into a fresh directory under $TMPDIR (or /tmp).
    explicit test_pki(key_kind leaf_keys = key_kind::ec_p256);
    ~test_pki();
    test_pki(const test_pki&) = delete;
    test_pki& operator=(const test_pki&) = delete;

    /// One shared instance for a test executable (EC keys).
    static const test_pki& shared();

    std::string ca;        ///< the trusted CA's certificate
    std::string other_ca;  ///< a CA no server trusts
    cert_files server;     ///< CN=server-1, SAN localhost and 127.0.0.1
    cert_files server2;    ///< CN=server-2, same names: the reloaded certificate
    cert_files alice;      ///< client CN=alice, valid
    cert_files expired;    ///< client CN=old-alice, expired yesterday
    cert_files stranger;   ///< client CN=mallory, signed by other_ca
    std::filesystem::path dir;
};

}  // namespace stampede::transport::test
