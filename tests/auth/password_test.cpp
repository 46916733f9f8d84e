// argon2id strings: hashing round trip, plain text and other schemes told
// apart, parameter bounds, and the --hash-password command.

#include "stampede/auth/password.hpp"

#include <catch2/catch.hpp>
#include <sstream>

using namespace stampede::auth;

TEST_CASE("a hashed passcode verifies and a different one does not", "[auth][password]") {
    const auto hashed = hash_password("correct horse battery staple");
    REQUIRE(hashed);
    CHECK(hashed->rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0) == 0);
    CHECK(verify_password(*hashed, "correct horse battery staple"));
    CHECK_FALSE(verify_password(*hashed, "correct horse battery stapl"));
    CHECK_FALSE(verify_password(*hashed, ""));
    // A random salt: the same passcode hashes differently each time.
    const auto again = hash_password("correct horse battery staple");
    REQUIRE(again);
    CHECK(*again != *hashed);
    CHECK(verify_password(*again, "correct horse battery staple"));
}

TEST_CASE("a passcode with NUL bytes and non-ASCII text round-trips", "[auth][password]") {
    const std::string odd("p\0ss\xc3\xa9", 6);
    const auto hashed = hash_password(odd);
    REQUIRE(hashed);
    CHECK(verify_password(*hashed, odd));
    CHECK_FALSE(verify_password(*hashed, "p"));
}

TEST_CASE("an empty passcode is not hashed", "[auth][password]") {
    CHECK(hash_password("").error() == errc::empty_passcode);
}

TEST_CASE("a stored passcode is told apart from plain text and other schemes", "[auth][password]") {
    const auto hashed = hash_password("secret", {8 * 1024, 1, 1});
    REQUIRE(hashed);
    const auto cost = check_stored_hash(*hashed);
    REQUIRE(cost);
    CHECK(*cost == argon2id_cost{8 * 1024, 1, 1});

    CHECK(check_stored_hash("secret").error() == errc::plaintext_passcode);
    CHECK(check_stored_hash("").error() == errc::plaintext_passcode);
    CHECK(check_stored_hash("argon2id$v=19").error() == errc::plaintext_passcode);
    CHECK(check_stored_hash("$2b$12$abcdefghijklmnopqrstuv").error() == errc::unsupported_hash);
    CHECK(check_stored_hash("$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA").error() ==
          errc::unsupported_hash);
    CHECK(check_stored_hash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"));
    // Parameters a login would pay for at every cache miss, or malformed.
    CHECK(check_stored_hash("$argon2id$v=19$m=4194304,t=2,p=1$c2FsdA$aGFzaA").error() ==
          errc::bad_hash_parameters);
    CHECK(check_stored_hash("$argon2id$v=19$m=19456,t=50,p=1$c2FsdA$aGFzaA").error() ==
          errc::bad_hash_parameters);
    CHECK(check_stored_hash("$argon2id$v=19$m=19456,t=2,p=4$c2FsdA$aGFzaA").error() ==
          errc::bad_hash_parameters);
    CHECK(check_stored_hash("$argon2id$v=16$m=19456,t=2,p=1$c2FsdA$aGFzaA").error() ==
          errc::bad_hash_parameters);
    CHECK(check_stored_hash("$argon2id$v=19$m=19456,t=2$c2FsdA$aGFzaA").error() ==
          errc::bad_hash_parameters);
    CHECK(check_stored_hash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA").error() ==
          errc::bad_hash_parameters);
    CHECK(check_stored_hash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$").error() ==
          errc::bad_hash_parameters);
}

TEST_CASE("the plain-text error says how to hash and never shows the passcode",
          "[auth][password]") {
    const auto why = check_stored_hash("hunter2").error();
    const std::string message = stored_passcode_problem("alice", why);
    CHECK(message.find("'alice'") != std::string::npos);
    CHECK(message.find("plain text") != std::string::npos);
    CHECK(message.find("stampede --hash-password") != std::string::npos);
    CHECK(message.find("hunter2") == std::string::npos);
}

TEST_CASE("the hash-password command turns a line of input into a string that verifies",
          "[auth][password]") {
    std::istringstream in("s3cret passcode\r\n");
    std::ostringstream out, err;
    CHECK(hash_password_command(in, out, err) == 0);
    std::string printed = out.str();
    REQUIRE(!printed.empty());
    CHECK(printed.back() == '\n');
    printed.pop_back();
    CHECK(check_stored_hash(printed));
    CHECK(verify_password(printed, "s3cret passcode"));
    CHECK(err.str().empty());

    std::istringstream nothing("");
    std::ostringstream out2, err2;
    CHECK(hash_password_command(nothing, out2, err2) != 0);
    CHECK(out2.str().empty());
    CHECK(!err2.str().empty());
}
