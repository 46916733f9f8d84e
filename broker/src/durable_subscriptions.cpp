// Durable topic subscriptions (issue 10), in ActiveMQ's form (client-id on
// CONNECT, activemq.subscriptionName on SUBSCRIBE) and RabbitMQ's
// (durable:true and auto-delete:false on SUBSCRIBE, the id as the name). The
// subscription is a queue fed by its topic (durable.hpp); the subscriber
// consumes that queue, so what was published while it was away waits there,
// and, with a journal, survives a restart.

#include "destination_names.hpp"
#include "queue.hpp"
#include "registry.hpp"
#include "session.hpp"
#include "topic.hpp"

namespace stampede::broker {

namespace {

bool header_is(const protocol::frame_view& frame, std::string_view name, std::string_view value) {
    const auto v = frame.get(name);
    return v && *v == value;
}

}  // namespace

std::optional<std::string> session::durable_name(const protocol::frame_view& frame,
                                                 std::string_view id, bool& failed) {
    if (const auto name = frame.get("activemq.subscriptionName")) {
        if (client_id_.empty()) {
            fail("activemq.subscriptionName needs a client-id header on CONNECT", {}, &frame);
            failed = true;
            return std::nullopt;
        }
        return client_id_ + "/" + std::string(*name);
    }
    // RabbitMQ's: durable:true (persistent:true for older clients) and not auto-delete.
    const bool durable =
        header_is(frame, "durable", "true") || header_is(frame, "persistent", "true");
    if (durable && !header_is(frame, "auto-delete", "true")) {
        return std::string(id);
    }
    return std::nullopt;
}

result<destination_handle> session::subscribe_durable(std::string_view topic,
                                                      const std::string& name,
                                                      std::string_view selector_text,
                                                      const selector_ptr& selector) {
    const std::string queue = durable_queue_name(name);
    {
        // The topic is attached only while it is told: from then on the
        // subscription keeps it (and its queue) alive.
        auto t = resolve(topic, true, true);
        if (!t) {
            return t.error();
        }
        auto added = runtime::call(t->topic, add_durable_subscriber{name, vhost_, queue, selector});
        release(*t);
        if (!added) {
            return from_call_error(added.error());
        }
        if (!*added) {
            return errc::subscribe_failed;
        }
    }
    if (ctx_.durable != nullptr) {
        // The SUBSCRIBE's RECEIPT waits until the subscription is on disk.
        durability* d = ctx_.durable.get();
        auto journal_queue = d->journal().open_queue(
            durability::queue_name(destination_key(vhost_, queue)), d->completions());
        if (!journal_queue) {
            return errc::subscribe_failed;
        }
        const std::uint64_t token = expect_durable();
        auto put = d->journal().put_subscription(
            {name, destination_key(vhost_, topic), std::string(selector_text), *journal_queue},
            [d, token](boost::system::error_code e) {
                d->complete(token, e ? "durable subscription not stored: " + e.message() : "");
            });
        if (!put) {
            d->complete(token, "durable subscription not stored: " + put.error().message());
        }
    }
    const std::string key = destination_key(vhost_, queue);
    auto reply = runtime::call(ctx_.registries[ctx_.shard_for(key)],
                               resolve_destination{vhost_, queue, destination_kind::queue});
    if (!reply) {
        return from_call_error(reply.error());
    }
    if (reply->refused != errc{}) {
        return reply->refused;
    }
    return std::move(reply->handle);
}

void session::unsubscribe_durable(const std::string& name, std::string_view topic) {
    if (topic.empty() && ctx_.durable != nullptr) {
        for (const auto& record : ctx_.durable->journal().subscriptions()) {
            if (record.name == name) {
                const auto newline = record.destination.find('\n');
                topic = std::string_view(record.destination).substr(newline + 1);
                if (auto t = resolve(topic, false)) {
                    t->topic.cast(remove_durable_subscriber{name});
                    release(*t);
                }
                topic = {};
                break;
            }
        }
    } else if (!topic.empty()) {
        if (auto t = resolve(topic, false)) {
            if (t->kind == destination_kind::topic) {
                t->topic.cast(remove_durable_subscriber{name});
            }
            release(*t);
        }
    }
    const std::string queue = durable_queue_name(name);
    const std::string key = destination_key(vhost_, queue);
    const unsigned shard = ctx_.shard_for(key);
    auto reply = runtime::call(ctx_.registries[shard],
                               resolve_destination{vhost_, queue, destination_kind::queue, false});
    const std::uint64_t purge_token = ctx_.durable != nullptr ? expect_durable() : 0;
    if (reply && reply->refused == errc{}) {
        reply->handle.queue.cast(queue_purge{purge_token});
        ctx_.registries[shard].cast(release_destination{key});
    } else if (ctx_.durable != nullptr) {
        ctx_.durable->complete(purge_token);  // no queue in memory: nothing to purge
    }
    if (ctx_.durable != nullptr) {
        const std::uint64_t token = expect_durable();
        durability* d = ctx_.durable.get();
        auto removed =
            d->journal().remove_subscription(name, [d, token](boost::system::error_code e) {
                d->complete(token, e ? "durable subscription not removed: " + e.message() : "");
            });
        if (!removed) {
            d->complete(token, "durable subscription not removed: " + removed.error().message());
        }
    }
}

}  // namespace stampede::broker
