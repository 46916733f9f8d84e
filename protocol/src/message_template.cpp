#include <cstring>

#include "escape.hpp"
#include "stampede/protocol/serializer.hpp"
#include "wire.hpp"

namespace stampede::protocol {

using detail::escaped_size;
using detail::escaping;
using detail::put;
using detail::write_escaped;

namespace {

constexpr std::string_view prefix_start = "MESSAGE\ndestination:";
constexpr std::string_view message_id_start = "\nmessage-id:";
constexpr std::string_view subscription_start = "\nsubscription:";
constexpr std::string_view ack_start = "ack:";

// Like serialize(), the template computes content-length itself and skips any
// given one, which keeps the two byte-for-byte identical.
bool skipped(const header& h) noexcept {
    return h.name == detail::content_length_header;
}

std::size_t header_size(const header& h, escaping e) noexcept {
    if (skipped(h)) {
        return 0;
    }
    return escaped_size(h.name, e) + 1 + escaped_size(h.value, e) + 1;
}

char* put_header(char* p, const header& h, escaping e) noexcept {
    if (skipped(h)) {
        return p;
    }
    p = write_escaped(p, h.name, e, true);
    *p++ = ':';
    p = write_escaped(p, h.value, e, false);
    *p++ = '\n';
    return p;
}

}  // namespace

// Lays out [prefix][suffix][body][NUL] in one string: the prefix runs through
// "message-id:", the suffix from the first user header through the blank line.
message_template::message_template(version v, std::string_view destination,
                                   std::span<const header> user_headers, std::string_view body)
    : version_(v) {
    const escaping e = detail::escaping_for(command::message, v);
    prefix_size_ = prefix_start.size() + escaped_size(destination, e) + message_id_start.size();
    suffix_size_ = detail::content_length_line_size(body.size()) + 1;
    for (const header& h : user_headers) {
        suffix_size_ += header_size(h, e);
    }
    bytes_.resize(prefix_size_ + suffix_size_ + body.size() + 1);
    char* p = put(bytes_.data(), prefix_start);
    p = write_escaped(p, destination, e, false);
    p = put(p, message_id_start);
    for (const header& h : user_headers) {
        p = put_header(p, h, e);
    }
    p = detail::put_content_length_line(p, body.size());
    *p++ = '\n';
    p = put(p, body);
    *p = '\0';
}

std::size_t message_template::head_size(std::string_view message_id, std::string_view subscription,
                                        std::string_view ack,
                                        std::span<const header> extra) const noexcept {
    const escaping e = detail::escaping_for(command::message, version_);
    std::size_t size = prefix_size_ + escaped_size(message_id, e) + subscription_start.size() +
                       escaped_size(subscription, e) + 1 + suffix_size_;
    if (!ack.empty()) {
        size += ack_start.size() + escaped_size(ack, e) + 1;
    }
    for (const header& h : extra) {
        size += header_size(h, e);
    }
    return size;
}

std::size_t message_template::write_head(std::span<char> out, std::string_view message_id,
                                         std::string_view subscription, std::string_view ack,
                                         std::span<const header> extra) const noexcept {
    const escaping e = detail::escaping_for(command::message, version_);
    char* p = put(out.data(), {bytes_.data(), prefix_size_});
    p = write_escaped(p, message_id, e, false);
    p = put(p, subscription_start);
    p = write_escaped(p, subscription, e, false);
    *p++ = '\n';
    if (!ack.empty()) {
        p = put(p, ack_start);
        p = write_escaped(p, ack, e, false);
        *p++ = '\n';
    }
    for (const header& h : extra) {
        p = put_header(p, h, e);
    }
    p = put(p, {bytes_.data() + prefix_size_, suffix_size_});
    return static_cast<std::size_t>(p - out.data());
}

std::size_t message_template::size(std::string_view message_id, std::string_view subscription,
                                   std::string_view ack,
                                   std::span<const header> extra) const noexcept {
    return head_size(message_id, subscription, ack, extra) + body().size() + 1;
}

std::size_t message_template::write(std::span<char> out, std::string_view message_id,
                                    std::string_view subscription, std::string_view ack,
                                    std::span<const header> extra) const noexcept {
    std::size_t n = write_head(out, message_id, subscription, ack, extra);
    // Body and NUL are contiguous in bytes_, so one copy does both.
    const std::size_t tail = body().size() + 1;
    std::memcpy(out.data() + n, bytes_.data() + prefix_size_ + suffix_size_, tail);
    return n + tail;
}

std::string_view message_template::body() const noexcept {
    return {bytes_.data() + prefix_size_ + suffix_size_,
            bytes_.size() - prefix_size_ - suffix_size_ - 1};
}

std::string_view message_template::tail() const noexcept {
    return {bytes_.data() + bytes_.size() - 1, 1};
}

}  // namespace stampede::protocol
