#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>

namespace stampede::routing {

/// Every way the input of a routing feature (a selector, an expires header, a priority) can be
/// wrong. Zero is success, as std::error_code expects.
enum class errc : int {
    ok = 0,
    selector_syntax,    ///< The selector is not in the grammar; error::position says where.
    selector_type,      ///< Operands of a type the operator does not take ('a' > 1, NOT 3).
    selector_too_deep,  ///< More nested parentheses or prefix operators than the limit.
    selector_too_long,  ///< Longer than compile_options::max_length.
    selector_escape,    ///< An ESCAPE string that is not exactly one character.
    invalid_expires,    ///< expires is not a decimal count of milliseconds since the epoch.
    invalid_priority,   ///< priority is not an integer from 0 to 9.
    invalid_delay,      ///< A delay (AMQ_SCHEDULED_DELAY) is not a non-negative integer of ms.
};

/// The error category of errc, named "stampede.routing".
const std::error_category& routing_category() noexcept;

/// Wraps an errc in a std::error_code of routing_category().
std::error_code make_error_code(errc e) noexcept;

/// A short sentence naming the rule broken; static, never empty, no trailing period.
std::string_view describe(errc e) noexcept;

/// What went wrong, where: `position` is the byte offset into the input (0-based) at which the
/// problem was found, and `message` a sentence fit for a STOMP ERROR frame's message header
/// (it already names the column, 1-based).
struct error {
    errc code = errc::ok;
    std::size_t position = 0;
    std::string message;
};

/// A value or an error; the module's std-only stand-in for boost::system::result (C++20 has no
/// std::expected, and this module links the standard library only).
template <class T>
class [[nodiscard]] result {
  public:
    result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
    result(error e) : state_(std::in_place_index<1>, std::move(e)) {}

    bool has_value() const noexcept { return state_.index() == 0; }
    bool has_error() const noexcept { return state_.index() == 1; }
    explicit operator bool() const noexcept { return has_value(); }

    /// The value. Precondition: has_value().
    T& value() & { return std::get<0>(state_); }
    const T& value() const& { return std::get<0>(state_); }
    T&& value() && { return std::get<0>(std::move(state_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    /// The error. Precondition: has_error().
    const error& error_info() const { return std::get<1>(state_); }
    /// The error as a std::error_code (success when has_value()).
    std::error_code error_code() const noexcept {
        return has_value() ? std::error_code{} : make_error_code(std::get<1>(state_).code);
    }

  private:
    std::variant<T, error> state_;
};

}  // namespace stampede::routing

template <>
struct std::is_error_code_enum<stampede::routing::errc> : std::true_type {};
