#pragma once

#include <string>
#include <unordered_map>

#include "actors.hpp"
#include "context.hpp"

namespace stampede::broker {

/// One shard of the destination registry: the destinations whose keys hash to
/// this scheduler live here. Creates them on first use, counts who uses them,
/// and reclaims those that are idle, empty and unused. Because every user is
/// attached through this actor, a reclaimed destination can never receive a
/// message from a stale reference.
class registry_actor : public runtime::gen_server<registry_actor> {
  public:
    registry_actor(broker_context& ctx, unsigned shard) : ctx_(ctx), shard_(shard) {}

    runtime::call_result<resolve_reply> handle_call(resolve_destination& request,
                                                    const runtime::from<resolve_reply>&);
    void handle_cast(release_destination& release);
    void handle_cast(destination_idle& idle);
    void handle_cast(delete_temporary& doomed);

  private:
    struct entry {
        destination_handle handle;
        std::size_t users = 0;
        std::uint64_t owner = 0;  ///< a temporary destination's session
        bool deleted = false;     ///< its owner has gone: reclaimed once unused
    };

    destination_handle create(const resolve_destination& request, const std::string& key);
    void remove(std::unordered_map<std::string, entry>::iterator it);

    broker_context& ctx_;
    unsigned shard_;
    std::unordered_map<std::string, entry> entries_;
};

}  // namespace stampede::broker
