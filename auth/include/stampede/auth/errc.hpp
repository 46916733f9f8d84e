#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace stampede::auth {

/// Why a credential or permission could not be used.
enum class errc {
    plaintext_passcode = 1,  ///< a configured passcode is not a hash
    unsupported_hash,        ///< a hash of another algorithm than argon2id
    bad_hash_parameters,     ///< argon2id parameters malformed or outside the accepted range
    empty_passcode,          ///< nothing to hash
    hashing_failed,          ///< libsodium could not hash (out of memory)
    invalid_pattern,         ///< a permission pattern RE2 cannot compile
};

/// The error category of `errc` ("stampede.auth").
const boost::system::error_category& auth_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), auth_category()};
}

template <class T>
using result = boost::system::result<T>;

}  // namespace stampede::auth

namespace boost::system {
template <>
struct is_error_code_enum<stampede::auth::errc> : std::true_type {};
}  // namespace boost::system
