// A session's life (start, serve, finish) and the dispatch of each frame to
// its handler. The handlers live in session_connect.cpp, session_publish.cpp
// and session_subscribe.cpp; deliveries in session_delivery.cpp; flow control
// in session_flow.cpp; serializing in session_output.cpp.

#include "session.hpp"

#include "admission.hpp"
#include "connection_limits.hpp"
#include "queue.hpp"
#include "registry.hpp"
#include "stampede/runtime/log.hpp"
#include "topic.hpp"

namespace stampede::broker {

namespace {

using protocol::command;
using protocol::frame_view;

congestion_config congestion_for(const config& cfg) {
    congestion_config c;
    c.max_bytes = cfg.outbound.max_bytes;
    c.min_drain_rate = cfg.outbound.min_drain_rate;
    c.grace = std::chrono::milliseconds(cfg.outbound.grace_ms);
    c.max_frame = cfg.limits.max_frame;
    c.throttle = cfg.outbound.throttle;
    return c;
}

transaction_limits transactions_for(const config& cfg) {
    return {cfg.limits.max_transactions, cfg.limits.max_frames_per_transaction,
            cfg.limits.max_transaction_bytes};
}

// Publish targets a connection keeps attached at once (least recently used go).
constexpr std::size_t publish_cache_size = 64;

}  // namespace

session::session(broker_context& ctx, std::unique_ptr<transport::stream> stream, std::uint64_t id)
    : ctx_(ctx),
      id_(id),
      id_text_(std::to_string(id)),
      conn_(std::move(stream), parser_limits_before_connect(ctx.cfg), counters_,
            [this] { return spawn_writer(); }),
      subscriptions_(ctx.cfg.limits.max_subscriptions, ctx.cfg.limits.max_unacked_bytes),
      transactions_(transactions_for(ctx.cfg)),
      publish_targets_(publish_cache_size),
      new_destinations_(ctx.cfg.limits.max_new_destinations_per_second,
                        ctx.cfg.limits.max_new_destinations_per_second),
      congestion_(congestion_for(ctx.cfg)) {
    counters_.id = id;
    counters_.peer = conn_.stream().peer().address;
    counters_.peer_ip = ip_of(counters_.peer);
    counters_.transport = std::string(conn_.stream().kind());
    counters_.socket_fd = conn_.stream().native_handle();
}

session::~session() = default;

void session::serve(broker_context& ctx, std::unique_ptr<transport::stream> stream) {
    const std::uint64_t id = ctx.next_session_id.fetch_add(1, std::memory_order_relaxed);
    auto s = std::make_shared<session>(ctx, std::move(stream), id);
    s->start();
    s->conn_.read_loop(*s);
    s->finish();
}

void session::start() {
    shard_state& shard = ctx_.here();
    shard.sessions[id_] = weak_from_this();
    shard.stats->add(&counters_);
    actor_ = runtime::spawn<session_actor>(*runtime::this_scheduler(), "session-" + id_text_,
                                           shared_from_this(), ctx_.cfg.limits.connect_timeout_ms);
    gate_ = std::make_unique<publisher_gate>(actor_, ctx_.cfg.publishers, ctx_.memory_alarm);
    message_id_prefix_ = ctx_.boot_id + "-" + id_text_ + "-";
    runtime::log::debug("connection ", id_, " from ", counters_.peer, " (", conn_.stream().kind(),
                        ")");
}

bool session::spawn_writer() {
    auto spawned = runtime::this_scheduler()->spawn_here(
        [self = shared_from_this()] { self->conn_.writer_loop(*self); },
        {ctx_.cfg.stack_size, "session.writer"});
    return spawned.has_value();
}

// Ends what the session holds in the rest of the broker: subscriptions (their
// unacknowledged queue messages go back to their queues), publishers it held
// back, attachments in the registry, the connection's place in the counts.
void session::finish() {
    conn_.finish(std::chrono::milliseconds(ctx_.cfg.shutdown_timeout_ms));
    hold_topics(false, false);
    for (subscription* sub : subscriptions_.all()) {
        remove_subscription(*sub);
    }
    for (const destination_handle& handle : publish_targets_.take_all()) {
        release(handle);
    }
    delete_temporaries();
    transactions_.clear();
    ctx_.limiter.on_close(counters_.peer_ip, !connected_);
    shard_state& shard = ctx_.here();
    shard.sessions.erase(id_);
    shard.stats->remove(&counters_);
    actor_.cast(end_session{});
    runtime::log::debug("connection ", id_, " closed");
}

void session::close(std::string_view reason) {
    fail(reason, {}, nullptr, {}, transport::close_reason::going_away);
}

// ---- frames ----

void session::on_frame(const frame_view& frame) {
    ++counters_.frames_in;
    if (!connected_) {
        if (frame.cmd == command::connect || frame.cmd == command::stomp) {
            on_connect(frame);
        } else {
            fail("the first frame must be CONNECT or STOMP, not " +
                     std::string(protocol::to_string(frame.cmd)),
                 {}, &frame);
        }
        return;
    }
    switch (frame.cmd) {
        case command::send:
            on_send(frame);
            return;
        case command::subscribe:
            on_subscribe(frame);
            return;
        case command::unsubscribe:
            on_unsubscribe(frame);
            return;
        case command::ack:
            on_ack(frame, true);
            return;
        case command::nack:
            on_ack(frame, false);  // on 1.0 too, as RabbitMQ allows (an extension)
            return;
        case command::begin:
            on_begin(frame);
            return;
        case command::commit:
            on_commit(frame);
            return;
        case command::abort:
            on_abort(frame);
            return;
        case command::disconnect:
            on_disconnect(frame);
            return;
        case command::connect:
        case command::stomp:
            fail("already connected: a second CONNECT is not allowed", {}, &frame);
            return;
        case command::connected:
        case command::message:
        case command::receipt:
        case command::error:
            fail(std::string(protocol::to_string(frame.cmd)) +
                     " is a server frame; a client may not send it",
                 {}, &frame, {}, transport::close_reason::protocol_error);
            return;
    }
}

void session::on_parse_error(protocol::errc error) {
    const bool too_big =
        error == protocol::errc::frame_too_large || error == protocol::errc::command_too_long ||
        error == protocol::errc::header_line_too_long || error == protocol::errc::too_many_headers;
    fail(protocol::describe(error), limit_broken(error, ctx_.cfg, connected_), nullptr, {},
         too_big ? transport::close_reason::too_big : transport::close_reason::protocol_error);
}

// The reader stops after a frame while the connection has more queued for it
// than outbound.max_bytes (whatever frame it sent: replies count too), and,
// after a SEND or COMMIT, while the publisher is held back.
bool session::reader_must_wait(command last) {
    if (reader_paused_) {
        return true;
    }
    const bool published = last == command::send || last == command::commit;
    return connected_ && published && gate_->must_wait();
}

void session::wait_to_read() {
    reader_waiting_ = true;
    if (reader_paused_) {
        wait_for_output_room();
    }
    if (!conn_.closing() && gate_->must_wait()) {
        wait_for_publisher_gate();
    }
    reader_waiting_ = false;
    conn_.mark_received(runtime::clock::now());  // its heart-beats could not be read meanwhile
}

void session::on_written(const std::vector<outbound_entry>& entries) {
    settle_written(entries);
    counters_.outbound_bytes = conn_.output().bytes();
    if (watching_congestion_) {
        // Progress is what the judgement rests on: sample it, and once back
        // under, let go at once of whatever the connection held.
        judge_congestion(true);
    }
}

// ---- the mailbox ----

bool session_actor::init(runtime::exit_reason&) {
    send_after(std::chrono::milliseconds(connect_timeout_ms_), connect_deadline{});
    return true;
}

void session_actor::handle_cast(start_heartbeats& plan) {
    if (plan.send_every_ms > 0) {
        heartbeat_send_tick tick;
        handle_info(tick);
    }
    if (plan.expect_every_ms > 0) {
        send_after(std::chrono::milliseconds(2ull * plan.expect_every_ms), heartbeat_check_tick{});
    }
}

void session_actor::handle_info(heartbeat_send_tick&) {
    if (const auto next = session_->on_heartbeat_send_tick()) {
        send_after(std::chrono::milliseconds(*next), heartbeat_send_tick{});
    }
}

void session_actor::handle_info(heartbeat_check_tick&) {
    if (const auto next = session_->on_heartbeat_check_tick()) {
        send_after(std::chrono::milliseconds(*next), heartbeat_check_tick{});
    }
}

namespace {
// While a connection is congested it is sampled and judged this often.
constexpr auto congestion_tick_every = std::chrono::milliseconds(50);
}  // namespace

void session_actor::handle_cast(watch_congestion&) {
    send_after(congestion_tick_every, congestion_tick{});
}

void session_actor::handle_info(congestion_tick&) {
    if (session_->on_congestion_tick()) {
        send_after(congestion_tick_every, congestion_tick{});
    }
}

}  // namespace stampede::broker
