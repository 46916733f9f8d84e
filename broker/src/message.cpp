#include "message.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>

#include "flow.hpp"
#include "stampede/routing/expiry.hpp"

namespace stampede::broker {

bool is_broker_owned_header(std::string_view name) noexcept {
    static constexpr std::array<std::string_view, 8> owned = {
        "destination", "content-length", "transaction", "receipt",
        "message-id",  "subscription",   "ack",         "redelivered"};
    for (std::string_view o : owned) {
        if (o == name) {
            return true;
        }
    }
    return false;
}

void message::set_headers(std::span<const protocol::header> list) {
    std::size_t bytes = 0;
    for (const auto& h : list) {
        bytes += h.name.size() + h.value.size();
    }
    header_bytes_.clear();
    header_bytes_.reserve(bytes);
    for (const auto& h : list) {
        header_bytes_.append(h.name).append(h.value);
    }
    // Views only now that the storage is in its final place (a moved small
    // string would take its bytes along).
    const std::string_view all(header_bytes_);
    headers_.clear();
    headers_.reserve(list.size() + 2);
    std::size_t at = 0;
    for (const auto& h : list) {
        headers_.push_back(
            {all.substr(at, h.name.size()), all.substr(at + h.name.size(), h.value.size())});
        at += h.name.size() + h.value.size();
    }
    user_headers_ = headers_.size();
    // For selectors (JMSDestination, JMSMessageID): views of members that
    // never move (a message is never moved once built).
    headers_.push_back({"destination", destination_});
    headers_.push_back({"message-id", id_});
}

void message::account() noexcept {
    footprint_ = sizeof(message) + id_.size() + destination_.size() + header_bytes_.size() +
                 headers_.size() * sizeof(protocol::header) + body_.size();
}

std::shared_ptr<message> message::from_send(const protocol::frame_view& send,
                                            std::string_view destination, std::string id,
                                            std::string_view reply_to) {
    std::vector<protocol::header> user;
    user.reserve(send.headers.size());
    bool replaced = false;
    for (const auto& h : send.headers) {
        if (is_broker_owned_header(h.name)) {
            continue;
        }
        if (!reply_to.empty() && h.name == "reply-to") {
            if (!replaced) {  // the first of a repeated header is the one that counts
                user.push_back({h.name, reply_to});
                replaced = true;
            }
            continue;
        }
        user.push_back(h);
    }
    auto m = std::make_shared<message>();
    m->id_ = std::move(id);
    m->destination_ = destination;
    m->set_headers(user);
    m->body_ = send.body;
    m->account();
    return m;
}

std::shared_ptr<message> message::redirected(std::string_view destination, protocol::header added,
                                             std::string new_id, protocol::header also) const {
    const auto own = headers();
    std::vector<protocol::header> list(own.begin(), own.end());  // views of *this
    list.push_back(added);
    if (!also.name.empty()) {
        list.push_back(also);
    }
    auto m = std::make_shared<message>();
    if (new_id.empty()) {
        m->id_ = id_;
    } else {
        m->id_ = std::move(new_id);
        list.push_back({"original-message-id", id_});
    }
    m->destination_ = destination;
    m->set_headers(list);
    m->body_ = body_;
    m->account();
    return m;
}

void message::stamp(std::int64_t now, std::uint64_t default_ttl_ms) noexcept {
    routing::expiry_policy policy;
    if (default_ttl_ms > 0) {
        policy.default_ttl_ms = static_cast<std::int64_t>(
            std::min<std::uint64_t>(default_ttl_ms, std::numeric_limits<std::int64_t>::max()));
    }
    const auto deadline = routing::expiry_deadline(
        now, timing_.expires != 0 ? std::optional<std::int64_t>(timing_.expires) : std::nullopt,
        timing_.ttl_ms >= 0 ? std::optional<std::int64_t>(timing_.ttl_ms) : std::nullopt, policy);
    // An expiry that would read as "never" (0) is as expired as can be.
    timing_.expires_at = deadline ? std::max<std::int64_t>(*deadline, 1) : 0;
    std::int64_t at = 0;
    timing_.deliver_at = timing_.delay_ms <= 0 ? 0
                         : __builtin_add_overflow(now, timing_.delay_ms, &at)
                             ? std::numeric_limits<std::int64_t>::max()
                             : at;
}

void message::charge(std::shared_ptr<publish_credit> credit) {
    credit->take(footprint_);
    credit_ = std::move(credit);
}

void message::release_credit() const noexcept {
    if (auto credit = std::move(credit_)) {
        credit->give_back(footprint_);
    }
}

void message::handled() const noexcept {
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1 && credit_) {
        credit_->give_back(footprint_);
    }
}

}  // namespace stampede::broker
