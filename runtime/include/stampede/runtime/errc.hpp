#pragma once

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace stampede::runtime {

/// Why a runtime operation failed, beyond the operating system's own errno values.
enum class errc {
    timeout = 1,       ///< The deadline passed before the operation completed.
    cancelled,         ///< Somebody cancelled the operation.
    shutdown,          ///< The runtime is stopping; no new blocking operation starts.
    end_of_stream,     ///< The peer closed its sending side.
    actor_exited,      ///< The actor addressed has ended (or ended before replying).
    call_to_self,      ///< An actor called itself, which could never be answered.
    stream_closed,     ///< The stream was closed locally while the operation waited.
    invalid_endpoint,  ///< An address could not be parsed or resolved.
    not_on_fiber,      ///< A blocking call was made outside a runtime fiber.
};

/// The error category of `errc` ("stampede.runtime").
const boost::system::error_category& runtime_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), runtime_category()};
}

/// Result of an operation that can fail: a value or an error code.
template <class T>
using result = boost::system::result<T>;

/// An errno value as an error code of the system category.
inline boost::system::error_code errno_code(int err) noexcept {
    return {err, boost::system::system_category()};
}

}  // namespace stampede::runtime

namespace boost::system {
template <>
struct is_error_code_enum<stampede::runtime::errc> : std::true_type {};
}  // namespace boost::system
