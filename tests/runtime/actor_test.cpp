#include "stampede/runtime/actor.hpp"

#include <atomic>
#include <optional>
#include <vector>

#include "stampede/runtime/runtime.hpp"
#include "test_support.hpp"

using namespace stampede::runtime;
using namespace std::chrono_literals;

namespace {

struct add {
    int n;
};
struct total {
    using reply_type = int;
};
struct hold {  // answered later, by `release`
    using reply_type = int;
};
struct release {
    int value;
};
struct crash {};
struct quit {
    using reply_type = ok;
};
struct stack_depth {
    using reply_type = std::size_t;
};
struct ask_self {
    using reply_type = int;
};

class counter : public gen_server<counter> {
  public:
    void handle_cast(add& m) { total_ += m.n; }
    void handle_cast(release& m) {
        for (auto& waiting : held_) {
            reply(waiting, m.value);
        }
        held_.clear();
    }
    void handle_cast(crash&) { throw std::runtime_error("crash requested"); }

    call_result<int> handle_call(total&, const from<int>&) { return reply(total_); }
    call_result<int> handle_call(hold&, const from<int>& caller) {
        held_.push_back(caller);
        return noreply;
    }
    call_result<ok> handle_call(quit&, const from<ok>&) { return reply_and_stop(ok{}); }
    call_result<std::size_t> handle_call(stack_depth&, const from<std::size_t>&) {
        return reply(this_fiber::stack_high_water());
    }
    call_result<int> handle_call(ask_self&, const from<int>&) {
        auto answer = call(self(), total{}, 100ms);
        return reply(answer ? 1 : (answer.error() == errc::call_to_self ? -1 : -2));
    }

  private:
    int total_ = 0;
    std::vector<from<int>> held_;
};

}  // namespace

TEST_CASE("casts are handled in order and a call sees them", "[runtime][actor]") {
    STAMPEDE_EACH_BACKEND(backend);
    const int sum = test::run_in_runtime(backend, 2, [](runtime& rt) {
        auto c = spawn<counter>(rt.at(0), "counter");
        for (int i = 1; i <= 100; ++i) {
            c.cast(add{i});
        }
        auto r = call(c, total{});
        return r ? *r : -1;
    });
    CHECK(sum == 5050);
}

TEST_CASE("a call crosses schedulers and comes back", "[runtime][actor]") {
    STAMPEDE_EACH_BACKEND(backend);
    const int sum = test::run_in_runtime(backend, 2, [](runtime& rt) {
        auto c = spawn<counter>(rt.at(1), "remote counter");
        c.cast(add{7});
        auto r = call(c, total{});
        return r ? *r : -1;
    });
    CHECK(sum == 7);
}

TEST_CASE("a deferred reply reaches the caller", "[runtime][actor]") {
    STAMPEDE_EACH_BACKEND(backend);
    const int answer = test::run_in_runtime(backend, 2, [](runtime& rt) {
        auto c = spawn<counter>(rt.at(1), "counter");
        std::atomic<int> got{0};
        this_scheduler()->spawn([&] {
            auto r = call(c, hold{});
            got = r ? *r : -1;
        });
        (void)this_fiber::sleep_for(20ms);  // the call is parked in the server
        c.cast(release{42});
        while (got.load() == 0) {
            (void)this_fiber::sleep_for(1ms);
        }
        return got.load();
    });
    CHECK(answer == 42);
}

TEST_CASE("a call times out, and a late reply is dropped", "[runtime][actor]") {
    STAMPEDE_EACH_BACKEND(backend);
    const auto [first, second] = test::run_in_runtime(backend, 2, [](runtime& rt) {
        auto c = spawn<counter>(rt.at(1), "counter");
        auto timed_out = call(c, hold{}, 30ms);
        c.cast(release{1});  // answers the abandoned call: must go nowhere
        auto after = call(c, total{});
        return std::pair{timed_out.has_error() && timed_out.error() == errc::timeout,
                         after ? *after : -1};
    });
    CHECK(first);
    CHECK(second == 0);
}

TEST_CASE("a call to an ended actor bounces with actor_exited", "[runtime][actor]") {
    STAMPEDE_EACH_BACKEND(backend);
    const auto [stopped, bounced, ended] = test::run_in_runtime(backend, 2, [](runtime& rt) {
        auto c = spawn<counter>(rt.at(1), "counter");
        auto q = call(c, quit{});
        auto after = call(c, total{});
        return std::tuple{q.has_error() ? -1 : 1,
                          after.has_error() && after.error() == errc::actor_exited, c.ended()};
    });
    CHECK(stopped == 1);
    CHECK(bounced);
    CHECK(ended);
}

TEST_CASE("calls parked in an actor that ends are answered with an error", "[runtime][actor]") {
    STAMPEDE_EACH_BACKEND(backend);
    const bool answered = test::run_in_runtime(backend, 2, [](runtime& rt) {
        auto c = spawn<counter>(rt.at(1), "counter");
        std::atomic<int> result_code{0};
        this_scheduler()->spawn([&] {
            auto r = call(c, hold{}, 2s);
            result_code = r.has_error() && r.error() == errc::actor_exited ? 1 : 2;
        });
        (void)this_fiber::sleep_for(20ms);
        c.cast(crash{});  // ends the actor with the held `from` still in its state
        while (result_code.load() == 0) {
            (void)this_fiber::sleep_for(1ms);
        }
        return result_code.load() == 1;
    });
    CHECK(answered);
}

TEST_CASE("an actor calling itself gets call_to_self", "[runtime][actor]") {
    STAMPEDE_EACH_BACKEND(backend);
    const int outcome = test::run_in_runtime(backend, 1, [](runtime& rt) {
        auto c = spawn<counter>(rt.at(0), "counter");
        auto r = call(c, ask_self{});
        return r ? *r : -3;
    });
    CHECK(outcome == -1);
}

namespace {

struct watch {
    any_actor target;
};
struct last_down {
    using reply_type = std::optional<down>;
};

class watcher : public gen_server<watcher> {
  public:
    void handle_cast(watch& w) { monitor(w.target); }
    void handle_info(down& d) { seen_ = d; }
    call_result<std::optional<down>> handle_call(last_down&, const from<std::optional<down>>&) {
        return reply(seen_);
    }

  private:
    std::optional<down> seen_;
};

}  // namespace

TEST_CASE("a monitor reports how the watched actor ended", "[runtime][actor][monitor]") {
    STAMPEDE_EACH_BACKEND(backend);
    const auto notice = test::run_in_runtime(backend, 2, [](runtime& rt) {
        auto target = spawn<counter>(rt.at(1), "target");
        auto w = spawn<watcher>(rt.at(0), "watcher");
        w.cast(watch{target});
        (void)call(w, last_down{});  // the monitor is set up
        target.cast(crash{});
        std::optional<down> seen;
        for (int i = 0; i < 500 && !seen; ++i) {
            (void)this_fiber::sleep_for(2ms);
            auto r = call(w, last_down{});
            seen = r ? *r : std::nullopt;
        }
        return std::pair{seen, target.id()};
    });
    REQUIRE(notice.first.has_value());
    CHECK(notice.first->actor == notice.second);
    CHECK(notice.first->reason.kind == exit_kind::error);
    CHECK(notice.first->reason.detail == "crash requested");
}

TEST_CASE("monitoring an actor that has already ended reports noproc",
          "[runtime][actor][monitor]") {
    STAMPEDE_EACH_BACKEND(backend);
    const auto notice = test::run_in_runtime(backend, 2, [](runtime& rt) {
        auto target = spawn<counter>(rt.at(1), "target");
        (void)call(target, quit{});
        auto w = spawn<watcher>(rt.at(0), "watcher");
        w.cast(watch{target});
        std::optional<down> seen;
        for (int i = 0; i < 500 && !seen; ++i) {
            (void)this_fiber::sleep_for(2ms);
            auto r = call(w, last_down{});
            seen = r ? *r : std::nullopt;
        }
        return seen;
    });
    REQUIRE(notice.has_value());
    CHECK(notice->reason.kind == exit_kind::noproc);
}

namespace {

struct tick {
    int n;
};
struct arm {
    int n;
    std::chrono::milliseconds delay;
    bool cancel;
};
struct ticks {
    using reply_type = std::vector<int>;
};
struct idle_count {
    using reply_type = int;
};

class ticker : public gen_server<ticker> {
  public:
    bool init(exit_reason&) {
        set_receive_timeout(20ms);
        return true;
    }
    void handle_cast(arm& a) {
        const timer_id id = send_after(a.delay, tick{a.n});
        if (a.cancel) {
            cancel_timer(id);
        }
    }
    void handle_info(tick& t) { seen_.push_back(t.n); }
    void handle_info(receive_timeout&) {
        ++idle_;
        set_receive_timeout(0ms);  // once is enough
    }
    call_result<std::vector<int>> handle_call(ticks&, const from<std::vector<int>>&) {
        return reply(seen_);
    }
    call_result<int> handle_call(idle_count&, const from<int>&) { return reply(idle_); }

  private:
    std::vector<int> seen_;
    int idle_ = 0;
};

}  // namespace

TEST_CASE("send_after delivers in deadline order and cancel stops a timer",
          "[runtime][actor][timer]") {
    STAMPEDE_EACH_BACKEND(backend);
    const auto seen = test::run_in_runtime(backend, 1, [](runtime& rt) {
        auto t = spawn<ticker>(rt.at(0), "ticker");
        t.cast(arm{3, 30ms, false});
        t.cast(arm{1, 10ms, false});
        t.cast(arm{99, 15ms, true});
        t.cast(arm{2, 20ms, false});
        (void)this_fiber::sleep_for(80ms);
        auto r = call(t, ticks{});
        return r ? *r : std::vector<int>{};
    });
    CHECK(seen == std::vector<int>{1, 2, 3});
}

TEST_CASE("a receive timeout fires when no message arrives", "[runtime][actor][timer]") {
    STAMPEDE_EACH_BACKEND(backend);
    const int idle = test::run_in_runtime(backend, 1, [](runtime& rt) {
        auto t = spawn<ticker>(rt.at(0), "ticker");
        (void)this_fiber::sleep_for(60ms);
        auto r = call(t, idle_count{});
        return r ? *r : -1;
    });
    CHECK(idle == 1);
}

namespace {
class refuses_to_start : public gen_server<refuses_to_start> {
  public:
    bool init(exit_reason& why) {
        why = exit_reason::error("not today");
        return false;
    }
    call_result<int> handle_call(total&, const from<int>&) { return reply(1); }
};
}  // namespace

TEST_CASE("an actor whose init fails ends and bounces calls", "[runtime][actor]") {
    STAMPEDE_EACH_BACKEND(backend);
    const bool bounced = test::run_in_runtime(backend, 1, [](runtime& rt) {
        auto a = spawn<refuses_to_start>(rt.at(0), "refuses");
        auto r = call(a, total{});
        return r.has_error() && r.error() == errc::actor_exited;
    });
    CHECK(bounced);
}

TEST_CASE("the actor loop keeps its stack depth after ten million messages",
          "[runtime][actor][stack]") {
    STAMPEDE_EACH_BACKEND(backend);
    const auto [after_ten, after_ten_million] = test::run_in_runtime(backend, 1, [](runtime& rt) {
        auto c = spawn<counter>(rt.at(0), "counter");
        for (int i = 0; i < 10; ++i) {
            c.cast(add{1});
        }
        auto early = call(c, stack_depth{});
        for (int i = 0; i < 10'000'000; ++i) {
            c.cast(add{1});
            if (i % 10'000 == 0) {
                this_fiber::yield();  // let the mailbox drain as we go
            }
        }
        auto late = call(c, stack_depth{});
        auto sum = call(c, total{});
        return std::pair{early ? *early : 0, late && sum && *sum == 10'000'010 ? *late : 0};
    });
    CHECK(after_ten > 0);
    CHECK(after_ten_million == after_ten);
}

TEST_CASE("a hundred thousand idle actors need no stacks", "[runtime][actor][stack]") {
    STAMPEDE_EACH_BACKEND(backend);
    const auto [actors, live_stacks, sum] = test::run_in_runtime(backend, 1, [](runtime& rt) {
        std::vector<actor_ref<counter>> refs;
        refs.reserve(100'000);
        for (int i = 0; i < 100'000; ++i) {
            refs.push_back(spawn<counter>(rt.at(0), "idle"));
        }
        for (auto& r : refs) {
            r.cast(add{1});
        }
        int total_sum = 0;
        for (int i = 0; i < 100'000; i += 1000) {
            auto r = call(refs[static_cast<std::size_t>(i)], total{});
            total_sum += r ? *r : 0;
        }
        return std::tuple{this_scheduler()->live_actors(), this_scheduler()->stacks().live(),
                          total_sum};
    });
    CHECK(actors == 100'000);
    CHECK(live_stacks < 16);  // this fiber, a few workers: not one per actor
    CHECK(sum == 100);
}
