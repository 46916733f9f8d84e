#include "stampede/protocol/parser.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "escape.hpp"
#include "scan.hpp"

namespace stampede::protocol {
namespace {

using detail::find_byte;
using detail::npos;
using detail::saturating_add;

constexpr std::string_view content_length_name = "content-length";

constexpr parse_result need_more() noexcept {
    return {parse_status::need_more, 0, errc::ok};
}

}  // namespace

parser::parser(limits l) : limits_(l) {}

void parser::reset() noexcept {
    phase_ = phase::start;
    has_content_length_ = false;
    content_length_ = 0;
    line_ = scan_ = body_ = 0;
    raw_headers_.clear();
    headers_.clear();
    frame_ = {};
}

parse_result parser::parse(std::span<char> input) {
    if (phase_ == phase::start) {
        if (auto r = parse_start(input)) {
            return *r;
        }
    }
    if (phase_ == phase::command) {
        if (auto r = parse_command_line(input)) {
            return *r;
        }
    }
    while (phase_ == phase::headers) {
        if (auto r = parse_header_line(input)) {
            return *r;
        }
    }
    std::size_t body_end = 0;
    if (auto r = find_body_end(input, body_end)) {
        return *r;
    }
    return complete(input, body_end);
}

// Starts a frame, unless `in` begins between frames (see skip_between_frames).
// Returns nullopt once a frame has started.
std::optional<parse_result> parser::parse_start(std::span<char> in) {
    if (in.empty()) {
        return need_more();
    }
    // Frames mostly follow one another directly: one test lets them through.
    const char first = in[0];
    if (first == '\n' || first == '\r' || first == '\0') {
        if (auto r = skip_between_frames(in)) {
            return r;
        }
    }
    phase_ = phase::command;
    has_content_length_ = false;
    content_length_ = 0;
    line_ = scan_ = body_ = 0;
    raw_headers_.clear();
    return std::nullopt;
}

// Between frames: a run of EOLs is a heart-beat, reported on its own so the
// caller can count it as traffic; a lenient parser takes NULs into the run
// (clients that end frames with two NULs, or pad with them). Returns nullopt
// when `in` starts a frame after all (a NUL when strict, a CR where CR is an
// ordinary octet), which then fails as a command.
std::optional<parse_result> parser::skip_between_frames(std::span<char> in) {
    const bool cr = cr_allowed();
    const bool skip_nul = !limits_.strict;
    std::size_t i = 0;
    std::size_t nuls = 0;
    while (i < in.size()) {
        const char c = in[i];
        if (c == '\n') {
            ++i;
        } else if (cr && c == '\r' && i + 1 < in.size() && in[i + 1] == '\n') {
            i += 2;
        } else if (skip_nul && c == '\0') {
            ++i;
            ++nuls;
        } else {
            break;
        }
    }
    if (i > 0) {
        leniency_.stray_nuls += nuls;  // the whole run is consumed: counted once
        return parse_result{parse_status::heartbeat, i, errc::ok};
    }
    if (cr && in[0] == '\r') {
        // A lone CR may be the first half of a CR LF heart-beat.
        return in.size() == 1 ? need_more() : fail(errc::invalid_eol);
    }
    return std::nullopt;
}

// Finds the command line's LF within the command-line and frame limits, checks
// the command and picks the frame's escaping. Returns nullopt once the
// headers phase has begun.
std::optional<parse_result> parser::parse_command_line(std::span<char> in) {
    const std::size_t line_limit = saturating_add(limits_.max_command_line, 2);  // CR LF
    const std::size_t lf =
        find_byte(in.data(), scan_, std::min({in.size(), line_limit, limits_.max_frame}), '\n');
    if (lf == npos) {
        return missing_line_end(in.size(), line_limit, errc::command_too_long);
    }
    std::size_t end = lf;
    if (cr_allowed()) {
        if (end > 0 && in[end - 1] == '\r') {
            --end;
        }
        if (find_byte(in.data(), 0, end, '\r') != npos) {
            return fail(errc::invalid_eol);
        }
    }
    if (end > limits_.max_command_line) {
        return fail(errc::command_too_long);
    }
    const std::optional<command> cmd = parse_command({in.data(), end});
    if (!cmd) {
        return fail(errc::unknown_command);
    }
    cmd_ = *cmd;
    // Before negotiation only CONNECT/STOMP/CONNECTED are expected; other
    // commands get the most permissive rules, 1.2's.
    const detail::escaping e = detail::escaping_for(cmd_, version_.value_or(version::v1_2));
    unescape_ = e != detail::escaping::none;
    unescape_cr_ = e == detail::escaping::v1_2;
    phase_ = phase::headers;
    line_ = scan_ = lf + 1;
    return std::nullopt;
}

// Parses one header line, or the blank line that ends the headers. Returns
// nullopt when the caller should go on (next line, or the body phase).
std::optional<parse_result> parser::parse_header_line(std::span<char> in) {
    const std::size_t line_limit =
        saturating_add(saturating_add(line_, limits_.max_header_line), 2);
    const std::size_t lf =
        find_byte(in.data(), scan_, std::min({in.size(), line_limit, limits_.max_frame}), '\n');
    if (lf == npos) {
        return missing_line_end(in.size(), line_limit, errc::header_line_too_long);
    }
    std::size_t end = lf;
    if (cr_allowed() && end > line_ && in[end - 1] == '\r') {
        --end;
    }
    if (end == line_) {
        body_ = lf + 1;
        return begin_body();
    }
    if (auto r = add_header(in, end)) {
        return r;
    }
    line_ = scan_ = lf + 1;
    return std::nullopt;
}

// Validates the header line [line_, end) and records it as offsets. The
// first content-length is parsed here so that an oversized body is refused
// before any of it arrives.
std::optional<parse_result> parser::add_header(std::span<char> in, std::size_t end) {
    const std::size_t size = end - line_;
    if (size > limits_.max_header_line) {
        return fail(errc::header_line_too_long);
    }
    if (raw_headers_.size() >= limits_.max_headers) {
        return fail(errc::too_many_headers);
    }
    const char* line = in.data() + line_;
    if (cr_allowed() && find_byte(line, 0, size, '\r') != npos) {
        return fail(errc::invalid_eol);
    }
    const std::size_t colon = find_byte(line, 0, size, ':');
    if (colon == npos || colon == 0) {
        return fail(errc::malformed_header);
    }
    const bool escaped = unescape_ && find_byte(line, 0, size, '\\') != npos;
    // An escaped name cannot unescape to "content-length" (none of CR, LF,
    // colon or backslash is in it), so the raw comparison is exact.
    if (!has_content_length_ && std::string_view(line, colon) == content_length_name) {
        if (!detail::parse_decimal(std::string_view(line + colon + 1, size - colon - 1),
                                   content_length_)) {
            return fail(errc::invalid_content_length);
        }
        has_content_length_ = true;
    }
    raw_headers_.push_back({line_, colon, line_ + colon + 1, size - colon - 1, escaped});
    return std::nullopt;
}

// The headers have ended at body_. Refuses at once a body the command may not
// carry and a content-length the frame limit cannot hold.
std::optional<parse_result> parser::begin_body() {
    phase_ = phase::body;
    scan_ = body_;
    if (has_content_length_ && content_length_ > 0 && !carries_body(cmd_)) {
        return fail(errc::body_not_allowed);
    }
    // The NUL at body_ + content-length must lie below max_frame.
    if (body_ >= limits_.max_frame ||
        (has_content_length_ && content_length_ >= limits_.max_frame - body_)) {
        return fail(errc::frame_too_large);
    }
    return std::nullopt;
}

// Locates the body's end (the offset of its terminating NUL). Returns nullopt
// with body_end set once found.
std::optional<parse_result> parser::find_body_end(std::span<char> in, std::size_t& body_end) {
    if (has_content_length_) {
        const std::size_t end = body_ + content_length_;
        if (in.size() <= end) {
            return need_more();
        }
        if (in[end] != '\0') {
            return fail(errc::missing_null_after_body);
        }
        body_end = end;
        return std::nullopt;
    }
    if (!carries_body(cmd_)) {
        return find_bodiless_end(in, body_end);
    }
    const std::size_t limit = std::min(in.size(), limits_.max_frame);
    const std::size_t nul = find_byte(in.data(), scan_, limit, '\0');
    if (nul == npos) {
        scan_ = std::max(scan_, limit);
        return in.size() >= limits_.max_frame ? fail(errc::frame_too_large) : need_more();
    }
    body_end = nul;
    return std::nullopt;
}

// A frame that carries no body ends with the NUL right after its headers. A
// lenient parser first skips EOLs (by the version's rules), which some
// clients write before the NUL; they count toward the frame limit. Decides
// from the bytes below max_frame alone, so every split decides the same.
std::optional<parse_result> parser::find_bodiless_end(std::span<char> in, std::size_t& body_end) {
    const std::size_t limit = std::min(in.size(), limits_.max_frame);
    const bool lenient = !limits_.strict;
    const bool cr = lenient && cr_allowed();
    std::size_t i = scan_;
    if (lenient) {
        while (i < limit) {
            if (in[i] == '\n') {
                ++i;
            } else if (cr && in[i] == '\r' && i + 1 < limit && in[i + 1] == '\n') {
                i += 2;
            } else {
                break;
            }
        }
        scan_ = i;
    }
    if (i < limit && in[i] == '\0') {
        if (i > body_) {
            ++leniency_.eol_bodies;
            body_ = i;  // the EOLs are dropped: the frame has no body
        }
        body_end = i;
        return std::nullopt;
    }
    // Undecided: nothing left to look at, or a CR whose LF may come next.
    const bool undecided = i == limit || (cr && in[i] == '\r' && i + 1 == limit);
    if (!undecided) {
        return fail(errc::body_not_allowed);
    }
    return in.size() >= limits_.max_frame ? fail(errc::frame_too_large) : need_more();
}

// No LF in what has been scanned of the current line. Remembers how far the
// scan got, then decides from the bytes at hand alone (so that every split
// of the input decides the same): the line limit is breached, the frame limit
// is breached, or more input may still complete the line.
std::optional<parse_result> parser::missing_line_end(std::size_t size, std::size_t line_limit,
                                                     errc line_error) noexcept {
    scan_ = std::max(scan_, std::min({size, line_limit, limits_.max_frame}));
    if (line_limit <= limits_.max_frame && size >= line_limit) {
        return fail(line_error);
    }
    if (size >= limits_.max_frame) {
        return fail(errc::frame_too_large);
    }
    return need_more();
}

// The frame [0, body_end] is whole: unescapes its headers in place (now and
// only now, so a resumed frame is never unescaped twice), publishes the views
// and readies the parser for the next frame.
parse_result parser::complete(std::span<char> in, std::size_t body_end) {
    headers_.clear();
    for (const raw_header& h : raw_headers_) {
        std::size_t name_size = h.name_size;
        std::size_t value_size = h.value_size;
        if (h.escaped) {
            name_size = detail::unescape_in_place(in.data() + h.name, h.name_size, unescape_cr_);
            value_size = detail::unescape_in_place(in.data() + h.value, h.value_size, unescape_cr_);
            if (name_size == npos || value_size == npos) {
                return fail(errc::invalid_escape);
            }
        }
        headers_.push_back({{in.data() + h.name, name_size}, {in.data() + h.value, value_size}});
    }
    frame_ = frame_view{cmd_, headers_, {in.data() + body_, body_end - body_}};
    phase_ = phase::start;
    return {parse_status::complete, body_end + 1, errc::ok};
}

parse_result parser::fail(errc e) noexcept {
    phase_ = phase::start;
    return {parse_status::error, 0, e};
}

}  // namespace stampede::protocol
