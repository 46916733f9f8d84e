#pragma once

// RabbitMQ's permission model: per user and virtual host, three regular
// expressions (configure, write, read) over destination names, with search
// semantics (a pattern matches anywhere in the name unless anchored with ^
// or $; "" matches nothing). A user without an entry for a vhost may do
// nothing there.
//
// Patterns run on RE2: destination names come from clients, and RE2 matches
// in time linear in the name, without backtracking and without recursion
// (std::regex in libstdc++ recurses per character; a backtracking engine can
// take exponential time on a pattern like (a+)+$). RE2 has no backreferences
// or lookaround: such a pattern is refused at configuration time.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "stampede/protocol/frame.hpp"

namespace re2 {
class RE2;
}

namespace stampede::auth {

/// One of RabbitMQ's three permissions; a bit of an access_mask.
enum class permission : std::uint8_t {
    configure = 1,  ///< create (or delete) the destination
    write = 2,      ///< publish to it
    read = 4,       ///< consume from it
};
using access_mask = std::uint8_t;

constexpr access_mask bit(permission p) noexcept {
    return static_cast<access_mask>(p);
}
std::string_view to_string(permission p) noexcept;

/// A user's patterns on one vhost, as configured.
struct permission_patterns {
    std::string configure;
    std::string write;
    std::string read;
};

/// A permission configuration that cannot be used (names user, vhost, pattern).
class permission_config_error : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

/// A user's compiled rights on one vhost. Immutable, thread-safe.
class vhost_permissions {
  public:
    /// Whether `destination` matches the pattern of `p`.
    bool allows(permission p, std::string_view destination) const noexcept;

    /// All three at once, as a mask (for a per-destination cache).
    access_mask rights(std::string_view destination) const noexcept;

    const permission_patterns& patterns() const noexcept { return patterns_; }

  private:
    friend class permission_table;
    const re2::RE2* matcher(permission p) const noexcept;

    permission_patterns patterns_;
    std::shared_ptr<const re2::RE2> configure_, write_, read_;  // null: matches nothing
};

/// Every user's rights on every vhost (the configuration's `permissions`).
class permission_table {
  public:
    /// user -> vhost -> patterns.
    using spec = std::map<std::string, std::map<std::string, permission_patterns>>;

    /// Compiles every pattern (identical patterns share one compiled form).
    /// Throws permission_config_error naming the user, vhost and permission
    /// of the first pattern RE2 refuses, with RE2's reason.
    static std::shared_ptr<const permission_table> make(const spec& config);

    /// The rights of `user` on `vhost`, or nullptr: deny everything. A session
    /// looks this up once, at CONNECT, and keeps it.
    std::shared_ptr<const vhost_permissions> find(std::string_view user,
                                                  std::string_view vhost) const;

    /// find() and allows() in one; false for a user without an entry.
    bool allowed(std::string_view user, std::string_view vhost, permission p,
                 std::string_view destination) const;

  private:
    std::map<std::string,
             std::map<std::string, std::shared_ptr<const vhost_permissions>, std::less<>>,
             std::less<>>
        users_;
};

/// What a client frame needs on its destination: SEND write, SUBSCRIBE read,
/// and configure as well when the frame would create the destination.
/// Frames that name no destination of their own need nothing here: ACK and
/// NACK act through a subscription that was granted read, and UNSUBSCRIBE,
/// BEGIN, COMMIT, ABORT, DISCONNECT act on the session's own state. (A SEND
/// inside a transaction is checked when it arrives, not at COMMIT.)
access_mask required_access(protocol::command cmd, bool creates_destination) noexcept;

/// The first permission of `needed` missing from `granted`, for the ERROR.
std::optional<permission> first_missing(access_mask needed, access_mask granted) noexcept;

/// The ERROR message of a denied frame: "access refused: write to
/// '/queue/x' is not permitted for user 'bob' on vhost '/'". The caller
/// escapes the destination for the header (it comes from the client).
std::string denial_message(permission p, std::string_view destination, std::string_view user,
                           std::string_view vhost);

}  // namespace stampede::auth
