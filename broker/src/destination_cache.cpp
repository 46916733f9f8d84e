#include "destination_cache.hpp"

namespace stampede::broker {

const destination_handle* destination_cache::find(std::string_view name) {
    const auto it = by_name_.find(name);
    if (it == by_name_.end()) {
        return nullptr;
    }
    order_.splice(order_.begin(), order_, it->second);
    return &*it->second;
}

std::optional<destination_handle> destination_cache::insert(destination_handle handle) {
    order_.push_front(std::move(handle));
    by_name_.insert_or_assign(std::string_view(order_.front().name), order_.begin());
    if (order_.size() <= capacity_) {
        return std::nullopt;
    }
    by_name_.erase(order_.back().name);  // before the move: the key views this string
    destination_handle evicted = std::move(order_.back());
    order_.pop_back();
    return evicted;
}

std::optional<destination_handle> destination_cache::erase(std::string_view name) {
    const auto it = by_name_.find(name);
    if (it == by_name_.end()) {
        return std::nullopt;
    }
    const auto at = it->second;
    by_name_.erase(it);  // before the move: the key views this string
    destination_handle out = std::move(*at);
    order_.erase(at);
    return out;
}

std::vector<destination_handle> destination_cache::take_all() {
    std::vector<destination_handle> out(std::make_move_iterator(order_.begin()),
                                        std::make_move_iterator(order_.end()));
    by_name_.clear();
    order_.clear();
    return out;
}

}  // namespace stampede::broker
