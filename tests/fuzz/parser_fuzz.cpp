// libFuzzer target for the STOMP parser and serializer.
//
// The first input byte picks the parser's mode: bits 0-1 the negotiated
// version (none, 1.0, 1.1, 1.2), bits 2-3 the limits (defaults, small, tiny,
// before-CONNECT), bit 4 limits::strict. The rest is a byte stream as a
// connection would receive it.
//
// Beyond not crashing (ASan, UBSan), every input must satisfy:
// - the stream parsed whole, parsed in two chunks cut at a point derived from
//   the input, and (for short inputs) fed byte by byte give the same frames,
//   heart-beats and error; each call sees the pending bytes at a new address;
// - every completed frame respects the limits and its content-length;
// - the leniency counts are the same however the stream arrives, and zero
//   when strict; a stream the strict parser takes whole (frames and
//   heart-beats only) parses the same when lenient;
// - every completed frame, serialized in the same version and parsed again,
//   comes back the same (where the version can represent it);
// - message_template writes what serialize() writes for the same MESSAGE.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stampede/protocol/parser.hpp"
#include "stampede/protocol/serializer.hpp"

namespace {

using namespace stampede::protocol;

struct mode {
    std::optional<version> negotiated;
    limits lim;
};

/// What a receive loop saw; heart-beats merged so that cut points do not matter.
struct event {
    parse_status status = parse_status::need_more;
    std::size_t size = 0;
    errc error = errc::ok;
    std::optional<frame> parsed;

    bool operator==(const event&) const = default;
};

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "parser_fuzz invariant violated: %s\n", what);
    std::abort();
}

void check(bool ok, const char* what) {
    if (!ok) {
        fail(what);
    }
}

mode mode_from(std::uint8_t selector) {
    mode m;
    switch (selector & 3U) {
        case 1:
            m.negotiated = version::v1_0;
            break;
        case 2:
            m.negotiated = version::v1_1;
            break;
        case 3:
            m.negotiated = version::v1_2;
            break;
        default:
            break;
    }
    switch ((selector >> 2U) & 3U) {
        case 1:
            m.lim = {32, 8, 100, 1024};
            break;
        case 2:
            m.lim = {8, 2, 16, 64};
            break;
        case 3:
            m.lim = limits::before_connect();
            break;
        default:
            break;
    }
    m.lim.strict = (selector & 16U) != 0;
    return m;
}

parser make_parser(const mode& m) {
    parser p(m.lim);
    if (m.negotiated) {
        p.set_version(*m.negotiated);
    }
    return p;
}

/// Checks what a complete frame must satisfy whatever the input was.
void check_frame(const frame_view& f, const parse_result& r, const mode& m) {
    check(r.consumed <= m.lim.max_frame, "frame larger than max_frame");
    check(f.headers.size() <= m.lim.max_headers, "more headers than max_headers");
    check(f.body.size() < r.consumed, "body larger than the frame");
    check(carries_body(f.cmd) || f.body.empty(), "body on a frame that carries none");
    for (const header& h : f.headers) {
        check(!h.name.empty(), "empty header name");
    }
    if (const auto cl = f.get("content-length"); cl && carries_body(f.cmd)) {
        // Leading zeros are allowed, so compare numbers, not text.
        std::size_t length = 0;
        const auto [end, ec] = std::from_chars(cl->data(), cl->data() + cl->size(), length);
        check(ec == std::errc() && end == cl->data() + cl->size(), "content-length not a number");
        check(length == f.body.size(), "body size differs from content-length");
    }
}

/// Feeds `stream` to a parser in chunks ending at `cuts`, as a receive loop would.
std::vector<event> run(std::string_view stream, const mode& m, const std::vector<std::size_t>& cuts,
                       leniency_counts& counts) {
    parser p = make_parser(m);
    std::vector<event> events;
    std::string pending;
    std::vector<char> previous;
    std::size_t received = 0;
    for (const std::size_t cut : cuts) {
        pending.append(stream.substr(received, cut - received));
        received = cut;
        for (;;) {
            // A fresh exact-size copy while the previous one lives: the bytes
            // move between calls, and ASan catches any read past their end.
            std::vector<char> buffer(pending.begin(), pending.end());
            const parse_result r = p.parse(buffer);
            previous.swap(buffer);
            if (r.status == parse_status::need_more) {
                check(r.consumed == 0, "need_more consumed bytes");
                break;
            }
            if (r.status == parse_status::error) {
                check(r.error != errc::ok, "error without an errc");
                events.push_back({r.status, 0, r.error, std::nullopt});
                counts = p.leniency();
                return events;
            }
            check(r.consumed > 0 && r.consumed <= pending.size(), "consumed out of range");
            if (r.status == parse_status::heartbeat) {
                if (!events.empty() && events.back().status == parse_status::heartbeat) {
                    events.back().size += r.consumed;
                } else {
                    events.push_back({r.status, r.consumed, errc::ok, std::nullopt});
                }
            } else {
                check_frame(p.frame(), r, m);
                events.push_back({r.status, r.consumed, errc::ok, frame::from(p.frame())});
            }
            pending.erase(0, r.consumed);
        }
    }
    if (!pending.empty()) {
        events.push_back({parse_status::need_more, pending.size(), errc::ok, std::nullopt});
    }
    counts = p.leniency();
    return events;
}

/// Whether the events are frames and heart-beats only: the stream was taken whole.
bool taken_whole(const std::vector<event>& events) {
    for (const event& e : events) {
        if (e.status != parse_status::complete && e.status != parse_status::heartbeat) {
            return false;
        }
    }
    return true;
}

/// Whether a frame that cannot be escaped (1.0, CONNECT and kin) holds what the wire cannot.
bool unrepresentable(const frame& f, version v) {
    const bool raw = v == version::v1_0 || f.cmd == command::connect || f.cmd == command::stomp ||
                     f.cmd == command::connected;
    if (!raw) {
        return false;
    }
    for (const auto& [name, value] : f.headers) {
        if (name.find_first_of("\r\n:") != std::string::npos ||
            value.find_first_of("\r\n") != std::string::npos) {
            return true;
        }
    }
    return false;
}

/// The headers as they come back from serialize(): its own content-length replaces any given.
std::vector<std::pair<std::string, std::string>> expected_headers(const frame& f) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& h : f.headers) {
        if (!carries_body(f.cmd) || h.first != "content-length") {
            out.push_back(h);
        }
    }
    if (carries_body(f.cmd)) {
        out.emplace_back("content-length", std::to_string(f.body.size()));
    }
    return out;
}

void check_round_trip(const frame& f, const mode& m) {
    const version v = m.negotiated.value_or(version::v1_2);
    if (unrepresentable(f, v)) {
        return;
    }
    const std::vector<header> views = f.header_views();
    const outgoing_frame out{f.cmd, views, f.body};
    std::vector<char> wire(serialized_size(out, v));
    check(serialize(out, v, wire) == wire.size(), "serialize wrote other than serialized_size");

    const std::size_t unlimited = static_cast<std::size_t>(-1);
    parser p = make_parser({m.negotiated, {unlimited, unlimited, unlimited, unlimited}});
    const parse_result r = p.parse(wire);
    check(r.status == parse_status::complete, "serialized frame does not parse");
    check(r.consumed == wire.size(), "serialized frame parses to another length");
    frame back = frame::from(p.frame());
    check(back.cmd == f.cmd, "round trip changed the command");
    check(back.body == f.body, "round trip changed the body");
    check(back.headers == expected_headers(f), "round trip changed the headers");
}

/// A MESSAGE built from a SEND's headers: message_template must match serialize() byte for byte.
void check_template(const frame& f, const mode& m) {
    const version v = m.negotiated.value_or(version::v1_2);
    const std::vector<header> user = f.header_views();
    const message_template t(v, "/topic/x:y", user, f.body);
    const std::string_view id = "m\\1";
    const std::string_view sub = "s:1";
    const std::string_view ack = f.headers.empty() ? std::string_view() : "a\n1";

    std::vector<header> all = {
        {"destination", "/topic/x:y"}, {"message-id", id}, {"subscription", sub}};
    if (!ack.empty()) {
        all.push_back({"ack", ack});
    }
    all.insert(all.end(), user.begin(), user.end());
    const std::string generic = serialize_to_string({command::message, all, f.body}, v);

    std::string written(t.size(id, sub, ack), '\0');
    check(t.write(written, id, sub, ack) == written.size(), "template wrote other than size()");
    check(written == generic, "message_template differs from serialize()");
    std::string head(t.head_size(id, sub, ack), '\0');
    check(t.write_head(head, id, sub, ack) == head.size(), "template head size differs");
    check(head + std::string(t.body()) + std::string(t.tail()) == generic,
          "template head + body + tail differs from serialize()");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const mode m = mode_from(data[0]);
    const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
    const std::size_t n = stream.size();

    leniency_counts counts;
    const std::vector<event> whole = run(stream, m, {n}, counts);
    check(!m.lim.strict || counts == leniency_counts{}, "a strict parser counted leniency");

    // A cut point the fuzzer controls but that does not change the stream's meaning.
    const std::size_t k = n == 0 ? 0 : (static_cast<std::size_t>(data[0]) * 131 + n * 7) % (n + 1);
    leniency_counts split_counts;
    check(run(stream, m, {k, n}, split_counts) == whole, "split parse differs from whole parse");
    check(split_counts == counts, "split parse counts leniency differently");
    if (n <= 512) {
        std::vector<std::size_t> cuts;
        for (std::size_t i = 1; i <= n; ++i) {
            cuts.push_back(i);
        }
        leniency_counts byte_counts;
        check(run(stream, m, cuts, byte_counts) == whole,
              "byte-by-byte parse differs from whole parse");
        check(byte_counts == counts, "byte-by-byte parse counts leniency differently");
    }
    if (m.lim.strict && taken_whole(whole)) {
        mode lenient = m;
        lenient.lim.strict = false;
        leniency_counts lenient_counts;
        check(run(stream, lenient, {n}, lenient_counts) == whole,
              "lenient parse differs from a strict parse that succeeded");
        check(lenient_counts == leniency_counts{}, "leniency counted where strict succeeded");
    }

    for (const event& e : whole) {
        if (e.parsed) {
            check_round_trip(*e.parsed, m);
            if (e.parsed->cmd == command::send) {
                check_template(*e.parsed, m);
            }
        }
    }
    return 0;
}
