#include "auth_state.hpp"

namespace stampede::broker {

namespace {

auth::throttle_options throttle_options_of(const auth_config& a) {
    auth::throttle_options options;
    options.max_failures = a.max_failures;
    options.window = std::chrono::milliseconds(a.failure_window_ms);
    options.block = std::chrono::milliseconds(a.block_ms);
    options.failure_delay = std::chrono::milliseconds(a.failure_delay_ms);
    return options;
}

auth::verifier_options verifier_options_of(const auth_config& a) {
    auth::verifier_options options;
    options.threads = a.verifier_threads;
    options.queue_limit = a.verifier_queue;
    options.cache_entries = a.cache_entries;
    options.cache_ttl = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::milliseconds(a.cache_ttl_ms));
    return options;
}

}  // namespace

std::shared_ptr<const auth::permission_table> compile_permissions(const config& cfg) {
    if (!cfg.permissions_enabled) {
        return nullptr;
    }
    auth::permission_table::spec spec;
    for (const auto& [login, vhosts] : cfg.permissions) {
        for (const auto& [vhost, entry] : vhosts) {
            spec[login][vhost] = {entry.configure, entry.write, entry.read};
        }
    }
    return auth::permission_table::make(spec);
}

broker_auth::broker_auth(const config& cfg)
    : verifier_options_(verifier_options_of(cfg.auth)),
      throttle_(throttle_options_of(cfg.auth)) {
    reload(cfg);
}

broker_auth::~broker_auth() {
    stop();
}

void broker_auth::reload(const config& fresh) {
    auto permissions = compile_permissions(fresh);
    std::shared_ptr<const auth::user_table> users;
    std::shared_ptr<const auth::user_table> admin_users;
    if (!fresh.users.empty()) {
        auth::init_sodium();
        users = auth::user_table::make(fresh.users);
    }
    if (fresh.admin.enabled && !fresh.admin.users.empty()) {
        auth::init_sodium();
        admin_users = auth::user_table::make(fresh.admin.users);
    }
    // Everything built: swap.
    permissions_.store(std::move(permissions));
    users_.store(users);
    admin_users_.store(admin_users);
    if (!users && !admin_users) {
        verifier_.store(nullptr);
    } else if (auto current = verifier_.load()) {
        current->replace_users(users, auth::realm::stomp);
        current->replace_users(admin_users, auth::realm::admin);
    } else {
        auto fresh_verifier = std::make_shared<auth::credential_verifier>(users, verifier_options_);
        fresh_verifier->replace_users(admin_users, auth::realm::admin);
        verifier_.store(std::move(fresh_verifier));
    }
    generation.fetch_add(1, std::memory_order_release);
}

void broker_auth::count_denial(auth::permission missing) noexcept {
    access_denied.fetch_add(1, std::memory_order_relaxed);
    auto& kind = missing == auth::permission::configure ? denied_configure
                 : missing == auth::permission::write   ? denied_write
                                                        : denied_read;
    kind.fetch_add(1, std::memory_order_relaxed);
}

void broker_auth::stop() {
    verifier_.store(nullptr);
}

}  // namespace stampede::broker
