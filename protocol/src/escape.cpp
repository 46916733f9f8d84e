#include "escape.hpp"

#include <cstring>

#include "scan.hpp"

namespace stampede::protocol::detail {
namespace {

std::size_t find_special(std::string_view text, escaping e, bool is_name) noexcept {
    switch (e) {
        case escaping::v1_2:
            return find_any<'\\', '\n', ':', '\r'>(text.data(), text.size());
        case escaping::v1_1:
            return find_any<'\\', '\n', ':'>(text.data(), text.size());
        case escaping::none:
            break;
    }
    return is_name ? find_any<'\n', '\r', ':'>(text.data(), text.size())
                   : find_any<'\n', '\r'>(text.data(), text.size());
}

/// The two-byte escape sequence's second byte for `c`.
char escape_letter(char c) noexcept {
    switch (c) {
        case '\n':
            return 'n';
        case '\r':
            return 'r';
        case ':':
            return 'c';
        default:
            return '\\';
    }
}

}  // namespace

escaping escaping_for(command c, version v) noexcept {
    if (c == command::connect || c == command::stomp || c == command::connected) {
        return escaping::none;
    }
    switch (v) {
        case version::v1_0:
            return escaping::none;
        case version::v1_1:
            return escaping::v1_1;
        case version::v1_2:
            return escaping::v1_2;
    }
    return escaping::none;
}

std::size_t escaped_size(std::string_view text, escaping e) noexcept {
    if (e == escaping::none) {
        return text.size();  // replacements keep the size
    }
    std::size_t size = text.size();
    for (std::size_t at = find_special(text, e, false); at != npos;
         at = find_special(text, e, false)) {
        ++size;
        text.remove_prefix(at + 1);
    }
    return size;
}

char* write_escaped(char* out, std::string_view text, escaping e, bool is_name) noexcept {
    for (;;) {
        const std::size_t at = find_special(text, e, is_name);
        const std::size_t run = at == npos ? text.size() : at;
        std::memcpy(out, text.data(), run);
        out += run;
        if (at == npos) {
            return out;
        }
        if (e == escaping::none) {
            *out++ = ' ';
        } else {
            *out++ = '\\';
            *out++ = escape_letter(text[at]);
        }
        text.remove_prefix(at + 1);
    }
}

std::size_t unescape_in_place(char* text, std::size_t size, bool allow_cr) noexcept {
    const std::size_t first = find_byte(text, 0, size, '\\');
    if (first == npos) {
        return size;
    }
    std::size_t out = first;
    for (std::size_t in = first; in < size; ++in) {
        if (text[in] != '\\') {
            text[out++] = text[in];
            continue;
        }
        if (++in == size) {
            return npos;  // a lone backslash at the end escapes nothing
        }
        switch (text[in]) {
            case '\\':
                text[out++] = '\\';
                break;
            case 'n':
                text[out++] = '\n';
                break;
            case 'c':
                text[out++] = ':';
                break;
            case 'r':
                if (!allow_cr) {
                    return npos;
                }
                text[out++] = '\r';
                break;
            default:
                return npos;
        }
    }
    return out;
}

}  // namespace stampede::protocol::detail
