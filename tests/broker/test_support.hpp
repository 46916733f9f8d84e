#pragma once

// Small makers for the broker's unit tests: messages as a SEND would make
// them, and a fake clock that only moves when told.

#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "errc.hpp"
#include "message.hpp"

namespace stampede::broker::testing {

/// A message as message::from_send() makes it from a SEND to `destination`
/// with a body of `body_bytes` octets, identified as `id`.
std::shared_ptr<const message> make_message(std::string id, std::size_t body_bytes = 16,
                                            std::string_view destination = "/topic/t");

/// A steady_clock time point that moves only when advanced: the tests decide
/// what time it is, so no rule under test races the machine's clock.
class fake_clock {
  public:
    using time_point = std::chrono::steady_clock::time_point;

    /// Starts well away from the epoch, so "long ago" is representable.
    fake_clock() : now_(time_point(std::chrono::hours(24))) {}

    time_point now() const noexcept { return now_; }
    time_point advance(std::chrono::steady_clock::duration d) noexcept { return now_ += d; }

  private:
    time_point now_;
};

}  // namespace stampede::broker::testing

// Catch prints a failed CHECK(r) by streaming r; Boost's operator<< for
// result<T, E> would need T and E streamable too. Print the error's message.
namespace Catch {
template <class T>
struct StringMaker<stampede::broker::result<T>> {
    static std::string convert(const stampede::broker::result<T>& r) {
        return r ? std::string("{value}") : "{error: " + make_error_code(r.error()).message() + "}";
    }
};
}  // namespace Catch
