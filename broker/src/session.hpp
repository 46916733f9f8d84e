#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "actors.hpp"
#include "context.hpp"
#include "flow.hpp"
#include "outbound.hpp"
#include "stampede/protocol/negotiate.hpp"
#include "stampede/protocol/parser.hpp"
#include "stampede/protocol/serializer.hpp"
#include "stampede/runtime/io.hpp"
#include "stampede/runtime/sync.hpp"
#include "stats.hpp"

namespace stampede::broker {

class template_cache;

/// A delivery awaiting ACK or NACK (client and client-individual modes).
struct unacked_delivery {
    std::uint64_t queue_sequence = 0;  ///< from a queue: its sequence there
    message_ptr topic_message;         ///< from a topic: kept for redelivery on NACK
    std::uint32_t deliveries = 1;
};

/// One SUBSCRIBE of this connection.
struct subscription {
    std::string id;
    std::uint32_t slot = 0;  ///< connection-unique number, stable for the subscription's life
    destination_handle destination;
    ack_mode mode = ack_mode::automatic;
    slow_consumer_policy policy = slow_consumer_policy::drop;
    std::size_t prefetch = 1;
    std::map<std::uint64_t, unacked_delivery> unacked;  ///< by delivery number, in order
    std::deque<message_ptr> backlog;  ///< topic messages waiting for prefetch room
};

/// A transaction's frames, applied in order at COMMIT.
struct pending_frame {
    protocol::command cmd;
    std::string destination;       ///< SEND
    std::shared_ptr<message> msg;  ///< SEND (charged to the publisher at COMMIT)
    std::uint64_t delivery = 0;    ///< ACK/NACK
};

/// One client connection: a reader fiber (parse in place, dispatch), a writer
/// fiber (drain the outbound queue in batches, in a loop) and a session actor
/// as its mailbox. All three live on the connection's scheduler and share this
/// object; they never run at the same time, so its state needs no locks.
class session : public std::enable_shared_from_this<session> {
  public:
    session(broker_context& ctx, runtime::tcp_stream stream, std::uint64_t id);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    /// Runs the connection to its end on the calling fiber (the reader), then
    /// cleans up. The connection handler's whole job.
    static void serve(broker_context& ctx, runtime::tcp_stream stream);

    // Deliveries and events, on this session's scheduler.

    /// Copies a topic message to subscription `slot`; returns bytes queued.
    std::size_t deliver_topic(std::uint32_t slot, const message_ptr& msg,
                              template_cache& templates);
    void deliver_queue(queue_delivery& delivery);
    void on_publish_rejected(const publish_rejected& rejected);
    std::optional<std::uint32_t> on_heartbeat_send_tick();
    /// Closes the connection if the client has been silent for twice its
    /// heart-beat interval; otherwise the milliseconds until that could happen.
    std::optional<std::uint32_t> on_heartbeat_check_tick();
    void on_connect_deadline();
    void on_resume() { resume_.notify_all(); }
    void on_congestion_grace(std::uint64_t episode);
    void close(std::string_view reason);

    std::uint64_t id() const noexcept { return id_; }
    const std::string& vhost() const noexcept { return vhost_; }
    std::string destination_name(std::uint32_t slot) const;

  private:
    // Life cycle (session.cpp).
    void start();
    void read_loop();
    void consume(std::span<char> input);
    bool feed_assembly(std::span<char>& input);
    bool handle_parse(const protocol::parse_result& r);
    void linger();
    void finish();
    void writer_loop();
    bool await_output();
    runtime::result<void> write_batch(const byte_buffer& batch,
                                      const std::vector<outbound_entry>& entries,
                                      std::vector<iovec>& iovecs);
    void settle_written(const std::vector<outbound_entry>& entries);
    void wake_writer() noexcept;

    // Frames (session_frames.cpp).
    void dispatch(const protocol::frame_view& frame);
    void on_connect(const protocol::frame_view& frame);
    void on_send(const protocol::frame_view& frame);
    void on_subscribe(const protocol::frame_view& frame);
    void on_unsubscribe(const protocol::frame_view& frame);
    void on_ack(const protocol::frame_view& frame, bool positive);
    void on_begin(const protocol::frame_view& frame);
    void on_commit(const protocol::frame_view& frame);
    void on_abort(const protocol::frame_view& frame);
    void on_disconnect(const protocol::frame_view& frame);
    bool publish(const std::string& destination, std::shared_ptr<message> msg,
                 const protocol::frame_view* receipt_frame);
    bool apply_ack(std::uint64_t delivery, bool positive);
    const destination_handle* resolve(std::string_view name);
    void remove_subscription(subscription& sub);
    void redeliver_topic(subscription& sub, unacked_delivery item);
    void pump_backlog(subscription& sub);

    // Flow control (session_flow.cpp).
    bool publisher_must_wait() const noexcept;
    void respect_flow_control();
    void check_outbound();
    void relieve_outbound();
    void set_congestion(bool on, bool only_blocking = false);
    void disconnect_slow(const subscription& sub, std::string_view why);
    void declare_slow(std::string_view why);
    void drop_backlog();

    // Output (session_output.cpp).
    void send_connected(protocol::version v, protocol::heart_beat server);
    void send_receipt(std::string_view receipt_id);
    void send_receipt_if_asked(const protocol::frame_view& frame);
    /// Queues an ERROR (with receipt-id when the failing frame asked for a
    /// receipt) and closes the connection once it is written.
    void fail(std::string_view message, std::string_view detail = {},
              const protocol::frame_view* cause = nullptr,
              std::span<const protocol::header> extra = {});
    /// With `shared_body`, only the headers are copied: the body goes out from
    /// the message itself (fanout: shared).
    void write_topic_message(subscription& sub, const protocol::message_template& tmpl,
                             std::uint64_t delivery, bool redelivered,
                             const message_ptr& shared_body);
    std::size_t write_queue_message(subscription& sub, const message& msg, std::uint64_t delivery,
                                    bool redelivered, std::uint64_t queue_sequence);
    void queue_control(std::string_view bytes);
    /// "<session>-<delivery>": the MESSAGE's message-id and ack header.
    /// The view is into `scratch`, which must outlive its use.
    std::string_view message_id(std::uint64_t delivery, std::span<char, 48> scratch) const;
    std::string message_id(std::uint64_t delivery) const;
    std::optional<std::uint64_t> parse_message_id(std::string_view id) const;

    subscription* find_slot(std::uint32_t slot);
    consumer_key key_for(const subscription& sub) const;

    broker_context& ctx_;
    runtime::tcp_stream stream_;
    const std::uint64_t id_;
    const std::string id_text_;
    runtime::actor_ref<session_actor> actor_;

    // Reading.
    protocol::parser parser_;
    std::vector<char> assembly_;  ///< a frame split across receives, and only that
    runtime::time_point last_received_;
    bool reader_done_ = false;
    runtime::event reader_exited_;

    // Connection state.
    bool connected_ = false;
    bool closing_ = false;
    protocol::version version_ = protocol::version::v1_0;
    protocol::heart_beat_plan heartbeat_{};
    std::string vhost_;
    std::string login_;

    // Subscriptions and acknowledgements.
    std::unordered_map<std::string, std::unique_ptr<subscription>> subscriptions_;
    std::unordered_map<std::uint32_t, subscription*> by_slot_;
    std::unordered_map<std::uint64_t, std::uint32_t> awaiting_ack_;  ///< delivery -> slot
    std::uint32_t next_slot_ = 1;
    std::uint64_t next_delivery_ = 1;
    std::unordered_map<std::string, destination_handle> destinations_;  ///< resolved, attached
    std::unordered_map<std::string, std::vector<pending_frame>> transactions_;

    // Writing.
    outbound_queue out_;
    runtime::event writer_wake_;
    bool writer_running_ = false;
    bool writer_done_ = false;
    runtime::event writer_exited_;
    runtime::time_point last_written_at_{};  ///< when output last reached the socket (heart-beats)

    // Flow control: as a publisher...
    std::shared_ptr<publish_credit> credit_;
    const destination_handle* last_published_ = nullptr;  ///< into destinations_
    runtime::event resume_;
    bool paused_ = false;
    // ...and as a subscriber.
    bool congested_ = false;  ///< past 75% of outbound.max_bytes, holding back publishers
    bool slow_ = false;       ///< a slow consumer: its drop-policy topic messages are dropped
    std::uint64_t written_total_ = 0;
    std::uint64_t written_at_congestion_ = 0;
    std::uint64_t congestion_episode_ = 0;  ///< which congestion the pending grace check is for
    std::unordered_map<runtime::actor_id, runtime::actor_ref<topic_actor>> congesting_;

    connection_counters counters_;
};

/// The session's mailbox: deliveries from queues on other schedulers,
/// rejections, shutdown, and the connection's timers (connect deadline,
/// heart-beats). Each handler passes straight to the session.
class session_actor : public runtime::gen_server<session_actor> {
  public:
    session_actor(std::shared_ptr<session> s, std::uint32_t connect_timeout_ms,
                  std::uint32_t grace_ms)
        : session_(std::move(s)), connect_timeout_ms_(connect_timeout_ms), grace_ms_(grace_ms) {}

    bool init(runtime::exit_reason&);

    void handle_cast(queue_delivery& delivery) { session_->deliver_queue(delivery); }
    void handle_cast(publish_rejected& rejected) { session_->on_publish_rejected(rejected); }
    void handle_cast(close_connection& request) { session_->close(request.reason); }
    void handle_cast(start_heartbeats& plan);
    void handle_cast(end_session&) { stop(); }
    void handle_cast(resume_reading&) { session_->on_resume(); }
    void handle_cast(congestion_grace&);
    void handle_info(congestion_grace& check) { session_->on_congestion_grace(check.episode); }
    void handle_info(heartbeat_send_tick&);
    void handle_info(heartbeat_check_tick&);
    void handle_info(connect_deadline&) { session_->on_connect_deadline(); }

  private:
    std::shared_ptr<session> session_;
    std::uint32_t connect_timeout_ms_;
    std::uint32_t grace_ms_;
};

}  // namespace stampede::broker
