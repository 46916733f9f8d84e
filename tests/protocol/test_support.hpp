#pragma once

// Helpers shared by the protocol tests: a driver that feeds a byte stream to a
// parser the way a connection's receive loop would, buffers that move or sit
// against a guard page, and the on-disk corpus.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stampede/protocol/errc.hpp"
#include "stampede/protocol/frame.hpp"
#include "stampede/protocol/limits.hpp"
#include "stampede/protocol/parser.hpp"

namespace stampede::protocol::test {

/// Bytes from a string literal, NULs included: bytes("SEND\n\n\0"sv).
inline std::string bytes(std::string_view text) {
    return std::string(text);
}

/// A parser's configuration: the negotiated version (nullopt: none yet) and its limits.
struct parser_mode {
    std::optional<version> negotiated;
    limits lim;
};

/// The default limits with limits::strict set.
limits strict_limits();

/// The small limits every corpus file is parsed with, so that each limit can be breached cheaply.
limits corpus_limits();

/// What the driver saw: a frame, a run of heart-beat EOLs, an error, or bytes left incomplete.
struct event {
    parse_status status = parse_status::need_more;
    std::size_t size = 0;  // heartbeat: EOL bytes; complete: frame bytes; need_more: bytes left
    errc error = errc::ok;
    std::optional<frame> parsed;

    bool operator==(const event&) const = default;
};

/// Where the driver copies the pending bytes before each parse() call.
class placement {
  public:
    virtual ~placement() = default;
    /// A writable copy of `data`, at an address different from the previous copy's.
    virtual std::span<char> place(std::string_view data) = 0;
};

/// Exact-size heap copies, alternating between two live allocations so each call moves.
class heap_placement final : public placement {
  public:
    std::span<char> place(std::string_view data) override;

  private:
    std::vector<char> buffers_[2];
    int next_ = 0;
};

/// Copies that end exactly where an inaccessible (PROT_NONE) page begins; an over-read faults.
class guard_placement final : public placement {
  public:
    /// Room for copies of up to `max_size` bytes.
    explicit guard_placement(std::size_t max_size);
    ~guard_placement() override;
    guard_placement(const guard_placement&) = delete;
    guard_placement& operator=(const guard_placement&) = delete;

    std::span<char> place(std::string_view data) override;

  private:
    struct region {
        char* base = nullptr;
        std::size_t usable = 0;
        std::size_t mapped = 0;
    };
    region regions_[2];
    int next_ = 0;
};

/// Feeds `stream` to a fresh parser in `mode`, delivered in chunks that end at `cuts`.
///
/// Behaves like a receive loop: it parses what is pending, advances past
/// frames and heart-beats, and on need_more waits for the next chunk, then
/// passes the same pending bytes again (moved by `where`) plus the new ones.
/// Consecutive heart-beats are merged, so the events do not depend on where
/// the stream was cut. Stops at the first error; bytes left incomplete at
/// the end are reported as a final need_more event. With `counts`, stores
/// there what the parser skipped as lenient (parser::leniency()) at the end.
std::vector<event> parse_stream(std::string_view stream, const parser_mode& mode,
                                std::span<const std::size_t> cuts, placement& where,
                                leniency_counts* counts = nullptr);

/// parse_stream() with the whole stream in one chunk, in a heap copy.
std::vector<event> parse_whole(std::string_view stream, const parser_mode& mode);

/// Parses `data` whole and returns the single result of the first parse() call.
parse_result parse_once(std::string_view data, const parser_mode& mode = {});

/// A corpus file: its bytes and what its name says (mode, expected error).
struct corpus_file {
    std::filesystem::path path;
    std::string data;
    parser_mode mode;
    errc expected = errc::ok;  // malformed files only
};

/// Every file of corpus/<dir> ("valid" or "malformed"), sorted by name.
///
/// Names read `<mode>--<description>.stomp` for valid files and
/// `<mode>--<errc>--<description>.stomp` for malformed ones, where mode is
/// none, v1.0, v1.1 or v1.2, optionally prefixed `strict-` (limits::strict).
std::vector<corpus_file> load_corpus(std::string_view dir);

/// The errc named `name` (e.g. "frame_too_large"), or nullopt.
std::optional<errc> errc_from_name(std::string_view name);

/// Every errc but ok.
std::span<const errc> all_errors();

/// The cuts for delivering `size` bytes one at a time.
std::vector<std::size_t> byte_by_byte(std::size_t size);

}  // namespace stampede::protocol::test
