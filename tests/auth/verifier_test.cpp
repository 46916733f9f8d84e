// The verifier pool: right and wrong pairs, unknown logins hashed against
// the dummy, the success cache (hits, expiry, size bound, reload), the
// bounded queue, and shutdown.

#include "stampede/auth/verifier.hpp"

#include <catch2/catch.hpp>
#include <condition_variable>
#include <future>
#include <mutex>

using namespace stampede::auth;
using namespace std::chrono_literals;

namespace {

// Hashes cheap enough for tests (8 MiB, one pass); the broker's are 19 MiB, t=2.
constexpr argon2id_cost test_cost{8 * 1024, 1, 1};

std::shared_ptr<const user_table> users(
    std::initializer_list<std::pair<const char*, const char*>> list) {
    std::map<std::string, std::string> config;
    for (const auto& [login, passcode] : list) {
        config[login] = hash_password(passcode, test_cost).value();
    }
    return user_table::make(config);
}

// A fake clock the verifier's threads may read.
struct fake_clock {
    std::atomic<std::int64_t> seconds{1'000'000};
    verification_cache::clock_fn fn() {
        return
            [this] { return verification_cache::time_point(std::chrono::seconds(seconds.load())); };
    }
};

// Runs verify() and waits for the answer, however it comes.
struct answer {
    verdict v;
    bool immediate;
};
answer check(credential_verifier& verifier, std::string_view login, std::string_view passcode,
             realm where = realm::stomp) {
    auto promise = std::make_shared<std::promise<verdict>>();
    auto future = promise->get_future();
    if (auto now = verifier.verify(
            login, passcode, [promise](verdict v) { promise->set_value(v); }, where)) {
        return {*now, true};
    }
    return {future.get(), false};
}

}  // namespace

TEST_CASE("the right passcode is accepted and a wrong one rejected", "[auth][verifier]") {
    credential_verifier verifier(users({{"alice", "wonderland"}, {"bob", "builder"}}));
    CHECK(check(verifier, "alice", "wonderland").v == verdict::accepted);
    CHECK(check(verifier, "alice", "builder").v == verdict::rejected);
    CHECK(check(verifier, "bob", "builder").v == verdict::accepted);
    CHECK(check(verifier, "bob", "").v == verdict::rejected);
}

TEST_CASE("an unknown login is rejected after a full argon2id computation", "[auth][verifier]") {
    credential_verifier verifier(users({{"alice", "wonderland"}}));
    const auto before = verifier.stats().hashes;
    const answer a = check(verifier, "nobody", "wonderland");
    CHECK(a.v == verdict::rejected);
    CHECK_FALSE(a.immediate);
    CHECK(verifier.stats().hashes == before + 1);  // the dummy hash was verified
}

TEST_CASE("the dummy hash costs what most users' hashes cost", "[auth][verifier]") {
    const auto table = users({{"a", "1"}, {"b", "2"}, {"c", "3"}});
    const auto cost = check_stored_hash(table->dummy_hash());
    REQUIRE(cost);
    CHECK(*cost == test_cost);
    CHECK(table->find("a") != nullptr);
    CHECK(table->find("z") == nullptr);
}

TEST_CASE("a user table refuses a plain-text passcode with a message that says how to hash",
          "[auth][verifier]") {
    try {
        (void)user_table::make({{"alice", "hunter2"}});
        FAIL("a plain-text passcode was accepted");
    } catch (const std::invalid_argument& e) {
        const std::string message = e.what();
        CHECK(message.find("alice") != std::string::npos);
        CHECK(message.find("--hash-password") != std::string::npos);
        CHECK(message.find("hunter2") == std::string::npos);
    }
}

TEST_CASE("a recent success is answered from the cache until it expires", "[auth][verifier]") {
    fake_clock clock;
    verifier_options options;
    options.cache_ttl = 300s;
    credential_verifier verifier(users({{"alice", "wonderland"}}), options, clock.fn());
    const answer first = check(verifier, "alice", "wonderland");
    CHECK(first.v == verdict::accepted);
    CHECK_FALSE(first.immediate);

    const answer second = check(verifier, "alice", "wonderland");
    CHECK(second.v == verdict::accepted);
    CHECK(second.immediate);
    CHECK(verifier.stats().cache_hits == 1);

    // A wrong passcode is never a hit, nor is another login with that passcode.
    CHECK_FALSE(check(verifier, "alice", "wonderlan").immediate);
    CHECK_FALSE(check(verifier, "alicewonderland", "").immediate);

    clock.seconds += 299;
    CHECK(check(verifier, "alice", "wonderland").immediate);
    clock.seconds += 1;  // 300 s after the verification: expired
    const answer later = check(verifier, "alice", "wonderland");
    CHECK(later.v == verdict::accepted);
    CHECK_FALSE(later.immediate);
    CHECK(check(verifier, "alice", "wonderland").immediate);  // cached again
}

TEST_CASE("the cache keeps a bounded number of successes, least recently used out first",
          "[auth][verifier]") {
    verifier_options options;
    options.cache_entries = 2;
    credential_verifier verifier(users({{"a", "1"}, {"b", "2"}, {"c", "3"}}), options);
    CHECK(check(verifier, "a", "1").v == verdict::accepted);
    CHECK(check(verifier, "b", "2").v == verdict::accepted);
    CHECK(check(verifier, "a", "1").immediate);               // a is now the most recently used
    CHECK(check(verifier, "c", "3").v == verdict::accepted);  // evicts b
    CHECK(verifier.stats().cached == 2);
    CHECK(check(verifier, "a", "1").immediate);
    CHECK(check(verifier, "c", "3").immediate);
    CHECK_FALSE(check(verifier, "b", "2").immediate);
}

TEST_CASE("new users forget every cached success", "[auth][verifier]") {
    credential_verifier verifier(users({{"alice", "old"}}));
    CHECK(check(verifier, "alice", "old").v == verdict::accepted);
    CHECK(check(verifier, "alice", "old").immediate);
    verifier.replace_users(users({{"alice", "new"}}));
    CHECK(check(verifier, "alice", "old").v == verdict::rejected);
    CHECK(check(verifier, "alice", "new").v == verdict::accepted);
}

TEST_CASE("the admin realm has its own users and cache entries", "[auth][verifier]") {
    credential_verifier verifier(users({{"alice", "wonderland"}}));
    // No admin users yet: refused at once, nothing hashed.
    const auto before = verifier.stats().hashes;
    CHECK(check(verifier, "alice", "wonderland", realm::admin).v == verdict::rejected);
    CHECK(check(verifier, "alice", "wonderland", realm::admin).immediate);
    CHECK(verifier.stats().hashes == before);

    verifier.replace_users(users({{"ops", "console"}}), realm::admin);
    CHECK(check(verifier, "ops", "console", realm::admin).v == verdict::accepted);
    CHECK(check(verifier, "ops", "console", realm::admin).immediate);  // cached
    // Neither list's login is the other's, cached or not.
    CHECK(check(verifier, "ops", "console").v == verdict::rejected);
    CHECK(check(verifier, "alice", "wonderland").v == verdict::accepted);
    CHECK(check(verifier, "alice", "wonderland", realm::admin).v == verdict::rejected);

    // An unknown admin login costs one argon2id computation, as a known one does.
    const auto hashed = verifier.stats().hashes;
    CHECK(check(verifier, "nobody", "console", realm::admin).v == verdict::rejected);
    CHECK(check(verifier, "ops", "wrong", realm::admin).v == verdict::rejected);
    CHECK(verifier.stats().hashes == hashed + 2);

    // Removing the STOMP users leaves the admin realm working.
    verifier.replace_users(nullptr, realm::stomp);
    CHECK(check(verifier, "alice", "wonderland").v == verdict::rejected);
    CHECK(check(verifier, "ops", "console", realm::admin).v == verdict::accepted);
}

TEST_CASE("a full queue refuses at once and says so", "[auth][verifier]") {
    verifier_options options;
    options.threads = 1;
    options.queue_limit = 2;
    credential_verifier verifier(users({{"alice", "wonderland"}}), options);

    // Hold the only thread inside a callback until released.
    std::mutex m;
    std::condition_variable cv;
    bool holding = false, release = false;
    std::atomic<int> answered{0};
    REQUIRE_FALSE(verifier.verify("alice", "x", [&](verdict) {
        std::unique_lock lock(m);
        holding = true;
        cv.notify_all();
        cv.wait(lock, [&] { return release; });
        ++answered;
    }));
    {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return holding; });
    }
    const auto count = [&](verdict) { ++answered; };
    CHECK_FALSE(verifier.verify("alice", "y", count));  // queued
    CHECK_FALSE(verifier.verify("alice", "z", count));  // queued
    const auto refused = verifier.verify("alice", "w", count);
    REQUIRE(refused);
    CHECK(*refused == verdict::busy);
    CHECK(to_string(*refused) == "busy");
    CHECK(verifier.stats().busy == 1);
    CHECK(verifier.stats().queued == 2);
    {
        const std::lock_guard lock(m);
        release = true;
    }
    cv.notify_all();
    while (answered.load() < 3) {
        std::this_thread::yield();
    }
    CHECK(verifier.stats().queued == 0);
}

TEST_CASE("stopping answers queued requests with shutting_down", "[auth][verifier]") {
    std::atomic<int> shut{0}, other{0};
    std::promise<void> entered;
    std::promise<void> go;
    std::shared_future<void> go_future = go.get_future().share();
    std::thread releaser;
    {
        verifier_options options;
        options.threads = 1;
        options.queue_limit = 100;
        credential_verifier verifier(users({{"alice", "wonderland"}}), options);
        // Hold the only thread inside the first request's callback.
        (void)verifier.verify("alice", "x", [&, go_future](verdict) {
            entered.set_value();
            go_future.wait();
            ++other;
        });
        entered.get_future().wait();
        for (int i = 0; i < 5; ++i) {
            (void)verifier.verify(
                "alice", "y", [&](verdict v) { ++(v == verdict::shutting_down ? shut : other); });
        }
        // Let the held thread go once the destructor has taken the queue.
        releaser = std::thread([&] {
            while (verifier.stats().queued != 0) {
                std::this_thread::yield();
            }
            go.set_value();
        });
    }
    releaser.join();
    CHECK(shut == 5);
    CHECK(other == 1);
}
