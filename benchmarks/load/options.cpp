#include "options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>

namespace stampede::load {

namespace {

std::string random_run_id() {
    std::random_device rd;
    char out[8];
    const unsigned v = rd() & 0xffffffu;
    std::snprintf(out, sizeof out, "%06x", v);
    return out;
}

std::optional<flag_value> convert(const flag_spec& spec, const std::string& text) {
    if (!spec.choices.empty() &&
        std::find(spec.choices.begin(), spec.choices.end(), text) == spec.choices.end()) {
        return std::nullopt;
    }
    switch (spec.kind) {
        case flag_kind::integer: {
            std::int64_t v = 0;
            const char* first = text.data();
            const char* last = first + text.size();
            if (!text.empty() && *first == '+') {
                ++first;
            }
            const auto [end, ec] = std::from_chars(first, last, v);
            if (text.empty() || ec != std::errc{} || end != last) {
                return std::nullopt;
            }
            return v;
        }
        case flag_kind::real: {
            char* end = nullptr;
            const double v = std::strtod(text.c_str(), &end);
            if (text.empty() || end != text.c_str() + text.size() || std::isnan(v)) {
                return std::nullopt;
            }
            return v;
        }
        case flag_kind::text:
        case flag_kind::optional_text:
            return text;
    }
    return std::nullopt;
}

const flag_spec* find_flag(const std::vector<flag_spec>& flags, std::string_view name) {
    for (const auto& f : flags) {
        if (f.name == name) {
            return &f;
        }
    }
    return nullptr;
}

}  // namespace

std::vector<flag_spec> common_flags() {
    return {
        {"host", flag_kind::text, "127.0.0.1", {}},
        {"port", flag_kind::integer, "61613", {}},
        {"login", flag_kind::optional_text, "", {}},
        {"passcode", flag_kind::optional_text, "", {}},
        {"vhost", flag_kind::text, "/", {}},
        {"workers", flag_kind::integer, "0", {}},
        {"timeout", flag_kind::real, "600", {}},
        {"connect-timeout", flag_kind::real, "30", {}},
        {"connect-concurrency", flag_kind::integer, "200", {}},
        {"run-id", flag_kind::text, "", {}},
        // The native driver's own: the runtime's I/O backend.
        {"io", flag_kind::text, "auto", {"auto", "uring", "asio"}},
        // STOMP over WebSocket (Boost.Beast's client); --port is then the
        // broker's websocket listener. wss is the Python driver's only.
        {"transport", flag_kind::text, "tcp", {"tcp", "ws"}},
        {"ws-path", flag_kind::text, "/ws", {}},
    };
}

std::string args::key_of(std::string_view name) {
    std::string key(name);
    for (char& c : key) {
        c = c == '-' ? '_' : c;
    }
    return key;
}

const flag_value& args::at(std::string_view name) const {
    const auto it = values_.find(key_of(name));
    if (it == values_.end()) {
        throw std::logic_error("no flag --" + std::string(name));
    }
    return it->second;
}

std::int64_t args::integer(std::string_view name) const {
    return std::get<std::int64_t>(at(name));
}

double args::real(std::string_view name) const {
    return std::get<double>(at(name));
}

const std::string& args::text(std::string_view name) const {
    return std::get<std::string>(at(name));
}

std::optional<std::string> args::optional_text(std::string_view name) const {
    const flag_value& v = at(name);
    if (const auto* s = std::get_if<std::string>(&v)) {
        return *s;
    }
    return std::nullopt;
}

nlohmann::ordered_json args::params() const {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const auto& [key, v] : values_) {  // std::map: sorted, like the Python driver's
        if (key == "passcode") {
            continue;
        }
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, std::monostate>) {
                    out[key] = nullptr;
                } else {
                    out[key] = x;
                }
            },
            v);
    }
    return out;
}

std::optional<args> parse_args(const std::string& scenario, const std::vector<std::string>& argv,
                               const std::vector<flag_spec>& scenario_flags, std::string& error) {
    std::vector<flag_spec> flags = common_flags();
    flags.insert(flags.end(), scenario_flags.begin(), scenario_flags.end());
    args out;
    out.scenario = scenario;
    for (const auto& f : flags) {
        if (f.kind == flag_kind::optional_text && f.default_value.empty()) {
            out.set(f.name, std::monostate{});
        } else {
            out.set(f.name, *convert({f.name, f.kind, {}, {}}, f.default_value));
        }
    }
    out.set("run-id", random_run_id());
    for (std::size_t i = 0; i < argv.size(); ++i) {
        std::string arg = argv[i];
        if (arg.rfind("--", 0) != 0) {
            error = "unexpected argument: " + arg;
            return std::nullopt;
        }
        std::string name = arg.substr(2);
        std::optional<std::string> value;
        if (const auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
        }
        const flag_spec* spec = find_flag(flags, name);
        if (spec == nullptr) {
            error = "unknown flag for " + scenario + ": --" + name;
            return std::nullopt;
        }
        if (!value) {
            if (i + 1 >= argv.size()) {
                error = "--" + name + " needs a value";
                return std::nullopt;
            }
            value = argv[++i];
        }
        auto v = convert(*spec, *value);
        if (!v) {
            error = "bad value for --" + name + ": '" + *value + "'";
            return std::nullopt;
        }
        out.set(name, std::move(*v));
    }
    return out;
}

std::string usage_of(const std::string& scenario, const std::vector<flag_spec>& flags) {
    std::string out =
        "usage: stampede-load " + scenario + " [flags]   (see benchmarks/DRIVER.md)\n";
    std::vector<flag_spec> all = common_flags();
    all.insert(all.end(), flags.begin(), flags.end());
    for (const auto& f : all) {
        out += "  --" + f.name;
        if (!f.default_value.empty()) {
            out += " (default " + f.default_value + ")";
        }
        if (!f.choices.empty()) {
            out += " one of:";
            for (const auto& c : f.choices) {
                out += " " + c;
            }
        }
        out += "\n";
    }
    return out;
}

}  // namespace stampede::load
