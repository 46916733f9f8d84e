// SEND and transactions (STOMP12.md items 14, 19), and where messages go:
// resolving destinations through the registry and publishing to them.

#include <unordered_map>
#include <unordered_set>

#include "destination_names.hpp"
#include "message_timing.hpp"
#include "queue.hpp"
#include "registry.hpp"
#include "session.hpp"
#include "stampede/routing/expiry.hpp"
#include "stampede/runtime/log.hpp"
#include "topic.hpp"

namespace stampede::broker {

namespace {

using protocol::command;
using protocol::frame_view;

// What fail_with() puts after "cannot " when a COMMIT is refused at its
// SEND number `index` (from 0) to `destination`.
std::string commit_context(const frame_view& commit, std::size_t index,
                           std::string_view destination) {
    return "commit transaction '" + std::string(commit.get("transaction").value_or("")) +
           "' (nothing applied): frame " + std::to_string(index + 1) + " (SEND to " +
           std::string(destination) + ")";
}

}  // namespace

std::string session::next_message_id() {
    std::string id = message_id_prefix_;
    id += std::to_string(next_message_++);
    return id;
}

// ---- destinations ----

// Finds (or creates) destination `name` through the registry, which attaches
// this session to it; the caller releases it when done.
result<destination_handle> session::resolve(std::string_view name, bool may_create,
                                            bool to_consume) {
    const auto kind = classify_destination(name);
    if (!kind) {
        return errc::unsupported_destination;
    }
    const auto now = token_bucket::clock::now();
    const bool within_rate = new_destinations_.available(now);
    const std::string key = destination_key(vhost_, name);
    // A temporary destination is made by its owner only (session_destinations.cpp).
    const bool temporary = is_temporary_name(name);
    const bool owned = temporary && to_consume;
    // Permissions: creating a destination needs configure; without it an
    // existing one is still found.
    const bool may_configure =
        temporary || !check_permissions_ ||
        (permissions_ && permissions_->allows(auth::permission::configure, name));
    auto reply =
        runtime::call(ctx_.registries[ctx_.shard_for(key)],
                      resolve_destination{vhost_, std::string(name), *kind,
                                          may_create && may_configure && within_rate &&
                                              (!temporary || owned),
                                          owned ? id_ : 0, to_consume});
    if (!reply) {
        return from_call_error(reply.error());
    }
    if (reply->refused == errc::destination_rate && !may_configure && within_rate) {
        ctx_.auth->count_denial(auth::permission::configure);
        return errc::configure_denied;
    }
    if (reply->refused != errc{}) {
        return reply->refused;
    }
    if (reply->created) {
        (void)new_destinations_.take(now);
    }
    return std::move(reply->handle);
}

void session::release(const destination_handle& handle) {
    if (handle.key.empty()) {
        return;  // a wildcard subscription's handle: attached to nothing
    }
    ctx_.registries[ctx_.shard_for(handle.key)].cast(release_destination{handle.key});
}

// The handle of a destination to publish to, from the bounded cache of
// publish targets (the least recently used is released when it is full).
result<const destination_handle*> session::publish_target(std::string_view name) {
    if (const destination_handle* cached = publish_targets_.find(name)) {
        if (!cached->gate->deleted()) {
            return cached;
        }
        // A temporary destination gone with its owner: let go, look it up again.
        if (auto gone = publish_targets_.erase(name)) {
            release(*gone);
        }
    }
    auto handle = resolve(name, true);
    if (!handle) {
        return handle.error();
    }
    if (auto evicted = publish_targets_.insert(std::move(*handle))) {
        release(*evicted);
    }
    return publish_targets_.find(name);
}

// Sends `msg` to its destination, charged to this publisher's window. With
// `receipt_frame` (a SEND or COMMIT asking for a receipt) the destination
// confirms it first, and an ERROR refusing it carries that frame's receipt-id.
// `reserved`: a COMMIT reserved room for it in its queue.
bool session::publish(std::string_view destination, std::shared_ptr<message> msg,
                      const frame_view* receipt_frame, bool reserved) {
    auto target = publish_target(destination);
    if (!target && target.error() == errc::no_such_destination) {
        return missing_temporary(destination, receipt_frame);
    }
    if (!target) {
        fail_with(target.error(), "publish to " + std::string(destination), receipt_frame);
        return false;
    }
    const destination_handle& handle = **target;
    msg->stamp(routing::now_epoch_ms(), handle.default_ttl_ms);
    gate_->charge(*msg);
    gate_->published_to(handle);
    ++counters_.messages_in;
    if (handle.kind == destination_kind::topic) {
        // A persistent message may be copied into durable subscriptions: its
        // RECEIPT (and every later one) waits until they have stored it.
        std::uint64_t token = 0;
        if (ctx_.durable != nullptr && is_persistent(*msg)) {
            wait_for_durable(max_pending_durable);
            token = expect_durable();
        }
        if (receipt_frame == nullptr) {
            handle.topic.cast(topic_publish{std::move(msg), actor_, token});
            return true;
        }
        const auto done = runtime::call(handle.topic, topic_publish_sync{std::move(msg), token});
        if (!done && token != 0) {
            ctx_.durable->complete(token);  // the ERROR below answers this SEND
        }
        if (!done) {
            fail_with(from_call_error(done.error()), "publish to " + std::string(destination),
                      receipt_frame);
            return false;
        }
        if (*done == publish_outcome::rejected_full) {
            fail("topic " + std::string(destination) +
                     " holds too many delayed messages (topics.max_delayed_bytes " +
                     std::to_string(ctx_.cfg.topics.max_delayed_bytes) + ")",
                 {}, receipt_frame);
            return false;
        }
        return *done != publish_outcome::deleted ||
               missing_temporary(destination, receipt_frame, true);
    }
    if (journalled(handle, *msg)) {
        publish_durable(handle, std::move(msg), reserved);  // its RECEIPT follows the sync
        return true;
    }
    if (receipt_frame == nullptr) {
        handle.queue.cast(queue_publish{std::move(msg), actor_, reserved});
        return true;
    }
    const auto outcome = runtime::call(handle.queue, queue_publish_sync{std::move(msg), reserved});
    if (!outcome) {
        fail_with(from_call_error(outcome.error()), "publish to " + std::string(destination),
                  receipt_frame);
        return false;
    }
    if (*outcome == publish_outcome::deleted) {
        return missing_temporary(destination, receipt_frame, true);
    }
    if (*outcome == publish_outcome::rejected_full) {
        fail("queue " + std::string(destination) + " is full",
             "queues.max_length " + std::to_string(ctx_.cfg.queues.max_length) +
                 ", queues.max_bytes " + std::to_string(ctx_.cfg.queues.max_bytes) +
                 ", queues.overflow reject-publish",
             receipt_frame);
        return false;
    }
    return true;
}

// ---- SEND ----

void session::on_send(const frame_view& frame) {
    const auto destination = frame.get("destination");
    if (!destination) {
        fail("SEND requires a 'destination' header", {}, &frame);
        return;
    }
    if (!permitted(auth::bit(auth::permission::write), *destination, frame)) {
        return;
    }
    // This connection's /temp-queue/NAME is its temporary queue's name.
    std::string target(*destination);
    if (const auto alias = temp_alias_kind(*destination)) {
        auto temp = temporary(*destination, *alias);
        if (!temp) {
            fail_with(temp.error(), "publish to " + target, &frame);
            return;
        }
        target = (*temp)->name;
    } else if (!classify_destination(*destination)) {
        fail(unsupported_destination_text(*destination), {}, &frame);
        return;
    }
    auto timing = read_timing(frame, ctx_.cfg.queues.max_delay_ms);
    if (!timing) {
        fail(timing.error_info().message, {}, &frame);
        return;
    }
    const auto reply_to = reply_to_for(frame);
    if (!reply_to) {
        return;
    }
    std::shared_ptr<message> msg = message::from_send(frame, target, next_message_id(), *reply_to);
    msg->set_timing(*timing);
    if (const auto tx = frame.get("transaction")) {
        const std::size_t bytes = msg->footprint();
        auto added = transactions_.add(
            *tx, {command::send, std::move(target), std::move(msg), 0, {}}, bytes);
        if (!added) {
            fail_transaction(added.error(), *tx, "SEND", &frame);
            return;
        }
        send_receipt_if_asked(frame);
        return;
    }
    if (publish(target, std::move(msg), frame.get("receipt") ? &frame : nullptr, false)) {
        send_receipt_if_asked(frame);
    }
}

// ---- transactions ----

void session::on_begin(const frame_view& frame) {
    const auto tx = frame.get("transaction");
    if (!tx) {
        fail("BEGIN requires a 'transaction' header", {}, &frame);
        return;
    }
    if (auto begun = transactions_.begin(*tx); !begun) {
        fail_transaction(begun.error(), *tx, "BEGIN", &frame);
        return;
    }
    send_receipt_if_asked(frame);
}

void session::on_abort(const frame_view& frame) {
    const auto tx = frame.get("transaction");
    if (!tx) {
        fail("ABORT requires a 'transaction' header", {}, &frame);
        return;
    }
    if (auto aborted = transactions_.abort(*tx); !aborted) {
        fail_transaction(aborted.error(), *tx, "ABORT", &frame);
        return;
    }
    send_receipt_if_asked(frame);
}

// COMMIT is all or nothing: every ACK/NACK must name a pending delivery not
// settled earlier in the same transaction, every SEND's destination must
// resolve, and every reject-publish queue must have room for its share
// (reserved before anything is published). Only then does anything take
// effect, in order. Otherwise the ERROR names the frame, and nothing did.
void session::on_commit(const frame_view& frame) {
    const auto tx = frame.get("transaction");
    if (!tx) {
        fail("COMMIT requires a 'transaction' header", {}, &frame);
        return;
    }
    auto taken = transactions_.take(*tx);
    if (!taken) {
        fail_transaction(taken.error(), *tx, "COMMIT", &frame);
        return;
    }
    std::vector<transaction_frame>& frames = *taken;
    const std::string refused =
        "COMMIT of transaction '" + std::string(*tx) + "' refused, nothing applied: frame ";
    if (!check_commit_acks(frames, refused, frame)) {
        return;
    }
    std::vector<destination_handle> targets;
    if (!resolve_commit_targets(frames, targets, frame)) {
        return;
    }
    std::vector<reservation> reservations;
    if (!reserve_commit_room(frames, targets, reservations, refused, frame)) {
        return;
    }
    const frame_view* confirm = frame.get("receipt") ? &frame : nullptr;
    for (std::size_t i = 0; i < frames.size(); ++i) {
        transaction_frame& f = frames[i];
        if (f.cmd == command::send) {
            const bool reserved = targets[i].kind == destination_kind::queue &&
                                  ctx_.cfg.queues.overflow == overflow_policy::reject_publish;
            if (!publish(f.destination, std::move(f.msg), confirm, reserved)) {
                return;
            }
        } else if (auto done = subscriptions_.settle(f.delivery)) {
            apply_settlement(*done, f.cmd == command::ack);
        }
    }
    send_receipt_if_asked(frame);
}

bool session::check_commit_acks(const std::vector<transaction_frame>& frames,
                                const std::string& refused, const frame_view& commit) {
    std::unordered_set<std::uint64_t> settled;
    for (std::size_t i = 0; i < frames.size(); ++i) {
        const transaction_frame& f = frames[i];
        if (f.cmd == command::send) {
            continue;
        }
        const auto would = subscriptions_.would_settle(f.delivery);
        if (would.empty() || settled.contains(f.delivery)) {
            fail(refused + std::to_string(i + 1) + " (" + std::string(protocol::to_string(f.cmd)) +
                     " of '" + f.ack_id + "') names a message that is not awaiting acknowledgement",
                 {}, &commit);
            return false;
        }
        settled.insert(would.begin(), would.end());
    }
    return true;
}

// The destination of every SEND, by frame index (ACK/NACK entries stay empty).
bool session::resolve_commit_targets(const std::vector<transaction_frame>& frames,
                                     std::vector<destination_handle>& targets,
                                     const frame_view& commit) {
    targets.resize(frames.size());
    for (std::size_t i = 0; i < frames.size(); ++i) {
        if (frames[i].cmd != command::send) {
            continue;
        }
        auto target = publish_target(frames[i].destination);
        if (!target && target.error() == errc::no_such_destination &&
            ctx_.cfg.temp.send_to_missing == missing_temp_policy::drop) {
            continue;  // dropped (and counted) when the COMMIT gets to it
        }
        if (!target) {
            fail_with(target.error(), commit_context(commit, i, frames[i].destination), &commit);
            return false;
        }
        targets[i] = **target;  // a copy: the cache may let the original go
    }
    return true;
}

// Under reject-publish, asks each queue to set room aside for its SENDs.
bool session::reserve_commit_room(const std::vector<transaction_frame>& frames,
                                  const std::vector<destination_handle>& targets,
                                  std::vector<reservation>& reservations,
                                  const std::string& refused, const frame_view& commit) {
    if (ctx_.cfg.queues.overflow != overflow_policy::reject_publish) {
        return true;
    }
    std::unordered_map<runtime::actor_id, std::size_t> index;
    for (std::size_t i = 0; i < frames.size(); ++i) {
        if (frames[i].cmd != command::send || targets[i].kind != destination_kind::queue) {
            continue;
        }
        const auto [it, fresh] = index.try_emplace(targets[i].queue.id(), reservations.size());
        if (fresh) {
            reservations.push_back({targets[i].queue, i, 0, 0});
        }
        reservations[it->second].messages += 1;
        reservations[it->second].bytes += frames[i].msg->footprint();
    }
    for (std::size_t r = 0; r < reservations.size(); ++r) {
        const reservation& want = reservations[r];
        auto granted = runtime::call(want.queue, queue_reserve{want.messages, want.bytes});
        if (!granted || !*granted) {
            for (std::size_t u = 0; u < r; ++u) {
                reservations[u].queue.cast(
                    queue_unreserve{reservations[u].messages, reservations[u].bytes});
            }
            const transaction_frame& first = frames[want.first_frame];
            if (!granted) {
                fail_with(from_call_error(granted.error()),
                          commit_context(commit, want.first_frame, first.destination), &commit);
            } else {
                fail(refused + std::to_string(want.first_frame + 1) + " (SEND to " +
                         first.destination + "): the queue is full",
                     "queues.max_length " + std::to_string(ctx_.cfg.queues.max_length) +
                         ", queues.max_bytes " + std::to_string(ctx_.cfg.queues.max_bytes) +
                         ", queues.overflow reject-publish",
                     &commit);
            }
            return false;
        }
    }
    return true;
}

}  // namespace stampede::broker

namespace stampede::broker {

void session::on_publish_rejected(const publish_rejected& rejected) {
    fail(rejected.reason, "a SEND to " + rejected.destination + " was refused");
}

}  // namespace stampede::broker

// ---- persistent messages (durable.hpp) ----

namespace stampede::broker {

bool session::journalled(const destination_handle& handle, const message& msg) const {
    return ctx_.durable != nullptr && handle.kind == destination_kind::queue &&
           is_persistent(msg) && ctx_.durable->durable(handle.name);
}

void session::publish_durable(const destination_handle& handle, std::shared_ptr<message> msg,
                              bool reserved) {
    wait_for_durable(max_pending_durable);
    const std::uint64_t token = expect_durable();
    handle.queue.cast(queue_publish{std::move(msg), actor_, reserved, token, true});
}

std::uint64_t session::expect_durable() {
    const std::uint64_t token = ctx_.durable->expect(actor_);
    receipts_.expect(token);
    return token;
}

void session::wait_for_durable(std::size_t at_most) {
    while (!conn_.closing() && (at_most == 0 ? !receipts_.idle() : receipts_.pending() > at_most)) {
        if (!durable_progress_.wait()) {
            return;  // the runtime is stopping
        }
    }
}

void session::on_durable_done(durable_done& done) {
    receipt_order::outcome out = receipts_.done(done.token, !done.error.empty());
    if (out.failed_for) {
        const protocol::header receipt[] = {{"receipt-id", *out.failed_for}};
        fail(done.error,
             "a durable operation (persistent SEND, ACK or durable subscription) was not stored",
             nullptr,
             out.failed_for->empty() ? std::span<const protocol::header>{}
                                     : std::span<const protocol::header>(receipt));
    }
    if (!conn_.closing()) {
        for (const std::string& id : out.due) {
            send_receipt(id);
        }
    }
    durable_progress_.notify_all();
}

}  // namespace stampede::broker
