// Frames a session sends: serialized straight into its outbound queue.

#include <charconv>

#include "errc.hpp"
#include "log_text.hpp"
#include "session.hpp"
#include "stampede/broker/version.hpp"
#include "stampede/protocol/serializer.hpp"
#include "stampede/runtime/log.hpp"

namespace stampede::broker {

namespace {
using protocol::command;
using protocol::header;
}  // namespace

std::vector<header>& scratch_headers() {
    thread_local std::vector<header> headers;
    headers.clear();
    return headers;
}

std::size_t session::enqueue_frame(const protocol::outgoing_frame& frame, outbound_entry entry) {
    outbound_queue& out = conn_.output();
    const std::size_t size = protocol::serialized_size(frame, version_);
    protocol::serialize(frame, version_, out.reserve(size));
    entry.size = entry.inline_size = static_cast<std::uint32_t>(size);
    out.commit(std::move(entry));
    conn_.wake_writer();
    check_outbound();
    return size;
}

void session::queue_control(std::string_view bytes) {
    conn_.output().push(bytes, entry_kind::control);
    conn_.wake_writer();
}

void session::send_connected(protocol::version v, protocol::heart_beat server) {
    const std::string beats = protocol::format_heart_beat(server);
    const header headers[] = {{"version", protocol::to_string(v)},
                              {"server", server_name},
                              {"session", id_text_},
                              {"heart-beat", beats}};
    enqueue_frame({command::connected, headers, {}}, {});
}

void session::send_receipt(std::string_view receipt_id) {
    const header headers[] = {{"receipt-id", receipt_id}};
    enqueue_frame({command::receipt, headers, {}}, {});
}

void session::send_receipt_if_asked(const protocol::frame_view& frame) {
    if (const auto receipt = frame.get("receipt")) {
        if (!receipts_.idle()) {
            receipts_.hold(std::string(*receipt));  // behind a durable operation
            return;
        }
        send_receipt(*receipt);
    }
}

void session::fail(std::string_view message, std::string_view detail,
                   const protocol::frame_view* cause, std::span<const header> extra,
                   transport::close_reason why) {
    if (conn_.closing()) {
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
    outbound_queue& out = conn_.output();
    const std::size_t size = protocol::serialized_size({command::error, headers, body}, version_);
    protocol::serialize({command::error, headers, body}, version_, out.reserve(size));
    out.commit({static_cast<std::uint32_t>(size), static_cast<std::uint32_t>(size),
                entry_kind::control, 0, 0, nullptr});
    // What a client causes is logged at a bounded rate, its text escaped.
    std::uint64_t suppressed = 0;
    if (client_error_budget().take(suppressed)) {
        runtime::log::info(
            "connection ", id_, " (", counters_.peer, "): ERROR ", escape_for_log(message),
            detail.empty() ? "" : ": ", escape_for_log(detail),
            suppressed > 0 ? " (" + std::to_string(suppressed) + " similar lines suppressed)"
                           : std::string());
    }
    conn_.begin_close(why);
}

namespace {

std::string error_text(errc e, std::string_view context, const config& cfg) {
    const std::string what(context);
    switch (e) {
        case errc::shutting_down:
            return "cannot " + what + ": the broker is shutting down";
        case errc::timed_out:
            return "cannot " + what +
                   ": the broker is overloaded (an internal request timed out); try again";
        case errc::too_many_destinations:
            return "cannot " + what + ": the broker already has " +
                   std::to_string(cfg.limits.max_destinations) +
                   " destinations (limits.max_destinations)";
        case errc::configure_denied:
            return "cannot " + what +
                   ": access refused: configure (creating the destination) is not permitted for "
                   "this user on this vhost (permissions)";
        case errc::destination_rate:
            return "cannot " + what + ": this connection creates new destinations faster than " +
                   std::to_string(cfg.limits.max_new_destinations_per_second) +
                   " per second (limits.max_new_destinations_per_second)";
        case errc::subscription_id_in_use:
            return "cannot " + what + ": the id is already in use on this connection";
        case errc::too_many_subscriptions:
            return "cannot " + what + ": too many subscriptions, the limit is " +
                   std::to_string(cfg.limits.max_subscriptions) +
                   " per connection (limits.max_subscriptions)";
        case errc::too_many_temporary:
            return "cannot " + what + ": too many temporary destinations, the limit is " +
                   std::to_string(cfg.temp.max_per_connection) +
                   " per connection (temp.max_per_connection)";
        case errc::subscribe_failed:
            return "cannot " + what + ": the topic could not take the subscriber; try again";
        case errc::unsupported_destination:
            return "cannot " + what + ": unsupported destination";
        default:
            return "cannot " + what + ": " + make_error_code(e).message();
    }
}

}  // namespace

void session::fail_with(errc e, std::string_view context, const protocol::frame_view* cause) {
    fail(error_text(e, context, ctx_.cfg), {}, cause);
}

void session::fail_transaction(errc e, std::string_view tx, std::string_view command,
                               const protocol::frame_view* cause) {
    const std::string name = "transaction '" + std::string(tx) + "'";
    const auto& l = ctx_.cfg.limits;
    switch (e) {
        case errc::no_such_transaction:
            fail(std::string(command) + " names " + name + ", which is not open", {}, cause);
            return;
        case errc::transaction_open:
            fail(name + " is already open", {}, cause);
            return;
        case errc::too_many_transactions:
            fail("too many open transactions: the limit is " + std::to_string(l.max_transactions) +
                     " per connection (limits.max_transactions)",
                 {}, cause);
            return;
        case errc::transaction_frames:
            fail(name + " exceeds the limit of " + std::to_string(l.max_frames_per_transaction) +
                     " frames (limits.max_frames_per_transaction); it was aborted",
                 {}, cause);
            return;
        case errc::transaction_bytes:
            fail("open transactions would hold more than " +
                     std::to_string(l.max_transaction_bytes) +
                     " bytes (limits.max_transaction_bytes); " + name + " was aborted",
                 {}, cause);
            return;
        default:
            fail_with(e, std::string(command) + " in " + name, cause);
            return;
    }
}

std::string_view session::ack_id(std::uint64_t delivery, std::span<char, 48> scratch) const {
    // The session id has at most 20 digits, the delivery number too.
    char* at = std::copy(id_text_.begin(), id_text_.end(), scratch.data());
    *at++ = '-';
    at = std::to_chars(at, scratch.data() + scratch.size(), delivery).ptr;
    return {scratch.data(), static_cast<std::size_t>(at - scratch.data())};
}

std::optional<std::uint64_t> session::parse_ack_id(std::string_view id) const {
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

}  // namespace stampede::broker
