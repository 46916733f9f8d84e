#include "queue.hpp"

#include <algorithm>

#include "destination_names.hpp"
#include "registry.hpp"
#include "session.hpp"
#include "stampede/routing/expiry.hpp"
#include "stampede/runtime/log.hpp"

namespace stampede::broker {

namespace {
// A consumer that settled something this recently still counts for fairness
// (consumer_set.hpp) though its window is full.
constexpr auto fairness_active_window = std::chrono::milliseconds(20);

// Timer entries one turn handles: a million messages falling due at once are
// spread over many turns, so the queue keeps answering meanwhile.
constexpr std::size_t timer_batch = 10'000;

// The token of a paged message's append when no session waits for it: no
// session ever holds it (durability's tokens count up from 1), so its
// completion reaches only the queue's own handler.
constexpr std::uint64_t paging_token = ~std::uint64_t{0};

queue_store::options store_options(const config& cfg) {
    return {cfg.queues.priorities, cfg.queues.starvation_limit, cfg.queues.selector_scan};
}

bool selects(const selector_ptr& selector, const message& m) {
    return !selector || selector->matches(m.selector_headers());
}

}  // namespace

queue_actor::queue_actor(broker_context& ctx, std::string vhost, std::string name, std::string key,
                         unsigned shard, std::shared_ptr<destination_gate> gate)
    : ctx_(ctx),
      key_(std::move(key)),
      shard_(shard),
      store_(store_options(ctx.cfg)),
      consumers_(ctx.cfg.limits.max_unacked_bytes, fairness_active_window),
      dead_letter_expired_(dead_letter_expired_for(ctx.cfg, name)),
      gate_(std::move(gate)),
      pager_(ctx.cfg.queues.memory_budget) {
    counters_.kind = destination_kind::queue;
    counters_.vhost = std::move(vhost);
    counters_.name = std::move(name);
}

bool queue_actor::init(runtime::exit_reason&) {
    ctx_.here().stats->add(&counters_);
    set_receive_timeout(std::chrono::milliseconds(ctx_.cfg.idle_destination_ms));
    return true;
}

void queue_actor::terminate(const runtime::exit_reason&) {
    ctx_.here().stats->remove(&counters_);
    if (durable_) {
        ctx_.durable->journal().close_queue(journal_queue_);
    }
    if (dead_letters_) {
        ctx_.registries[ctx_.shard_for(dead_letters_->key)].cast(
            release_destination{dead_letters_->key});
    }
}

void queue_actor::settle_turn() {
    dispatch();
    page_in();
    update_depth();
    arm_timer();
}

// ---- publishing ----

void queue_actor::handle_cast(queue_publish& publish) {
    const publish_outcome outcome =
        accept(publish.msg, publish.reserved, publish.token, publish.persistent);
    publish.msg->handled();
    if (outcome == publish_outcome::accepted || outcome == publish_outcome::not_stored) {
        return;
    }
    if (publish.token != 0) {
        // (A durable subscription's copy has no publisher of its own: the
        // token is part of the topic SEND's, which carries the error back.)
        // A persistent SEND: its refusal answers its token (an ERROR with the
        // receipt it was waiting for), not a publish_rejected.
        ctx_.durable->complete(publish.token,
                               outcome == publish_outcome::deleted
                                   ? "temporary destination " + counters_.name +
                                         " no longer exists: its connection has closed"
                                   : "queue " + counters_.name + " is full (queues.max_length " +
                                         std::to_string(ctx_.cfg.queues.max_length) +
                                         ", queues.max_bytes " +
                                         std::to_string(ctx_.cfg.queues.max_bytes) +
                                         ", queues.overflow reject-publish)");
        return;
    }
    if (!publish.publisher.valid()) {
        return;
    }
    if (outcome == publish_outcome::deleted) {
        if (ctx_.cfg.temp.send_to_missing == missing_temp_policy::error) {
            publish.publisher.cast(publish_rejected{
                counters_.name, "temporary destination " + counters_.name +
                                    " no longer exists: its connection has closed"});
        }
        return;
    }
    if (outcome == publish_outcome::rejected_full) {
        publish.publisher.cast(publish_rejected{
            counters_.name, "queue " + counters_.name + " is full (queues.max_length " +
                                std::to_string(ctx_.cfg.queues.max_length) + ", queues.max_bytes " +
                                std::to_string(ctx_.cfg.queues.max_bytes) +
                                ", queues.overflow reject-publish)"});
    }
}

runtime::call_result<publish_outcome> queue_actor::handle_call(
    queue_publish_sync& publish, const runtime::from<publish_outcome>&) {
    const publish_outcome outcome = accept(publish.msg, publish.reserved);
    publish.msg->handled();
    return runtime::reply(outcome);
}

publish_outcome queue_actor::accept(const message_ptr& msg, bool reserved, std::uint64_t token,
                                    bool persistent) {
    if (deleted_) {
        ctx_.temporary_dropped.fetch_add(1, std::memory_order_relaxed);
        return publish_outcome::deleted;
    }
    // Past the memory budget a persistent message stays in the journal only
    // (queue_pager.hpp): it takes no room in memory, so the limits on the
    // messages in memory do not apply to it.
    const bool page = persistent && ctx_.durable != nullptr &&
                      pager_.should_page(store_.bytes(), msg->footprint()) && open_journal();
    if (reserved && reserved_messages_ > 0) {
        // Room was set aside by queue_reserve: the message takes its place.
        --reserved_messages_;
        reserved_bytes_ -= std::min(reserved_bytes_, msg->footprint());
    } else if (!page && !make_room(msg->footprint())) {
        ++counters_.rejected;
        return publish_outcome::rejected_full;
    }
    std::uint64_t journal_id = 0;
    if (token != 0 && !persistent) {
        ctx_.durable->complete(token);  // nothing to store: done once accepted
        token = 0;
    }
    if (persistent && ctx_.durable != nullptr) {
        if (!open_journal()) {
            ctx_.durable->complete(token, "queue " + counters_.name +
                                              " cannot store persistent messages: its journal "
                                              "queue is quarantined (see the broker's log)");
            return publish_outcome::not_stored;
        }
        const std::string headers = durability::encode_headers(*msg);
        // A paged message's append must complete through the queue's handler
        // even without a waiting session (journal_progress wakes a read of
        // the tail that found nothing): a token no session holds.
        const std::uint64_t append_token = page && token == 0 ? paging_token : token;
        auto appended = ctx_.durable->journal().append(
            journal_queue_, durability::record_of(*msg, headers), append_token);
        if (!appended) {
            ctx_.durable->complete(token, "persistent message to " + counters_.name +
                                              " not stored: " + appended.error().message());
            return publish_outcome::not_stored;
        }
        journal_id = *appended;
    }
    ++counters_.messages_in;
    counters_.bytes_in += msg->body().size();
    if (page) {
        pager_.page_out(journal_id, msg->footprint());
        settle_turn();
        return publish_outcome::accepted;
    }
    const std::size_t ready_before = store_.ready();
    store_.add(msg, routing::now_epoch_ms(), journal_id);
    if (store_.ready() > ready_before) {
        wake_parked(msg.get());
    }
    settle_turn();
    return publish_outcome::accepted;
}

// Enforces max_length and max_bytes on the messages held (ready and delayed),
// by the configured overflow policy. False: the new message must be refused.
// Under "block" it is always taken: the gate holds publishers instead, and
// their windows bound how far past the limit the queue can go.
bool queue_actor::has_room(std::size_t messages, std::size_t bytes) const noexcept {
    const queue_config& limits = ctx_.cfg.queues;
    return store_.size() + reserved_messages_ + messages <= limits.max_length &&
           store_.bytes() + reserved_bytes_ + bytes <= limits.max_bytes;
}

// Drop-head drops the oldest ready message of the lowest priority; delayed
// messages are never dropped to make room, so a queue full of them refuses
// (and counts as dropped) what comes next.
bool queue_actor::make_room(std::size_t incoming) {
    const queue_config& limits = ctx_.cfg.queues;
    auto full = [&] { return !has_room(1, incoming); };
    if (!full() || limits.overflow == overflow_policy::block) {
        return true;
    }
    if (limits.overflow == overflow_policy::reject_publish) {
        return false;
    }
    if (incoming > limits.max_bytes) {
        return false;  // no amount of dropping makes room: refuse it, drop nothing
    }
    while (full()) {
        const auto dropped = store_.drop_oldest();
        if (!dropped) {
            break;
        }
        forget(*dropped);
        ++counters_.dropped;
    }
    return !full();
}

// ---- reservations (all-or-nothing COMMIT under reject-publish) ----

runtime::call_result<bool> queue_actor::handle_call(queue_reserve& reserve,
                                                    const runtime::from<bool>&) {
    if (!has_room(reserve.messages, reserve.bytes)) {
        ++counters_.rejected;
        return runtime::reply(false);
    }
    reserved_messages_ += reserve.messages;
    reserved_bytes_ += reserve.bytes;
    return runtime::reply(true);
}

void queue_actor::handle_cast(queue_unreserve& unreserve) {
    reserved_messages_ -= std::min(reserved_messages_, unreserve.messages);
    reserved_bytes_ -= std::min(reserved_bytes_, unreserve.bytes);
}

// ---- delivering ----

// The consumer the next message goes to: the first exclusive consumer while
// there is one (the others wait), else whoever the fairness rule names.
queue_consumer* queue_actor::next_consumer(runtime::time_point now) {
    if (!exclusives_.empty()) {
        queue_consumer* c = consumers_.find(exclusives_.front());
        return c != nullptr && consumers_.has_room(*c) ? c : nullptr;
    }
    return consumers_.pick(now);
}

void queue_actor::dispatch() {
    const auto now = runtime::clock::now();
    const epoch_ms wall = routing::now_epoch_ms();
    std::vector<stored_message> expired;
    do {
        while (store_.ready() > 0) {
            queue_consumer* to = next_consumer(now);
            if (to == nullptr) {
                // Held back for a consumer about to settle: if it never does, its
                // claim lapses after the active window; look again then.
                if (consumers_.held_for_fairness() && !fairness_retry_pending_) {
                    fairness_retry_pending_ = true;
                    send_after(consumers_.active_window(), fairness_retry{});
                }
                break;
            }
            std::optional<stored_message> item;
            if (to->selector) {
                bool exhaustive = false;
                const routing::selector& selector = *to->selector;
                item = store_.take_if(
                    [&](const message& m) { return selector.matches(m.selector_headers()); }, wall,
                    expired, exhaustive);
                if (!item) {
                    consumers_.park(*to, exhaustive);
                    to->parked_mark = taken_;
                    parked_.push_back(to->key);
                    continue;
                }
            } else {
                item = store_.take(wall, expired);
                if (!item) {
                    break;  // only expired messages were left
                }
            }
            ++taken_;
            deliver(*to, std::move(*item));
        }
    } while (store_.ready() > 0 && wake_truncated());
    expire(expired);
}

void queue_actor::deliver(queue_consumer& to, stored_message item) {
    ++item.deliveries;
    consumers_.given(to, item.msg->footprint());
    ++counters_.messages_out;
    counters_.bytes_out += item.msg->body().size();
    const bool redelivered = item.deliveries > 1;
    if (redelivered) {
        ++counters_.redelivered;
    }
    unacked_bytes_ += item.msg->footprint();
    to.session.cast(queue_delivery{to.key.slot, item.msg, item.sequence, redelivered});
    const std::uint64_t sequence = item.sequence;
    unacked_.emplace(sequence, delivered{std::move(item), to.key});
}

// Parked consumers look again when a message they may select is ready:
// `arrived` (one new message), or anything (null: several at once). A
// consumer that gave up after selector_scan messages looks again at any news.
void queue_actor::wake_parked(const message* arrived) {
    if (parked_.empty()) {
        return;
    }
    std::erase_if(parked_, [&](const consumer_key& key) {
        queue_consumer* c = consumers_.find(key);
        if (c == nullptr || !c->parked) {
            return true;
        }
        if (arrived != nullptr && c->parked_exhaustive && !selects(c->selector, *arrived)) {
            return false;
        }
        consumers_.unpark(*c);
        return true;
    });
}

// A consumer that gave up after selector_scan messages looks again once a
// quarter of that many have been taken since (the message it wants may have
// come within reach), or once the queue is short enough to be looked at
// whole. True if any did.
bool queue_actor::wake_truncated() {
    const std::size_t scan = ctx_.cfg.queues.selector_scan;
    const std::uint64_t step = std::max<std::size_t>(1, scan / 4);
    bool woke = false;
    std::erase_if(parked_, [&](const consumer_key& key) {
        queue_consumer* c = consumers_.find(key);
        if (c == nullptr || !c->parked) {
            return true;
        }
        if (c->parked_exhaustive || (taken_ - c->parked_mark < step && store_.ready() > scan)) {
            return false;
        }
        consumers_.unpark(*c);
        woke = true;
        return true;
    });
    return woke;
}

// ---- expiry and delays ----

void queue_actor::expire(std::vector<stored_message>& expired) {
    for (stored_message& item : expired) {
        ++counters_.expired;
        if (dead_letter_expired_) {
            dead_letter(std::move(item), "expired");
        } else {
            forget(item);
        }
    }
    expired.clear();
}

// One runtime timer at a time, for the store's earliest deadline.
void queue_actor::arm_timer() {
    const auto due = store_.next_deadline();
    if (!due || (timer_ && timer_due_ <= *due)) {
        return;
    }
    if (timer_) {
        cancel_timer(*timer_);
    }
    const epoch_ms wait = std::max<epoch_ms>(0, *due - routing::now_epoch_ms());
    timer_ = send_after(std::chrono::milliseconds(wait), store_timer{});
    timer_due_ = *due;
}

void queue_actor::handle_info(store_timer&) {
    timer_.reset();
    std::vector<stored_message> expired;
    if (store_.advance(routing::now_epoch_ms(), expired, timer_batch) > 0) {
        wake_parked(nullptr);
    }
    expire(expired);
    settle_turn();
}

// ---- consumers ----

runtime::call_result<runtime::ok> queue_actor::handle_call(add_consumer& add,
                                                           const runtime::from<runtime::ok>&) {
    if (add.browser) {
        browser b;
        b.key = add.key;
        b.session = add.session;
        b.selector = std::move(add.selector);
        b.cursor = store_.browse_start();
        b.prefetch = std::max<std::size_t>(1, add.prefetch);
        b.monitor = monitor(add.session);
        auto [it, fresh] = browsers_.insert_or_assign(add.key, std::move(b));
        pump_browser(it->second);
        return runtime::reply(runtime::ok{});
    }
    queue_consumer c;
    c.key = add.key;
    c.session = add.session;
    c.mode = add.mode;
    c.prefetch = add.prefetch;
    c.selector = std::move(add.selector);
    c.exclusive = add.exclusive;
    // If the session dies without saying goodbye, its deliveries still come back.
    c.monitor = monitor(add.session);
    consumers_.add(std::move(c));
    if (add.exclusive) {
        exclusives_.push_back(add.key);
    }
    counters_.subscribers = consumers_.size();
    settle_turn();
    return runtime::reply(runtime::ok{});
}

// Forgets a consumer; what it had not settled goes back to the queue (to the
// next exclusive consumer, if it was the active one).
void queue_actor::drop_consumer(const consumer_key& key) {
    if (const auto b = browsers_.find(key); b != browsers_.end()) {
        browsers_.erase(b);
        return;
    }
    std::vector<stored_message> back;
    for (auto u = unacked_.begin(); u != unacked_.end();) {
        if (u->second.consumer == key) {
            unacked_bytes_ -= u->second.item.msg->footprint();
            back.push_back(std::move(u->second.item));
            u = unacked_.erase(u);
        } else {
            ++u;
        }
    }
    consumers_.remove(key);
    std::erase(exclusives_, key);
    counters_.subscribers = consumers_.size();
    requeue(std::move(back));
}

void queue_actor::handle_cast(remove_consumer& remove) {
    if (const auto b = browsers_.find(remove.key); b != browsers_.end()) {
        demonitor(b->second.session, b->second.monitor);
        browsers_.erase(b);
        return;
    }
    queue_consumer* c = consumers_.find(remove.key);
    if (c == nullptr) {
        return;
    }
    demonitor(c->session, c->monitor);
    drop_consumer(remove.key);
    settle_turn();
}

void queue_actor::handle_info(runtime::down& gone) {
    std::vector<consumer_key> keys = consumers_.watched_by(gone.monitor);
    for (const auto& [key, b] : browsers_) {
        if (b.monitor == gone.monitor) {
            keys.push_back(key);
        }
    }
    for (const consumer_key& key : keys) {
        drop_consumer(key);
    }
    if (!keys.empty()) {
        settle_turn();
    }
}

// ---- browsing ----

// Sends a browser the next ready messages, as many as its window has room
// for; at the end, the end marker, and the browser is done.
void queue_actor::pump_browser(browser& b) {
    if (b.in_flight >= b.prefetch) {
        return;
    }
    const std::size_t want = b.prefetch - b.in_flight;
    std::size_t sent = 0;
    store_.browse(b.cursor, want, [&](const stored_message& item) {
        if (!selects(b.selector, *item.msg)) {
            return false;
        }
        b.session.cast(queue_delivery{b.key.slot, item.msg, item.sequence, false});
        ++sent;
        return true;
    });
    b.in_flight += sent;
    counters_.messages_out += sent;
    if (b.cursor.done) {
        b.session.cast(browse_end{b.key.slot});
        demonitor(b.session, b.monitor);
        const consumer_key key = b.key;
        browsers_.erase(key);
        return;
    }
    if (sent == 0 && b.in_flight == 0) {
        send_after(std::chrono::milliseconds(0), browse_more{b.key});
    }
}

void queue_actor::handle_info(browse_more& more) {
    if (const auto b = browsers_.find(more.key); b != browsers_.end()) {
        pump_browser(b->second);
    }
}

// ---- settling ----

void queue_actor::handle_cast(settle& done) {
    if (const auto b = browsers_.find(done.key); b != browsers_.end()) {
        // A browser's settles only open its window: it took nothing.
        b->second.in_flight -= std::min(b->second.in_flight, done.sequences.size());
        pump_browser(b->second);
        return;
    }
    queue_consumer* c = consumers_.find(done.key);
    std::vector<stored_message> back;
    std::vector<stored_message> expired;
    std::vector<storage::message_id> acknowledged;
    for (std::uint64_t sequence : done.sequences) {
        const auto it = unacked_.find(sequence);
        if (it == unacked_.end() || !(it->second.consumer == done.key)) {
            continue;  // settled already, or requeued when its consumer went away
        }
        const std::size_t bytes = it->second.item.msg->footprint();
        unacked_bytes_ -= bytes;
        if (done.expired) {
            expired.push_back(std::move(it->second.item));
        } else if (done.requeue) {
            back.push_back(std::move(it->second.item));
        } else if (it->second.item.journal_id != 0) {
            acknowledged.push_back(it->second.item.journal_id);
        }
        unacked_.erase(it);
        if (c != nullptr) {
            consumers_.settled(*c, bytes, runtime::clock::now());
        }
    }
    expire(expired);
    requeue(std::move(back));
    forget(acknowledged, done.token);
    settle_turn();
}

// Puts refused or orphaned deliveries back where they were, or dead-letters
// those that have been delivered max_deliveries times.
void queue_actor::requeue(std::vector<stored_message> items) {
    if (items.empty()) {
        return;
    }
    for (stored_message& item : items) {
        if (item.deliveries >= ctx_.cfg.queues.max_deliveries) {
            dead_letter(std::move(item), {});
            continue;
        }
        store_.put_back(std::move(item));
    }
    wake_parked(nullptr);
}

// To /queue/DLQ.<name>, marked with where it came from (and why, when it
// expired). Messages failing in a dead-letter queue itself are dropped.
void queue_actor::dead_letter(stored_message item, std::string_view reason) {
    ++counters_.dead_lettered;
    // Gone from here for good; the copy is journalled by the dead-letter
    // queue (if durable). A crash between the two may lose it: noted in NOTES.md.
    forget(item);
    const bool persistent = item.journal_id != 0;
    const std::string_view short_name =
        std::string_view(counters_.name)
            .substr(std::min(counters_.name.find('/', 1) + 1, counters_.name.size()));
    if (short_name.starts_with(dead_letter_prefix) || deleted_) {
        runtime::log::debug("dropping a message of ", counters_.name,
                            reason.empty() ? " that failed too many deliveries" : " that expired");
        return;
    }
    if (!dead_letters_) {
        const std::string name =
            std::string(queue_prefix) + std::string(dead_letter_prefix) + std::string(short_name);
        const std::string key = destination_key(counters_.vhost, name);
        auto reply =
            runtime::call(ctx_.registries[ctx_.shard_for(key)],
                          resolve_destination{counters_.vhost, name, destination_kind::queue});
        if (!reply || reply->refused != errc{}) {
            runtime::log::error(
                "cannot reach dead-letter queue ", name, ": ",
                reply ? make_error_code(reply->refused).message() : reply.error().message(),
                "; message dropped");
            return;
        }
        dead_letters_ = std::move(reply->handle);
    }
    std::shared_ptr<message> copy =
        reason.empty()
            ? item.msg->redirected(dead_letters_->name, {"original-destination", counters_.name})
            : item.msg->redirected(dead_letters_->name, {"original-destination", counters_.name},
                                   {}, {"dead-letter-reason", reason});
    dead_letters_->queue.cast(queue_publish{std::move(copy), {}, false, 0, persistent});
}

void queue_actor::handle_info(fairness_retry&) {
    fairness_retry_pending_ = false;
    settle_turn();
}

// ---- idling and deletion ----

void queue_actor::handle_info(runtime::receive_timeout&) {
    ++counters_.idle_checks;
    if (store_.empty() && unacked_.empty() && consumers_.empty() && browsers_.empty() &&
        pager_.idle()) {
        ctx_.registries[shard_].cast(destination_idle{key_, self().id()});
    }
}

void queue_actor::handle_cast(reclaim&) {
    if (!store_.empty() || !unacked_.empty() || !pager_.idle()) {
        runtime::log::warn("queue ", counters_.name, " reclaimed while holding messages");
    }
    waiters_.release_all();
    stop();
}

// A temporary queue's owner has gone: what it holds goes, and so does
// whatever is sent to it from now on (publishers that still hold it drop it
// at their next SEND), counted broker-wide. It leaves /stats at once.
void queue_actor::handle_cast(temporary_deleted&) {
    deleted_ = true;
    ctx_.temporary_dropped.fetch_add(store_.take_all().size() + unacked_.size(),
                                     std::memory_order_relaxed);
    unacked_.clear();
    unacked_bytes_ = 0;
    update_depth();
    ctx_.here().stats->remove(&counters_);
    waiters_.release_all();
}

bool queue_actor::full() const noexcept {
    return store_.size() >= ctx_.cfg.queues.max_length ||
           store_.bytes() >= ctx_.cfg.queues.max_bytes;
}

// Also keeps the gate: a "block" queue closes it when full and opens it again
// below 90% of its limits, so publishers do not flap at the edge.
void queue_actor::update_depth() noexcept {
    counters_.depth = store_.size() + unacked_.size() + pager_.count();
    counters_.depth_bytes = store_.bytes() + unacked_bytes_;
    counters_.paged = pager_.count();
    counters_.paged_bytes = pager_.bytes();
    counters_.unacked = unacked_.size();
    counters_.delayed = store_.scheduled();
    if (ctx_.cfg.queues.overflow != overflow_policy::block) {
        return;
    }
    if (!gate_->closed() && full()) {
        gate_->set_closed(true);
    } else if (gate_->closed() && store_.size() * 10 < ctx_.cfg.queues.max_length * 9 &&
               store_.bytes() * 10 < ctx_.cfg.queues.max_bytes * 9) {
        gate_->set_closed(false);
        waiters_.release_all();
        counters_.held_publishers = 0;
    }
}

void queue_actor::handle_cast(await_gate& waiting) {
    if (gate_->closed()) {
        waiters_.add(std::move(waiting.session));
    } else {
        waiting.session.cast(resume_reading{});
    }
    counters_.held_publishers = waiters_.size();
}

}  // namespace stampede::broker

// ---- persistence (durable.hpp) ----

namespace stampede::broker {

bool queue_actor::open_journal() {
    if (durable_) {
        return true;
    }
    if (ctx_.durable == nullptr || !ctx_.durable->durable(counters_.name)) {
        return false;
    }
    // Completions go to the waiting sessions (durability), and, while the
    // pager waits for a write, tell this queue that one happened.
    auto opened = ctx_.durable->journal().open_queue(
        durability::queue_name(key_),
        [inner = ctx_.durable->completions(), wake = journal_wake_, me = self(),
         durable = ctx_.durable.get()](storage::completion&& done) {
            if (wake->load(std::memory_order_relaxed) && !durable->closing() &&
                wake->exchange(false, std::memory_order_acq_rel)) {
                me.cast(journal_progress{});
            }
            inner(std::move(done));
        });
    if (!opened) {
        runtime::log::error("queue ", counters_.name,
                            " cannot be opened in the journal: ", opened.error().message(),
                            "; its persistent messages are refused");
        return false;
    }
    journal_queue_ = *opened;
    durable_ = true;
    return true;
}

void queue_actor::forget(std::span<const storage::message_id> ids, std::uint64_t token) {
    if (ctx_.durable == nullptr) {
        return;
    }
    if (ids.empty() || !durable_) {
        ctx_.durable->complete(token);
        return;
    }
    if (auto done = ctx_.durable->journal().ack(journal_queue_, ids, token); !done) {
        ctx_.durable->complete(
            token, "the journal could not record the acknowledgement: " + done.error().message());
    }
}

void queue_actor::forget(const stored_message& item) {
    if (item.journal_id != 0) {
        const storage::message_id id = item.journal_id;
        forget(std::span<const storage::message_id>(&id, 1));
    }
}

// Recovered messages come back as they were, marked delivered at least once:
// whether one reached a consumer before the restart cannot be told, and a
// duplicate must carry redelivered:true.
void queue_actor::handle_cast(queue_restore& restore) {
    if (!open_journal()) {
        return;
    }
    const epoch_ms now = routing::now_epoch_ms();
    for (restored_message& r : restore.messages) {
        ++counters_.messages_in;
        counters_.bytes_in += r.msg->body().size();
        store_.add(std::move(r.msg), now, r.id, std::max<std::uint32_t>(1, r.deliveries));
    }
    if (restore.tail_count > 0) {
        counters_.messages_in += restore.tail_count;
        pager_.restore(restore.tail_from, restore.tail_count, restore.tail_bytes,
                       restore.recovered_below);
    }
    wake_parked(nullptr);
    settle_turn();
}

// The messages in memory go at once; a paged tail is read back and forgotten
// a chunk at a time (queue_paging.cpp), and `token` completes with the last.
void queue_actor::handle_cast(queue_purge& purge) {
    std::vector<storage::message_id> ids;
    for (const stored_message& item : store_.take_all()) {
        if (item.journal_id != 0) {
            ids.push_back(item.journal_id);
        }
    }
    if (pager_.empty()) {
        forget(ids, purge.token);
    } else {
        forget(ids);
        purge_tokens_.push_back(purge.token);
    }
    settle_turn();
}

}  // namespace stampede::broker
