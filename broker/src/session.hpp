#pragma once

// A client's session: what its frames mean. A thin dispatcher over parts that
// each own one job and its state:
//
//   connection          bytes in and out, frame assembly, the writer fiber
//   subscription_table  subscriptions, pending acknowledgements, backlogs
//   transaction_log     open transactions and what they hold
//   destination_cache   where it publishes, attached in the registry
//   publisher_gate      its credit window, gates and the memory alarm
//   congestion_tracker  whether it is a slow consumer
//
// The session ties them to the rest of the broker (registry, destinations,
// relays) and serializes what it sends.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "actors.hpp"
#include "auth_state.hpp"
#include "congestion.hpp"
#include "connection.hpp"
#include "context.hpp"
#include "destination_cache.hpp"
#include "durable.hpp"
#include "durable_receipts.hpp"
#include "errc.hpp"
#include "flow.hpp"
#include "heartbeat.hpp"
#include "publisher_gate.hpp"
#include "stampede/protocol/negotiate.hpp"
#include "stampede/protocol/serializer.hpp"
#include "stampede/transport/stream.hpp"
#include "stats.hpp"
#include "subscription_table.hpp"
#include "token_bucket.hpp"
#include "transaction_log.hpp"

namespace stampede::broker {

class template_cache;

/// Scratch space for the headers of one outgoing frame (never on a fiber
/// stack): cleared and handed out, valid until the next call on this thread.
std::vector<protocol::header>& scratch_headers();

class session : public std::enable_shared_from_this<session>, private connection_events {
  public:
    session(broker_context& ctx, std::unique_ptr<transport::stream> stream, std::uint64_t id);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    /// Runs the connection to its end on the calling fiber (the reader), then
    /// cleans up. The connection handler's whole job.
    static void serve(broker_context& ctx, std::unique_ptr<transport::stream> stream);

    // ---- Deliveries and events, on this session's scheduler ----

    /// Delivers a topic message to subscription `slot`; returns bytes queued.
    std::size_t deliver_topic(std::uint64_t slot, const message_ptr& msg,
                              template_cache& templates);
    void deliver_queue(queue_delivery& delivery);
    /// A queue browse is over: the end marker (a MESSAGE with browser:end).
    void on_browse_end(std::uint64_t slot);
    void on_publish_rejected(const publish_rejected& rejected);
    /// The journal has stored (or failed to store) a durable operation.
    void on_durable_done(durable_done& done);
    /// Heart-beat timers: when to look again (nullopt: stop).
    std::optional<std::uint32_t> on_heartbeat_send_tick();
    std::optional<std::uint32_t> on_heartbeat_check_tick();
    void on_connect_deadline();
    /// The verifier's answer to this session's CONNECT (session_connect.cpp).
    void on_auth_result(auth::verdict verdict);
    /// Flow control: a credit window reopened or a gate opened.
    void on_resume() { resume_.notify_all(); }
    /// Congestion timer: samples and judges; false when it need not run again.
    bool on_congestion_tick();
    /// Closes the connection with an ERROR (broker shutdown).
    void close(std::string_view reason);

    std::uint64_t id() const noexcept { return id_; }
    const std::string& vhost() const noexcept { return vhost_; }
    std::string destination_name(std::uint64_t slot);

  private:
    // connection_events (session.cpp)
    void on_frame(const protocol::frame_view& frame) override;
    void on_parse_error(protocol::errc error) override;
    bool reader_must_wait(protocol::command last) override;
    void wait_to_read() override;
    void on_written(const std::vector<outbound_entry>& entries) override;

    void start();
    void finish();
    bool spawn_writer();

    // Connecting (session_connect.cpp).
    void on_connect(const protocol::frame_view& frame);
    void on_disconnect(const protocol::frame_view& frame);
    void enter_connected(protocol::version v, protocol::heart_beat_plan plan, std::string vhost,
                         std::string login);
    /// The login CONNECT authenticates as (its `login`, a client
    /// certificate's CN, or "" when anonymous), or nullopt: refused (failed).
    /// May wait on this fiber for the verifier and the failure delay.
    [[nodiscard]] std::optional<std::string> authenticate(const protocol::frame_view& frame);
    [[nodiscard]] std::optional<auth::verdict> await_verdict(const std::string& login,
                                                             const std::string& passcode);
    [[nodiscard]] bool delay_failed_login(const protocol::frame_view& frame);
    /// Permissions (session_connect.cpp): false when `needed` is not granted
    /// on `destination` (the connection has then been failed).
    bool permitted(auth::access_mask needed, std::string_view destination,
                   const protocol::frame_view& frame);

    // Publishing and transactions (session_publish.cpp).
    void on_send(const protocol::frame_view& frame);
    void on_begin(const protocol::frame_view& frame);
    void on_commit(const protocol::frame_view& frame);
    void on_abort(const protocol::frame_view& frame);
    [[nodiscard]] result<const destination_handle*> publish_target(std::string_view name);
    /// `to_consume`: the caller subscribes (a temporary destination must be this session's).
    [[nodiscard]] result<destination_handle> resolve(std::string_view name, bool may_create,
                                                     bool to_consume = false);
    void release(const destination_handle& handle);
    bool publish(std::string_view destination, std::shared_ptr<message> msg,
                 const protocol::frame_view* receipt_frame, bool reserved);
    std::string next_message_id();
    struct reservation {
        runtime::actor_ref<queue_actor> queue;
        std::size_t first_frame = 0;
        std::size_t messages = 0;
        std::size_t bytes = 0;
    };
    bool check_commit_acks(const std::vector<transaction_frame>& frames, const std::string& refused,
                           const protocol::frame_view& commit);
    bool resolve_commit_targets(const std::vector<transaction_frame>& frames,
                                std::vector<destination_handle>& targets,
                                const protocol::frame_view& commit);
    bool reserve_commit_room(const std::vector<transaction_frame>& frames,
                             const std::vector<destination_handle>& targets,
                             std::vector<reservation>& reservations, const std::string& refused,
                             const protocol::frame_view& commit);
    void fail_transaction(errc e, std::string_view tx, std::string_view command,
                          const protocol::frame_view* cause);
    /// Persistent messages (durable.hpp): whether `msg` to `handle` goes
    /// through the journal, and sending it there (its RECEIPTs wait).
    bool journalled(const destination_handle& handle, const message& msg) const;
    void publish_durable(const destination_handle& handle, std::shared_ptr<message> msg,
                         bool reserved);
    /// Durable operations one connection may have under way before its reader
    /// waits: bounds the RECEIPTs held and the waiters registered per connection.
    static constexpr std::size_t max_pending_durable = 4096;
    /// A token for a durable operation whose RECEIPTs must wait for it.
    std::uint64_t expect_durable();
    /// Suspends the reader while more than `at_most` durable operations are
    /// pending (0: until every RECEIPT held behind them has gone).
    void wait_for_durable(std::size_t at_most);

    // Durable topic subscriptions (durable_subscriptions.cpp).
    /// The durable subscription a SUBSCRIBE (or UNSUBSCRIBE) names, in
    /// ActiveMQ's form (client-id + activemq.subscriptionName) or RabbitMQ's
    /// (durable:true, the id as the name); nullopt if none. `failed`: the
    /// connection has been failed.
    std::optional<std::string> durable_name(const protocol::frame_view& frame, std::string_view id,
                                            bool& failed);
    /// Registers durable subscription `name` with topic `topic` (and the
    /// journal) and returns its queue, attached.
    [[nodiscard]] result<destination_handle> subscribe_durable(std::string_view topic,
                                                               const std::string& name,
                                                               std::string_view selector_text,
                                                               const selector_ptr& selector);
    /// Removes durable subscription `name` and its messages.
    void unsubscribe_durable(const std::string& name, std::string_view topic);

    // Subscribing and acknowledging (session_subscribe.cpp).
    void on_subscribe(const protocol::frame_view& frame);
    void on_unsubscribe(const protocol::frame_view& frame);
    void on_ack(const protocol::frame_view& frame, bool positive);
    [[nodiscard]] std::optional<std::uint64_t> delivery_named(const protocol::frame_view& frame,
                                                              std::string_view what);
    /// `durable_receipt`: the ACK's RECEIPT must wait until the journal has
    /// removed what it settles.
    void apply_settlement(settlement& done, bool positive);
    void remove_subscription(subscription& sub);
    [[nodiscard]] result<void> register_subscriber(subscription& sub);
    [[nodiscard]] result<destination_handle> subscribe_target(std::string_view destination,
                                                              destination_kind kind, bool wildcard);

    // Temporary destinations, reply-to, selectors, browsing, wildcards
    // (session_destinations.cpp).
    struct temp_destination {
        std::string name;  ///< generated: /reply-queue/..., /remote-temp-queue/...
        destination_handle handle;
    };
    /// This connection's temporary destination for `alias` (/temp-queue/NAME
    /// or /temp-topic/NAME), made on first use. too_many_temporary, or why the
    /// registry refused it.
    [[nodiscard]] result<const temp_destination*> temporary(std::string_view alias,
                                                            destination_kind kind);
    /// SEND: the value its reply-to header is rewritten to (empty: left as
    /// it is); for a temporary alias, the destination is made and, if nothing
    /// consumes it yet, subscribed to (RabbitMQ's form). nullopt: the
    /// connection has been failed.
    [[nodiscard]] std::optional<std::string> reply_to_for(const protocol::frame_view& frame);
    /// SUBSCRIBE: selector, browser, exclusive, wildcard. False: the
    /// connection has been failed.
    bool read_features(const protocol::frame_view& frame, destination_kind kind,
                       std::string_view destination, subscription_features& out);
    [[nodiscard]] result<void> register_wildcard(subscription& sub);
    void unregister_wildcard(const subscription& sub);
    /// The connection's temporary destinations go with it.
    void delete_temporaries();
    /// A SEND to a temporary destination that no longer exists:
    /// temp.send_to_missing says whether that is an ERROR (false) or dropped
    /// and counted (unless the destination `counted` it already).
    bool missing_temporary(std::string_view destination, const protocol::frame_view* cause,
                           bool counted = false);

    // Deliveries (session_delivery.cpp).
    bool expired_now(const message& msg);
    void write_topic_message(subscription& sub, const protocol::message_template& tmpl,
                             const message& msg, std::uint64_t delivery, bool redelivered,
                             const message_ptr& shared_body);
    std::size_t write_queue_message(subscription& sub, const message& msg, std::uint64_t delivery,
                                    bool redelivered, std::uint64_t queue_sequence);
    void deliver_from_topic(subscription& sub, const message_ptr& msg,
                            const protocol::message_template& tmpl);
    void redeliver_topic(subscription& sub, unacked_delivery item);
    void dead_letter(const subscription& sub, const message& msg);
    void pump_backlog(subscription& sub);
    void settle_written(const std::vector<outbound_entry>& entries);

    // Flow control (session_flow.cpp).
    void wait_for_publisher_gate();
    void wait_for_output_room();
    void check_outbound();
    void judge_congestion(bool sample);
    void apply_verdict(const congestion_verdict& verdict);
    void hold_topics(bool all, bool blocking);
    void drop_queued_topic_messages(std::size_t target);
    void disconnect_slow(std::string_view why);
    policy_mix current_policies() const;
    std::size_t queued_bytes() const noexcept;

    // Output (session_output.cpp).
    void send_connected(protocol::version v, protocol::heart_beat server);
    void send_receipt(std::string_view receipt_id);
    void send_receipt_if_asked(const protocol::frame_view& frame);
    /// Queues an ERROR (with receipt-id when the failing frame asked for a
    /// receipt) and closes the connection once it is written.
    void fail(std::string_view message, std::string_view detail = {},
              const protocol::frame_view* cause = nullptr,
              std::span<const protocol::header> extra = {},
              transport::close_reason why = transport::close_reason::policy);
    void fail_with(errc e, std::string_view context, const protocol::frame_view* cause);
    void queue_control(std::string_view bytes);
    /// Serializes `frame` into the outbound queue as one entry like `entry`;
    /// returns its size.
    std::size_t enqueue_frame(const protocol::outgoing_frame& frame, outbound_entry entry);
    /// "<session>-<delivery>": the MESSAGE's ack header. The view is into
    /// `scratch`, which must outlive its use.
    std::string_view ack_id(std::uint64_t delivery, std::span<char, 48> scratch) const;
    std::optional<std::uint64_t> parse_ack_id(std::string_view id) const;

    consumer_key key_for(const subscription& sub) const { return {actor_.id(), sub.slot}; }

    broker_context& ctx_;
    const std::uint64_t id_;
    const std::string id_text_;
    connection_counters counters_;
    connection conn_;
    runtime::actor_ref<session_actor> actor_;

    // Connection state.
    bool connected_ = false;
    // A CONNECT has arrived: from then on its own checks (the verifier, a
    // failed login's delay) answer it, not limits.connect_timeout_ms.
    bool connect_seen_ = false;
    bool counted_unauthenticated_ = false;
    protocol::version version_ = protocol::version::v1_0;
    heartbeat_schedule heartbeats_{{}};
    std::string vhost_;
    std::string login_;
    std::string message_id_prefix_;
    std::optional<auth::verdict> auth_answer_;
    runtime::event auth_answered_;
    bool check_permissions_ = false;  ///< `permissions` configured: every frame is checked
    std::shared_ptr<const auth::vhost_permissions> permissions_;  ///< nullptr: deny all
    std::uint64_t permissions_generation_ = 0;  ///< broker_auth::generation they came from
    void follow_permission_reload();
    std::uint64_t next_message_ = 1;

    subscription_table subscriptions_;
    transaction_log transactions_;
    destination_cache publish_targets_;
    token_bucket new_destinations_;  ///< limits.max_new_destinations_per_second
    std::unique_ptr<publisher_gate> gate_;
    runtime::event resume_;
    congestion_tracker congestion_;
    bool watching_congestion_ = false;  ///< a congestion tick is scheduled
    bool reader_paused_ = false;        ///< over outbound.max_bytes: its frames wait
    bool reader_waiting_ = false;       ///< the reader is blocked in wait_to_read()
    std::unordered_map<runtime::actor_id, runtime::actor_ref<topic_actor>> holding_;
    std::unordered_map<std::string, temp_destination> temporaries_;  ///< by alias
    std::uint64_t next_temporary_ = 1;
    std::string slow_reason_;
    runtime::event output_room_;
    std::string client_id_;  ///< CONNECT's client-id (ActiveMQ's durable subscriptions)
    /// Durable subscriptions of this connection: subscription id -> (name, topic).
    std::unordered_map<std::string, std::pair<std::string, std::string>> durable_subs_;
    receipt_order receipts_;           ///< RECEIPTs waiting for the journal
    runtime::event durable_progress_;  ///< a durable operation finished
};

/// The session's mailbox: deliveries from queues on other schedulers,
/// rejections, shutdown, and the connection's timers (connect deadline,
/// heart-beats, congestion). Each handler passes straight to the session.
class session_actor : public runtime::gen_server<session_actor> {
  public:
    session_actor(std::shared_ptr<session> s, std::uint32_t connect_timeout_ms)
        : session_(std::move(s)), connect_timeout_ms_(connect_timeout_ms) {}

    bool init(runtime::exit_reason&);

    void handle_cast(queue_delivery& delivery) { session_->deliver_queue(delivery); }
    void handle_cast(browse_end& end) { session_->on_browse_end(end.slot); }
    void handle_cast(publish_rejected& rejected) { session_->on_publish_rejected(rejected); }
    void handle_cast(durable_done& done) { session_->on_durable_done(done); }
    void handle_cast(close_connection& request) { session_->close(request.reason); }
    void handle_cast(start_heartbeats& plan);
    void handle_cast(end_session&) { stop(); }
    void handle_cast(auth_result& answer) { session_->on_auth_result(answer.verdict); }
    void handle_cast(resume_reading&) { session_->on_resume(); }
    void handle_cast(watch_congestion&);
    void handle_info(congestion_tick&);
    void handle_info(heartbeat_send_tick&);
    void handle_info(heartbeat_check_tick&);
    void handle_info(connect_deadline&) { session_->on_connect_deadline(); }

  private:
    std::shared_ptr<session> session_;
    std::uint32_t connect_timeout_ms_;
};

}  // namespace stampede::broker
