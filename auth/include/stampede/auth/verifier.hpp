#pragma once

// Checking login/passcode pairs off the schedulers: a bounded pool of
// verifier threads with a bounded queue, the same cost for unknown logins as
// for known ones, and a cache of recent successes so that a reconnect storm
// does not cost an argon2id computation per connection.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "stampede/auth/password.hpp"
#include "stampede/auth/verification_cache.hpp"

namespace stampede::auth {

/// The configured logins and their argon2id strings, checked when built.
/// Immutable: a reload builds a new table.
class user_table {
  public:
    /// Checks every entry with check_stored_hash and hashes a random passcode
    /// with the most common cost among them (the dummy an unknown login is
    /// verified against, so it costs what a known one does): one argon2id
    /// computation, so build it off the schedulers. Throws std::invalid_argument
    /// with stored_passcode_problem's message for the first bad entry.
    static std::shared_ptr<const user_table> make(const std::map<std::string, std::string>& users);

    /// The stored hash of `login`, or nullptr.
    const std::string* find(std::string_view login) const noexcept;

    /// What an unknown login is verified against.
    const std::string& dummy_hash() const noexcept { return dummy_; }

    std::size_t size() const noexcept { return users_.size(); }

  private:
    std::map<std::string, std::string, std::less<>> users_;
    std::string dummy_;
};

/// How a verification ended.
enum class verdict : std::uint8_t {
    accepted,       ///< the pair is right
    rejected,       ///< wrong passcode, or unknown login (the caller cannot tell which)
    busy,           ///< the queue is full: refused at once, nothing was checked
    shutting_down,  ///< the verifier is stopping
};
std::string_view to_string(verdict v) noexcept;

/// Which list of users a pair is checked against: STOMP logins (`users`) or
/// the admin endpoint's (`admin.users`). One pool and one cache serve both;
/// a login is a different entry in each (the cache key includes the realm).
enum class realm : std::uint8_t { stomp = 0, admin = 1 };
inline constexpr std::size_t realm_count = 2;

struct verifier_options {
    unsigned threads = 2;          ///< concurrent argon2id computations (each holds its m)
    std::size_t queue_limit = 64;  ///< waiting requests beyond the running ones
    std::size_t cache_entries = 10'000;
    std::chrono::seconds cache_ttl{300};
    int thread_nice = 10;  ///< verifier threads give way to the schedulers under a login flood
};

/// A bounded pool of verifier threads. Thread-safe; verify() may be called
/// from any thread, a scheduler's included (it never blocks on a hash).
class credential_verifier {
  public:
    using callback = std::function<void(verdict)>;
    using clock_fn = verification_cache::clock_fn;

    /// `users` are the STOMP realm's (nullptr: none, every pair of that
    /// realm is rejected at once); replace_users() sets the admin realm's.
    credential_verifier(std::shared_ptr<const user_table> users, verifier_options options = {},
                        clock_fn now = verification_cache::steady_now);

    /// Answers what is still queued with shutting_down, lets running
    /// verifications finish (their callbacks run), and joins the threads.
    ~credential_verifier();

    credential_verifier(const credential_verifier&) = delete;
    credential_verifier& operator=(const credential_verifier&) = delete;

    /// Starts checking `login`/`passcode`. Answers at once when no hashing is
    /// needed: accepted for a pair verified recently (the cache), busy when
    /// the queue is full, shutting_down when stopping; `done` is then not
    /// called. Otherwise returns nullopt and calls `done` exactly once, on a
    /// verifier thread, with accepted or rejected (or shutting_down); `done`
    /// must not block (post the answer back: actor cast, scheduler::execute).
    /// A realm without users answers rejected at once.
    [[nodiscard]] std::optional<verdict> verify(std::string_view login, std::string_view passcode,
                                                callback done, realm where = realm::stomp);

    /// Swaps in new users for `where` (a configuration reload; nullptr: none)
    /// and forgets every cached success. Verifications already running finish
    /// against the old table and are not cached.
    void replace_users(std::shared_ptr<const user_table> users, realm where = realm::stomp);

    struct statistics {
        std::uint64_t hashes = 0;      ///< argon2id verifications run
        std::uint64_t cache_hits = 0;  ///< answered from the cache
        std::uint64_t accepted = 0;    ///< accepted after hashing
        std::uint64_t rejected = 0;
        std::uint64_t busy = 0;  ///< refused because the queue was full
        std::size_t queued = 0;  ///< waiting now
        std::size_t cached = 0;  ///< cache entries now
    };
    statistics stats() const;

  private:
    struct request {
        std::string login;
        std::string passcode;  // wiped once used
        cache_key key;
        std::uint64_t generation;
        callback done;
        realm where = realm::stomp;
    };

    void run();
    void check(request& r);

    verifier_options options_;
    verification_cache cache_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<request> queue_;
    /// By realm; guarded by mutex_.
    std::array<std::shared_ptr<const user_table>, realm_count> users_;
    bool stopping_ = false;

    std::atomic<std::uint64_t> hashes_{0};
    std::atomic<std::uint64_t> cache_hits_{0};
    std::atomic<std::uint64_t> accepted_{0};
    std::atomic<std::uint64_t> rejected_{0};
    std::atomic<std::uint64_t> busy_{0};

    std::vector<std::thread> threads_;
};

}  // namespace stampede::auth
