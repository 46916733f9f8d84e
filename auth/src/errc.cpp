#include "stampede/auth/errc.hpp"

#include <string>

namespace stampede::auth {
namespace {

class category final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "stampede.auth"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::plaintext_passcode:
                return "passcode stored in plain text";
            case errc::unsupported_hash:
                return "passcode hash is not argon2id";
            case errc::bad_hash_parameters:
                return "argon2id hash with malformed or unacceptable parameters";
            case errc::empty_passcode:
                return "empty passcode";
            case errc::hashing_failed:
                return "argon2id hashing failed";
            case errc::invalid_pattern:
                return "invalid permission pattern";
        }
        return "unknown auth error";
    }
};

}  // namespace

const boost::system::error_category& auth_category() noexcept {
    static const category instance;
    return instance;
}

}  // namespace stampede::auth
