#include "stampede/broker/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "stampede/auth/password.hpp"
#include "stampede/auth/permissions.hpp"
#include "stampede/runtime/io.hpp"
#include "stampede/runtime/log.hpp"
#include "stampede/storage/journal.hpp"

namespace stampede::broker {
namespace {

using json = nlohmann::json;

// Reads the members of one JSON object, each with its own reader; anything
// else in the object is an error that names it.
class object_reader {
  public:
    object_reader(const json& object, std::string path) : object_(object), path_(std::move(path)) {
        if (!object_.is_object()) {
            throw config_error("'" + path_ + "' must be an object");
        }
    }

    template <class Fn>
    object_reader& on(const std::string& key, Fn&& read) {
        if (const auto it = object_.find(key); it != object_.end()) {
            read(*it, qualified(key));
        }
        known_.push_back(key);
        return *this;
    }

    void reject_unknown() const {
        for (const auto& [key, value] : object_.items()) {
            if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
                throw config_error("unknown configuration key '" + qualified(key) + "'");
            }
        }
    }

  private:
    std::string qualified(const std::string& key) const {
        return path_.empty() ? key : path_ + "." + key;
    }

    const json& object_;
    std::string path_;
    std::vector<std::string> known_;
};

template <class T>
auto unsigned_into(T& target, std::uint64_t min = 0,
                   std::uint64_t max = std::numeric_limits<T>::max()) {
    return [&target, min, max](const json& value, const std::string& key) {
        if (!value.is_number_unsigned()) {
            // Negative, fractional, too large for 64 bits (parsed as a
            // float) or not a number: the range says what is wanted.
            throw config_error("'" + key + "' must be a whole number between " +
                               std::to_string(min) + " and " + std::to_string(max) + ", not " +
                               value.dump());
        }
        const auto n = value.get<std::uint64_t>();
        if (n < min || n > max) {
            throw config_error("'" + key + "' must be between " + std::to_string(min) + " and " +
                               std::to_string(max) + ", not " + std::to_string(n));
        }
        target = static_cast<T>(n);
    };
}

auto bool_into(bool& target) {
    return [&target](const json& value, const std::string& key) {
        if (!value.is_boolean()) {
            throw config_error("'" + key + "' must be true or false");
        }
        target = value.get<bool>();
    };
}

auto string_into(std::string& target) {
    return [&target](const json& value, const std::string& key) {
        if (!value.is_string()) {
            throw config_error("'" + key + "' must be a string");
        }
        target = value.get<std::string>();
    };
}

// A list of non-empty strings; `what` names its entries in the error
// ("a list of <what>"), and `non_empty` refuses an empty list.
auto strings_into(std::vector<std::string>& target, std::string what, bool non_empty = false) {
    return [&target, what = std::move(what), non_empty](const json& value, const std::string& key) {
        const auto wrong = [&] {
            return config_error("'" + key + "' must be a " + (non_empty ? "non-empty " : "") +
                                "list of " + what);
        };
        if (!value.is_array() || (non_empty && value.empty())) {
            throw wrong();
        }
        std::vector<std::string> read;
        for (const auto& entry : value) {
            if (!entry.is_string() || entry.get<std::string>().empty()) {
                throw wrong();
            }
            read.push_back(entry.get<std::string>());
        }
        target = std::move(read);
    };
}

template <class Enum>
auto choice_into(Enum& target, std::vector<std::pair<std::string, Enum>> choices) {
    return [&target, choices = std::move(choices)](const json& value, const std::string& key) {
        std::string names;
        for (const auto& [name, e] : choices) {
            if (value.is_string() && value.get<std::string>() == name) {
                target = e;
                return;
            }
            names += (names.empty() ? "" : ", ") + name;
        }
        throw config_error("'" + key + "' must be one of " + names);
    };
}

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * KiB;
constexpr std::uint64_t GiB = 1024 * MiB;
constexpr std::uint64_t TiB = 1024 * GiB;
constexpr std::uint64_t hour_ms = 3'600'000;
constexpr std::uint64_t day_ms = 24 * hour_ms;

void read_limits(const json& j, const std::string& path, limits_config& l) {
    object_reader(j, path)
        .on("max_command_line", unsigned_into(l.max_command_line, 16, MiB))
        .on("max_headers", unsigned_into(l.max_headers, 1, 100'000))
        .on("max_header_line", unsigned_into(l.max_header_line, 16, 16 * MiB))
        .on("max_frame", unsigned_into(l.max_frame, 64, GiB))
        .on("max_frame_before_connect", unsigned_into(l.max_frame_before_connect, 64, 16 * MiB))
        .on("max_headers_before_connect", unsigned_into(l.max_headers_before_connect, 1, 100'000))
        .on("max_header_line_before_connect",
            unsigned_into(l.max_header_line_before_connect, 16, 16 * MiB))
        .on("connect_timeout_ms", unsigned_into(l.connect_timeout_ms, 1, hour_ms))
        .on("max_transactions", unsigned_into(l.max_transactions, 1, 10'000))
        .on("max_frames_per_transaction",
            unsigned_into(l.max_frames_per_transaction, 1, 10'000'000))
        .on("max_transaction_bytes", unsigned_into(l.max_transaction_bytes, KiB, TiB))
        .on("max_subscriptions", unsigned_into(l.max_subscriptions, 1, 1'000'000))
        .on("max_unacked_bytes", unsigned_into(l.max_unacked_bytes, KiB, TiB))
        .on("max_destinations", unsigned_into(l.max_destinations, 1, 100'000'000))
        .on("max_new_destinations_per_second",
            unsigned_into(l.max_new_destinations_per_second, 1, 10'000'000))
        .on("max_connections", unsigned_into(l.max_connections, 1, 10'000'000))
        .on("max_unauthenticated_per_ip",
            unsigned_into(l.max_unauthenticated_per_ip, 1, 10'000'000))
        .on("max_selector_length", unsigned_into(l.max_selector_length, 1, 64 * KiB))
        .reject_unknown();
}

void read_heartbeat(const json& j, const std::string& path, heartbeat_config& h) {
    object_reader(j, path)
        .on("send_ms", unsigned_into(h.send_ms, 0, day_ms))
        .on("receive_ms", unsigned_into(h.receive_ms, 0, day_ms))
        .reject_unknown();
}

void read_queues(const json& j, const std::string& path, queue_config& q) {
    object_reader(j, path)
        .on("prefetch", unsigned_into(q.prefetch, 1, 1'000'000))
        .on("max_prefetch", unsigned_into(q.max_prefetch, 1, 1'000'000))
        .on("max_deliveries", unsigned_into(q.max_deliveries, 1, 1'000'000))
        .on("max_length", unsigned_into(q.max_length, 1, 1'000'000'000'000))
        .on("max_bytes", unsigned_into(q.max_bytes, 1, 1024 * TiB))
        .on("memory_budget", unsigned_into(q.memory_budget, 0, 1024 * TiB))
        .on("overflow",
            choice_into(q.overflow, {{"drop-head", overflow_policy::drop_head},
                                     {"reject-publish", overflow_policy::reject_publish},
                                     {"block", overflow_policy::block}}))
        .on("priorities", bool_into(q.priorities))
        .on("starvation_limit", unsigned_into(q.starvation_limit, 0, 1'000'000))
        .on("selector_scan", unsigned_into(q.selector_scan, 1, 1'000'000))
        .on("default_ttl_ms", unsigned_into(q.default_ttl_ms, 0, 10 * 365 * day_ms))
        .on("dead_letter_expired", bool_into(q.dead_letter_expired))
        .on("max_delay_ms", unsigned_into(q.max_delay_ms, 1, 10 * 365 * day_ms))
        .reject_unknown();
}

void read_topics(const json& j, const std::string& path, topic_config& t) {
    object_reader(j, path)
        .on("prefetch", unsigned_into(t.prefetch, 1, 1'000'000))
        .on("wildcards", bool_into(t.wildcards))
        .on("default_ttl_ms", unsigned_into(t.default_ttl_ms, 0, 10 * 365 * day_ms))
        .on("max_delayed_bytes", unsigned_into(t.max_delayed_bytes, 0, TiB))
        .reject_unknown();
}

void read_temp(const json& j, const std::string& path, temp_config& t) {
    object_reader(j, path)
        .on("reply_prefix",
            choice_into(t.reply_prefix, {{"/reply-queue/", reply_prefix_style::rabbitmq},
                                         {"/remote-temp-queue/", reply_prefix_style::activemq}}))
        .on("send_to_missing",
            choice_into(t.send_to_missing, {{"drop", missing_temp_policy::drop},
                                            {"error", missing_temp_policy::error}}))
        .on("max_per_connection", unsigned_into(t.max_per_connection, 0, 100'000))
        .reject_unknown();
}

void read_destination_policies(const json& v, const std::string& key,
                               std::vector<destination_policy>& out) {
    if (!v.is_array()) {
        throw config_error(
            "'" + key + "' must be a list of {destination, default_ttl_ms, dead_letter_expired}");
    }
    for (std::size_t i = 0; i < v.size(); ++i) {
        destination_policy rule;
        const std::string at = key + "[" + std::to_string(i) + "]";
        std::uint64_t ttl = 0;
        bool dead_letter = false;
        object_reader(v[i], at)
            .on("destination", string_into(rule.pattern))
            .on("default_ttl_ms",
                [&](const json& value, const std::string& k) {
                    unsigned_into(ttl, 0, 10 * 365 * day_ms)(value, k);
                    rule.default_ttl_ms = ttl;
                })
            .on("dead_letter_expired",
                [&](const json& value, const std::string& k) {
                    bool_into(dead_letter)(value, k);
                    rule.dead_letter_expired = dead_letter;
                })
            .reject_unknown();
        if (rule.pattern.empty()) {
            throw config_error("'" + at + ".destination' must name a destination pattern");
        }
        out.push_back(std::move(rule));
    }
}

const std::vector<std::pair<std::string, slow_consumer_policy>> slow_consumer_choices = {
    {"drop", slow_consumer_policy::drop},
    {"disconnect", slow_consumer_policy::disconnect},
    {"block", slow_consumer_policy::block}};

void read_outbound(const json& j, const std::string& path, outbound_config& o) {
    object_reader(j, path)
        .on("max_bytes", unsigned_into(o.max_bytes, 4096, TiB))
        .on("slow_consumer", choice_into(o.slow_consumer, slow_consumer_choices))
        .on("grace_ms", unsigned_into(o.grace_ms, 1, hour_ms))
        .on("min_drain_rate", unsigned_into(o.min_drain_rate, 0, TiB))
        .on("throttle", bool_into(o.throttle))
        .on("socket_send_buffer", unsigned_into(o.socket_send_buffer, 4096, 64 * MiB))
        .on("policies",
            [&](const json& v, const std::string& key) {
                if (!v.is_array()) {
                    throw config_error("'" + key +
                                       "' must be a list of {destination, slow_consumer}");
                }
                for (std::size_t i = 0; i < v.size(); ++i) {
                    slow_consumer_rule rule;
                    const std::string at = key + "[" + std::to_string(i) + "]";
                    object_reader(v[i], at)
                        .on("destination", string_into(rule.pattern))
                        .on("slow_consumer", choice_into(rule.policy, slow_consumer_choices))
                        .reject_unknown();
                    if (rule.pattern.empty()) {
                        throw config_error("'" + at +
                                           ".destination' must name a destination pattern");
                    }
                    o.policies.push_back(std::move(rule));
                }
            })
        .reject_unknown();
}

void read_publishers(const json& j, const std::string& path, publisher_config& p) {
    object_reader(j, path)
        .on("window_messages", unsigned_into(p.window_messages, 1, 1'000'000'000))
        .on("window_bytes", unsigned_into(p.window_bytes, 4096, TiB))
        .reject_unknown();
}

void read_memory(const json& j, const std::string& path, memory_config& m) {
    object_reader(j, path)
        .on("high_water",
            [&](const json& v, const std::string& key) {
                if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 1e15) {
                    throw config_error("'" + key +
                                       "' must be a positive number: a share of memory (up to 1) "
                                       "or bytes (up to 1e15)");
                }
                m.high_water = v.get<double>();
            })
        .on("check_interval_ms", unsigned_into(m.check_interval_ms, 1, hour_ms))
        .reject_unknown();
}

// HOST:PORT from a `bind` and a `port` (an IPv6 host in brackets).
std::string join_address(const std::string& bind, std::uint16_t port) {
    const bool v6 = bind.find(':') != std::string::npos && bind.front() != '[';
    return (v6 ? "[" + bind + "]" : bind) + ":" + std::to_string(port);
}

void read_listener_tls(const json& j, const std::string& path, listener_tls_config& t) {
    object_reader(j, path)
        .on("certificate", string_into(t.certificate))
        .on("private_key", string_into(t.private_key))
        .on("ca", string_into(t.ca))
        .on("verify_client",
            choice_into(t.verify_client, {{"none", client_verification::none},
                                          {"optional", client_verification::optional},
                                          {"required", client_verification::required}}))
        .reject_unknown();
    if (t.certificate.empty() || t.private_key.empty()) {
        throw config_error("'" + path + "' needs 'certificate' and 'private_key' (PEM files)");
    }
    if (t.verify_client != client_verification::none && t.ca.empty()) {
        throw config_error("'" + path +
                           ".ca' must name the CAs client certificates are checked against when "
                           "verify_client is not none");
    }
}

void read_listener_websocket(const json& j, const std::string& path, listener_websocket_config& w) {
    object_reader(j, path)
        .on("path", string_into(w.path))
        .on("allowed_origins",
            strings_into(w.allowed_origins, "origins (scheme://host[:port]) or [\"*\"]", true))
        .on("require_origin", bool_into(w.require_origin))
        .on("max_request_bytes", unsigned_into(w.max_request_bytes, 1024, MiB))
        .on("max_message_bytes", unsigned_into(w.max_message_bytes, 1024, GiB))
        .reject_unknown();
    if (w.path.empty() || w.path.front() != '/') {
        throw config_error("'" + path + ".path' must start with '/', not '" + w.path + "'");
    }
}

void read_listeners(const json& v, const std::string& key, std::vector<listener_config>& out) {
    if (!v.is_array() || v.empty()) {
        throw config_error("'" + key +
                           "' must be a non-empty list of {name, port, bind, tls, websocket}");
    }
    out.clear();
    for (std::size_t i = 0; i < v.size(); ++i) {
        const std::string at = key + "[" + std::to_string(i) + "]";
        listener_config l;
        l.name = "listener-" + std::to_string(i);
        std::string bind = "127.0.0.1";
        std::optional<std::uint16_t> port;
        bool bind_given = false;
        object_reader(v[i], at)
            .on("name", string_into(l.name))
            .on("listen", string_into(l.listen))
            .on("bind",
                [&](const json& value, const std::string& k) {
                    string_into(bind)(value, k);
                    bind_given = true;
                })
            .on("port",
                [&](const json& value, const std::string& k) {
                    std::uint16_t p = 0;
                    unsigned_into(p, 0, 65535)(value, k);
                    port = p;
                })
            .on("tls", [&](const json& value,
                           const std::string& k) { read_listener_tls(value, k, l.tls.emplace()); })
            .on("websocket",
                [&](const json& value, const std::string& k) {
                    read_listener_websocket(value, k, l.websocket.emplace());
                })
            .reject_unknown();
        if (!l.listen.empty() && (port || bind_given)) {
            throw config_error("'" + at + "' takes either 'listen' or 'bind' and 'port', not both");
        }
        if (l.listen.empty()) {
            if (!port) {
                throw config_error("'" + at + ".port' is missing: every listener needs a port");
            }
            l.listen = join_address(bind, *port);
        }
        out.push_back(std::move(l));
    }
}

// The first line of a token file, without its line end. Only a regular file
// is read, and only its first 4 KiB: a path such as /dev/zero or a FIFO
// cannot hang start-up or fill memory.
std::string read_token_file(const std::string& file, const std::string& key) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) {
        throw config_error("'" + key + "': '" + file + "' is not a readable regular file");
    }
    std::ifstream in(file);
    std::string token(4096, '\0');
    in.read(token.data(), static_cast<std::streamsize>(token.size()));
    if (in.bad() || in.gcount() == 0) {
        throw config_error("'" + key + "': cannot read '" + file + "'");
    }
    token.resize(static_cast<std::size_t>(in.gcount()));
    token.resize(std::min(token.size(), token.find('\n')));
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) {
        token.pop_back();
    }
    if (token.size() < 16) {
        throw config_error("'" + key + "': the token in '" + file +
                           "' must be at least 16 characters on its first line");
    }
    return token;
}

// `users` and `admin.users`: login -> argon2id string (checked in validate()).
void read_users(const json& v, const std::string& key, std::map<std::string, std::string>& out) {
    if (!v.is_object()) {
        throw config_error("'" + key + "' must map logins to passcodes");
    }
    for (const auto& [login, passcode] : v.items()) {
        if (!passcode.is_string()) {
            throw config_error("'" + key + "." + login + "' must be a string");
        }
        out[login] = passcode.get<std::string>();
    }
}

void read_admin(const json& j, const std::string& path, admin_config& a) {
    object_reader(j, path)
        .on("enabled", bool_into(a.enabled))
        .on("listen", string_into(a.listen))
        .on("metrics_destinations", unsigned_into(a.metrics_destinations, 0, 100'000))
        .on("max_connections", unsigned_into(a.max_connections, 1, 100'000))
        .on("request_timeout_ms", unsigned_into(a.request_timeout_ms, 100, 600'000))
        .on("token_file",
            [&](const json& v, const std::string& key) {
                string_into(a.token_file)(v, key);
                a.token = read_token_file(a.token_file, key);
            })
        .on("users", [&](const json& v, const std::string& key) { read_users(v, key, a.users); })
        .on("tls", [&](const json& v, const std::string& key) {
            read_listener_tls(v, key, a.tls.emplace());
        })
        .reject_unknown();
    a.required = true;
}


void read_auth(const json& j, const std::string& path, auth_config& a) {
    object_reader(j, path)
        .on("allow_anonymous", bool_into(a.allow_anonymous))
        .on("anonymous_login", string_into(a.anonymous_login))
        .on("failure_delay_ms", unsigned_into(a.failure_delay_ms, 0, hour_ms))
        .on("max_failures", unsigned_into(a.max_failures, 1, 1'000'000))
        .on("failure_window_ms", unsigned_into(a.failure_window_ms, 1, day_ms))
        .on("block_ms", unsigned_into(a.block_ms, 0, day_ms))
        .on("verifier_threads", unsigned_into(a.verifier_threads, 1, 64))
        .on("verifier_queue", unsigned_into(a.verifier_queue, 1, 1'000'000))
        .on("cache_entries", unsigned_into(a.cache_entries, 0, 10'000'000))
        .on("cache_ttl_ms", unsigned_into(a.cache_ttl_ms, 0, day_ms))
        .reject_unknown();
}

void read_permissions(const json& v, const std::string& key,
                      std::map<std::string, std::map<std::string, permission_entry>>& out) {
    if (!v.is_object()) {
        throw config_error("'" + key +
                           "' must map logins to {vhost: {configure, write, read}}");
    }
    for (const auto& [login, vhosts] : v.items()) {
        const std::string at = key + "." + login;
        if (!vhosts.is_object()) {
            throw config_error("'" + at + "' must map virtual hosts to {configure, write, read}");
        }
        for (const auto& [vhost, patterns] : vhosts.items()) {
            permission_entry entry;
            object_reader(patterns, at + "." + vhost)
                .on("configure", string_into(entry.configure))
                .on("write", string_into(entry.write))
                .on("read", string_into(entry.read))
                .reject_unknown();
            out[login][vhost] = std::move(entry);
        }
    }
}

void read_journal(const json& j, const std::string& path, journal_config& jc) {
    object_reader(j, path)
        .on("sync", string_into(jc.sync))
        .on("durable_destinations",
            strings_into(jc.durable_destinations, "destination patterns"))
        .on("segment_bytes", unsigned_into(jc.segment_bytes, 64 * KiB, 64 * GiB))
        .reject_unknown();
}

void read_root(const json& j, config& c) {
    bool listen_given = false;
    std::optional<std::string> bind;
    std::optional<std::uint16_t> port;
    object_reader(j, "")
        .on("listen",
            [&](const json& v, const std::string& k) {
                string_into(c.listen)(v, k);
                listen_given = true;
            })
        .on("bind", [&](const json& v, const std::string& k) { string_into(bind.emplace())(v, k); })
        .on("port",
            [&](const json& v, const std::string& k) {
                std::uint16_t p = 0;
                unsigned_into(p, 0, 65535)(v, k);
                port = p;
            })
        .on("listeners",
            [&](const json& v, const std::string& k) { read_listeners(v, k, c.listeners); })
        .on("schedulers", unsigned_into(c.schedulers, 0, 1024))
        .on("io", choice_into(c.io, {{"auto", runtime::io_mode::automatic},
                                     {"uring", runtime::io_mode::uring},
                                     {"asio", runtime::io_mode::asio}}))
        .on("stack_size", unsigned_into(c.stack_size, 16 * 1024, 64 * 1024 * 1024))
        .on("log_level", string_into(c.log_level))
        .on("virtual_hosts", strings_into(c.virtual_hosts, "virtual host names"))
        .on("users", [&](const json& v, const std::string& key) { read_users(v, key, c.users); })
        .on("auth", [&](const json& v, const std::string& k) { read_auth(v, k, c.auth); })
        .on("permissions",
            [&](const json& v, const std::string& k) {
                read_permissions(v, k, c.permissions);
                c.permissions_enabled = true;
            })
        .on("default_virtual_host",
            [&](const json& v, const std::string& key) {
                string_into(c.default_virtual_host)(v, key);
                c.default_virtual_host_explicit = true;
            })
        .on("strict", bool_into(c.strict))
        .on("idle_destination_ms", unsigned_into(c.idle_destination_ms, 1, day_ms))
        .on("shutdown_timeout_ms", unsigned_into(c.shutdown_timeout_ms, 0, hour_ms))
        .on("limits", [&](const json& v, const std::string& k) { read_limits(v, k, c.limits); })
        .on("heartbeat",
            [&](const json& v, const std::string& k) { read_heartbeat(v, k, c.heartbeat); })
        .on("queues", [&](const json& v, const std::string& k) { read_queues(v, k, c.queues); })
        .on("topics", [&](const json& v, const std::string& k) { read_topics(v, k, c.topics); })
        .on("temp", [&](const json& v, const std::string& k) { read_temp(v, k, c.temp); })
        .on("destination_policies",
            [&](const json& v, const std::string& k) {
                read_destination_policies(v, k, c.destination_policies);
            })
        .on("admin", [&](const json& v, const std::string& k) { read_admin(v, k, c.admin); })
        .on("outbound",
            [&](const json& v, const std::string& k) { read_outbound(v, k, c.outbound); })
        .on("publishers",
            [&](const json& v, const std::string& k) { read_publishers(v, k, c.publishers); })
        .on("memory", [&](const json& v, const std::string& k) { read_memory(v, k, c.memory); })
        .on("fanout",
            choice_into(c.fanout, {{"copy", fanout_mode::copy}, {"shared", fanout_mode::shared}}))
        .on("data_dir",
            [&](const json& v, const std::string& key) {
                if (v.is_null()) {
                    c.data_dir.clear();  // memory only
                } else if (v.is_string()) {
                    c.data_dir = parse_data_dir(v.get<std::string>(), key);
                } else {
                    throw config_error("'" + key +
                                       "' must be a directory (a string) or null (memory only)");
                }
            })
        .on("journal", [&](const json& v, const std::string& k) { read_journal(v, k, c.journal); })
        .reject_unknown();
    if (bind || port) {
        // The old form of one plain listener: `bind` and `port`.
        if (listen_given) {
            throw config_error("use either 'listen' or 'bind' and 'port', not both");
        }
        c.listen = join_address(bind.value_or("127.0.0.1"), port.value_or(61613));
    }
    if (!c.listeners.empty() && (listen_given || bind || port)) {
        throw config_error(
            "'listeners' replaces the top-level 'listen' ('bind', 'port'): use one or the other");
    }
}

}  // namespace

std::string parse_data_dir(std::string_view value, std::string_view key) {
    if (value.empty()) {
        throw config_error("'" + std::string(key) +
                           "' is empty: name a directory, or none (memory only)");
    }
    return value == "none" ? std::string() : std::string(value);
}

config parse_config(std::string_view json_text, const parse_options& options) {
    json document;
    try {
        document = json::parse(json_text);
    } catch (const json::exception& e) {
        // parse_error, and out_of_range for a number past a double's range
        // (1e400): found by config_fuzz.
        throw config_error(std::string("configuration is not valid JSON: ") + e.what());
    }
    // `--admin off` wins over the file: a section for an endpoint that will
    // not run is not read, so nothing in it (an unreadable token file, a
    // non-loopback address without one) can stop start-up.
    if (options.admin_off && document.is_object()) {
        document.erase("admin");
    }
    config c;
    read_root(document, c);
    if (options.admin_off) {
        c.admin.enabled = false;
        c.admin.required = false;
    }
    validate(c);
    return c;
}

config load_config(const std::string& path, const parse_options& options) {
    std::ifstream in(path);
    if (!in) {
        throw config_error("cannot read configuration file '" + path + "'");
    }
    std::stringstream text;
    text << in.rdbuf();
    return parse_config(text.str(), options);
}

namespace {

void validate_listeners(const config& c) {
    for (std::size_t i = 0; i < c.listeners.size(); ++i) {
        const auto& l = c.listeners[i];
        const std::string at = "listeners[" + std::to_string(i) + "]";
        if (l.name.empty()) {
            throw config_error("'" + at + ".name' must not be empty");
        }
        if (!runtime::endpoint::parse(l.listen)) {
            throw config_error("'" + at + "' (" + l.name +
                               ") must listen on HOST:PORT with a numeric host, not '" + l.listen +
                               "'");
        }
        for (std::size_t j = 0; j < i; ++j) {
            if (c.listeners[j].name == l.name) {
                throw config_error("'" + at + ".name': two listeners are named '" + l.name + "'");
            }
        }
    }
}

// Passcodes must be argon2id strings (checked without hashing anything), and
// every permission pattern must compile (RE2) on a configured virtual host.
void validate_auth(const config& c) {
    for (const auto& [login, stored] : c.users) {
        if (auto cost = auth::check_stored_hash(stored); !cost) {
            throw config_error(auth::stored_passcode_problem(login, cost.error()));
        }
    }
    for (const auto& [login, stored] : c.admin.users) {
        if (auto cost = auth::check_stored_hash(stored); !cost) {
            throw config_error(auth::stored_passcode_problem(login, cost.error(), "admin.users"));
        }
    }
    auth::permission_table::spec spec;
    for (const auto& [login, vhosts] : c.permissions) {
        for (const auto& [vhost, entry] : vhosts) {
            if (std::find(c.virtual_hosts.begin(), c.virtual_hosts.end(), vhost) ==
                c.virtual_hosts.end()) {
                throw config_error("'permissions." + login + "." + vhost +
                                   "' names a virtual host not in 'virtual_hosts'");
            }
            spec[login][vhost] = {entry.configure, entry.write, entry.read};
        }
    }
    try {
        (void)auth::permission_table::make(spec);
    } catch (const auth::permission_config_error& e) {
        throw config_error(std::string("'permissions': ") + e.what());
    }
}

// Off loopback the admin endpoint needs credentials, and HTTP Basic (which
// sends the password in clear) needs TLS under it.
void validate_admin_credentials(const admin_config& a) {
    if (!a.enabled) {
        return;
    }
    const std::string& l = a.listen;
    const bool loopback =
        l.rfind("127.", 0) == 0 || l.rfind("[::1]:", 0) == 0 || l.rfind("localhost:", 0) == 0;
    if (loopback) {
        return;
    }
    if (a.token.empty() && a.users.empty()) {
        throw config_error("'admin.listen' " + l +
                           " is not a loopback address: the admin endpoint would serve anyone "
                           "without credentials; set 'admin.users' (logins with argon2id "
                           "hashes, for HTTP Basic over TLS) or 'admin.token_file' (a file "
                           "holding a bearer token), or listen on 127.0.0.1");
    }
    if (!a.users.empty() && !a.tls) {
        throw config_error("'admin.listen' " + l +
                           " is not a loopback address and 'admin.users' log in with HTTP "
                           "Basic, which sends the password in clear: add a 'tls' block to "
                           "'admin' ({\"certificate\": \"cert.pem\", \"private_key\": "
                           "\"key.pem\"}), or listen on 127.0.0.1");
    }
}

}  // namespace

std::vector<listener_config> effective_listeners(const config& c) {
    if (!c.listeners.empty()) {
        return c.listeners;
    }
    listener_config plain;
    plain.name = "stomp";
    plain.listen = c.listen;
    return {plain};
}

void set_plain_listen(config& c, const std::string& address) {
    c.listen = address;
    if (c.listeners.empty()) {
        return;
    }
    for (auto& l : c.listeners) {
        if (l.plain()) {
            l.listen = address;
            return;
        }
    }
    listener_config plain;
    plain.name = "stomp";
    plain.listen = address;
    c.listeners.insert(c.listeners.begin(), std::move(plain));
}

void validate(const config& c) {
    runtime::log::level level;
    if (!runtime::log::parse_level(c.log_level, level)) {
        throw config_error("'log_level' must be one of trace, debug, info, warn, error, off");
    }
    if (c.virtual_hosts.empty()) {
        throw config_error("'virtual_hosts' must name at least one virtual host");
    }
    for (const auto& host : c.virtual_hosts) {
        const bool printable = std::all_of(host.begin(), host.end(), [](char ch) {
            return static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f;
        });
        if (host.empty() || !printable) {
            throw config_error("'virtual_hosts' entries must be non-empty and printable");
        }
    }
    if (c.default_virtual_host_explicit &&
        std::find(c.virtual_hosts.begin(), c.virtual_hosts.end(), c.default_virtual_host) ==
            c.virtual_hosts.end()) {
        throw config_error("'default_virtual_host' must be one of 'virtual_hosts', not '" +
                           c.default_virtual_host + "'");
    }
    if (!runtime::endpoint::parse(c.listen)) {
        throw config_error("'listen' must be HOST:PORT with a numeric host, not '" + c.listen +
                           "'");
    }
    validate_listeners(c);
    validate_auth(c);
    validate_admin_credentials(c.admin);
    if (c.admin.enabled && !runtime::endpoint::parse(c.admin.listen)) {
        throw config_error("'admin.listen' must be HOST:PORT with a numeric host, not '" +
                           c.admin.listen + "'");
    }
    if (c.limits.max_frame_before_connect > c.limits.max_frame) {
        throw config_error("'limits.max_frame_before_connect' cannot exceed 'limits.max_frame'");
    }
    if (c.queues.prefetch > c.queues.max_prefetch) {
        throw config_error("'queues.prefetch' cannot exceed 'queues.max_prefetch'");
    }
    storage::sync_mode mode{};
    std::chrono::milliseconds interval{};
    if (!storage::parse_sync_mode(c.journal.sync, mode, interval)) {
        throw config_error("'journal.sync' must be always, never or interval_ms:N, not '" +
                           c.journal.sync + "'");
    }
}

bool glob_match(std::string_view pattern, std::string_view text) noexcept {
    // Iterative, with one backtrack point: the last '*' seen.
    std::size_t p = 0;
    std::size_t t = 0;
    std::size_t star = std::string_view::npos;
    std::size_t resume = 0;
    while (t < text.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = t;
        } else if (p < pattern.size() && pattern[p] == text[t]) {
            ++p;
            ++t;
        } else if (star != std::string_view::npos) {
            p = star + 1;
            t = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') {
        ++p;
    }
    return p == pattern.size();
}

slow_consumer_policy policy_for(const outbound_config& outbound, std::string_view destination) {
    for (const auto& rule : outbound.policies) {
        if (glob_match(rule.pattern, destination)) {
            return rule.policy;
        }
    }
    return outbound.slow_consumer;
}

std::uint64_t default_ttl_for(const config& cfg, std::string_view destination, bool topic) {
    const std::uint64_t fallback = topic ? cfg.topics.default_ttl_ms : cfg.queues.default_ttl_ms;
    for (const auto& rule : cfg.destination_policies) {
        if (glob_match(rule.pattern, destination)) {
            return rule.default_ttl_ms.value_or(fallback);
        }
    }
    return fallback;
}

bool dead_letter_expired_for(const config& cfg, std::string_view destination) {
    for (const auto& rule : cfg.destination_policies) {
        if (glob_match(rule.pattern, destination)) {
            return rule.dead_letter_expired.value_or(cfg.queues.dead_letter_expired);
        }
    }
    return cfg.queues.dead_letter_expired;
}

std::size_t memory_high_water_bytes(const memory_config& memory) {
    if (memory.high_water > 1.0) {
        return static_cast<std::size_t>(memory.high_water);
    }
    const auto pages = static_cast<double>(::sysconf(_SC_PHYS_PAGES));
    const auto page = static_cast<double>(::sysconf(_SC_PAGESIZE));
    return static_cast<std::size_t>(memory.high_water * pages * page);
}

}  // namespace stampede::broker
