#include "destination_cache.hpp"

#include <catch2/catch.hpp>

using namespace stampede::broker;

namespace {

destination_handle handle(const std::string& name) {
    destination_handle h;
    h.kind = destination_kind::topic;
    h.name = name;
    h.key = "/|" + name;
    return h;
}

}  // namespace

TEST_CASE("the destination cache finds what it holds", "[destination_cache]") {
    destination_cache cache(4);
    CHECK(cache.find("/topic/a") == nullptr);
    CHECK_FALSE(cache.insert(handle("/topic/a")));
    const destination_handle* found = cache.find("/topic/a");
    REQUIRE(found != nullptr);
    CHECK(found->key == "/|/topic/a");
    CHECK(cache.size() == 1);
}

TEST_CASE("the destination cache lets the least recently used go when full",
          "[destination_cache]") {
    destination_cache cache(3);
    CHECK_FALSE(cache.insert(handle("/topic/a")));
    CHECK_FALSE(cache.insert(handle("/topic/b")));
    CHECK_FALSE(cache.insert(handle("/topic/c")));
    REQUIRE(cache.find("/topic/a") != nullptr);  // a is now the most recent; b the least
    const auto evicted = cache.insert(handle("/topic/d"));
    REQUIRE(evicted);
    CHECK(evicted->name == "/topic/b");
    CHECK(evicted->key == "/|/topic/b");  // whole, for the caller to release
    CHECK(cache.find("/topic/b") == nullptr);
    CHECK(cache.size() == 3);
    for (const char* kept : {"/topic/a", "/topic/c", "/topic/d"}) {
        INFO(kept);
        REQUIRE(cache.find(kept) != nullptr);
        CHECK(cache.find(kept)->name == kept);
    }
}

TEST_CASE("a stream of new destinations keeps the cache at its capacity", "[destination_cache]") {
    destination_cache cache(64);
    std::size_t evictions = 0;
    for (int i = 0; i < 100'000; ++i) {
        if (auto evicted = cache.insert(handle("/topic/n" + std::to_string(i)))) {
            CHECK(evicted->name == "/topic/n" + std::to_string(i - 64));
            ++evictions;
        }
    }
    CHECK(cache.size() == 64);
    CHECK(evictions == 100'000 - 64);
    CHECK(cache.find("/topic/n99999") != nullptr);
    CHECK(cache.find("/topic/n0") == nullptr);
}

TEST_CASE("take_all empties the cache and hands back every handle", "[destination_cache]") {
    destination_cache cache(8);
    for (const char* name : {"/queue/a", "/topic/b", "/queue/c"}) {
        (void)cache.insert(handle(name));
    }
    const auto all = cache.take_all();
    CHECK(all.size() == 3);
    CHECK(cache.size() == 0);
    CHECK(cache.find("/queue/a") == nullptr);
    CHECK_FALSE(cache.insert(handle("/queue/a")));  // usable again
    CHECK(cache.find("/queue/a") != nullptr);
}
