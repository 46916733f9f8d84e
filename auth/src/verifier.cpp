#include "stampede/auth/verifier.hpp"

#include <sodium.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <stdexcept>

namespace stampede::auth {

namespace {

// The cost most users' hashes have (ties: the costlier), so that an unknown
// login takes as long as most known ones. Quadratic over users, once, at
// configuration time.
argon2id_cost most_common(const std::vector<argon2id_cost>& costs) {
    argon2id_cost best;
    std::size_t best_count = 0;
    for (const argon2id_cost& c : costs) {
        std::size_t count = 0;
        for (const argon2id_cost& other : costs) {
            count += other == c ? 1 : 0;
        }
        const bool costlier =
            std::uint64_t{c.memory_kib} * c.passes > std::uint64_t{best.memory_kib} * best.passes;
        if (count > best_count || (count == best_count && costlier)) {
            best = c;
            best_count = count;
        }
    }
    return best;
}

}  // namespace

// ---- user_table ----

std::shared_ptr<const user_table> user_table::make(
    const std::map<std::string, std::string>& users) {
    auto table = std::make_shared<user_table>();
    std::vector<argon2id_cost> costs;
    for (const auto& [login, stored] : users) {
        auto cost = check_stored_hash(stored);
        if (!cost) {
            throw std::invalid_argument(stored_passcode_problem(login, cost.error()));
        }
        costs.push_back(*cost);
        table->users_.emplace(login, stored);
    }
    std::array<unsigned char, 32> random{};
    ::randombytes_buf(random.data(), random.size());
    char text[65];
    ::sodium_bin2hex(text, sizeof text, random.data(), random.size());
    auto dummy = hash_password(text, costs.empty() ? argon2id_cost{} : most_common(costs));
    if (!dummy) {
        throw std::runtime_error("users: cannot make the dummy hash: " + dummy.error().message());
    }
    table->dummy_ = std::move(*dummy);
    return table;
}

const std::string* user_table::find(std::string_view login) const noexcept {
    const auto found = users_.find(login);
    return found == users_.end() ? nullptr : &found->second;
}

std::string_view to_string(verdict v) noexcept {
    switch (v) {
        case verdict::accepted:
            return "accepted";
        case verdict::rejected:
            return "rejected";
        case verdict::busy:
            return "busy";
        case verdict::shutting_down:
            return "shutting down";
    }
    return "?";
}

// ---- credential_verifier ----

credential_verifier::credential_verifier(std::shared_ptr<const user_table> users,
                                         verifier_options options, clock_fn now)
    : options_(options), cache_(options.cache_entries, options.cache_ttl, std::move(now)) {
    init_sodium();
    users_[static_cast<std::size_t>(realm::stomp)] = std::move(users);
    const unsigned threads = options_.threads == 0 ? 1 : options_.threads;
    threads_.reserve(threads);
    for (unsigned i = 0; i < threads; ++i) {
        threads_.emplace_back([this] { run(); });
    }
}

credential_verifier::~credential_verifier() {
    std::deque<request> abandoned;
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
        abandoned.swap(queue_);
    }
    wake_.notify_all();
    for (request& r : abandoned) {
        ::sodium_memzero(r.passcode.data(), r.passcode.size());
        r.done(verdict::shutting_down);
    }
    for (std::thread& t : threads_) {
        t.join();
    }
}

std::optional<verdict> credential_verifier::verify(std::string_view login,
                                                   std::string_view passcode, callback done,
                                                   realm where) {
    // The realm goes first in the keyed hash's login, so that "ops" of the
    // admin list and "ops" of the STOMP list are different entries. Computed
    // outside the lock; the lookup is one map probe.
    std::string tagged(1, static_cast<char>(where));
    tagged.append(login);
    const cache_key key = cache_.key_of(tagged, passcode);
    if (cache_.contains(key)) {
        cache_hits_.fetch_add(1, std::memory_order_relaxed);
        return verdict::accepted;
    }
    {
        const std::lock_guard lock(mutex_);
        if (stopping_) {
            return verdict::shutting_down;
        }
        if (!users_[static_cast<std::size_t>(where)]) {
            rejected_.fetch_add(1, std::memory_order_relaxed);
            return verdict::rejected;
        }
        if (queue_.size() >= options_.queue_limit) {
            busy_.fetch_add(1, std::memory_order_relaxed);
            return verdict::busy;
        }
        queue_.push_back(request{std::string(login), std::string(passcode), key,
                                 cache_.generation(), std::move(done), where});
    }
    wake_.notify_one();
    return std::nullopt;
}

void credential_verifier::replace_users(std::shared_ptr<const user_table> users, realm where) {
    {
        const std::lock_guard lock(mutex_);
        users_[static_cast<std::size_t>(where)] = std::move(users);
    }
    cache_.clear();
}

void credential_verifier::run() {
    // Per-thread nice value (Linux): a login flood takes the CPU the
    // schedulers leave, rather than delaying deliveries.
    (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)),
                        options_.thread_nice);
    for (;;) {
        request r;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) {
                return;
            }
            r = std::move(queue_.front());
            queue_.pop_front();
        }
        check(r);
    }
}

// Verifies one request: against the login's hash, or the dummy for an
// unknown login, so both cost one argon2id computation.
void credential_verifier::check(request& r) {
    std::shared_ptr<const user_table> users;
    {
        const std::lock_guard lock(mutex_);
        users = users_[static_cast<std::size_t>(r.where)];
    }
    if (!users) {  // the realm's users were removed by a reload meanwhile
        ::sodium_memzero(r.passcode.data(), r.passcode.size());
        rejected_.fetch_add(1, std::memory_order_relaxed);
        r.done(verdict::rejected);
        return;
    }
    const std::string* stored = users->find(r.login);
    const bool matches =
        verify_password(stored != nullptr ? *stored : users->dummy_hash(), r.passcode);
    ::sodium_memzero(r.passcode.data(), r.passcode.size());
    hashes_.fetch_add(1, std::memory_order_relaxed);
    const bool ok = matches && stored != nullptr;
    if (ok) {
        cache_.insert(r.key, r.generation);
        accepted_.fetch_add(1, std::memory_order_relaxed);
    } else {
        rejected_.fetch_add(1, std::memory_order_relaxed);
    }
    r.done(ok ? verdict::accepted : verdict::rejected);
}

credential_verifier::statistics credential_verifier::stats() const {
    statistics s;
    s.hashes = hashes_.load(std::memory_order_relaxed);
    s.cache_hits = cache_hits_.load(std::memory_order_relaxed);
    s.accepted = accepted_.load(std::memory_order_relaxed);
    s.rejected = rejected_.load(std::memory_order_relaxed);
    s.busy = busy_.load(std::memory_order_relaxed);
    s.cached = cache_.size();
    const std::lock_guard lock(mutex_);
    s.queued = queue_.size();
    return s;
}

}  // namespace stampede::auth
