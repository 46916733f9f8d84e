#pragma once

// The command line of DRIVER.md: SCENARIO, the common flags, the scenario's
// flags, each `--name value` (or `--name=value`). Values keep their type so
// that "params" prints them as the Python driver does.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace stampede::load {

enum class flag_kind { integer, real, text, optional_text };

/// One flag: its name without dashes, its kind, its default (absent for an
/// optional text flag means null), and the values allowed (empty: any).
struct flag_spec {
    std::string name;
    flag_kind kind = flag_kind::text;
    std::string default_value;
    std::vector<std::string> choices;
};

using flag_value = std::variant<std::monostate, std::int64_t, double, std::string>;

/// The parsed command line.
class args {
  public:
    std::string scenario;

    std::int64_t integer(std::string_view name) const;
    double real(std::string_view name) const;
    const std::string& text(std::string_view name) const;
    std::optional<std::string> optional_text(std::string_view name) const;
    bool has(std::string_view name) const { return values_.count(key_of(name)) != 0; }

    void set(std::string_view name, flag_value v) { values_[key_of(name)] = std::move(v); }

    /// Every effective flag value but the passcode, names with '_', sorted.
    nlohmann::ordered_json params() const;

  private:
    static std::string key_of(std::string_view name);
    const flag_value& at(std::string_view name) const;

    std::map<std::string, flag_value> values_;
};

/// Parses `argv` against the common flags plus `scenario_flags`. On a bad
/// command line returns nullopt with `error` set.
std::optional<args> parse_args(const std::string& scenario, const std::vector<std::string>& argv,
                               const std::vector<flag_spec>& scenario_flags, std::string& error);

/// The flags every scenario takes (DRIVER.md "Common flags").
std::vector<flag_spec> common_flags();

/// A usage text listing the flags.
std::string usage_of(const std::string& scenario, const std::vector<flag_spec>& flags);

}  // namespace stampede::load
