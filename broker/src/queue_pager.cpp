#include "queue_pager.hpp"

#include <algorithm>

namespace stampede::broker {

storage::read_limits queue_pager::chunk_for(std::size_t budget) noexcept {
    storage::read_limits limits;
    limits.max_messages = 4096;
    limits.max_bytes = std::clamp<std::size_t>(budget / 4, 1, std::size_t{4} << 20);
    return limits;
}

void queue_pager::page_out(storage::message_id id, std::size_t size) noexcept {
    if (count_ == 0) {
        next_ = id;  // the messages in memory are all older: the tail starts here
    }
    ++count_;
    bytes_ += size;
}

void queue_pager::restore(storage::message_id from, std::uint64_t count, std::uint64_t size,
                          storage::message_id recovered_below) noexcept {
    next_ = from;
    count_ = count;
    bytes_ = count == 0 ? 0 : size;
    recovered_below_ = recovered_below;
}

std::optional<queue_pager::read_plan> queue_pager::next_read(std::size_t ready_resident,
                                                             bool drain) noexcept {
    if (reading_ || waiting_ || count_ == 0) {
        return std::nullopt;
    }
    const storage::read_limits limits = chunk_for(budget_);
    // Room for a whole chunk first: reading a few messages at a time would
    // cost a read (and a reader-thread round trip) per delivery.
    if (!drain && ready_resident + limits.max_bytes > budget_) {
        return std::nullopt;
    }
    reading_ = true;
    woken_ = false;
    taken_in_read_ = 0;
    return read_plan{next_, limits};
}

bool queue_pager::take(storage::message_id id, std::size_t size) noexcept {
    if (count_ == 0 || id < next_) {
        return false;  // not the tail's: already read back, or kept in memory
    }
    --count_;
    bytes_ = count_ == 0 ? 0 : bytes_ - std::min<std::uint64_t>(bytes_, size);
    next_ = id + 1;
    ++taken_in_read_;
    return true;
}

void queue_pager::read_finished(bool failed) noexcept {
    reading_ = false;
    if (count_ > 0 && (failed || taken_in_read_ == 0)) {
        // Found nothing: the tail's next appends are not written yet (or the
        // read failed). A completion that came meanwhile means something was
        // written since the read looked: look again at once; else at the next.
        waiting_ = !woken_;
    }
    woken_ = false;
    taken_in_read_ = 0;
}

bool queue_pager::wake() noexcept {
    if (reading_) {
        woken_ = true;
        return false;
    }
    if (waiting_) {
        waiting_ = false;
        return true;
    }
    return false;
}

}  // namespace stampede::broker
