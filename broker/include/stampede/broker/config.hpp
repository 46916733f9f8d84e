#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "stampede/runtime/runtime.hpp"

namespace stampede::broker {

/// What a queue does when it is full (max_length or max_bytes reached).
enum class overflow_policy { drop_head, reject_publish };

/// Frame and connection limits (STOMP12.md item 8), each a config key.
struct limits_config {
    std::size_t max_command_line = 1024;
    std::size_t max_headers = 1000;
    std::size_t max_header_line = 10 * 1024;
    std::size_t max_frame = 4 * 1024 * 1024;
    std::size_t max_frame_before_connect = 64 * 1024;
    std::uint32_t connect_timeout_ms = 10'000;
    std::size_t max_transactions = 16;
    std::size_t max_frames_per_transaction = 10'000;
    std::size_t max_subscriptions = 1000;
};

/// The server's side of heart-beat negotiation: how often it can send, and
/// how often it wants to hear from clients, at best. Clients' wishes are
/// honoured down to these (STOMP12.md item 13).
struct heartbeat_config {
    std::uint32_t send_ms = 100;
    std::uint32_t receive_ms = 100;
};

struct queue_config {
    std::size_t prefetch = 100;       ///< per subscription, when the client gives none
    std::size_t max_prefetch = 10'000;
    std::uint32_t max_deliveries = 5;  ///< then the message goes to /queue/DLQ.<name>
    std::size_t max_length = 1'000'000;
    std::size_t max_bytes = 512 * 1024 * 1024;
    overflow_policy overflow = overflow_policy::drop_head;
};

struct topic_config {
    std::size_t prefetch = 1000;  ///< unacked messages per client-ack topic subscription
};

/// The admin HTTP endpoint (/healthz, /stats, /metrics).
struct admin_config {
    bool enabled = true;
    std::string listen = "127.0.0.1:61614";
    /// Set when the endpoint was configured explicitly (file or flag): failing
    /// to listen then stops start-up. The default merely warns, so that two
    /// brokers on one machine do not fight over the default port.
    bool required = false;
};

struct config {
    std::string listen = "127.0.0.1:61613";
    unsigned schedulers = 0;  ///< 0: one per core
    runtime::io_mode io = runtime::io_mode::automatic;
    std::size_t stack_size = 64 * 1024;
    std::string log_level = "info";
    std::vector<std::string> virtual_hosts{"/"};
    std::map<std::string, std::string> users;  ///< login -> passcode; empty: no authentication
    std::uint32_t idle_destination_ms = 30'000;  ///< reclaim idle, empty destinations after this
    std::uint32_t shutdown_timeout_ms = 5'000;   ///< time connections get to close at shutdown
    limits_config limits;
    heartbeat_config heartbeat;
    queue_config queues;
    topic_config topics;
    admin_config admin;
};

/// A configuration that cannot be used; what() names the key and the problem.
class config_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// Parses a JSON configuration document over the defaults. Throws config_error
/// for malformed JSON, an unknown key, or a value of the wrong type or range.
config parse_config(std::string_view json_text);

/// Reads and parses a configuration file (see parse_config).
config load_config(const std::string& path);

/// Checks cross-field rules (a power of two here, a non-empty list there).
void validate(const config& c);

}  // namespace stampede::broker
