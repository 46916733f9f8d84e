#include "outbound.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace stampede::broker {

namespace {
// A connection's first output (CONNECTED, a RECEIPT) is small: a small first
// allocation keeps ten thousand handshakes from leaving 4 KiB holes each in
// the heap between the connections' long-lived objects.
constexpr std::size_t min_capacity = 512;
}  // namespace

char* byte_buffer::append(std::size_t n) {
    if (size_ + n > capacity_) {
        const std::size_t wanted = std::max({size_ + n, 2 * capacity_, min_capacity});
        std::unique_ptr<char[]> bigger(new char[wanted]);  // uninitialised on purpose
        if (size_ > 0) {
            std::memcpy(bigger.get(), data_.get(), size_);
        }
        data_ = std::move(bigger);
        capacity_ = wanted;
    }
    char* at = data_.get() + size_;
    size_ += n;
    return at;
}

void byte_buffer::swap(byte_buffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
}

void byte_buffer::release() noexcept {
    data_.reset();
    size_ = capacity_ = 0;
}

std::span<char> outbound_queue::reserve(std::size_t size) {
    return {buffer_.append(size), size};  // the writer hands the memory back when idle
}

void outbound_queue::commit(outbound_entry entry) {
    bytes_ += entry.size;
    kind_bytes_[static_cast<std::size_t>(entry.kind)] += entry.size;
    entries_.push_back(std::move(entry));
}

void outbound_queue::push(std::string_view bytes, entry_kind kind) {
    const auto room = reserve(bytes.size());
    std::memcpy(room.data(), bytes.data(), bytes.size());
    const auto size = static_cast<std::uint32_t>(bytes.size());
    commit({size, size, kind, 0, 0, nullptr});
}

void outbound_queue::take(byte_buffer& bytes, std::vector<outbound_entry>& entries) {
    assert(bytes.empty() && entries.empty());
    bytes.swap(buffer_);
    entries.swap(entries_);
    bytes_ = 0;
    kind_bytes_[0] = kind_bytes_[1] = kind_bytes_[2] = 0;
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
            kind_bytes_[static_cast<std::size_t>(entry.kind)] -= entry.size;
        } else {
            if (read != write) {
                std::memmove(buffer_.data() + write, buffer_.data() + read, entry.inline_size);
            }
            write += entry.inline_size;
        }
        read += entry.inline_size;
        (drop ? dropped : kept).push_back(std::move(entry));
    }
    buffer_.truncate(write);
    entries_ = std::move(kept);
    return dropped;
}

void outbound_queue::release_memory(std::size_t keep) noexcept {
    if (buffer_.empty() && buffer_.capacity() > keep) {
        buffer_.release();
    }
    if (entries_.empty() && entries_.capacity() * sizeof(outbound_entry) > keep) {
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

void gather_iovecs(const byte_buffer& bytes, const std::vector<outbound_entry>& entries,
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
