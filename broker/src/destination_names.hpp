#pragma once

// What destination names mean:
//
//   /topic/NAME           publish/subscribe (NAME may hold wildcards in a SUBSCRIBE)
//   /queue/NAME           point to point
//   /temp-queue/NAME      this connection's temporary queue NAME (ActiveMQ, and
//   /temp-topic/NAME      RabbitMQ's reply-to form): an alias the session maps
//                         to a generated name below, made on first use
//   /reply-queue/ID       a temporary queue by its generated name (RabbitMQ's
//   /remote-temp-queue/ID and ActiveMQ's forms): any connection may send to it,
//   /remote-temp-topic/ID only its owner consumes it; it dies with its owner

#include <optional>
#include <string>
#include <string_view>

#include "actors.hpp"

namespace stampede::broker {

inline constexpr std::string_view topic_prefix = "/topic/";
inline constexpr std::string_view queue_prefix = "/queue/";
inline constexpr std::string_view dead_letter_prefix = "DLQ.";
inline constexpr std::string_view temp_queue_prefix = "/temp-queue/";
inline constexpr std::string_view temp_topic_prefix = "/temp-topic/";
inline constexpr std::string_view reply_queue_prefix = "/reply-queue/";
inline constexpr std::string_view remote_temp_queue_prefix = "/remote-temp-queue/";
inline constexpr std::string_view remote_temp_topic_prefix = "/remote-temp-topic/";

namespace detail {
inline bool has_prefix(std::string_view name, std::string_view prefix) noexcept {
    return name.size() > prefix.size() && name.starts_with(prefix);
}
}  // namespace detail

/// The kind of destination `name` names, or nullopt if it is not one we
/// serve. The connection's aliases (/temp-queue/, /temp-topic/) are not
/// destinations of their own: see temp_alias_kind().
inline std::optional<destination_kind> classify_destination(std::string_view name) noexcept {
    using detail::has_prefix;
    if (has_prefix(name, topic_prefix) || has_prefix(name, remote_temp_topic_prefix)) {
        return destination_kind::topic;
    }
    if (has_prefix(name, queue_prefix) || has_prefix(name, reply_queue_prefix) ||
        has_prefix(name, remote_temp_queue_prefix)) {
        return destination_kind::queue;
    }
    return std::nullopt;
}

/// For /temp-queue/NAME and /temp-topic/NAME, the kind of temporary
/// destination the alias stands for; else nullopt.
inline std::optional<destination_kind> temp_alias_kind(std::string_view name) noexcept {
    if (detail::has_prefix(name, temp_queue_prefix)) {
        return destination_kind::queue;
    }
    if (detail::has_prefix(name, temp_topic_prefix)) {
        return destination_kind::topic;
    }
    return std::nullopt;
}

/// Whether `name` is a temporary destination's generated name.
inline bool is_temporary_name(std::string_view name) noexcept {
    using detail::has_prefix;
    return has_prefix(name, reply_queue_prefix) || has_prefix(name, remote_temp_queue_prefix) ||
           has_prefix(name, remote_temp_topic_prefix);
}

/// The ERROR message for a destination we do not serve.
std::string unsupported_destination_text(std::string_view name);

/// "/queue/DLQ.<name>" for a queue or topic destination.
std::string dead_letter_queue_for(std::string_view destination);

}  // namespace stampede::broker
