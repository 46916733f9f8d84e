#pragma once

// Passcodes as argon2id strings (libsodium's crypto_pwhash_str): hashing,
// verifying, and telling a hash from a passcode left in plain text.
//
// Hashing and verifying cost tens of milliseconds and tens of MiB by design:
// never call them on a scheduler thread (credential_verifier runs them on
// its own threads).

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include "stampede/auth/errc.hpp"

namespace stampede::auth {

/// argon2id's parameters as its string shows them ($argon2id$v=19$m=..,t=..,p=..$).
struct argon2id_cost {
    std::uint32_t memory_kib = 19 * 1024;  ///< m: 19 MiB (OWASP's first recommendation)
    std::uint32_t passes = 2;              ///< t
    std::uint32_t lanes = 1;               ///< p: libsodium computes one lane

    friend bool operator==(const argon2id_cost&, const argon2id_cost&) = default;
};

/// "m=19456,t=2,p=1", as in the hash string.
std::ostream& operator<<(std::ostream& out, const argon2id_cost& cost);

/// The range a configured hash must fall in: a hash is verified at every
/// login that misses the cache, so its cost is the broker's to bound.
inline constexpr std::uint32_t max_memory_kib = 256 * 1024;
inline constexpr std::uint32_t max_passes = 10;

/// Initialises libsodium once (any thread). Throws std::runtime_error if it cannot.
void init_sodium();

/// Hashes `passcode` into an argon2id string with a random salt.
/// errc::empty_passcode, errc::hashing_failed.
[[nodiscard]] result<std::string> hash_password(std::string_view passcode, argon2id_cost cost = {});

/// True when `passcode` matches `stored` (an argon2id string). Costs a full
/// argon2id computation; compares in constant time.
[[nodiscard]] bool verify_password(const std::string& stored, std::string_view passcode) noexcept;

/// Checks what a configured passcode is: the cost of an acceptable argon2id
/// hash, or errc::plaintext_passcode (it does not start with '$'),
/// errc::unsupported_hash (another scheme: $2b$, $argon2i$, $6$...), or
/// errc::bad_hash_parameters.
[[nodiscard]] result<argon2id_cost> check_stored_hash(std::string_view stored) noexcept;

/// The start-up error for user `user` (of the list `key`: "users", or
/// "admin.users") whose configured passcode failed check_stored_hash with
/// `why`: says how to fix it, never repeats the passcode.
std::string stored_passcode_problem(std::string_view user, boost::system::error_code why,
                                    std::string_view key = "users");

/// `stampede --hash-password`: reads one passcode (a line, without its line
/// end) from `in` and writes its argon2id string and a newline to `out`.
/// Returns the process exit code; says what went wrong on `err`.
int hash_password_command(std::istream& in, std::ostream& out, std::ostream& err);

/// hash_password_command on stdin/stdout/stderr; when stdin is a terminal,
/// prompts on stderr and reads without echo.
int hash_password_main();

}  // namespace stampede::auth
