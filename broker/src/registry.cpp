#include "registry.hpp"

#include "destination_names.hpp"
#include "flow.hpp"
#include "log_text.hpp"
#include "queue.hpp"
#include "stampede/runtime/log.hpp"
#include "topic.hpp"

namespace stampede::broker {

std::string destination_key(std::string_view vhost, std::string_view name) {
    std::string key;
    key.reserve(vhost.size() + 1 + name.size());
    key.append(vhost).push_back('\n');  // a newline cannot appear in a virtual host name
    key.append(name);
    return key;
}

// Temporary destinations (owner != 0) are made only by their owner and
// consumed only by it; once deleted they resolve for nobody.
runtime::call_result<resolve_reply> registry_actor::handle_call(
    resolve_destination& request, const runtime::from<resolve_reply>&) {
    const std::string key = destination_key(request.vhost, request.name);
    auto it = entries_.find(key);
    bool created = false;
    if (it != entries_.end() && it->second.deleted) {
        return runtime::reply(resolve_reply{{}, errc::no_such_destination, false});
    }
    if (it != entries_.end() && it->second.owner != 0 && request.to_consume &&
        it->second.owner != request.owner) {
        return runtime::reply(resolve_reply{{}, errc::not_owner, false});
    }
    if (it == entries_.end()) {
        if (!request.may_create) {
            return runtime::reply(resolve_reply{{},
                                                is_temporary_name(request.name)
                                                    ? errc::no_such_destination
                                                    : errc::destination_rate,
                                                false});
        }
        // Counted before it exists, so that registries on other schedulers
        // creating at the same moment cannot overshoot the limit together.
        if (ctx_.destinations.fetch_add(1, std::memory_order_relaxed) >=
            ctx_.cfg.limits.max_destinations) {
            ctx_.destinations.fetch_sub(1, std::memory_order_relaxed);
            return runtime::reply(resolve_reply{{}, errc::too_many_destinations, false});
        }
        it = entries_.emplace(key, entry{create(request, key), 0, request.owner, false}).first;
        created = true;
    }
    ++it->second.users;
    return runtime::reply(resolve_reply{it->second.handle, errc{}, created});
}

destination_handle registry_actor::create(const resolve_destination& request,
                                          const std::string& key) {
    destination_handle handle;
    handle.kind = request.kind;
    handle.name = request.name;
    handle.key = key;
    handle.gate = std::make_shared<destination_gate>();
    handle.default_ttl_ms =
        default_ttl_for(ctx_.cfg, request.name, request.kind == destination_kind::topic);
    runtime::scheduler& home = *runtime::this_scheduler();
    if (request.kind == destination_kind::topic) {
        handle.topic = runtime::spawn<topic_actor>(home, request.name, ctx_, request.vhost,
                                                   request.name, key, shard_, handle.gate);
    } else {
        handle.queue = runtime::spawn<queue_actor>(home, request.name, ctx_, request.vhost,
                                                   request.name, key, shard_, handle.gate);
    }
    runtime::log::debug("created ", to_string(request.kind), " ", escape_for_log(request.name),
                        " in vhost ", request.vhost);
    return handle;
}

void registry_actor::handle_cast(release_destination& release) {
    const auto it = entries_.find(release.key);
    if (it == entries_.end()) {
        return;
    }
    if (it->second.users > 0) {
        --it->second.users;
    }
    if (it->second.deleted && it->second.users == 0) {
        remove(it);
    }
}

void registry_actor::handle_cast(destination_idle& idle) {
    const auto it = entries_.find(idle.key);
    if (it == entries_.end()) {
        return;
    }
    const destination_handle& handle = it->second.handle;
    const runtime::actor_id current =
        handle.kind == destination_kind::topic ? handle.topic.id() : handle.queue.id();
    if (current != idle.actor) {
        return;  // an older instance's report
    }
    if (it->second.users > 0) {
        if (handle.kind == destination_kind::topic) {
            handle.topic.cast(reclaim_refused{});
        } else {
            handle.queue.cast(reclaim_refused{});
        }
        return;
    }
    remove(it);
}

// A temporary destination's owner has gone. Publishers may still hold it in
// their caches: it drops what they send until the last lets go.
void registry_actor::handle_cast(delete_temporary& doomed) {
    const auto it = entries_.find(doomed.key);
    if (it == entries_.end() || it->second.owner != doomed.owner || it->second.deleted) {
        return;
    }
    it->second.deleted = true;
    const destination_handle& handle = it->second.handle;
    handle.gate->set_deleted();
    if (handle.kind == destination_kind::topic) {
        handle.topic.cast(temporary_deleted{});
    } else {
        handle.queue.cast(temporary_deleted{});
    }
    if (it->second.users == 0) {
        remove(it);
    }
}

void registry_actor::remove(std::unordered_map<std::string, entry>::iterator it) {
    const destination_handle& handle = it->second.handle;
    if (handle.kind == destination_kind::topic) {
        handle.topic.cast(reclaim{});
    } else {
        handle.queue.cast(reclaim{});
    }
    runtime::log::debug("reclaimed ", to_string(handle.kind), " ", escape_for_log(handle.name));
    entries_.erase(it);
    ctx_.destinations.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace stampede::broker
