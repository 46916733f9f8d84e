// RabbitMQ's permission model over destination names: search semantics,
// anchors, the empty pattern, default deny, and what each frame needs.

#include "stampede/auth/permissions.hpp"

#include <catch2/catch.hpp>
#include <string>

using namespace stampede;
using namespace stampede::auth;

namespace {

std::shared_ptr<const permission_table> sample() {
    return permission_table::make({
        {"alice", {{"/", {".*", ".*", ".*"}}}},
        {"bob",
         {{"/", {"", "^/queue/in\\.", "^/queue/out\\."}},
          {"staging", {"^/topic/", "^/topic/", "^/topic/"}}}},
        {"carol", {{"/", {"orders", "orders$", "^/queue/orders"}}}},
        {"dave", {{"/", {"", "", ""}}}},
    });
}

}  // namespace

TEST_CASE("a pattern matches anywhere in the name unless anchored", "[auth][permissions]") {
    const auto table = sample();
    const auto carol = table->find("carol", "/");
    REQUIRE(carol);
    // Unanchored: anywhere.
    CHECK(carol->allows(permission::configure, "/queue/orders"));
    CHECK(carol->allows(permission::configure, "/topic/all-orders-today"));
    CHECK_FALSE(carol->allows(permission::configure, "/queue/order"));
    // Anchored at the end.
    CHECK(carol->allows(permission::write, "/topic/orders"));
    CHECK_FALSE(carol->allows(permission::write, "/topic/orders.eu"));
    // RE2's $ is the end of the text, not "before a final newline" as in PCRE.
    CHECK_FALSE(carol->allows(permission::write, "/topic/orders\n"));
    // Anchored at the start.
    CHECK(carol->allows(permission::read, "/queue/orders.eu"));
    CHECK_FALSE(carol->allows(permission::read, "/topic/x/queue/orders"));
}

TEST_CASE("bob's example from the issue: write to in.*, read from out.*, create nothing",
          "[auth][permissions]") {
    const auto table = sample();
    CHECK(table->allowed("bob", "/", permission::write, "/queue/in.orders"));
    CHECK_FALSE(table->allowed("bob", "/", permission::write, "/queue/inorders"));  // \. is a dot
    CHECK_FALSE(table->allowed("bob", "/", permission::write, "/queue/out.orders"));
    CHECK(table->allowed("bob", "/", permission::read, "/queue/out.orders"));
    CHECK_FALSE(table->allowed("bob", "/", permission::read, "/queue/in.orders"));
    CHECK_FALSE(table->allowed("bob", "/", permission::configure, "/queue/in.orders"));
    CHECK(table->allowed("bob", "staging", permission::configure, "/topic/t"));
}

TEST_CASE("the empty pattern matches nothing, not even the empty name", "[auth][permissions]") {
    const auto table = sample();
    const auto dave = table->find("dave", "/");
    REQUIRE(dave);
    for (const char* name : {"", "/queue/a", "/topic/b"}) {
        CHECK(dave->rights(name) == 0);
    }
    CHECK(table->find("alice", "/")->rights("") == 7);  // ".*" matches even the empty name
}

TEST_CASE("a user or vhost without an entry is denied everything", "[auth][permissions]") {
    const auto table = sample();
    CHECK(table->find("mallory", "/") == nullptr);
    CHECK(table->find("alice", "staging") == nullptr);
    for (const permission p : {permission::configure, permission::write, permission::read}) {
        CHECK_FALSE(table->allowed("mallory", "/", p, "/queue/a"));
        CHECK_FALSE(table->allowed("alice", "staging", p, "/queue/a"));
        CHECK(table->allowed("alice", "/", p, "/queue/a"));
    }
}

TEST_CASE("each frame needs its permission on its destination", "[auth][permissions]") {
    using protocol::command;
    const access_mask configure = bit(permission::configure);
    const access_mask write = bit(permission::write);
    const access_mask read = bit(permission::read);
    CHECK(required_access(command::send, false) == write);
    CHECK(required_access(command::send, true) == (write | configure));
    CHECK(required_access(command::subscribe, false) == read);
    CHECK(required_access(command::subscribe, true) == (read | configure));
    for (const command c :
         {command::connect, command::stomp, command::unsubscribe, command::begin, command::commit,
          command::abort, command::ack, command::nack, command::disconnect}) {
        INFO(protocol::to_string(c));
        CHECK(required_access(c, false) == 0);
        CHECK(required_access(c, true) == 0);
    }
    // Every frame against every grant: allowed exactly when nothing is missing.
    const auto table = sample();
    const auto bob = table->find("bob", "/");
    struct probe {
        command cmd;
        bool creates;
        const char* destination;
        std::optional<permission> refused;
    };
    for (const probe& p : {
             probe{command::send, false, "/queue/in.a", std::nullopt},
             probe{command::send, true, "/queue/in.a", permission::configure},
             probe{command::send, false, "/queue/out.a", permission::write},
             probe{command::subscribe, false, "/queue/out.a", std::nullopt},
             probe{command::subscribe, false, "/queue/in.a", permission::read},
             probe{command::subscribe, true, "/queue/out.a", permission::configure},
             probe{command::ack, false, "/queue/in.a", std::nullopt},
         }) {
        INFO(protocol::to_string(p.cmd) << " " << p.destination << (p.creates ? " (new)" : ""));
        CHECK(first_missing(required_access(p.cmd, p.creates), bob->rights(p.destination)) ==
              p.refused);
    }
}

TEST_CASE("a denied frame's message names the permission, destination, user and vhost",
          "[auth][permissions]") {
    const std::string m = denial_message(permission::write, "/queue/x", "bob", "/");
    CHECK(m == "access refused: write to '/queue/x' is not permitted for user 'bob' on vhost '/'");
}

TEST_CASE("a pattern RE2 cannot compile stops the configuration with its reason",
          "[auth][permissions]") {
    const auto bad = [](const std::string& pattern) {
        try {
            (void)permission_table::make({{"eve", {{"/", {".*", pattern, ".*"}}}}});
        } catch (const permission_config_error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    const std::string unbalanced = bad("^/queue/(in");
    CHECK(unbalanced.find("write pattern of user 'eve' on vhost '/'") != std::string::npos);
    CHECK(unbalanced.find("missing )") != std::string::npos);
    // Backreferences need backtracking: RE2 refuses them.
    CHECK(!bad("^/queue/(a)\\1").empty());
    CHECK(bad("^/queue/(a|b)+$").empty());
}

TEST_CASE("a pathological pattern on a long hostile name still matches in linear time",
          "[auth][permissions]") {
    // (a+)+$ against "aaaa...ab" takes a backtracking engine 2^n steps; RE2
    // answers at once. (No timing is asserted: the test would hang, not fail,
    // if matching were exponential, and the ctest timeout catches that.)
    const auto table = permission_table::make({{"u", {{"/", {"(a+)+$", "(a|aa)*c", "(.*)*x"}}}}});
    const auto rights = table->find("u", "/");
    const std::string hostile = std::string(100'000, 'a') + "b";
    CHECK(rights->rights(hostile) == 0);
    CHECK(rights->allows(permission::configure, std::string(100'000, 'a')));
}
