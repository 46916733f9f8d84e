#pragma once

// The broker's side of authentication and authorization: the users and the
// verifier pool that checks them off the schedulers, the failed-login
// throttle, and the compiled permissions. Reloadable (SIGHUP): sessions take
// a shared_ptr of what they need, so a reload never pulls anything from
// under one.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "stampede/auth/permissions.hpp"
#include "stampede/auth/throttle.hpp"
#include "stampede/auth/verifier.hpp"
#include "stampede/broker/config.hpp"

namespace stampede::broker {

/// A verifier's answer, posted back to the session that asked.
struct auth_result {
    auth::verdict verdict;
};

/// Compiles `cfg.permissions` (nullptr when not configured: no checks).
/// Throws auth::permission_config_error naming user, vhost and permission.
std::shared_ptr<const auth::permission_table> compile_permissions(const config& cfg);

class broker_auth {
  public:
    /// Builds the user table (one argon2id computation for the dummy hash:
    /// call it off the schedulers) and the permissions. Throws
    /// std::invalid_argument for a passcode that is not an acceptable hash.
    explicit broker_auth(const config& cfg);
    ~broker_auth();

    /// The verifier (both realms: STOMP `users` and `admin.users`), or
    /// nullptr when neither list has a user.
    std::shared_ptr<auth::credential_verifier> verifier() const noexcept {
        return verifier_.load();
    }
    std::shared_ptr<const auth::user_table> users() const noexcept { return users_.load(); }
    /// The admin endpoint's users (`admin.users`), or nullptr: no HTTP Basic.
    std::shared_ptr<const auth::user_table> admin_users() const noexcept {
        return admin_users_.load();
    }
    std::shared_ptr<const auth::permission_table> permissions() const noexcept {
        return permissions_.load();
    }
    auth::login_throttle& throttle() noexcept { return throttle_; }

    /// Swaps in the users, admin users and permissions of `fresh` (SIGHUP). Throws, and
    /// keeps the old ones, if they cannot be used.
    void reload(const config& fresh);

    /// Stops the verifier threads (queued verifications answer shutting_down).
    void stop();

    std::atomic<std::uint64_t> logins_accepted{0};
    std::atomic<std::uint64_t> logins_failed{0};     ///< wrong login or passcode
    std::atomic<std::uint64_t> logins_throttled{0};  ///< refused at once: the IP is blocked
    std::atomic<std::uint64_t> logins_busy{0};       ///< refused at once: the verifier queue is full
    std::atomic<std::uint64_t> access_denied{0};     ///< frames refused for want of a permission
    /// access_denied by the permission that was missing (configure, write, read).
    std::atomic<std::uint64_t> denied_configure{0};
    std::atomic<std::uint64_t> denied_write{0};
    std::atomic<std::uint64_t> denied_read{0};

    /// Bumped by every successful reload: sessions compare it with the one
    /// they connected under and fetch their permissions again when it moved.
    std::atomic<std::uint64_t> generation{0};
    std::atomic<std::uint64_t> reloads{0};          ///< SIGHUP reloads that took effect
    std::atomic<std::uint64_t> reload_failures{0};  ///< ... that kept the old users (logged why)

    /// Admin endpoint requests by how their credentials fared (HTTP Basic
    /// and bearer alike); a request without credentials is not counted.
    std::atomic<std::uint64_t> admin_accepted{0};
    std::atomic<std::uint64_t> admin_failed{0};     ///< wrong user, password or token (delayed)
    std::atomic<std::uint64_t> admin_throttled{0};  ///< refused at once: the IP is blocked
    std::atomic<std::uint64_t> admin_busy{0};       ///< refused at once: verifier queue full

    /// Counts one denial of `missing` (the total and its kind).
    void count_denial(auth::permission missing) noexcept;

  private:
    auth::verifier_options verifier_options_;
    auth::login_throttle throttle_;
    std::atomic<std::shared_ptr<const auth::user_table>> users_;
    std::atomic<std::shared_ptr<const auth::user_table>> admin_users_;
    std::atomic<std::shared_ptr<auth::credential_verifier>> verifier_;
    std::atomic<std::shared_ptr<const auth::permission_table>> permissions_;
};

}  // namespace stampede::broker
