#include "admin.hpp"

#include <boost/beast/http.hpp>
#include <charconv>
#include <sstream>

#include "report.hpp"
#include "stampede/dashboard/dashboard.hpp"
#include "stampede/runtime/log.hpp"

namespace stampede::broker {

namespace {

namespace http = boost::beast::http;
using response = http::response<http::string_body>;

constexpr auto idle_timeout = std::chrono::seconds(30);
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

// The value of `name` in a query string, if present.
std::optional<std::string_view> query_value(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        const auto eq = pair.find('=');
        if (pair.substr(0, eq) == name) {
            return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
        }
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    }
    return std::nullopt;
}

std::optional<std::size_t> query_number(std::string_view query, std::string_view name,
                                        std::size_t fallback) {
    const auto value = query_value(query, name);
    if (!value) {
        return fallback;
    }
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
    if (ec != std::errc{} || end != value->data() + value->size()) {
        return std::nullopt;
    }
    return n;
}

// Whether the request carries the admin token (no token configured: every
// request). Compared in constant time over the token's length.
bool authorized(const std::string& token, const http::request<http::empty_body>& req) {
    if (token.empty()) {
        return true;
    }
    const auto header = req[http::field::authorization];
    const std::string_view given(header.data(), header.size());
    constexpr std::string_view scheme = "Bearer ";
    if (given.size() != scheme.size() + token.size() || given.substr(0, scheme.size()) != scheme) {
        return false;
    }
    unsigned char diff = 0;
    for (std::size_t i = 0; i < token.size(); ++i) {
        diff |= static_cast<unsigned char>(given[scheme.size() + i] ^ token[i]);
    }
    return diff == 0;
}

response route(broker_context& ctx, const http::request<http::empty_body>& req,
               const std::string& listen) {
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
    if (!authorized(ctx.cfg.admin.token, req)) {
        response res = text(http::status::unauthorized,
                            "this endpoint needs 'Authorization: Bearer TOKEN' (admin.token_file)\n");
        res.set(http::field::www_authenticate, "Bearer realm=\"stampede\"");
        return res;
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
    const auto offset = query_number(query, "offset", 0);
    const auto limit = query_number(query, "limit", default_page);
    if (!offset || !limit || *limit == 0) {
        return text(http::status::bad_request, "offset and limit must be numbers, limit > 0\n");
    }
    paginate(*snapshot, *offset, *limit);
    return make_response(http::status::ok, "application/json", snapshot->dump(2) + "\n");
}

// Reads one request into `parser`, keeping bytes past it in `input` for the
// next (pipelined) request. False when the connection should end.
bool read_request(runtime::tcp_stream& stream, std::string& input,
                  http::request_parser<http::empty_body>& parser) {
    for (;;) {
        if (!input.empty()) {
            boost::beast::error_code ec;
            const std::size_t used = parser.put(boost::asio::buffer(input), ec);
            input.erase(0, used);
            if (parser.is_done()) {
                return true;
            }
            if (ec && ec != http::error::need_more) {
                const std::string body = "bad request: " + ec.message() + "\n";
                std::ostringstream wire;
                wire << text(http::status::bad_request, body);
                const std::string bytes = wire.str();
                (void)stream.write(bytes);
                return false;
            }
        }
        auto data = stream.receive(runtime::deadline_after(idle_timeout));
        if (!data) {
            return false;
        }
        input.append(data->data().data(), data->size());
    }
}

void serve_connection(broker_context& ctx, runtime::tcp_stream stream, const std::string& listen) {
    std::string input;
    for (;;) {
        http::request_parser<http::empty_body> parser;
        parser.header_limit(16 * 1024);
        if (!read_request(stream, input, parser)) {
            return;
        }
        response res = route(ctx, parser.get(), listen);
        res.keep_alive(parser.get().keep_alive());
        std::ostringstream wire;
        wire << res;
        const std::string bytes = wire.str();
        if (!stream.write(bytes) || !res.keep_alive()) {
            stream.shutdown_send();
            return;
        }
    }
}

}  // namespace

void serve_admin(broker_context& ctx, runtime::tcp_listener& listener, std::string broker_listen) {
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
        runtime::this_scheduler()->spawn(
            [&ctx, broker_listen, fd = std::move(*fd)]() mutable {
                auto stream = runtime::tcp_stream::adopt(std::move(fd));
                if (stream) {
                    serve_connection(ctx, std::move(*stream), broker_listen);
                }
            },
            {0, "admin.connection"});
    }
}

}  // namespace stampede::broker
