#include "stampede/protocol/serializer.hpp"

#include <charconv>
#include <cstring>

#include "escape.hpp"
#include "wire.hpp"

namespace stampede::protocol {

using detail::escaped_size;
using detail::escaping;
using detail::write_escaped;

namespace {

/// Whether the serializer writes this header itself rather than as given.
bool computed_by_us(const outgoing_frame& f, const header& h) noexcept {
    return carries_body(f.cmd) && h.name == detail::content_length_header;
}

}  // namespace

std::size_t serialized_size(const outgoing_frame& f, version v) noexcept {
    const escaping e = detail::escaping_for(f.cmd, v);
    std::size_t size = to_string(f.cmd).size() + 1;
    for (const header& h : f.headers) {
        if (!computed_by_us(f, h)) {
            size += escaped_size(h.name, e) + 1 + escaped_size(h.value, e) + 1;
        }
    }
    if (carries_body(f.cmd)) {
        size += detail::content_length_line_size(f.body.size());
    }
    return size + 1 + f.body.size() + 1;
}

std::size_t serialize(const outgoing_frame& f, version v, std::span<char> out) noexcept {
    const escaping e = detail::escaping_for(f.cmd, v);
    char* p = detail::put(out.data(), to_string(f.cmd));
    *p++ = '\n';
    for (const header& h : f.headers) {
        if (!computed_by_us(f, h)) {
            p = write_escaped(p, h.name, e, true);
            *p++ = ':';
            p = write_escaped(p, h.value, e, false);
            *p++ = '\n';
        }
    }
    if (carries_body(f.cmd)) {
        p = detail::put_content_length_line(p, f.body.size());
    }
    *p++ = '\n';
    p = detail::put(p, f.body);
    *p++ = '\0';
    return static_cast<std::size_t>(p - out.data());
}

std::string serialize_to_string(const outgoing_frame& f, version v) {
    std::string text(serialized_size(f, v), '\0');
    text.resize(serialize(f, v, text));
    return text;
}

}  // namespace stampede::protocol
