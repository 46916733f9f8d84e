#include "stampede/routing/errc.hpp"

#include <string>

namespace stampede::routing {
namespace {

class routing_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "stampede.routing"; }
    std::string message(int value) const override {
        return std::string(describe(static_cast<errc>(value)));
    }
};

}  // namespace

const std::error_category& routing_category() noexcept {
    static const routing_category_impl category;
    return category;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), routing_category()};
}

std::string_view describe(errc e) noexcept {
    switch (e) {
        case errc::ok:
            return "no error";
        case errc::selector_syntax:
            return "selector syntax error";
        case errc::selector_type:
            return "selector operand of the wrong type";
        case errc::selector_too_deep:
            return "selector nested too deeply";
        case errc::selector_too_long:
            return "selector too long";
        case errc::selector_escape:
            return "LIKE ESCAPE must be exactly one character";
        case errc::invalid_expires:
            return "expires must be a non-negative integer of milliseconds since the epoch";
        case errc::invalid_priority:
            return "priority must be an integer from 0 to 9";
        case errc::invalid_delay:
            return "delay must be a non-negative integer of milliseconds";
    }
    return "unknown routing error";
}

}  // namespace stampede::routing
