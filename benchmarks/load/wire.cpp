#include "wire.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "accounting.hpp"

namespace stampede::load {

char* out_buffer::reserve(std::size_t n) {
    if (size_ + n > capacity_) {
        const std::size_t capacity = std::max({size_ + n, capacity_ * 2, std::size_t{4096}});
        auto grown = std::make_unique_for_overwrite<char[]>(capacity);
        if (size_ != 0) {
            std::memcpy(grown.get(), data_.get(), size_);
        }
        data_ = std::move(grown);
        capacity_ = capacity;
    }
    return data_.get() + size_;
}

void out_buffer::append(std::string_view s) {
    if (s.empty()) {
        return;
    }
    std::memcpy(reserve(s.size()), s.data(), s.size());
    size_ += s.size();
}

void out_buffer::append(char c) {
    *reserve(1) = c;
    ++size_;
}

void out_buffer::append_uint(std::uint64_t v) {
    char* p = reserve(20);
    size_ += static_cast<std::size_t>(std::to_chars(p, p + 20, v).ptr - p);
}

void out_buffer::append_int(std::int64_t v) {
    char* p = reserve(21);
    size_ += static_cast<std::size_t>(std::to_chars(p, p + 21, v).ptr - p);
}

void begin_frame(out_buffer& out, std::string_view command) {
    out.append(command);
    out.append('\n');
}

void add_header(out_buffer& out, std::string_view name, std::string_view value) {
    out.append(name);
    out.append(':');
    out.append(value);
    out.append('\n');
}

void add_header(out_buffer& out, std::string_view name, std::uint64_t value) {
    out.append(name);
    out.append(':');
    out.append_uint(value);
    out.append('\n');
}

void add_header_escaped(out_buffer& out, std::string_view name, std::string_view value,
                        protocol::version v) {
    if (v == protocol::version::v1_0 || value.find_first_of("\\\n\r:") == std::string_view::npos) {
        add_header(out, name, value);
        return;
    }
    out.append(name);
    out.append(':');
    for (const char c : value) {
        switch (c) {
            case '\\':
                out.append("\\\\");
                break;
            case '\n':
                out.append("\\n");
                break;
            case ':':
                out.append("\\c");
                break;
            case '\r':
                // 1.1 has no \r escape: its parser kept the CR as it was.
                out.append(v == protocol::version::v1_2 ? std::string_view("\\r") : "\r");
                break;
            default:
                out.append(c);
        }
    }
    out.append('\n');
}

void end_frame(out_buffer& out) {
    out.append('\n');
    out.append('\0');
}

void end_frame(out_buffer& out, std::string_view body) {
    if (!body.empty()) {
        add_header(out, "content-length", body.size());
    }
    out.append('\n');
    out.append(body);
    out.append('\0');
}

void add_send(out_buffer& out, const send_spec& spec, std::uint64_t seq, std::int64_t ts_ns,
              std::optional<std::uint64_t> receipt) {
    const std::size_t length = body_size(spec.stream, seq, spec.body_size);
    begin_frame(out, "SEND");
    add_header(out, "destination", spec.destination);
    out.append("bench-ts:");
    out.append_int(ts_ns);
    out.append('\n');
    out.append(spec.extra);
    if (receipt) {
        out.append("receipt:r");
        out.append_uint(*receipt);
        out.append('\n');
    }
    add_header(out, "content-length", length);
    out.append('\n');
    char* body = out.reserve(length + 1);
    write_body(body, spec.stream, seq, spec.body_size);
    body[length] = '\0';
    out.commit(length + 1);
}

}  // namespace stampede::load
