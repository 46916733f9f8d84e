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
    entries_.push_back(std::move(entry));
}

void outbound_queue::push(std::string_view bytes, entry_kind kind) {
    const auto room = reserve(bytes.size());
    std::memcpy(room.data(), bytes.data(), bytes.size());
    const auto size = static_cast<std::uint32_t>(bytes.size());
    commit({size, size, kind, 0, 0, nullptr});
}

void outbound_queue::take(std::vector<char>& bytes, std::vector<outbound_entry>& entries) {
    assert(bytes.empty() && entries.empty());
    bytes.swap(buffer_);
    entries.swap(entries_);
    bytes_ = 0;
}

// Compacts the buffer around the dropped entries in one pass.
std::vector<outbound_entry> outbound_queue::drop_oldest(
    const std::function<bool(const outbound_entry&)>& droppable, std::size_t target) {
    std::vector<outbound_entry> dropped;
    std::vector<outbound_entry> kept;
    kept.reserve(entries_.size());
    std::size_t read = 0;
    std::size_t write = 0;
    for (auto& entry : entries_) {
        const bool drop = bytes_ > target && droppable(entry);
        if (drop) {
            bytes_ -= entry.size;
        } else {
            if (read != write) {
                std::memmove(buffer_.data() + write, buffer_.data() + read, entry.inline_size);
            }
            write += entry.inline_size;
        }
        read += entry.inline_size;
        (drop ? dropped : kept).push_back(std::move(entry));
    }
    buffer_.resize(write);
    entries_ = std::move(kept);
    return dropped;
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

bool has_shared_bodies(const std::vector<outbound_entry>& entries) noexcept {
    for (const auto& e : entries) {
        if (e.body) {
            return true;
        }
    }
    return false;
}

void gather_iovecs(const std::vector<char>& bytes, const std::vector<outbound_entry>& entries,
                   std::vector<iovec>& out) {
    static const char nul = '\0';
    out.clear();
    std::size_t at = 0;
    auto add = [&](const void* data, std::size_t size) {
        if (size == 0) {
            return;
        }
        char* base = const_cast<char*>(static_cast<const char*>(data));
        if (!out.empty() && static_cast<char*>(out.back().iov_base) + out.back().iov_len == base) {
            out.back().iov_len += size;  // continues the previous inline run
        } else {
            out.push_back({base, size});
        }
    };
    for (const auto& e : entries) {
        add(bytes.data() + at, e.inline_size);
        at += e.inline_size;
        if (e.body) {
            add(e.body->body().data(), e.body->body().size());
            add(&nul, 1);
        }
    }
}

}  // namespace stampede::broker
