#include "registry.hpp"

#include "flow.hpp"
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

runtime::call_result<destination_handle> registry_actor::handle_call(
    resolve_destination& request, const runtime::from<destination_handle>&) {
    const std::string key = destination_key(request.vhost, request.name);
    auto it = entries_.find(key);
    if (it == entries_.end()) {
        it = entries_.emplace(key, entry{create(request, key), 0}).first;
    }
    ++it->second.users;
    return runtime::reply(it->second.handle);
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
    runtime::log::debug("created ", to_string(request.kind), " ", request.name, " in vhost ",
                        request.vhost);
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
    runtime::log::debug("reclaimed idle ", to_string(handle.kind), " ", handle.name);
    entries_.erase(it);
}

}  // namespace stampede::broker
