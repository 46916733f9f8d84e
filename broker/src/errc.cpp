#include "errc.hpp"

#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>

#include "stampede/runtime/errc.hpp"

namespace stampede::broker {
namespace {

class category final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "stampede.broker"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::shutting_down:
                return "the broker is shutting down";
            case errc::timed_out:
                return "the broker is overloaded: an internal request timed out";
            case errc::unsupported_destination:
                return "unsupported destination";
            case errc::too_many_destinations:
                return "too many destinations on the broker";
            case errc::destination_rate:
                return "new destinations created too fast";
            case errc::subscription_id_in_use:
                return "subscription id already in use";
            case errc::too_many_subscriptions:
                return "too many subscriptions";
            case errc::no_such_subscription:
                return "no such subscription";
            case errc::not_awaiting_ack:
                return "not awaiting acknowledgement";
            case errc::transaction_open:
                return "transaction already open";
            case errc::no_such_transaction:
                return "no such transaction";
            case errc::too_many_transactions:
                return "too many open transactions";
            case errc::transaction_frames:
                return "too many frames in a transaction";
            case errc::transaction_bytes:
                return "too many bytes in open transactions";
            case errc::queue_full:
                return "queue full";
            case errc::subscribe_failed:
                return "the destination could not take the subscription";
            case errc::no_such_destination:
                return "no such temporary destination";
            case errc::not_owner:
                return "the temporary destination belongs to another connection";
            case errc::too_many_temporary:
                return "too many temporary destinations";
            case errc::configure_denied:
                return "access refused: configure (creating the destination) is not permitted";
        }
        return "unknown broker error";
    }
};

}  // namespace

const boost::system::error_category& broker_category() noexcept {
    static const category instance;
    return instance;
}

void throw_exception_from_error(const errc& e, const boost::source_location& loc) {
    boost::throw_exception(boost::system::system_error(make_error_code(e)), loc);
}

errc from_call_error(const boost::system::error_code& e) noexcept {
    if (e == runtime::errc::shutdown || e == runtime::errc::actor_exited) {
        return errc::shutting_down;
    }
    return errc::timed_out;
}

}  // namespace stampede::broker
