#include "destination_names.hpp"

namespace stampede::broker {

std::string unsupported_destination_text(std::string_view name) {
    return "destination '" + std::string(name) +
           "' is not supported: use /topic/NAME (publish/subscribe), /queue/NAME "
           "(point to point), or /temp-queue/NAME or /temp-topic/NAME (temporary, this "
           "connection's)";
}

std::string dead_letter_queue_for(std::string_view destination) {
    const std::size_t prefix = destination.starts_with(topic_prefix)   ? topic_prefix.size()
                               : destination.starts_with(queue_prefix) ? queue_prefix.size()
                                                                       : 0;
    return std::string(queue_prefix) + std::string(dead_letter_prefix) +
           std::string(destination.substr(prefix));
}

}  // namespace stampede::broker
