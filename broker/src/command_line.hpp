#pragma once

// The stampede executable's command line: flags over the JSON configuration.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "stampede/broker/config.hpp"

namespace stampede::broker {

struct command_line {
    bool help = false;
    bool version = false;
    std::optional<std::string> config_file;
    /// (flag, value) in the order given; applied over the file's configuration.
    std::vector<std::pair<std::string, std::string>> overrides;
};

/// Parses the arguments (Boost.Program_options). Throws config_error naming
/// the option for an unknown option, a missing value or a repeated one.
command_line parse_command_line(int argc, const char* const* argv);

/// Applies one flag over `cfg`. Numbers are parsed strictly: digits only
/// (`--schedulers 1K` is an error), with K and M suffixes for --stack-size
/// only; throws config_error naming the flag and its range.
void apply_flag(config& cfg, const std::string& flag, const std::string& value);

/// The --help text.
std::string usage_text();

}  // namespace stampede::broker
