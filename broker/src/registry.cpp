#include "registry.hpp"

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

runtime::call_result<resolve_reply> registry_actor::handle_call(
    resolve_destination& request, const runtime::from<resolve_reply>&) {
    const std::string key = destination_key(request.vhost, request.name);
    auto it = entries_.find(key);
    bool created = false;
    if (it == entries_.end()) {
        if (!request.may_create) {
            return runtime::reply(resolve_reply{{}, errc::destination_rate, false});
        }
        // Counted before it exists, so that registries on other schedulers
        // creating at the same moment cannot overshoot the limit together.
        if (ctx_.destinations.fetch_add(1, std::memory_order_relaxed) >=
            ctx_.cfg.limits.max_destinations) {
            ctx_.destinations.fetch_sub(1, std::memory_order_relaxed);
            return runtime::reply(resolve_reply{{}, errc::too_many_destinations, false});
        }
        it = entries_.emplace(key, entry{create(request, key), 0}).first;
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
    if (it != entries_.end() && it->second.users > 0) {
        --it->second.users;
    }
}

void registry_actor::handle_cast(destination_idle& idle) {
    const auto it = entries_.find(idle.key);
    if (it == entries_.end() || it->second.users > 0) {
        return;
    }
    const destination_handle& handle = it->second.handle;
    const runtime::actor_id current =
        handle.kind == destination_kind::topic ? handle.topic.id() : handle.queue.id();
    if (current != idle.actor) {
        return;  // an older instance's report
    }
    if (handle.kind == destination_kind::topic) {
        handle.topic.cast(reclaim{});
    } else {
        handle.queue.cast(reclaim{});
    }
    runtime::log::debug("reclaimed idle ", to_string(handle.kind), " ",
                        escape_for_log(handle.name));
    entries_.erase(it);
    ctx_.destinations.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace stampede::broker
