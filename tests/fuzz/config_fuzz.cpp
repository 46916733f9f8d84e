// libFuzzer target for the configuration parser (broker/src/config.cpp):
// the JSON document, every section's reader, and validate().
//
// The input is a configuration file's text. Beyond not crashing (ASan,
// UBSan), parse_config must keep its contract: it returns a configuration
// or throws config_error (whose message is not empty); any other exception
// escaping it (a JSON type error, std::out_of_range, ...) is a bug.
// A configuration it accepts must be usable: validate() passes again, there
// is at least one listener, and reading the same text gives the same result.
//
// A file a configuration names is read at most 4 KiB of, and only when it
// is a regular file (token_file), so no input can make the target read
// /dev/zero or wait on a FIFO.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "stampede/broker/config.hpp"
#include "stampede/runtime/log.hpp"

namespace {

using stampede::broker::config;
using stampede::broker::config_error;

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
    std::fprintf(stderr, "config_fuzz invariant violated: %s %s\n", what, detail.c_str());
    std::abort();
}

// What must be the same when the same text is read twice (the parts that
// carry the most of the readers' logic).
std::string summary(const config& c) {
    std::string out = c.listen + "|" + c.log_level + "|" + std::to_string(c.schedulers) + "|" +
                      std::to_string(c.users.size()) + "|" + std::to_string(c.admin.users.size()) +
                      "|" + c.admin.listen + "|" + std::to_string(c.limits.max_frame) + "|" +
                      std::to_string(c.queues.max_length) + "|" + c.journal.sync + "|";
    for (const auto& l : stampede::broker::effective_listeners(c)) {
        out += l.name + "@" + l.listen + (l.tls ? "+tls" : "") + (l.websocket ? "+ws" : "") + ",";
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    stampede::runtime::log::set_level(stampede::runtime::log::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    for (const bool admin_off : {false, true}) {
        stampede::broker::parse_options options;
        options.admin_off = admin_off;
        std::string first;
        try {
            const config c = stampede::broker::parse_config(text, options);
            stampede::broker::validate(c);
            if (stampede::broker::effective_listeners(c).empty()) {
                fail("an accepted configuration has no listener");
            }
            if (admin_off && c.admin.enabled) {
                fail("--admin off left the admin endpoint enabled");
            }
            first = summary(c);
        } catch (const config_error& e) {
            if (std::string_view(e.what()).empty()) {
                fail("config_error without a message");
            }
            continue;
        } catch (const std::exception& e) {
            fail("parse_config threw something other than config_error:", e.what());
        }
        try {
            if (summary(stampede::broker::parse_config(text, options)) != first) {
                fail("the same text read twice gave two configurations");
            }
        } catch (const std::exception& e) {
            fail("the same text was accepted, then refused:", e.what());
        }
    }
    return 0;
}
