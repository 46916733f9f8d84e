#include <atomic>
#include <map>
#include <vector>

#include "stampede/runtime/actor.hpp"
#include "stampede/runtime/runtime.hpp"
#include "test_support.hpp"

using namespace stampede::runtime;
using namespace std::chrono_literals;

namespace {

struct stamped {
    int sender;
    int sequence;
};
struct report {
    using reply_type = std::pair<long, bool>;  // messages seen, every sender in order
};

class sink : public gen_server<sink> {
  public:
    void handle_cast(stamped& m) {
        ++seen_;
        int& last = last_[m.sender];
        if (m.sequence != last + 1) {
            in_order_ = false;
        }
        last = m.sequence;
    }
    call_result<std::pair<long, bool>> handle_call(report&, const from<std::pair<long, bool>>&) {
        return reply(std::pair{seen_, in_order_});
    }

  private:
    long seen_ = 0;
    bool in_order_ = true;
    std::map<int, int> last_;
};

}  // namespace

TEST_CASE("messages across schedulers under contention all arrive in per-sender order",
          "[runtime][actor][cross]") {
    STAMPEDE_EACH_BACKEND(backend);
    constexpr int senders_per_scheduler = 8;
    constexpr int messages = 50'000;
    const auto outcome = test::run_in_runtime(backend, 2, [](runtime& rt) {
        // One sink on each scheduler; every sender on each scheduler writes to both.
        std::vector<actor_ref<sink>> sinks{spawn<sink>(rt.at(0), "sink0"),
                                           spawn<sink>(rt.at(1), "sink1")};
        std::atomic<int> finished{0};
        int sender_id = 0;
        for (unsigned s = 0; s < 2; ++s) {
            for (int k = 0; k < senders_per_scheduler; ++k) {
                const int id = sender_id++;
                rt.at(s).spawn([&sinks, &finished, id] {
                    for (int seq = 1; seq <= messages; ++seq) {
                        sinks[0].cast(stamped{id, seq});
                        sinks[1].cast(stamped{id, seq});
                        if (seq % 512 == 0) {
                            this_fiber::yield();
                        }
                    }
                    ++finished;
                });
            }
        }
        while (finished.load() < 2 * senders_per_scheduler) {
            (void)this_fiber::sleep_for(1ms);
        }
        // Every cast was posted before its sender finished, but a sink's own
        // scheduler may not have drained its remote queue yet when this
        // fiber's call (local to one sink) arrives: order holds per sender,
        // not between senders. So ask until all have arrived (a must-happen
        // wait with a failure bound, not a timing).
        constexpr long expected = 2L * senders_per_scheduler * messages;
        std::vector<std::pair<long, bool>> reports;
        for (auto& s : sinks) {
            std::pair<long, bool> seen{-1L, false};
            const auto deadline = std::chrono::steady_clock::now() + 30s;
            while (std::chrono::steady_clock::now() < deadline) {
                auto r = call(s, report{}, 30s);
                seen = r ? *r : std::pair{-1L, false};
                if (seen.first >= expected || !r) {
                    break;
                }
                (void)this_fiber::sleep_for(1ms);
            }
            reports.push_back(seen);
        }
        return reports;
    });
    for (const auto& [seen, in_order] : outcome) {
        CHECK(seen == 2L * senders_per_scheduler * messages);
        CHECK(in_order);
    }
}
