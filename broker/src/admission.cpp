#include "admission.hpp"

#include "log_text.hpp"
#include "session.hpp"
#include "stampede/protocol/serializer.hpp"
#include "stampede/runtime/log.hpp"

namespace stampede::broker {

std::string ip_of(std::string_view address) {
    const std::size_t colon = address.rfind(':');
    std::string_view ip = colon == std::string_view::npos ? address : address.substr(0, colon);
    if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') {
        ip = ip.substr(1, ip.size() - 2);
    }
    return std::string(ip);
}

namespace {

// Tells a refused client why, in a STOMP ERROR (it has not sent CONNECT yet,
// so no version is negotiated: the 1.0 form, which every client reads), then
// closes. Written without a session: a refused connection costs nothing more.
void refuse(runtime::tcp_stream& tcp, const std::string& peer, const std::string& why) {
    const protocol::header headers[] = {{"message", why}, {"content-type", "text/plain"}};
    const std::string frame = protocol::serialize_to_string(
        {protocol::command::error, headers, why}, protocol::version::v1_0);
    (void)tcp.write(frame, runtime::deadline_after(std::chrono::seconds(1)));
    tcp.shutdown_send();
    std::uint64_t suppressed = 0;
    if (client_error_budget().take(suppressed)) {
        runtime::log::info("refused a connection from ", peer, ": ", why,
                           suppressed > 0
                               ? " (" + std::to_string(suppressed) + " similar lines suppressed)"
                               : std::string());
    }
    tcp.close();
}

}  // namespace

void admit_and_serve(broker_context& ctx, runtime::tcp_stream tcp) {
    auto peer = runtime::endpoint::peer_of(tcp.native_handle());
    const std::string address = peer ? peer->to_string() : "?";
    const std::string ip = ip_of(address);
    switch (ctx.limiter.on_open(ip)) {
        case connection_limiter::verdict::admitted:
            break;
        case connection_limiter::verdict::too_many_connections:
            refuse(tcp, address,
                   "too many connections: the broker serves at most " +
                       std::to_string(ctx.limiter.max_connections()) + " (limits.max_connections)");
            return;
        case connection_limiter::verdict::too_many_unauthenticated:
            refuse(tcp, address,
                   "too many connections from " + ip + " that have not yet sent CONNECT: at most " +
                       std::to_string(ctx.limiter.max_unauthenticated()) +
                       " (limits.max_unauthenticated_per_ip)");
            return;
    }
    if (auto granted =
            transport::set_send_buffer(tcp.native_handle(), ctx.cfg.outbound.socket_send_buffer);
        !granted) {
        runtime::log::debug("cannot set SO_SNDBUF: ", granted.error().message());
    }
    session::serve(ctx, transport::make_tcp_stream(std::move(tcp)));
}

}  // namespace stampede::broker
