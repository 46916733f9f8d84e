#pragma once

// What destination names mean: /topic/NAME and /queue/NAME.

#include <optional>
#include <string>
#include <string_view>

#include "actors.hpp"

namespace stampede::broker {

inline constexpr std::string_view topic_prefix = "/topic/";
inline constexpr std::string_view queue_prefix = "/queue/";
inline constexpr std::string_view dead_letter_prefix = "DLQ.";

/// The kind of destination `name` names, or nullopt if it is not one we serve.
inline std::optional<destination_kind> classify_destination(std::string_view name) noexcept {
    if (name.size() > topic_prefix.size() && name.starts_with(topic_prefix)) {
        return destination_kind::topic;
    }
    if (name.size() > queue_prefix.size() && name.starts_with(queue_prefix)) {
        return destination_kind::queue;
    }
    return std::nullopt;
}

/// The ERROR message for a destination we do not serve.
std::string unsupported_destination_text(std::string_view name);

/// "/queue/DLQ.<name>" for a queue or topic destination.
std::string dead_letter_queue_for(std::string_view destination);

}  // namespace stampede::broker
