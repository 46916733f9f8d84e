#pragma once

// The destinations one connection publishes to, resolved through the
// registry (which counts the connection as a user of each). At most
// `capacity` are kept: the least recently used is let go when another is
// needed, so a connection pins no destination it has stopped publishing to,
// and a topic that only ever saw SENDs is reclaimed once idle.

#include <list>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "actors.hpp"

namespace stampede::broker {

class destination_cache {
  public:
    explicit destination_cache(std::size_t capacity) noexcept : capacity_(capacity) {}

    /// The cached handle of `name`, now the most recently used; null if absent.
    const destination_handle* find(std::string_view name);

    /// Caches `handle` as the most recently used. If that pushed another out,
    /// it is returned: the caller releases it in the registry.
    std::optional<destination_handle> insert(destination_handle handle);

    /// Takes `name` out of the cache (to release), if it is there.
    std::optional<destination_handle> erase(std::string_view name);

    /// Empties the cache, returning every handle (to release).
    std::vector<destination_handle> take_all();

    std::size_t size() const noexcept { return order_.size(); }

  private:
    std::size_t capacity_;
    std::list<destination_handle> order_;  ///< most recently used first
    std::unordered_map<std::string_view, std::list<destination_handle>::iterator> by_name_;
};

}  // namespace stampede::broker
