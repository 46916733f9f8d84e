#include "durable_receipts.hpp"

#include <algorithm>

namespace stampede::broker {

void receipt_order::expect(std::uint64_t token) {
    entries_.push_back({token, {}, false});
    ++pending_;
}

void receipt_order::hold(std::string receipt_id) {
    entries_.push_back({0, std::move(receipt_id), true});
}

receipt_order::outcome receipt_order::done(std::uint64_t token, bool failed) {
    outcome out;
    // Completions come mostly in order: the match is usually at the front.
    const auto it = std::find_if(entries_.begin(), entries_.end(),
                                 [&](const entry& e) { return e.token == token && !e.done; });
    if (it == entries_.end()) {
        return out;
    }
    it->done = true;
    --pending_;
    if (failed) {
        // The ERROR answers the first RECEIPT held behind the failed operation.
        const auto held = std::find_if(std::next(it), entries_.end(),
                                       [](const entry& e) { return e.token == 0; });
        out.failed_for = held != entries_.end() ? held->receipt_id : std::string();
    }
    while (!entries_.empty() && entries_.front().done) {
        if (entries_.front().token == 0) {
            out.due.push_back(std::move(entries_.front().receipt_id));
        }
        entries_.pop_front();
    }
    return out;
}

}  // namespace stampede::broker
