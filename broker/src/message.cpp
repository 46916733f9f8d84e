#include "message.hpp"

#include <array>

#include "flow.hpp"

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
    headers_.reserve(list.size());
    std::size_t at = 0;
    for (const auto& h : list) {
        headers_.push_back(
            {all.substr(at, h.name.size()), all.substr(at + h.name.size(), h.value.size())});
        at += h.name.size() + h.value.size();
    }
}

void message::account() noexcept {
    footprint_ = sizeof(message) + id_.size() + destination_.size() + header_bytes_.size() +
                 headers_.size() * sizeof(protocol::header) + body_.size();
}

std::shared_ptr<message> message::from_send(const protocol::frame_view& send,
                                            std::string_view destination, std::string id) {
    std::vector<protocol::header> user;
    user.reserve(send.headers.size());
    for (const auto& h : send.headers) {
        if (!is_broker_owned_header(h.name)) {
            user.push_back(h);
        }
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
                                             std::string new_id) const {
    std::vector<protocol::header> list(headers_.begin(), headers_.end());  // views of *this
    list.push_back(added);
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

void message::charge(std::shared_ptr<publish_credit> credit) {
    credit->take(footprint_);
    credit_ = std::move(credit);
}

void message::handled() const noexcept {
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1 && credit_) {
        credit_->give_back(footprint_);
    }
}

}  // namespace stampede::broker
