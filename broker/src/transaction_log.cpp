#include "transaction_log.hpp"

namespace stampede::broker {

result<void> transaction_log::begin(std::string_view name) {
    if (open_.contains(std::string(name))) {
        return errc::transaction_open;
    }
    if (open_.size() >= limits_.max_transactions) {
        return errc::too_many_transactions;
    }
    open_.emplace(std::string(name), transaction{});
    return {};
}

result<void> transaction_log::add(std::string_view name, transaction_frame frame,
                                  std::size_t bytes) {
    const auto it = open_.find(std::string(name));
    if (it == open_.end()) {
        return errc::no_such_transaction;
    }
    if (it->second.frames.size() >= limits_.max_frames) {
        discard(it);
        return errc::transaction_frames;
    }
    if (bytes > limits_.max_bytes || bytes_ > limits_.max_bytes - bytes) {
        discard(it);
        return errc::transaction_bytes;
    }
    it->second.frames.push_back(std::move(frame));
    it->second.bytes += bytes;
    bytes_ += bytes;
    return {};
}

result<std::vector<transaction_frame>> transaction_log::take(std::string_view name) {
    const auto it = open_.find(std::string(name));
    if (it == open_.end()) {
        return errc::no_such_transaction;
    }
    std::vector<transaction_frame> frames = std::move(it->second.frames);
    discard(it);
    return frames;
}

result<void> transaction_log::abort(std::string_view name) {
    const auto it = open_.find(std::string(name));
    if (it == open_.end()) {
        return errc::no_such_transaction;
    }
    discard(it);
    return {};
}

void transaction_log::discard(std::unordered_map<std::string, transaction>::iterator it) noexcept {
    bytes_ -= it->second.bytes;
    open_.erase(it);
}

void transaction_log::clear() noexcept {
    open_.clear();
    bytes_ = 0;
}

}  // namespace stampede::broker
