// Queues larger than memory (issue 10): the queue actor's side of its paged
// tail. queue_pager.hpp decides; this file reads the tail back through the
// journal's reader thread (never a pread on a scheduler thread) and puts what
// comes back among the messages in memory.

#include "queue.hpp"

#include <algorithm>

#include "stampede/routing/expiry.hpp"
#include "stampede/runtime/log.hpp"

namespace stampede::broker {

std::uint32_t queue_actor::restored_deliveries(storage::message_id id,
                                               std::uint32_t stored) const noexcept {
    return id < pager_.recovered_below() ? std::max<std::uint32_t>(1, stored) : stored;
}

// Issues the next read of the tail if the pager wants one. The read runs on
// the journal's reader thread, which also decodes the records (the
// allocations of a chunk stay off the scheduler), and casts them back.
void queue_actor::page_in() {
    if (!durable_) {
        return;
    }
    const bool drain = !purge_tokens_.empty();
    const auto plan = pager_.next_read(store_.ready_bytes(), drain);
    if (!plan) {
        return;
    }
    // Before the read: a write completing from now on may hold what the read
    // misses, and must wake the queue (queue_pager::read_finished).
    journal_wake_->store(true, std::memory_order_release);
    ctx_.durable->journal().read(
        journal_queue_, plan->from, plan->limits,
        [me = self(), durable = ctx_.durable.get()](
            storage::result<std::vector<storage::stored_message>> read) {
            if (durable->closing()) {
                return;  // the runtime is stopping: nobody to hand them to
            }
            queue_paged_in in;
            if (!read) {
                in.error = read.error().message();
                me.cast(std::move(in));
                return;
            }
            in.messages.reserve(read->size());
            for (const storage::stored_message& stored : *read) {
                // An undecodable record still takes its place in the tail
                // (a null message): it is counted off and left in the journal.
                in.messages.push_back(
                    {durability::decode(stored), stored.id, stored.properties.deliveries});
            }
            me.cast(std::move(in));
        });
}

void queue_actor::handle_cast(queue_paged_in& in) {
    if (!in.error.empty()) {
        runtime::log::error("queue ", counters_.name, ": reading its paged messages back: ",
                            in.error, " (tried again at the journal's next write)");
    }
    const bool purging = !purge_tokens_.empty();
    const epoch_ms now = routing::now_epoch_ms();
    std::vector<storage::message_id> purged;
    std::size_t ready_before = store_.ready();
    for (restored_message& r : in.messages) {
        const std::size_t size = r.msg ? r.msg->footprint() : 0;
        if (!pager_.take(r.id, size)) {
            continue;
        }
        if (purging) {
            purged.push_back(r.id);
        } else if (r.msg) {
            store_.add(std::move(r.msg), now, r.id, restored_deliveries(r.id, r.deliveries));
        } else {
            runtime::log::warn("queue ", counters_.name, ": journal message ", r.id,
                               " is not in the broker's encoding: left in the journal");
        }
    }
    pager_.read_finished(!in.error.empty());
    if (purging) {
        forget(purged);
        if (pager_.empty()) {
            // Acknowledgements complete in order: an empty one after the
            // last chunk's completes once the whole tail is forgotten.
            for (const std::uint64_t token : purge_tokens_) {
                if (auto done = ctx_.durable->journal().ack(journal_queue_, {}, token); !done) {
                    ctx_.durable->complete(token, "the journal could not record the purge: " +
                                                      done.error().message());
                }
            }
            purge_tokens_.clear();
        }
    } else if (store_.ready() > ready_before) {
        wake_parked(nullptr);
    }
    settle_turn();
}

void queue_actor::handle_cast(journal_progress&) {
    if (pager_.wake()) {
        settle_turn();
    } else if (pager_.wants_wake()) {
        // The read in flight may still miss a write: keep listening.
        journal_wake_->store(true, std::memory_order_release);
    }
}

}  // namespace stampede::broker
