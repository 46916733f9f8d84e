#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "stampede/runtime/runtime.hpp"

namespace stampede::broker {

/// What a queue does when it is full (max_length or max_bytes reached).
enum class overflow_policy { drop_head, reject_publish, block };

/// What happens to a subscriber that cannot keep up (see outbound_config).
enum class slow_consumer_policy {
    drop,        ///< drop its oldest undelivered topic messages, counted; keep the connection
    disconnect,  ///< ERROR "slow consumer" with the figures, then close
    block,       ///< hold the topic's publishers until it drains
};

/// How topic messages are copied to subscribers.
enum class fanout_mode {
    copy,    ///< every subscriber's connection gets its own bytes (deep copy)
    shared,  ///< a reference-counted body, per-subscriber header bytes, one writev
};

/// Frame and connection limits (STOMP12.md item 8), each a config key.
struct limits_config {
    std::size_t max_command_line = 1024;
    std::size_t max_headers = 1000;
    std::size_t max_header_line = 10 * 1024;
    std::size_t max_frame = 4 * 1024 * 1024;
    /// Before CONNECT succeeds the limits are tighter (what an unauthenticated
    /// client can make the broker buffer).
    std::size_t max_frame_before_connect = 64 * 1024;
    std::size_t max_headers_before_connect = 100;
    std::size_t max_header_line_before_connect = 4 * 1024;
    std::uint32_t connect_timeout_ms = 10'000;
    std::size_t max_transactions = 16;
    std::size_t max_frames_per_transaction = 10'000;
    /// Bytes of SENDs held in a connection's open transactions, all summed.
    std::size_t max_transaction_bytes = 16 * 1024 * 1024;
    std::size_t max_subscriptions = 1000;
    /// Bytes of delivered topic messages a connection may leave unacknowledged
    /// (client-ack topic subscriptions; past it more wait in the backlog).
    std::size_t max_unacked_bytes = 16 * 1024 * 1024;
    std::size_t max_destinations = 100'000;                ///< broker-wide
    std::uint32_t max_new_destinations_per_second = 1000;  ///< per connection (and its burst)
    std::size_t max_connections = 100'000;
    std::size_t max_unauthenticated_per_ip = 1000;
    /// Bytes of a SUBSCRIBE's `selector` header.
    std::size_t max_selector_length = 4096;
};

/// The server's side of heart-beat negotiation: how often it can send, and
/// how often it wants to hear from clients, at best. Clients' wishes are
/// honoured down to these (STOMP12.md item 13).
struct heartbeat_config {
    std::uint32_t send_ms = 100;
    std::uint32_t receive_ms = 100;
};

struct queue_config {
    std::size_t prefetch = 100;  ///< per subscription, when the client gives none
    std::size_t max_prefetch = 10'000;
    std::uint32_t max_deliveries = 5;  ///< then the message goes to /queue/DLQ.<name>
    std::size_t max_length = 1'000'000;
    std::size_t max_bytes = 512 * 1024 * 1024;
    /// Queues larger than memory: a durable queue keeps at most this many
    /// bytes of messages in memory; past it, its persistent messages stay in
    /// the journal only and are read back ahead of the consumers. Paged
    /// messages count against neither max_length nor max_bytes (the disk
    /// bounds them). 0: never page.
    std::size_t memory_budget = 64 * 1024 * 1024;
    overflow_policy overflow = overflow_policy::drop_head;
    /// Order ready messages by their `priority` header (0-9, higher first).
    /// Off: one FIFO, as RabbitMQ without x-max-priority and ActiveMQ without
    /// prioritizedMessages.
    bool priorities = true;
    /// A priority level passed over this many times gets the next delivery
    /// (routing/priority_list.hpp); 0 is strict priority.
    std::uint32_t starvation_limit = 16;
    /// A consumer with a selector looks at most this many ready messages for
    /// one it selects (ActiveMQ's maxPageSize plays this part).
    std::size_t selector_scan = 1000;
    /// Time to live of every message without a shorter one of its own; 0: none.
    std::uint64_t default_ttl_ms = 0;
    /// Expired messages go to /queue/DLQ.<name> (else they are dropped;
    /// counted either way).
    bool dead_letter_expired = false;
    /// The longest AMQ_SCHEDULED_DELAY accepted (queues and topics).
    std::uint64_t max_delay_ms = 30ull * 24 * 3600 * 1000;
};

/// Overrides for the destinations whose names match `pattern` (`*` matches
/// any run of characters); the first matching rule's values win, keys it
/// leaves out keep the queues/topics defaults.
struct destination_policy {
    std::string pattern;
    std::optional<std::uint64_t> default_ttl_ms;
    std::optional<bool> dead_letter_expired;
};

/// The name a `reply-to: /temp-queue/NAME` is rewritten to.
enum class reply_prefix_style {
    rabbitmq,  ///< /reply-queue/<generated>
    activemq,  ///< /remote-temp-queue/<generated> (and /remote-temp-topic/)
};

/// What a SEND to a temporary destination that no longer exists does.
enum class missing_temp_policy {
    drop,   ///< counted and dropped, as RabbitMQ does (a responder keeps its connection)
    error,  ///< ERROR, as ActiveMQ's "Cannot publish to a deleted Destination"
};

/// Temporary destinations: /temp-queue/NAME and /temp-topic/NAME belong to
/// the connection that names them and die with it.
struct temp_config {
    reply_prefix_style reply_prefix = reply_prefix_style::rabbitmq;
    missing_temp_policy send_to_missing = missing_temp_policy::drop;
    std::size_t max_per_connection = 100;
};

/// A slow-consumer policy for the destinations whose names match `pattern`
/// (`*` matches any run of characters).
struct slow_consumer_rule {
    std::string pattern;
    slow_consumer_policy policy = slow_consumer_policy::drop;
};

/// Bounds on what is queued for each connection's writer. Past half of
/// max_bytes a connection holds back the publishers of its topics until it is
/// below a quarter. If, held back for grace_ms, it drains less than
/// min_drain_rate allows (it is not reading, or barely), it is a slow
/// consumer and its policy applies (a drop-policy slow consumer keeps at most
/// max_bytes queued); a subscriber that drains is only ever throttled.
struct outbound_config {
    std::size_t max_bytes = 1024 * 1024;
    slow_consumer_policy slow_consumer = slow_consumer_policy::drop;
    std::uint32_t grace_ms = 2000;
    std::size_t min_drain_rate = 128 * 1024;   ///< bytes per second
    std::vector<slow_consumer_rule> policies;  ///< first match wins, else slow_consumer
    /// A subscriber that drains (at least min_drain_rate) but falls behind
    /// holds its topics' publishers until it catches up. Off: only `block`
    /// ever holds publishers.
    bool throttle = true;
    /// SO_SNDBUF of every client socket: the kernel memory a stalled
    /// subscriber can hold on top of max_bytes.
    std::size_t socket_send_buffer = 256 * 1024;
};

/// How much one publisher may have on its way into destinations at once.
struct publisher_config {
    std::size_t window_messages = 1000;
    std::size_t window_bytes = 4 * 1024 * 1024;
};

/// The broker-wide memory alarm: above the high-water mark, publishers are
/// held until memory falls below it.
struct memory_config {
    double high_water = 0.4;  ///< share of the machine's memory (<= 1) or bytes (> 1)
    std::uint32_t check_interval_ms = 100;
};

struct topic_config {
    std::size_t prefetch = 1000;  ///< unacked messages per client-ack topic subscription
    /// `*`, `#` and `>` segments in a SUBSCRIBE destination are wildcards
    /// (off: they are literal names).
    bool wildcards = true;
    /// Time to live of every topic message without a shorter one; 0: none.
    std::uint64_t default_ttl_ms = 0;
    /// Bytes of delayed (AMQ_SCHEDULED_DELAY) messages one topic may hold;
    /// past it such a SEND is refused with an ERROR.
    std::size_t max_delayed_bytes = 64 * 1024 * 1024;
};


/// Whether a TLS listener asks clients for a certificate (listeners[].tls.verify_client).
enum class client_verification { none, optional, required };

/// A listener's `tls` block: the server certificate (PEM, then its chain), its
/// private key, and the CAs client certificates must chain to.
struct listener_tls_config {
    std::string certificate;
    std::string private_key;
    std::string ca;  ///< needed unless verify_client is none
    client_verification verify_client = client_verification::none;
};

/// The admin HTTP endpoint (/healthz, /stats, /metrics).
struct admin_config {
    bool enabled = true;
    std::string listen = "127.0.0.1:61680";  // Apollo's; 61614 is STOMP over TLS
    /// Set when the endpoint was configured explicitly (file or flag): failing
    /// to listen then stops start-up. The default merely warns, so that two
    /// brokers on one machine do not fight over the default port.
    bool required = false;
    /// /metrics has a series per destination for this many destinations (the
    /// busiest); the rest are summed into one, so its size stays bounded.
    std::size_t metrics_destinations = 100;
    /// Admin connections open at once; one more gets 503 and is closed.
    std::size_t max_connections = 64;
    /// Time to read one request from its first byte (slow-loris bound).
    std::uint32_t request_timeout_ms = 10'000;
    /// A file holding the bearer token /stats, /metrics and the dashboard
    /// need (`Authorization: Bearer TOKEN`; /healthz stays open). This or
    /// `users` is required when `listen` is not a loopback address.
    std::string token_file;
    std::string token;  ///< read from token_file when the configuration is read
    /// Admin logins and their argon2id strings, checked from HTTP Basic
    /// (`Authorization: Basic`) on the verifier pool. A separate list from
    /// the STOMP `users`. Basic sends the password in clear, so on a
    /// non-loopback address it needs `tls`.
    std::map<std::string, std::string> users;
    /// The endpoint over TLS (the listeners' `tls` block).
    std::optional<listener_tls_config> tls;
};

/// A listener's `websocket` block: STOMP over WebSocket (RFC 6455).
struct listener_websocket_config {
    std::string path = "/ws";
    /// Origins a browser page may come from (`scheme://host[:port]`); "*": any.
    std::vector<std::string> allowed_origins{"*"};
    /// Refuse requests without an Origin header (non-browser clients).
    bool require_origin = false;
    std::size_t max_request_bytes = 16 * 1024;
    std::size_t max_message_bytes = 4 * 1024 * 1024 + 64 * 1024;
};

/// One address the broker accepts STOMP connections on, optionally over TLS
/// and/or WebSocket (both: WebSocket over TLS).
struct listener_config {
    std::string name;
    std::string listen;  ///< HOST:PORT (from `bind` and `port`, or `listen`)
    std::optional<listener_tls_config> tls;
    std::optional<listener_websocket_config> websocket;

    bool plain() const noexcept { return !tls && !websocket; }
};

/// Logins (`users`) and how they are checked.
struct auth_config {
    /// With `users` set, a CONNECT without login and passcode is let in only
    /// when this is true (without `users`, every connection is anonymous).
    bool allow_anonymous = false;
    /// The login whose `permissions` an anonymous connection gets.
    std::string anonymous_login = "anonymous";
    std::uint32_t failure_delay_ms = 1000;  ///< before a failed login's ERROR
    std::uint32_t max_failures = 5;         ///< more in failure_window_ms from one IP: blocked
    std::uint32_t failure_window_ms = 10'000;
    std::uint32_t block_ms = 60'000;      ///< how long a blocked IP is refused at once
    std::uint32_t verifier_threads = 2;   ///< argon2id verifications at once
    std::size_t verifier_queue = 64;      ///< waiting verifications; past it: refused, busy
    std::size_t cache_entries = 10'000;   ///< recent successful logins remembered
    std::uint32_t cache_ttl_ms = 300'000;  ///< and for how long
};

/// One user's permissions on one virtual host: RabbitMQ's three patterns
/// (regular expressions searched anywhere in the destination name; "" matches
/// nothing).
struct permission_entry {
    std::string configure;
    std::string write;
    std::string read;
};

/// Persistent messages and durable subscriptions (issue 10).
struct journal_config {
    /// "always" (group commit: a RECEIPT after the fdatasync covering it),
    /// "interval_ms:N" (fdatasync at most every N ms; RECEIPTs wait for it),
    /// "never" (after the write: survives a crash of the broker, not of the
    /// machine: the last seconds are lost on power loss).
    std::string sync = "always";
    /// Destinations whose `persistent:true` messages are journalled (`*`
    /// matches any run of characters).
    std::vector<std::string> durable_destinations{"/queue/*"};
    std::uint64_t segment_bytes = 64ull * 1024 * 1024;
};

/// The journal's directory when neither `--data-dir` nor `data_dir` names
/// one: `data/` under the broker's working directory.
inline constexpr std::string_view default_data_dir = "data";

struct config {
    std::string listen = "127.0.0.1:61613";
    /// Every listener; empty: one plain listener on `listen`. The `--listen`
    /// flag replaces the first plain one (or adds one first).
    std::vector<listener_config> listeners;
    unsigned schedulers = 0;  ///< 0: one per core
    runtime::io_mode io = runtime::io_mode::automatic;
    std::size_t stack_size = 64 * 1024;
    std::string log_level = "info";
    std::vector<std::string> virtual_hosts{"/"};
    /// The virtual host of a CONNECT whose `host` names none configured: used
    /// when it is the only one, or when set explicitly.
    std::string default_virtual_host = "/";
    bool default_virtual_host_explicit = false;
    /// Refuse what the spec only forbids clients (EOLs as the body of a frame
    /// without one, NULs between frames) instead of skipping it.
    bool strict = false;
    std::map<std::string, std::string> users;    ///< login -> passcode; empty: no authentication
    auth_config auth;
    /// login -> virtual host -> patterns. Checked only when configured
    /// (`permissions_enabled`); then a login without an entry may do nothing.
    std::map<std::string, std::map<std::string, permission_entry>> permissions;
    bool permissions_enabled = false;
    std::uint32_t idle_destination_ms = 30'000;  ///< reclaim idle, empty destinations after this
    std::uint32_t shutdown_timeout_ms = 5'000;   ///< time connections get to close at shutdown
    limits_config limits;
    heartbeat_config heartbeat;
    queue_config queues;
    topic_config topics;
    temp_config temp;
    std::vector<destination_policy> destination_policies;
    admin_config admin;
    outbound_config outbound;
    publisher_config publishers;
    memory_config memory;
    fanout_mode fanout = fanout_mode::copy;
    /// Where the journal lives (`--data-dir`), relative to the working
    /// directory unless absolute. Empty (`--data-dir none`, `"data_dir": null`):
    /// no journal, every message is kept in memory only.
    std::string data_dir = std::string(default_data_dir);
    journal_config journal;
};

/// What `--data-dir` or `data_dir` holds: "none" (or JSON null, handled by
/// the caller) is memory only and becomes the empty string; anything else is
/// a directory (write `./none` for a directory of that name). Throws
/// config_error naming `key` for an empty value.
std::string parse_data_dir(std::string_view value, std::string_view key);

/// The listeners the broker serves: `listeners`, or one plain listener on `listen`.
std::vector<listener_config> effective_listeners(const config& c);

/// What `--listen HOST:PORT` does: sets `listen` and the first plain listener
/// (adding one named "stomp" first when every listener is TLS or WebSocket).
void set_plain_listen(config& c, const std::string& address);

/// The slow-consumer policy for a destination: the first matching rule's, or the default.
slow_consumer_policy policy_for(const outbound_config& outbound, std::string_view destination);

/// The default time to live of messages sent to `destination`, a topic when
/// `topic` (0: none): the first matching destination_policies rule's, else
/// topics.default_ttl_ms or queues.default_ttl_ms.
std::uint64_t default_ttl_for(const config& cfg, std::string_view destination, bool topic);

/// Whether expired messages of queue `destination` are dead-lettered.
bool dead_letter_expired_for(const config& cfg, std::string_view destination);

/// True if `text` matches `pattern`, where `*` matches any run of characters.
bool glob_match(std::string_view pattern, std::string_view text) noexcept;

/// The memory high-water mark in bytes (a share of the machine's memory, or bytes).
std::size_t memory_high_water_bytes(const memory_config& memory);

/// A configuration that cannot be used; what() names the key and the problem.
class config_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// What the command line decides before the file is read.
struct parse_options {
    /// `--admin off`: the file's "admin" section is ignored, not validated.
    bool admin_off = false;
};

/// Parses a JSON configuration document over the defaults. Throws config_error
/// for malformed JSON, an unknown key, or a value of the wrong type or range.
config parse_config(std::string_view json_text, const parse_options& options = {});

/// Reads and parses a configuration file (see parse_config).
config load_config(const std::string& path, const parse_options& options = {});

/// Checks cross-field rules (a power of two here, a non-empty list there).
void validate(const config& c);

}  // namespace stampede::broker
