// Frames a session sends: serialized straight into its outbound queue.

#include <charconv>

#include "session.hpp"
#include "stampede/broker/version.hpp"
#include "stampede/protocol/serializer.hpp"
#include "stampede/runtime/log.hpp"

namespace stampede::broker {

namespace {

using protocol::command;
using protocol::header;

// Scratch space for the headers of one outgoing frame (never on a fiber stack).
std::vector<header>& scratch_headers() {
    thread_local std::vector<header> headers;
    headers.clear();
    return headers;
}

}  // namespace

void session::queue_control(std::string_view bytes) {
    out_.push(bytes, entry_kind::control);
    counters_.outbound_bytes = out_.bytes();
    wake_writer();
}

// Serializes `frame` into the outbound queue as one entry like `entry`.
static std::size_t enqueue(outbound_queue& out, const protocol::outgoing_frame& frame,
                           protocol::version v, outbound_entry entry) {
    const std::size_t size = protocol::serialized_size(frame, v);
    protocol::serialize(frame, v, out.reserve(size));
    entry.size = entry.inline_size = static_cast<std::uint32_t>(size);
    out.commit(std::move(entry));
    return size;
}

void session::send_connected(protocol::version v, protocol::heart_beat server) {
    const std::string beats = protocol::format_heart_beat(server);
    const header headers[] = {{"version", protocol::to_string(v)},
                              {"server", server_name},
                              {"session", id_text_},
                              {"heart-beat", beats}};
    enqueue(out_, {command::connected, headers, {}}, v, {});
    wake_writer();
}

void session::send_receipt(std::string_view receipt_id) {
    const header headers[] = {{"receipt-id", receipt_id}};
    enqueue(out_, {command::receipt, headers, {}}, version_, {});
    wake_writer();
}

void session::send_receipt_if_asked(const protocol::frame_view& frame) {
    if (const auto receipt = frame.get("receipt")) {
        send_receipt(*receipt);
    }
}

void session::fail(std::string_view message, std::string_view detail,
                   const protocol::frame_view* cause, std::span<const header> extra) {
    if (closing_) {
        return;
    }
    auto& headers = scratch_headers();
    headers.push_back({"message", message});
    headers.push_back({"content-type", "text/plain"});
    if (cause != nullptr) {
        if (const auto receipt = cause->get("receipt")) {
            headers.push_back({"receipt-id", *receipt});
        }
    }
    headers.insert(headers.end(), extra.begin(), extra.end());
    const std::string body = detail.empty() ? std::string(message) : std::string(detail);
    enqueue(out_, {command::error, headers, body}, version_, {});
    runtime::log::info("connection ", id_, " (", counters_.peer, "): ERROR ", message,
                       detail.empty() ? "" : ": ", detail);
    closing_ = true;
    wake_writer();
}

std::string_view session::message_id(std::uint64_t delivery, std::span<char, 48> scratch) const {
    // The session id has at most 20 digits, the delivery number too.
    char* at = std::copy(id_text_.begin(), id_text_.end(), scratch.data());
    *at++ = '-';
    at = std::to_chars(at, scratch.data() + scratch.size(), delivery).ptr;
    return {scratch.data(), static_cast<std::size_t>(at - scratch.data())};
}

std::string session::message_id(std::uint64_t delivery) const {
    char scratch[48];
    return std::string(message_id(delivery, scratch));
}

std::optional<std::uint64_t> session::parse_message_id(std::string_view id) const {
    if (id.size() <= id_text_.size() + 1 || !id.starts_with(id_text_) ||
        id[id_text_.size()] != '-') {
        return std::nullopt;
    }
    const std::string_view digits = id.substr(id_text_.size() + 1);
    std::uint64_t delivery = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), delivery);
    if (ec != std::errc{} || end != digits.data() + digits.size()) {
        return std::nullopt;
    }
    return delivery;
}

void session::write_topic_message(subscription& sub, const protocol::message_template& tmpl,
                                  std::uint64_t delivery, bool redelivered,
                                  const message_ptr& shared_body) {
    char scratch[48];
    const std::string_view id = message_id(delivery, scratch);
    const std::string_view ack = sub.mode == ack_mode::automatic ? std::string_view() : id;
    static constexpr header redelivered_header[] = {{"redelivered", "true"}};
    const std::span<const header> extra =
        redelivered ? std::span<const header>(redelivered_header) : std::span<const header>();
    outbound_entry entry{0, 0, entry_kind::topic_message, sub.slot, delivery, nullptr};
    if (shared_body) {
        const std::size_t head = tmpl.head_size(id, sub.id, ack, extra);
        tmpl.write_head(out_.reserve(head), id, sub.id, ack, extra);
        entry.inline_size = static_cast<std::uint32_t>(head);
        entry.size = static_cast<std::uint32_t>(head + shared_body->body().size() + 1);
        entry.body = shared_body;
    } else {
        const std::size_t size = tmpl.size(id, sub.id, ack, extra);
        tmpl.write(out_.reserve(size), id, sub.id, ack, extra);
        entry.size = entry.inline_size = static_cast<std::uint32_t>(size);
    }
    out_.commit(std::move(entry));
    ++counters_.messages_out;
    counters_.outbound_bytes = out_.bytes();
    wake_writer();
}

std::size_t session::write_queue_message(subscription& sub, const message& msg,
                                         std::uint64_t delivery, bool redelivered,
                                         std::uint64_t queue_sequence) {
    char scratch[48];
    const std::string_view id = message_id(delivery, scratch);
    auto& headers = scratch_headers();
    headers.push_back({"destination", msg.destination()});
    headers.push_back({"message-id", id});
    headers.push_back({"subscription", sub.id});
    if (sub.mode != ack_mode::automatic) {
        headers.push_back({"ack", id});
    }
    if (redelivered) {
        headers.push_back({"redelivered", "true"});
    }
    headers.insert(headers.end(), msg.headers().begin(), msg.headers().end());
    // Auto-ack deliveries are settled with the queue once written (see settle_written).
    outbound_entry entry{0, 0, entry_kind::queue_message, 0, 0, nullptr};
    if (sub.mode == ack_mode::automatic) {
        entry.slot = sub.slot;
        entry.sequence = queue_sequence;
    }
    const std::size_t size =
        enqueue(out_, {command::message, headers, msg.body()}, version_, entry);
    ++counters_.messages_out;
    counters_.outbound_bytes = out_.bytes();
    wake_writer();
    return size;
}

}  // namespace stampede::broker
