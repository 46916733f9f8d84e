#include "scenario.hpp"

#include <algorithm>

#include "stampede/runtime/scheduler.hpp"
#include "stampede/runtime/sync.hpp"

namespace stampede::load {

namespace rt = stampede::runtime;

run_settings run_context::settings(stop_condition stop_when,
                                   std::function<std::string(const totals&)> show) const {
    return {a.scenario, a.real("timeout"), std::move(stop_when), std::move(show)};
}

void run_all(std::vector<std::function<void()>> jobs) {
    rt::wait_group group;
    for (auto& job : jobs) {
        group.add();
        auto spawned = rt::this_scheduler()->spawn_here(
            [&group, &job] {
                job();
                group.done();
            },
            {0, "load.job"});
        if (!spawned) {
            job();  // no fiber to be had: run it here
            group.done();
        }
    }
    while (group.pending() > 0) {
        if (!group.wait()) {
            rt::this_fiber::yield();  // the runtime is stopping; the jobs end soon
        }
    }
}

json summary_of(const std::vector<std::optional<std::int64_t>>& values) {
    std::vector<std::int64_t> known;
    for (const auto& v : values) {
        if (v) {
            known.push_back(*v);
        }
    }
    std::sort(known.begin(), known.end());
    json out;
    out["count"] = known.size();
    out["p50"] = known.empty() ? json(nullptr) : json(known[known.size() / 2]);
    out["p100"] = known.empty() ? json(nullptr) : json(known.back());
    return out;
}

std::string name_of(std::string_view prefix, std::size_t i) {
    return std::string(prefix) + std::to_string(i);
}

void update(json& into, const json& more) {
    for (const auto& [k, v] : more.items()) {
        into[k] = v;
    }
}

}  // namespace stampede::load
