#include "admin.hpp"

#include <boost/beast/http.hpp>
#include <charconv>
#include <sstream>

#include "admin_http.hpp"
#include "auth_state.hpp"
#include "log_text.hpp"
#include "report.hpp"
#include "stampede/dashboard/dashboard.hpp"
#include "stampede/runtime/log.hpp"
#include "stampede/runtime/sync.hpp"
#include "stampede/transport/stream.hpp"
#include "stampede/transport/tls.hpp"

namespace stampede::broker {

namespace {

namespace http = boost::beast::http;
using response = http::response<http::string_body>;

constexpr auto idle_timeout = std::chrono::seconds(30);
// Bounds a TLS handshake, a login's verification and writing an answer.
// (Reading one request is bounded by admin.request_timeout_ms.)
constexpr auto request_time_limit = std::chrono::seconds(10);
constexpr std::size_t default_page = 1000;

response make_response(http::status status, std::string content_type, std::string body) {
    response res{status, 11};
    res.set(http::field::server, "stampede");
    res.set(http::field::content_type, std::move(content_type));
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

response text(http::status status, std::string body) {
    return make_response(status, "text/plain; charset=utf-8", std::move(body));
}

// The dashboard page. Everything it shows comes from /stats as text (the
// script never writes markup from data), and the policy allows nothing but
// its own inline code and requests to this endpoint.
response dashboard() {
    response res = make_response(http::status::ok, "text/html; charset=utf-8",
                                 std::string(stampede::dashboard::page_html()));
    res.set(http::field::cache_control, "no-store");
    res.set("Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'");
    res.set("X-Content-Type-Options", "nosniff");
    return res;
}

// ---- credentials ----

// How a request's credentials fared.
enum class access { granted, missing, refused, throttled, busy, gone };

// A verification's answer, posted from a verifier thread to the waiting
// connection's scheduler. Shared: whichever side finishes last frees it.
struct pending_verdict {
    std::optional<auth::verdict> answer;
    runtime::event ready;
};

// Checks an admin login on the verifier pool (argon2id off the schedulers,
// the cache of recent successes first) and waits on this fiber for the answer.
std::optional<auth::verdict> verify_admin(broker_context& ctx, const std::string& user,
                                          const std::string& password,
                                          runtime::time_point deadline) {
    auto verifier = ctx.auth->verifier();
    if (!verifier) {
        return auth::verdict::shutting_down;
    }
    auto state = std::make_shared<pending_verdict>();
    runtime::scheduler* here = runtime::this_scheduler();
    const auto now = verifier->verify(
        user, password,
        [state, here](auth::verdict v) {
            here->execute([state, v] {
                state->answer = v;
                state->ready.notify_all();
            });
        },
        auth::realm::admin);
    verifier.reset();
    if (now) {
        return now;
    }
    while (!state->answer) {
        if (!state->ready.wait(deadline)) {
            return std::nullopt;
        }
    }
    return state->answer;
}

// A wrong credential: counted against the client's address (the STOMP
// logins' throttle: one budget per address for both), logged at a limited
// rate, and answered after the failure delay. False: the broker stopped.
bool delay_failure(broker_context& ctx, const std::string& peer, std::string_view what) {
    broker_auth& auth = *ctx.auth;
    auth.admin_failed.fetch_add(1, std::memory_order_relaxed);
    const auto answer_at = auth.throttle().record_failure(peer);
    std::uint64_t suppressed = 0;
    if (client_error_budget().take(suppressed)) {
        runtime::log::info("admin endpoint: failed login from ", peer, ": ", what,
                           suppressed > 0
                               ? " (" + std::to_string(suppressed) + " similar lines suppressed)"
                               : std::string());
    }
    return static_cast<bool>(runtime::this_fiber::sleep_until(answer_at));
}

// Whether the request may see /stats and /metrics: no credentials configured,
// the bearer token, or an admin user's password (HTTP Basic).
access check_access(broker_context& ctx, const http::request<http::empty_body>& req,
                    const std::string& peer) {
    broker_auth& auth = *ctx.auth;
    const std::string& token = ctx.cfg.admin.token;
    const auto users = auth.admin_users();
    if (token.empty() && !users) {
        return access::granted;
    }
    const auto header = req[http::field::authorization];
    const auto given = admin_http::parse_authorization({header.data(), header.size()});
    using kind = admin_http::credentials::kind;
    if (given.type == kind::none) {
        return access::missing;  // a first request, not a guess: not counted
    }
    if (!auth.throttle().admit(peer)) {
        auth.admin_throttled.fetch_add(1, std::memory_order_relaxed);
        return access::throttled;
    }
    if (given.type == kind::bearer && !token.empty() &&
        admin_http::equal_constant_time(given.token, token)) {
        auth.admin_accepted.fetch_add(1, std::memory_order_relaxed);
        return access::granted;
    }
    if (given.type == kind::basic && users) {
        const auto verdict = verify_admin(ctx, given.user, given.password,
                                          runtime::deadline_after(request_time_limit));
        if (!verdict || *verdict == auth::verdict::shutting_down) {
            return access::gone;
        }
        if (*verdict == auth::verdict::accepted) {
            auth.admin_accepted.fetch_add(1, std::memory_order_relaxed);
            return access::granted;
        }
        if (*verdict == auth::verdict::busy) {
            auth.admin_busy.fetch_add(1, std::memory_order_relaxed);
            return access::busy;
        }
        const std::string what = "user '" + escape_for_log(given.user, 64) + "'";
        return delay_failure(ctx, peer, what) ? access::refused : access::gone;
    }
    const std::string_view what = given.type == kind::bearer  ? "a wrong bearer token"
                                  : given.type == kind::basic ? "HTTP Basic, but no admin.users"
                                                              : "a malformed Authorization header";
    return delay_failure(ctx, peer, what) ? access::refused : access::gone;
}

// The schemes this endpoint takes, as 401 challenges.
std::string challenges(const broker_context& ctx) {
    std::string out;
    if (ctx.auth->admin_users()) {
        out = "Basic realm=\"stampede\", charset=\"UTF-8\"";
    }
    if (!ctx.cfg.admin.token.empty()) {
        out += (out.empty() ? "" : ", ");
        out += "Bearer realm=\"stampede\"";
    }
    return out;
}

response refusal(const broker_context& ctx, const http::request<http::empty_body>& req,
                 access why) {
    if (why == access::throttled) {
        response res = text(http::status::too_many_requests,
                            "too many failed logins from this address: try again later\n");
        res.set(http::field::retry_after, std::to_string(ctx.cfg.auth.block_ms / 1000 + 1));
        return res;
    }
    if (why == access::busy) {
        response res =
            text(http::status::service_unavailable, "busy checking logins: try again later\n");
        res.set(http::field::retry_after, "1");
        return res;
    }
    std::string how;
    if (ctx.auth->admin_users()) {
        how = "'Authorization: Basic' with an admin user (admin.users)";
    }
    if (!ctx.cfg.admin.token.empty()) {
        how += (how.empty() ? "" : " or ");
        how += "'Authorization: Bearer TOKEN' (admin.token_file)";
    }
    response res = text(http::status::unauthorized, "this endpoint needs " + how + "\n");
    // The dashboard's own requests: a Basic challenge would make the browser
    // open its password dialog over the page's form, so the schemes go in a
    // header of ours instead.
    const std::string schemes = challenges(ctx);
    if (req.count("X-Stampede-Dashboard") != 0) {
        res.set("X-Stampede-Auth", schemes);
    } else {
        res.set(http::field::www_authenticate, schemes);
    }
    return res;
}

response route(broker_context& ctx, const http::request<http::empty_body>& req,
               const std::string& listen, const std::string& peer, bool& gone) {
    if (req.method() != http::verb::get) {
        response res = text(http::status::method_not_allowed, "only GET is served\n");
        res.set(http::field::allow, "GET");
        return res;
    }
    const std::string_view target(req.target().data(), req.target().size());
    const auto question = target.find('?');
    const std::string_view path = target.substr(0, question);
    const std::string_view query =
        question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
    if (path == "/healthz") {
        return text(http::status::ok, "ok\n");
    }
    // The page is static (no figure, no secret in it), so anyone may load
    // it; its script asks for the token and sends it with each /stats.
    if (path == "/" || path == "/dashboard") {
        return dashboard();
    }
    if (const access a = check_access(ctx, req, peer); a != access::granted) {
        gone = a == access::gone;
        return refusal(ctx, req, a);
    }
    if (path != "/stats" && path != "/metrics") {
        return text(http::status::not_found,
                    "not found: try / (the dashboard), /healthz, /stats or /metrics\n");
    }
    auto snapshot = snapshot_from_fiber(ctx, listen);
    if (!snapshot) {
        return text(http::status::service_unavailable, snapshot.error().message() + "\n");
    }
    if (path == "/metrics") {
        return make_response(http::status::ok, "text/plain; version=0.0.4",
                             to_prometheus(*snapshot, ctx.cfg.admin.metrics_destinations));
    }
    const auto offset = admin_http::query_number(query, "offset", 0);
    const auto limit = admin_http::query_number(query, "limit", default_page);
    if (!offset || !limit || *limit == 0) {
        return text(http::status::bad_request, "offset and limit must be numbers, limit > 0\n");
    }
    paginate(*snapshot, *offset, *limit);
    return make_response(http::status::ok, "application/json", snapshot->dump(2) + "\n");
}

// Writes all of `bytes`.
bool write_all(transport::stream& stream, const std::string& bytes) {
    iovec part{const_cast<char*>(bytes.data()), bytes.size()};
    const std::uint32_t sizes[] = {static_cast<std::uint32_t>(bytes.size())};
    return static_cast<bool>(stream.write_messages(std::span<iovec>(&part, 1), sizes,
                                                   runtime::deadline_after(request_time_limit)));
}

std::string to_wire(const response& res) {
    std::ostringstream wire;
    wire << res;
    return wire.str();
}

// Reads one request into `parser`, keeping bytes past it in `input` for the
// next (pipelined) request. False when the connection should end.
// A request must be whole within `time_limit` of its first byte: a client
// trickling one in byte by byte (slow-loris) is cut off then, not only after
// idle_timeout without any byte.
bool read_request(transport::stream& stream, std::string& input,
                  admin_http::request_parser& parser, std::chrono::milliseconds time_limit) {
    std::optional<runtime::time_point> request_deadline;
    if (!input.empty()) {
        request_deadline = runtime::deadline_after(time_limit);
    }
    for (;;) {
        boost::beast::error_code ec;
        switch (admin_http::feed(input, parser, ec)) {
            case admin_http::feed_status::done:
                return true;
            case admin_http::feed_status::error:
                (void)write_all(stream, to_wire(text(http::status::bad_request,
                                                     "bad request: " + ec.message() + "\n")));
                return false;
            case admin_http::feed_status::need_more:
                break;
        }
        const auto idle = runtime::deadline_after(idle_timeout);
        auto data = stream.receive(request_deadline ? std::min(idle, *request_deadline) : idle);
        if (!data) {
            return false;
        }
        if (!request_deadline) {
            request_deadline = runtime::deadline_after(time_limit);
        }
        input.append(data->data(), data->size());
    }
}

void serve_connection(broker_context& ctx, transport::stream& stream, const std::string& listen) {
    const std::string peer = stream.peer().address;
    std::string input;
    for (;;) {
        admin_http::request_parser parser;
        admin_http::prepare(parser);
        if (!read_request(stream, input, parser,
                          std::chrono::milliseconds(ctx.cfg.admin.request_timeout_ms))) {
            return;
        }
        stream.release_input();
        bool gone = false;
        response res = route(ctx, parser.get(), listen, peer, gone);
        if (gone) {
            return;
        }
        res.keep_alive(parser.get().keep_alive());
        if (!write_all(stream, to_wire(res)) || !res.keep_alive()) {
            stream.shutdown_send();
            return;
        }
    }
}

// Past admin.max_connections: a plain-text 503 (a TLS endpoint's client
// sees the handshake fail instead) and the close.
void refuse_busy(runtime::tcp_stream tcp, std::size_t limit) {
    auto stream = transport::make_tcp_stream(std::move(tcp));
    response res = text(http::status::service_unavailable,
                        "too many admin connections (admin.max_connections " +
                            std::to_string(limit) + ")\n");
    res.keep_alive(false);
    (void)write_all(*stream, to_wire(res));
    stream->shutdown_send();
    stream->close();
}

// The connection's transport: TLS when the endpoint has a `tls` block.
std::unique_ptr<transport::stream> open_stream(const listener_state& endpoint,
                                               runtime::tcp_stream tcp) {
    auto context = endpoint.tls();
    if (!context) {
        return transport::make_tcp_stream(std::move(tcp));
    }
    auto peer = runtime::endpoint::peer_of(tcp.native_handle());
    auto secured = transport::tls_accept(std::move(tcp), std::move(context),
                                         runtime::deadline_after(request_time_limit));
    if (!secured) {
        std::uint64_t suppressed = 0;
        if (client_error_budget().take(suppressed)) {
            runtime::log::info("admin endpoint: TLS handshake with ",
                               peer ? peer->to_string() : "?",
                               " failed: ", secured.error().message());
        }
        return nullptr;
    }
    return std::move(*secured);
}

}  // namespace

void serve_admin(broker_context& ctx, runtime::tcp_listener& listener,
                 const listener_state& endpoint, std::string broker_listen) {
    // Connection fibers all run on this scheduler, and may outlive this loop.
    auto open = std::make_shared<std::size_t>(0);
    for (;;) {
        auto fd = listener.accept();
        if (!fd) {
            if (fd.error() == runtime::errc::shutdown ||
                fd.error() == runtime::errc::stream_closed) {
                return;
            }
            runtime::log::warn("admin endpoint: accept failed: ", fd.error().message());
            if (!runtime::this_fiber::sleep_for(std::chrono::milliseconds(100))) {
                return;
            }
            continue;
        }
        // Decided here, in accept order: a connection is refused when the
        // ones before it fill admin.max_connections.
        const bool refused = *open >= ctx.cfg.admin.max_connections;
        if (!refused) {
            ++*open;
        }
        runtime::this_scheduler()->spawn(
            [&ctx, &endpoint, broker_listen, open, refused, fd = std::move(*fd)]() mutable {
                auto tcp = runtime::tcp_stream::adopt(std::move(fd));
                if (refused) {
                    if (tcp) {
                        refuse_busy(std::move(*tcp), ctx.cfg.admin.max_connections);
                    }
                    return;
                }
                struct leave {
                    std::size_t& n;
                    ~leave() { --n; }
                } counted{*open};
                if (!tcp) {
                    return;
                }
                if (auto stream = open_stream(endpoint, std::move(*tcp))) {
                    serve_connection(ctx, *stream, broker_listen);
                    stream->close();
                }
            },
            {0, "admin.connection"});
    }
}

}  // namespace stampede::broker
