// What a session adds to plain topics and queues (issue 13): temporary
// destinations and reply-to, SUBSCRIBE's selector, browser, exclusive and
// wildcard forms, and the end marker of a browse.

#include "destination_names.hpp"
#include "queue.hpp"
#include "registry.hpp"
#include "session.hpp"
#include "stampede/routing/subscription_index.hpp"
#include "stampede/runtime/log.hpp"
#include "topic.hpp"

namespace stampede::broker {

namespace {

using protocol::command;
using protocol::frame_view;
using protocol::header;

// "true" in any case, as ActiveMQ's header parsing reads booleans.
bool is_true(std::optional<std::string_view> value) {
    if (!value || value->size() != 4) {
        return false;
    }
    static constexpr std::string_view t = "true";
    for (std::size_t i = 0; i < 4; ++i) {
        if (((*value)[i] | 0x20) != t[i]) {
            return false;
        }
    }
    return true;
}

std::string_view generated_prefix(const config& cfg, destination_kind kind) {
    if (kind == destination_kind::topic) {
        return remote_temp_topic_prefix;
    }
    return cfg.temp.reply_prefix == reply_prefix_style::rabbitmq ? reply_queue_prefix
                                                                 : remote_temp_queue_prefix;
}

}  // namespace

// ---- temporary destinations ----

result<const session::temp_destination*> session::temporary(std::string_view alias,
                                                            destination_kind kind) {
    if (const auto it = temporaries_.find(std::string(alias)); it != temporaries_.end()) {
        return &it->second;
    }
    if (temporaries_.size() >= ctx_.cfg.temp.max_per_connection) {
        return errc::too_many_temporary;
    }
    // Unique for the broker's life: this run, this connection, a counter.
    std::string name = std::string(generated_prefix(ctx_.cfg, kind)) + "tmp-" + ctx_.boot_id + "-" +
                       id_text_ + "-" + std::to_string(next_temporary_++);
    auto handle = resolve(name, true, true);
    if (!handle) {
        return handle.error();
    }
    const auto placed =
        temporaries_.emplace(std::string(alias), temp_destination{std::move(name), *handle});
    return &placed.first->second;
}

std::optional<std::string> session::reply_to_for(const frame_view& frame) {
    const auto reply_to = frame.get("reply-to");
    const auto kind = reply_to ? temp_alias_kind(*reply_to) : std::nullopt;
    if (!kind) {
        return std::string();
    }
    auto temp = temporary(*reply_to, *kind);
    if (!temp) {
        fail_with(temp.error(), "use reply-to " + std::string(*reply_to), &frame);
        return std::nullopt;
    }
    const temp_destination& t = **temp;
    const auto subs = subscriptions_.all();
    const bool consumed = std::any_of(subs.begin(), subs.end(), [&](const subscription* s) {
        return s->destination.key == t.handle.key;
    });
    if (consumed) {
        return t.name;
    }
    // RabbitMQ's form: replies reach the connection without a SUBSCRIBE, on a
    // subscription named after the alias.
    auto handle = resolve(t.name, false, true);
    if (!handle) {
        fail_with(handle.error(), "use reply-to " + std::string(*reply_to), &frame);
        return std::nullopt;
    }
    const destination_handle attached = *handle;
    subscription_spec spec{
        std::string(*reply_to),
        std::move(*handle),
        ack_mode::automatic,
        slow_consumer_policy::drop,
        *kind == destination_kind::queue ? ctx_.cfg.queues.prefetch : ctx_.cfg.topics.prefetch,
        {}};
    auto added = subscriptions_.add(std::move(spec));
    if (!added) {
        release(attached);
        fail_with(added.error(), "subscribe to reply-to " + std::string(*reply_to), &frame);
        return std::nullopt;
    }
    counters_.subscriptions = subscriptions_.size();
    if (auto registered = register_subscriber(**added); !registered) {
        subscriptions_.remove(**added);
        counters_.subscriptions = subscriptions_.size();
        release(attached);
        fail_with(registered.error(), "subscribe to reply-to " + std::string(*reply_to), &frame);
        return std::nullopt;
    }
    return t.name;
}

void session::delete_temporaries() {
    for (auto& [alias, temp] : temporaries_) {
        ctx_.registries[ctx_.shard_for(temp.handle.key)].cast(
            delete_temporary{temp.handle.key, id_});
        release(temp.handle);
    }
    temporaries_.clear();
}

bool session::missing_temporary(std::string_view destination, const frame_view* cause,
                                bool counted) {
    if (ctx_.cfg.temp.send_to_missing == missing_temp_policy::error) {
        fail("temporary destination " + std::string(destination) + " no longer exists",
             "its connection has closed (temp.send_to_missing is error)", cause);
        return false;
    }
    if (!counted) {
        ctx_.temporary_dropped.fetch_add(1, std::memory_order_relaxed);
    }
    return true;
}

// ---- SUBSCRIBE features ----

bool session::read_features(const frame_view& frame, destination_kind kind,
                            std::string_view destination, subscription_features& out) {
    if (const auto text = frame.get("selector")) {
        routing::compile_options options;
        options.max_length = ctx_.cfg.limits.max_selector_length;
        auto compiled = routing::selector::compile(*text, options);
        if (!compiled) {
            const routing::error& e = compiled.error_info();
            fail("invalid selector: " + e.message, "selector '" + std::string(*text) + "'", &frame);
            return false;
        }
        out.selector = std::make_shared<const routing::selector>(std::move(*compiled));
    }
    out.browser = is_true(frame.get("browser"));
    if (out.browser && kind != destination_kind::queue) {
        fail("browser:true needs a queue, not " + std::string(destination), {}, &frame);
        return false;
    }
    out.exclusive =
        kind == destination_kind::queue && (is_true(frame.get("activemq.exclusive")) ||
                                            is_true(frame.get("x-single-active-consumer")));
    out.wildcard = kind == destination_kind::topic && ctx_.cfg.topics.wildcards &&
                   destination.starts_with(topic_prefix) &&
                   routing::is_wildcard_pattern(destination.substr(topic_prefix.size()));
    return true;
}

// ---- wildcards ----

result<void> session::register_wildcard(subscription& sub) {
    const std::string_view pattern =
        std::string_view(sub.destination.name).substr(topic_prefix.size());
    auto ref = runtime::call(ctx_.relays[runtime::this_scheduler()->index()],
                             relay_subscribe_pattern{ctx_.vhost_index(vhost_), std::string(pattern),
                                                     shared_from_this(), sub.slot});
    if (!ref) {
        return from_call_error(ref.error());
    }
    sub.features.pattern = *ref;
    return {};
}

void session::unregister_wildcard(const subscription& sub) {
    ctx_.relays[runtime::this_scheduler()->index()].cast(
        relay_unsubscribe_pattern{ctx_.vhost_index(vhost_), sub.features.pattern});
}

// ---- browsing ----

// ActiveMQ's marker: a MESSAGE with browser:end and no body.
void session::on_browse_end(std::uint64_t slot) {
    subscription* sub = conn_.closing() ? nullptr : subscriptions_.find_slot(slot);
    if (sub == nullptr) {
        return;
    }
    const std::string id = "browse-end-" + id_text_ + "-" + std::to_string(slot);
    const header headers[] = {{"destination", sub->destination.name},
                              {"message-id", id},
                              {"subscription", sub->id},
                              {"browser", "end"}};
    enqueue_frame({command::message, headers, {}}, {0, 0, entry_kind::queue_message, 0, 0, {}});
}

}  // namespace stampede::broker
