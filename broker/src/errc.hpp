#pragma once

// What can go wrong inside the broker, as a typed error, so that what a client
// is told matches what happened (a timeout is not "the broker is shutting
// down").

#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>
#include <string>

namespace stampede::broker {

enum class errc {
    shutting_down = 1,        ///< The broker (or the connection) is closing.
    timed_out,                ///< An actor did not answer in time (overloaded).
    unsupported_destination,  ///< Not /topic/NAME or /queue/NAME.
    too_many_destinations,    ///< limits.max_destinations reached, broker-wide.
    destination_rate,         ///< limits.max_new_destinations_per_second for one connection.
    subscription_id_in_use,   ///< SUBSCRIBE with an id this connection already uses.
    too_many_subscriptions,   ///< limits.max_subscriptions per connection.
    no_such_subscription,     ///< UNSUBSCRIBE of an id that is not live.
    not_awaiting_ack,         ///< ACK/NACK of a delivery that is not pending.
    transaction_open,         ///< BEGIN of a transaction that is already open.
    no_such_transaction,      ///< A frame names a transaction that is not open.
    too_many_transactions,    ///< limits.max_transactions per connection.
    transaction_frames,       ///< limits.max_frames_per_transaction.
    transaction_bytes,        ///< limits.max_transaction_bytes per connection.
    queue_full,               ///< A reject-publish queue refused a message.
    subscribe_failed,         ///< The destination could not take the subscriber.
    no_such_destination,      ///< A temporary destination that does not exist (any more).
    not_owner,                ///< Consuming another connection's temporary destination.
    too_many_temporary,       ///< temp.max_per_connection temporary destinations.
    configure_denied,         ///< Creating the destination needs the configure permission.
};

/// The error category of errc ("stampede.broker").
const boost::system::error_category& broker_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), broker_category()};
}

/// A value or the broker error that prevented it.
template <class T>
using result = boost::system::result<T, errc>;

/// What result::value() throws on an error (it is for tests; the data path
/// checks and uses operator*).
[[noreturn]] void throw_exception_from_error(const errc& e, const boost::source_location& loc);

/// Maps a failed actor call (a runtime error) onto what the broker tells a
/// client: a runtime stopping is shutting_down, anything else timed_out.
errc from_call_error(const boost::system::error_code& e) noexcept;

}  // namespace stampede::broker

namespace boost::system {
template <>
struct is_error_code_enum<stampede::broker::errc> : std::true_type {};
}  // namespace boost::system
