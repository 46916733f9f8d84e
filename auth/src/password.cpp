#include "stampede/auth/password.hpp"

#include <sodium.h>
#include <termios.h>
#include <unistd.h>

#include <charconv>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>

namespace stampede::auth {

namespace {

constexpr std::string_view argon2id_prefix = "$argon2id$";

// Reads "name=<number>" from the front of `text`, advancing past it.
bool take_number(std::string_view& text, std::string_view name, std::uint32_t& out) {
    if (text.substr(0, name.size()) != name || text.size() <= name.size() ||
        text[name.size()] != '=') {
        return false;
    }
    const char* first = text.data() + name.size() + 1;
    const char* last = text.data() + text.size();
    const auto [end, ec] = std::from_chars(first, last, out);
    if (ec != std::errc{} || end == first) {
        return false;
    }
    text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    return true;
}

bool take(std::string_view& text, char c) {
    if (text.empty() || text.front() != c) {
        return false;
    }
    text.remove_prefix(1);
    return true;
}

// Removes a trailing "\n" or "\r\n".
void chomp(std::string& line) {
    if (!line.empty() && line.back() == '\n') {
        line.pop_back();
    }
    if (!line.empty() && line.back() == '\r') {
        line.pop_back();
    }
}

}  // namespace

std::ostream& operator<<(std::ostream& out, const argon2id_cost& cost) {
    return out << "m=" << cost.memory_kib << ",t=" << cost.passes << ",p=" << cost.lanes;
}

void init_sodium() {
    static std::once_flag once;
    static bool ok = false;
    std::call_once(once, [] { ok = ::sodium_init() >= 0; });
    if (!ok) {
        throw std::runtime_error("libsodium could not be initialised");
    }
}

result<std::string> hash_password(std::string_view passcode, argon2id_cost cost) {
    init_sodium();
    if (passcode.empty()) {
        return errc::empty_passcode;
    }
    char out[crypto_pwhash_STRBYTES];
    if (::crypto_pwhash_str_alg(out, passcode.data(), passcode.size(), cost.passes,
                                static_cast<std::size_t>(cost.memory_kib) * 1024,
                                crypto_pwhash_ALG_ARGON2ID13) != 0) {
        return errc::hashing_failed;
    }
    return std::string(out);
}

bool verify_password(const std::string& stored, std::string_view passcode) noexcept {
    return ::crypto_pwhash_str_verify(stored.c_str(), passcode.data(), passcode.size()) == 0;
}

result<argon2id_cost> check_stored_hash(std::string_view stored) noexcept {
    if (stored.empty() || stored.front() != '$') {
        return errc::plaintext_passcode;
    }
    if (stored.substr(0, argon2id_prefix.size()) != argon2id_prefix) {
        return errc::unsupported_hash;
    }
    if (stored.size() >= crypto_pwhash_STRBYTES) {
        return errc::bad_hash_parameters;
    }
    std::string_view rest = stored.substr(argon2id_prefix.size());
    std::uint32_t version = 0;
    argon2id_cost cost;
    const bool parsed = take_number(rest, "v", version) && take(rest, '$') &&
                        take_number(rest, "m", cost.memory_kib) && take(rest, ',') &&
                        take_number(rest, "t", cost.passes) && take(rest, ',') &&
                        take_number(rest, "p", cost.lanes) && take(rest, '$');
    // What is left is "<salt>$<hash>" in unpadded base64.
    const auto dollar = rest.find('$');
    if (!parsed || version != 19 || dollar == std::string_view::npos || dollar == 0 ||
        dollar + 1 == rest.size()) {
        return errc::bad_hash_parameters;
    }
    if (cost.lanes != 1 || cost.passes < 1 || cost.passes > max_passes ||
        cost.memory_kib < crypto_pwhash_argon2id_MEMLIMIT_MIN / 1024 ||
        cost.memory_kib > max_memory_kib) {
        return errc::bad_hash_parameters;
    }
    return cost;
}

std::string stored_passcode_problem(std::string_view user, boost::system::error_code why,
                                    std::string_view key) {
    std::string out = std::string(key) + ": the passcode of '" + std::string(user) + "' ";
    if (why == errc::plaintext_passcode) {
        out +=
            "is in plain text; store its argon2id hash instead, made with: "
            "printf '%s' 'the passcode' | stampede --hash-password";
    } else if (why == errc::unsupported_hash) {
        out +=
            "is hashed with another scheme than argon2id; hash it again with "
            "stampede --hash-password";
    } else {
        out += "is an argon2id hash Stampede does not accept (it needs v=19, p=1, t from 1 to " +
               std::to_string(max_passes) + ", m up to " + std::to_string(max_memory_kib) +
               " KiB); hash it again with stampede --hash-password";
    }
    return out;
}

int hash_password_command(std::istream& in, std::ostream& out, std::ostream& err) {
    std::string line;
    if (!std::getline(in, line)) {
        err << "stampede --hash-password: no passcode on standard input\n";
        return 2;
    }
    chomp(line);
    auto hashed = hash_password(line);
    ::sodium_memzero(line.data(), line.size());
    if (!hashed) {
        err << "stampede --hash-password: " << hashed.error().message() << "\n";
        return 2;
    }
    out << *hashed << "\n";
    return 0;
}

int hash_password_main() {
    if (::isatty(STDIN_FILENO) == 0) {
        return hash_password_command(std::cin, std::cout, std::cerr);
    }
    termios saved{};
    const bool quiet = ::tcgetattr(STDIN_FILENO, &saved) == 0;
    if (quiet) {
        termios silent = saved;
        silent.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent);
    }
    std::cerr << "passcode: " << std::flush;
    const int status = hash_password_command(std::cin, std::cout, std::cerr);
    if (quiet) {
        ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
        std::cerr << "\n";
    }
    return status;
}

}  // namespace stampede::auth
