#include "stampede/runtime/errc.hpp"

#include <string>

namespace stampede::runtime {
namespace {

class category final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "stampede.runtime"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::timeout:
                return "operation timed out";
            case errc::cancelled:
                return "operation cancelled";
            case errc::shutdown:
                return "runtime is shutting down";
            case errc::end_of_stream:
                return "end of stream";
            case errc::actor_exited:
                return "actor has exited";
            case errc::call_to_self:
                return "an actor cannot call itself";
            case errc::stream_closed:
                return "stream closed";
            case errc::invalid_endpoint:
                return "invalid endpoint";
            case errc::not_on_fiber:
                return "blocking call outside a runtime fiber";
        }
        return "unknown runtime error";
    }
};

}  // namespace

const boost::system::error_category& runtime_category() noexcept {
    static const category instance;
    return instance;
}

}  // namespace stampede::runtime
