#include "context.hpp"

#include <functional>

#include "stats.hpp"

namespace stampede::broker {

broker_context::broker_context(const config& c, runtime::runtime& r) : cfg(c), rt(r) {
    for (unsigned i = 0; i < r.size(); ++i) {
        auto shard = std::make_unique<shard_state>();
        shard->index = i;
        shard->stats = std::make_unique<stats_board>();
        shards.push_back(std::move(shard));
    }
}

broker_context::~broker_context() = default;

unsigned broker_context::shard_for(std::string_view key) const noexcept {
    return static_cast<unsigned>(std::hash<std::string_view>{}(key) % shards.size());
}

shard_state& broker_context::here() const noexcept {
    return *shards[runtime::this_scheduler()->index()];
}

}  // namespace stampede::broker
