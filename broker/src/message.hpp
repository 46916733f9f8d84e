#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stampede/protocol/frame.hpp"

namespace stampede::broker {

class publish_credit;

/// When a message may be delivered, until when, and how urgently: read from
/// its SEND (message_timing.hpp), then stamped when it is published.
/// Times are milliseconds since the Unix epoch (the unit of the headers).
struct message_timing {
    std::uint8_t priority = 4;    ///< 0-9, JMS's default 4
    std::int64_t expires = 0;     ///< `expires` header: an absolute deadline; 0: none
    std::int64_t ttl_ms = -1;     ///< `expiration` header (RabbitMQ's TTL); -1: none
    std::int64_t delay_ms = 0;    ///< `AMQ_SCHEDULED_DELAY`; 0: none
    std::int64_t expires_at = 0;  ///< stamped: the last moment it may be delivered; 0: never
    std::int64_t deliver_at = 0;  ///< stamped: not delivered before; 0: at once
};

/// A message accepted from a SEND. Immutable once built and shared (across
/// schedulers) by every destination and delivery that needs it; its bytes are
/// owned, never views into a receive buffer (STYLE.md, buffers rule 5).
class message {
  public:
    /// Copies what a MESSAGE must carry out of `send`: the destination and the
    /// user headers (every header but the broker-owned ones), and the body.
    /// `id` is the message's identity, its `message-id` on every delivery.
    /// A non-empty `reply_to` replaces the SEND's reply-to header (a
    /// temporary destination's alias rewritten to its name).
    static std::shared_ptr<message> from_send(const protocol::frame_view& send,
                                              std::string_view destination, std::string id,
                                              std::string_view reply_to = {});

    /// The same message (same id) bound for another destination, with one
    /// header added (dead-lettering records where it came from). With
    /// `new_id`, a copy with that identity and an `original-message-id` header.
    std::shared_ptr<message> redirected(std::string_view destination, protocol::header added,
                                        std::string new_id = {}, protocol::header also = {}) const;

    /// The message's identity: the same on every delivery of it.
    const std::string& id() const noexcept { return id_; }
    const std::string& destination() const noexcept { return destination_; }
    /// The user headers, as the SEND had them.
    std::span<const protocol::header> headers() const noexcept {
        return {headers_.data(), user_headers_};
    }
    /// What a selector sees: the user headers, then `destination` and `message-id`.
    std::span<const protocol::header> selector_headers() const noexcept { return headers_; }

    const message_timing& timing() const noexcept { return timing_; }
    /// Sets what the SEND asked for; before the message is shared.
    void set_timing(const message_timing& t) noexcept { timing_ = t; }
    /// Fixes its deadlines as it is published at `now`, with its destination's
    /// default time to live (0: none); before the message is shared.
    void stamp(std::int64_t now, std::uint64_t default_ttl_ms) noexcept;
    /// Whether it must no longer be delivered at `now`.
    bool expired(std::int64_t now) const noexcept {
        return timing_.expires_at != 0 && now > timing_.expires_at;
    }
    std::uint8_t priority() const noexcept { return timing_.priority; }
    std::string_view body() const noexcept { return body_; }

    /// Bytes this message holds, for accounting queue depth and memory.
    std::size_t footprint() const noexcept { return footprint_; }

    /// Publisher flow control: the publisher's credit comes back once every
    /// handler has called handled(). A message starts with one handler, its
    /// destination; a topic adds one per relay it fans the message out to.
    void charge(std::shared_ptr<publish_credit> credit);
    void add_handlers(std::uint32_t n) const noexcept {
        pending_.fetch_add(n, std::memory_order_relaxed);
    }
    void handled() const noexcept;
    /// Gives the publisher's credit back now, once (a topic holding a delayed
    /// message: the publisher must not wait for its delay). Only while the
    /// caller is the message's one handler.
    void release_credit() const noexcept;

  private:
    /// Copies `list` into this message's own storage. `list` may view memory
    /// of another message, never of this one.
    void set_headers(std::span<const protocol::header> list);
    void account() noexcept;

    std::string id_;
    std::string destination_;
    std::string header_bytes_;               // names and values, back to back
    std::vector<protocol::header> headers_;  // views into header_bytes_, then the two below
    std::size_t user_headers_ = 0;
    std::string body_;
    message_timing timing_;
    std::size_t footprint_ = 0;
    mutable std::atomic<std::uint32_t> pending_{1};
    mutable std::shared_ptr<publish_credit> credit_;
};

using message_ptr = std::shared_ptr<const message>;

/// True for headers the broker sets itself on a MESSAGE (or that only mean
/// something on the SEND), which are therefore not copied from a SEND.
bool is_broker_owned_header(std::string_view name) noexcept;

}  // namespace stampede::broker
