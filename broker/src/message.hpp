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

/// A message accepted from a SEND. Immutable once built and shared (across
/// schedulers) by every destination and delivery that needs it; its bytes are
/// owned, never views into a receive buffer (STYLE.md, buffers rule 5).
class message {
  public:
    /// Copies what a MESSAGE must carry out of `send`: the destination and the
    /// user headers (every header but the broker-owned ones), and the body.
    /// `id` is the message's identity, its `message-id` on every delivery.
    static std::shared_ptr<message> from_send(const protocol::frame_view& send,
                                              std::string_view destination, std::string id);

    /// The same message (same id) bound for another destination, with one
    /// header added (dead-lettering records where it came from). With
    /// `new_id`, a copy with that identity and an `original-message-id` header.
    std::shared_ptr<message> redirected(std::string_view destination, protocol::header added,
                                        std::string new_id = {}) const;

    /// The message's identity: the same on every delivery of it.
    const std::string& id() const noexcept { return id_; }
    const std::string& destination() const noexcept { return destination_; }
    std::span<const protocol::header> headers() const noexcept { return headers_; }
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

  private:
    /// Copies `list` into this message's own storage. `list` may view memory
    /// of another message, never of this one.
    void set_headers(std::span<const protocol::header> list);
    void account() noexcept;

    std::string id_;
    std::string destination_;
    std::string header_bytes_;               // names and values, back to back
    std::vector<protocol::header> headers_;  // views into header_bytes_
    std::string body_;
    std::size_t footprint_ = 0;
    mutable std::atomic<std::uint32_t> pending_{1};
    std::shared_ptr<publish_credit> credit_;
};

using message_ptr = std::shared_ptr<const message>;

/// True for headers the broker sets itself on a MESSAGE (or that only mean
/// something on the SEND), which are therefore not copied from a SEND.
bool is_broker_owned_header(std::string_view name) noexcept;

}  // namespace stampede::broker
