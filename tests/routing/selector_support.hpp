#pragma once

#include <catch2/catch.hpp>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stampede/routing/selector.hpp"

namespace routing_test {

using stampede::protocol::header;
using stampede::routing::selector;
using stampede::routing::truth;

/// Headers a test message carries.
using headers = std::vector<header>;

/// Compiles `text`, which must compile, and evaluates it against `hs`.
inline truth eval(std::string_view text, const headers& hs = {}) {
    auto s = selector::compile(text);
    INFO("selector: " << text);
    if (!s) {
        INFO("error: " << s.error_info().message);
        REQUIRE(s.has_value());
    }
    return s->evaluate(hs);
}

/// The error compiling `text`, which must fail.
inline stampede::routing::error compile_error(std::string_view text) {
    auto s = selector::compile(text);
    INFO("selector: " << text);
    REQUIRE_FALSE(s.has_value());
    return s.error_info();
}

constexpr truth T = truth::true_;
constexpr truth F = truth::false_;
constexpr truth U = truth::unknown;

}  // namespace routing_test

namespace Catch {
template <>
struct StringMaker<stampede::routing::truth> {
    static std::string convert(stampede::routing::truth t) {
        return std::string(stampede::routing::to_string(t));
    }
};
}  // namespace Catch
