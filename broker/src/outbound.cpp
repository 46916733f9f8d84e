#include "outbound.hpp"

#include <cassert>
#include <cstring>

namespace stampede::broker {

std::span<char> outbound_queue::reserve(std::size_t size) {
    const std::size_t at = buffer_.size();
    buffer_.resize(at + size);  // amortised growth; the writer hands the memory back
    return {buffer_.data() + at, size};
}

void outbound_queue::commit(outbound_entry entry) {
    bytes_ += entry.size;
    entries_.push_back(entry);
}

void outbound_queue::push(std::string_view bytes, entry_kind kind) {
    const auto room = reserve(bytes.size());
    std::memcpy(room.data(), bytes.data(), bytes.size());
    commit({static_cast<std::uint32_t>(bytes.size()), kind, 0, 0});
}

void outbound_queue::take(std::vector<char>& bytes, std::vector<outbound_entry>& entries) {
    assert(bytes.empty() && entries.empty());
    bytes.swap(buffer_);
    entries.swap(entries_);
    bytes_ = 0;
}

void outbound_queue::release_memory() noexcept {
    // Below this the allocation is worth keeping for the next burst.
    constexpr std::size_t keep = 16 * 1024;
    if (buffer_.empty() && buffer_.capacity() > keep) {
        std::vector<char>().swap(buffer_);
    }
    if (entries_.empty() && entries_.capacity() > keep / sizeof(outbound_entry)) {
        std::vector<outbound_entry>().swap(entries_);
    }
}

}  // namespace stampede::broker
