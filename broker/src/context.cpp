#include "context.hpp"

#include <functional>

#include "auth_state.hpp"
#include "durable.hpp"
#include "stats.hpp"

namespace stampede::broker {

namespace {

// The start time in seconds, base 36: short, and different for every run.
std::string make_boot_id() {
    static constexpr char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    auto n = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
    std::string out;
    do {
        out.insert(out.begin(), digits[n % 36]);
        n /= 36;
    } while (n > 0);
    return out;
}

}  // namespace

broker_context::broker_context(const config& c, runtime::runtime& r)
    : cfg(c),
      rt(r),
      limiter(c.limits.max_connections, c.limits.max_unauthenticated_per_ip),
      wildcard_relays(c.virtual_hosts.size() * r.size()),
      boot_id(make_boot_id()) {
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

unsigned broker_context::vhost_index(std::string_view name) const noexcept {
    const auto& hosts = cfg.virtual_hosts;
    for (std::size_t i = 0; i < hosts.size(); ++i) {
        if (hosts[i] == name) {
            return static_cast<unsigned>(i);
        }
    }
    return 0;
}

shard_state& broker_context::here() const noexcept {
    return *shards[runtime::this_scheduler()->index()];
}

}  // namespace stampede::broker
