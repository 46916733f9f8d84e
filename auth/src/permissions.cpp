#include "stampede/auth/permissions.hpp"

#include <re2/re2.h>

namespace stampede::auth {

namespace {

// Compiled patterns share memory between users: most configurations repeat
// ".*" and a few prefixes.
using pattern_pool = std::map<std::string, std::shared_ptr<const re2::RE2>>;

// RE2's memory budget per pattern (its DFA cache). Past it RE2 falls back to
// its NFA, slower but still linear; destination patterns stay far below.
constexpr std::int64_t pattern_memory = 1 << 20;

std::shared_ptr<const re2::RE2> compile(const std::string& pattern, pattern_pool& pool,
                                        std::string_view user, std::string_view vhost,
                                        permission p) {
    if (pattern.empty()) {
        return nullptr;  // RabbitMQ: "" grants nothing
    }
    if (const auto found = pool.find(pattern); found != pool.end()) {
        return found->second;
    }
    re2::RE2::Options options;
    options.set_log_errors(false);
    options.set_never_capture(true);
    options.set_max_mem(pattern_memory);
    auto compiled = std::make_shared<const re2::RE2>(pattern, options);
    if (!compiled->ok()) {
        throw permission_config_error("permissions: the " + std::string(to_string(p)) +
                                      " pattern of user '" + std::string(user) + "' on vhost '" +
                                      std::string(vhost) + "' is not a valid regular expression (" +
                                      compiled->error() + "): '" + pattern + "'");
    }
    pool.emplace(pattern, compiled);
    return compiled;
}

}  // namespace

std::string_view to_string(permission p) noexcept {
    switch (p) {
        case permission::configure:
            return "configure";
        case permission::write:
            return "write";
        case permission::read:
            return "read";
    }
    return "?";
}

// ---- vhost_permissions ----

const re2::RE2* vhost_permissions::matcher(permission p) const noexcept {
    switch (p) {
        case permission::configure:
            return configure_.get();
        case permission::write:
            return write_.get();
        case permission::read:
            return read_.get();
    }
    return nullptr;
}

bool vhost_permissions::allows(permission p, std::string_view destination) const noexcept {
    const re2::RE2* re = matcher(p);
    // PartialMatch is a search: unanchored unless the pattern anchors itself.
    return re != nullptr && re2::RE2::PartialMatch(destination, *re);
}

access_mask vhost_permissions::rights(std::string_view destination) const noexcept {
    access_mask mask = 0;
    for (const permission p : {permission::configure, permission::write, permission::read}) {
        if (allows(p, destination)) {
            mask |= bit(p);
        }
    }
    return mask;
}

// ---- permission_table ----

std::shared_ptr<const permission_table> permission_table::make(const spec& config) {
    auto table = std::make_shared<permission_table>();
    pattern_pool pool;
    for (const auto& [user, vhosts] : config) {
        auto& rights = table->users_[user];
        for (const auto& [vhost, patterns] : vhosts) {
            auto entry = std::make_shared<vhost_permissions>();
            entry->patterns_ = patterns;
            entry->configure_ =
                compile(patterns.configure, pool, user, vhost, permission::configure);
            entry->write_ = compile(patterns.write, pool, user, vhost, permission::write);
            entry->read_ = compile(patterns.read, pool, user, vhost, permission::read);
            rights.emplace(vhost, std::move(entry));
        }
    }
    return table;
}

std::shared_ptr<const vhost_permissions> permission_table::find(std::string_view user,
                                                                std::string_view vhost) const {
    const auto u = users_.find(user);
    if (u == users_.end()) {
        return nullptr;
    }
    const auto v = u->second.find(vhost);
    return v == u->second.end() ? nullptr : v->second;
}

bool permission_table::allowed(std::string_view user, std::string_view vhost, permission p,
                               std::string_view destination) const {
    const auto rights = find(user, vhost);
    return rights != nullptr && rights->allows(p, destination);
}

// ---- frames ----

access_mask required_access(protocol::command cmd, bool creates_destination) noexcept {
    const access_mask create = creates_destination ? bit(permission::configure) : 0;
    switch (cmd) {
        case protocol::command::send:
            return bit(permission::write) | create;
        case protocol::command::subscribe:
            return bit(permission::read) | create;
        default:
            return 0;
    }
}

std::optional<permission> first_missing(access_mask needed, access_mask granted) noexcept {
    for (const permission p : {permission::configure, permission::write, permission::read}) {
        if ((needed & bit(p)) != 0 && (granted & bit(p)) == 0) {
            return p;
        }
    }
    return std::nullopt;
}

std::string denial_message(permission p, std::string_view destination, std::string_view user,
                           std::string_view vhost) {
    return "access refused: " + std::string(to_string(p)) + " to '" + std::string(destination) +
           "' is not permitted for user '" + std::string(user) + "' on vhost '" +
           std::string(vhost) + "'";
}

}  // namespace stampede::auth
