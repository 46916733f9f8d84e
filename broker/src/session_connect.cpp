// CONNECT (STOMP12.md items 9-13), DISCONNECT, and the timers of a
// connection: the connect deadline and heart-beats.

#include <algorithm>

#include "connection_limits.hpp"
#include "log_text.hpp"
#include "session.hpp"
#include "stampede/runtime/log.hpp"
#include "stampede/transport/websocket.hpp"

namespace stampede::broker {

namespace {

using protocol::frame_view;

// The STOMP version a WebSocket client chose with its subprotocol
// (v11.stomp: 1.1), or empty over other transports and without one.
std::string_view subprotocol_version(const transport::stream& stream) {
    const auto* ws = dynamic_cast<const transport::websocket_stream*>(&stream);
    return ws ? transport::stomp_version_of(ws->subprotocol()) : std::string_view();
}

// Whether `accept_version` (absent: "1.0") lists `wanted`.
bool accepts(std::optional<std::string_view> accept_version, std::string_view wanted) {
    std::string_view list = accept_version.value_or("1.0");
    while (!list.empty()) {
        const std::size_t comma = std::min(list.find(','), list.size());
        std::string_view entry = list.substr(0, comma);
        while (!entry.empty() && entry.front() == ' ')
            entry.remove_prefix(1);
        while (!entry.empty() && entry.back() == ' ')
            entry.remove_suffix(1);
        if (entry == wanted) {
            return true;
        }
        list.remove_prefix(std::min(comma + 1, list.size()));
    }
    return false;
}

// The virtual host a CONNECT gets: the one its `host` header names if that is
// configured; else the default one when there is only that one or one was
// configured explicitly (stomp.py and the Ruby gem send the host name they
// dialled). nullopt: refuse.
std::optional<std::string> choose_vhost(const config& cfg, std::optional<std::string_view> asked) {
    const auto& hosts = cfg.virtual_hosts;
    if (asked && std::find(hosts.begin(), hosts.end(), *asked) != hosts.end()) {
        return std::string(*asked);
    }
    if (cfg.default_virtual_host_explicit) {
        return cfg.default_virtual_host;
    }
    if (hosts.size() == 1) {
        return hosts.front();
    }
    return std::nullopt;
}

}  // namespace

void session::on_connect(const frame_view& frame) {
    connect_seen_ = true;
    // Over WebSocket the subprotocol fixes the version (RabbitMQ's web-stomp
    // does the same): the client must also accept it in CONNECT.
    const std::string_view fixed = subprotocol_version(conn_.stream());
    if (!fixed.empty() && !accepts(frame.get("accept-version"), fixed)) {
        const protocol::header ours[] = {{"version", fixed}};
        fail("the WebSocket subprotocol chose STOMP " + std::string(fixed) +
                 ", which this CONNECT's accept-version does not offer",
             {}, &frame, ours);
        return;
    }
    const auto v = protocol::negotiate_version(
        fixed.empty() ? frame.get("accept-version") : std::optional<std::string_view>(fixed));
    if (!v) {
        const protocol::header ours[] = {{"version", protocol::supported_versions()}};
        fail("no STOMP version in common: this server speaks " +
                 std::string(protocol::supported_versions()),
             {}, &frame, ours);
        return;
    }
    const auto host = frame.get("host");
    auto vhost = choose_vhost(ctx_.cfg, host);
    if (!vhost) {
        std::string known;
        for (const auto& h : ctx_.cfg.virtual_hosts) {
            known += (known.empty() ? "'" : ", '") + h + "'";
        }
        fail("unknown virtual host '" + std::string(host.value_or("")) + "': this broker serves " +
                 known + " and has no default_virtual_host",
             {}, &frame);
        return;
    }
    if (host && *host != *vhost) {
        runtime::log::debug("connection ", id_, ": host '", escape_for_log(*host),
                            "' is not a virtual host here; using '", *vhost, "'");
    }
    client_id_ = std::string(frame.get("client-id").value_or(""));  // durable subscriptions
    const auto client_beats = protocol::parse_heart_beat(frame.get("heart-beat"));
    if (!client_beats.ok()) {
        fail(protocol::describe(client_beats.error), {}, &frame);
        return;
    }
    auto login = authenticate(frame);  // may wait for the verifier on this fiber
    if (!login) {
        return;
    }
    permissions_generation_ = ctx_.auth->generation.load(std::memory_order_acquire);
    if (const auto table = ctx_.auth->permissions()) {
        check_permissions_ = true;
        permissions_ =
            table->find(login->empty() ? ctx_.cfg.auth.anonymous_login : *login, *vhost);
    }
    const protocol::heart_beat server{ctx_.cfg.heartbeat.send_ms, ctx_.cfg.heartbeat.receive_ms};
    enter_connected(*v, protocol::negotiate_heart_beat(client_beats.value, server),
                    std::move(*vhost), std::move(*login));
    send_connected(*v, server);
}

// ---- authentication ----

// Every refusal reads the same to the client (what went wrong is in the
// ERROR's body only where it is the broker's state, never which half of the
// pair was wrong); the log says more.
std::optional<std::string> session::authenticate(const frame_view& frame) {
    broker_auth& auth = *ctx_.auth;
    std::string login(frame.get("login").value_or(""));
    const auto users = auth.users();
    if (!users) {
        return login;  // no users configured: the login is only a name
    }
    const auto passcode = frame.get("passcode");
    const std::string& certified = conn_.stream().peer().certificate_name;
    std::string_view detail;
    if (!certified.empty() && !passcode && (login.empty() || login == certified) &&
        users->find(certified) != nullptr) {
        // Mutual TLS: the verified client certificate's CN is the login.
        auth.logins_accepted.fetch_add(1, std::memory_order_relaxed);
        return certified;
    }
    if (login.empty() && !passcode && ctx_.cfg.auth.allow_anonymous) {
        return login;
    }
    if (login.empty() && !passcode) {
        // No login given and anonymous connections not allowed: refused like
        // a wrong pair (after the same delay), so nothing tells them apart.
        if (!delay_failed_login(frame)) {
            return std::nullopt;
        }
    } else if (!auth.throttle().admit(counters_.peer)) {
        auth.logins_throttled.fetch_add(1, std::memory_order_relaxed);
        detail = "too many failed logins from this address: try again later";
    } else {
        const auto verdict = await_verdict(login, std::string(passcode.value_or("")));
        if (!verdict || conn_.closing()) {
            return std::nullopt;  // shut down, or the connect deadline passed meanwhile
        }
        if (*verdict == auth::verdict::accepted) {
            auth.logins_accepted.fetch_add(1, std::memory_order_relaxed);
            return login;
        }
        if (*verdict == auth::verdict::busy) {
            auth.logins_busy.fetch_add(1, std::memory_order_relaxed);
            detail = "the broker is busy checking logins: try again later";
        } else if (*verdict == auth::verdict::shutting_down) {
            detail = "the broker is shutting down";
        } else if (!delay_failed_login(frame)) {
            return std::nullopt;
        }
    }
    fail("authentication failed: login or passcode not accepted", detail, &frame);
    return std::nullopt;
}

// A wrong login or passcode: counted against the client's address, logged at
// a limited rate, and answered after the failure delay. False: the
// connection closed (or the broker stopped) meanwhile.
bool session::delay_failed_login(const frame_view& frame) {
    broker_auth& auth = *ctx_.auth;
    auth.logins_failed.fetch_add(1, std::memory_order_relaxed);
    const auto answer_at = auth.throttle().record_failure(counters_.peer);
    std::uint64_t suppressed = 0;
    if (client_error_budget().take(suppressed)) {
        runtime::log::info("connection ", id_, " from ", counters_.peer, ": failed login as '",
                           escape_for_log(frame.get("login").value_or("")), "'",
                           suppressed > 0 ? " (" + std::to_string(suppressed) +
                                                " similar lines suppressed)"
                                          : std::string());
    }
    return runtime::this_fiber::sleep_until(answer_at) && !conn_.closing();
}

// Hands the pair to the verifier pool and waits on this fiber for the answer,
// which its thread posts to this session's actor. nullopt: the runtime is
// stopping.
std::optional<auth::verdict> session::await_verdict(const std::string& login,
                                                    const std::string& passcode) {
    auto verifier = ctx_.auth->verifier();
    if (!verifier) {
        return auth::verdict::shutting_down;
    }
    auth_answer_.reset();
    const auto now = verifier->verify(
        login, passcode, [mailbox = actor_](auth::verdict v) { mailbox.cast(auth_result{v}); });
    verifier.reset();
    if (now) {
        return now;
    }
    while (!auth_answer_) {
        if (!auth_answered_.wait()) {
            return std::nullopt;
        }
    }
    return auth_answer_;
}

void session::on_auth_result(auth::verdict verdict) {
    auth_answer_ = verdict;
    auth_answered_.notify_all();
}

// ---- permissions ----

// After a reload (SIGHUP) a connected session's rights are the new file's:
// one relaxed load per checked frame notices it.
void session::follow_permission_reload() {
    const auto now = ctx_.auth->generation.load(std::memory_order_acquire);
    if (now == permissions_generation_) {
        return;
    }
    permissions_generation_ = now;
    const auto table = ctx_.auth->permissions();
    check_permissions_ = table != nullptr;
    permissions_ = table ? table->find(login_.empty() ? ctx_.cfg.auth.anonymous_login : login_,
                                       vhost_)
                         : nullptr;
}

bool session::permitted(auth::access_mask needed, std::string_view destination,
                        const frame_view& frame) {
    follow_permission_reload();
    if (!check_permissions_ || needed == 0) {
        return true;
    }
    const auth::access_mask granted = permissions_ ? permissions_->rights(destination) : 0;
    const auto missing = auth::first_missing(needed, granted);
    if (!missing) {
        return true;
    }
    ctx_.auth->count_denial(*missing);
    const std::string user = login_.empty() ? ctx_.cfg.auth.anonymous_login : login_;
    fail(auth::denial_message(*missing, escape_for_log(destination), user, vhost_), {}, &frame);
    return false;
}

void session::enter_connected(protocol::version v, protocol::heart_beat_plan plan,
                              std::string vhost, std::string login) {
    connected_ = true;
    ctx_.limiter.on_authenticated(counters_.peer_ip);
    version_ = v;
    heartbeats_ = heartbeat_schedule(plan);
    vhost_ = std::move(vhost);
    login_ = std::move(login);
    counters_.vhost = vhost_;
    counters_.login = login_;
    counters_.version = std::string(protocol::to_string(v));
    conn_.parser().set_version(v);
    conn_.parser().set_limits(parser_limits_connected(ctx_.cfg));
    actor_.cast(start_heartbeats{plan.send_every_ms, plan.expect_every_ms});
}

void session::on_disconnect(const frame_view& frame) {
    wait_for_durable(0);  // the RECEIPTs of persistent SENDs go out first
    send_receipt_if_asked(frame);
    conn_.begin_close(transport::close_reason::normal);  // what is queued goes out first
}

// ---- timers ----

std::optional<std::uint32_t> session::on_heartbeat_send_tick() {
    if (conn_.closing() || !heartbeats_.sends()) {
        return std::nullopt;
    }
    const auto now = runtime::clock::now();
    const beat_decision d =
        heartbeats_.on_send_tick(now, conn_.last_written(), !conn_.output().empty());
    if (d.due) {
        if (d.send_beat) {
            queue_control("\n");
        }
        conn_.mark_written(now);  // a beat went, or output is on its way
    }
    return static_cast<std::uint32_t>(d.next_tick.count());
}

std::optional<std::uint32_t> session::on_heartbeat_check_tick() {
    if (conn_.closing() || !heartbeats_.checks()) {
        return std::nullopt;
    }
    const silence_decision d =
        heartbeats_.on_check_tick(runtime::clock::now(), conn_.last_received(), reader_waiting_);
    if (d.timed_out) {
        fail("heart-beat timeout",
             "no frame or heart-beat from the client for " + std::to_string(d.silent_for.count()) +
                 " ms (negotiated interval " + std::to_string(heartbeats_.plan().expect_every_ms) +
                 " ms)",
             nullptr, {}, transport::close_reason::policy);
        return std::nullopt;
    }
    return static_cast<std::uint32_t>(std::min<std::int64_t>(d.next_tick.count(), UINT32_MAX));
}

void session::on_connect_deadline() {
    if (!connected_ && !connect_seen_ && !conn_.closing()) {
        fail("no CONNECT frame within " + std::to_string(ctx_.cfg.limits.connect_timeout_ms) +
             " ms (limits.connect_timeout_ms)");
    }
}

}  // namespace stampede::broker
