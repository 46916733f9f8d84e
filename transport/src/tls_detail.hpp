#pragma once

// What tls_context.cpp and tls_stream.cpp share: OpenSSL error codes as
// boost error codes, and the client-side session slot.

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <mutex>

#include "stampede/transport/tls.hpp"

namespace stampede::transport {

/// The last session a client context saw (a TLS 1.3 ticket, or a TLS 1.2
/// session with its ticket), offered on the next connect when asked for.
struct tls_context::session_slot {
    std::mutex mutex;
    SSL_SESSION* last = nullptr;  // owned (one reference)

    ~session_slot() { SSL_SESSION_free(last); }
};

namespace detail {

/// The first error on this thread's OpenSSL error queue as an error code
/// (system errors as errno codes), or `fallback` when the queue is empty.
/// Clears the queue. Call right after the failing OpenSSL call, before any
/// fiber switch: the queue belongs to the thread, not to the fiber.
boost::system::error_code take_openssl_error(tls_errc fallback) noexcept;

}  // namespace detail
}  // namespace stampede::transport
