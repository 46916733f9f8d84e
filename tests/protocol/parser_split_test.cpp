// The corpus, fed every way a connection could receive it: whole, split at
// every offset, byte by byte, moved between calls and against a guard page.

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "stampede/protocol/parser.hpp"
#include "stampede/protocol/serializer.hpp"
#include "test_support.hpp"

using namespace stampede::protocol;
using namespace stampede::protocol::test;

namespace {

std::vector<corpus_file> corpus(std::string_view dir) {
    std::vector<corpus_file> files = load_corpus(dir);
    REQUIRE(files.size() >= 10);
    return files;
}

/// Requires that every two-chunk delivery of `file` gives `expected`.
void require_same_at_every_split(const corpus_file& file, const std::vector<event>& expected,
                                 placement& where) {
    const std::size_t n = file.data.size();
    for (std::size_t k = 0; k <= n; ++k) {
        INFO("split at " << k << " of " << n);
        const std::size_t cuts[] = {k, n};
        REQUIRE(parse_stream(file.data, file.mode, cuts, where) == expected);
    }
}

std::size_t frames_in(const std::vector<event>& events) {
    std::size_t count = 0;
    for (const event& e : events) {
        count += e.status == parse_status::complete ? 1 : 0;
    }
    return count;
}

}  // namespace

TEST_CASE("every valid corpus file parses whole into frames and heart-beats only",
          "[protocol][corpus]") {
    for (const corpus_file& file : corpus("valid")) {
        INFO(file.path.filename().string());
        const std::vector<event> events = parse_whole(file.data, file.mode);
        CHECK(frames_in(events) >= 1);
        std::size_t total = 0;
        for (const event& e : events) {
            REQUIRE((e.status == parse_status::complete || e.status == parse_status::heartbeat));
            total += e.size;
        }
        CHECK(total == file.data.size());
    }
}

TEST_CASE("a frame split at every offset parses the same", "[protocol][corpus]") {
    heap_placement heap;
    for (const corpus_file& file : corpus("valid")) {
        INFO(file.path.filename().string());
        require_same_at_every_split(file, parse_whole(file.data, file.mode), heap);
    }
}

TEST_CASE("a frame fed byte by byte parses the same", "[protocol][corpus]") {
    heap_placement heap;
    for (const corpus_file& file : corpus("valid")) {
        INFO(file.path.filename().string());
        const std::vector<std::size_t> cuts = byte_by_byte(file.data.size());
        CHECK(parse_stream(file.data, file.mode, cuts, heap) == parse_whole(file.data, file.mode));
    }
}

TEST_CASE("every malformed corpus case fails with its expected error however it arrives",
          "[protocol][corpus]") {
    heap_placement heap;
    for (const corpus_file& file : corpus("malformed")) {
        INFO(file.path.filename().string());
        const std::vector<event> whole = parse_whole(file.data, file.mode);
        REQUIRE_FALSE(whole.empty());
        CHECK(whole.back().status == parse_status::error);
        CHECK(whole.back().error == file.expected);
        require_same_at_every_split(file, whole, heap);
        const std::vector<std::size_t> cuts = byte_by_byte(file.data.size());
        CHECK(parse_stream(file.data, file.mode, cuts, heap) == whole);
    }
}

TEST_CASE("inputs placed against a guard page are never read past their end",
          "[protocol][corpus]") {
    for (const char* dir : {"valid", "malformed"}) {
        for (const corpus_file& file : corpus(dir)) {
            INFO(file.path.filename().string());
            guard_placement guard(file.data.size());
            const std::vector<event> expected = parse_whole(file.data, file.mode);
            const std::size_t whole[] = {file.data.size()};
            CHECK(parse_stream(file.data, file.mode, whole, guard) == expected);
            const std::vector<std::size_t> cuts = byte_by_byte(file.data.size());
            CHECK(parse_stream(file.data, file.mode, cuts, guard) == expected);
            require_same_at_every_split(file, expected, guard);
        }
    }
}

TEST_CASE("many frames in one buffer parse back to back", "[protocol][parser]") {
    std::string stream;
    std::vector<frame> sent;
    for (int i = 0; i < 3000; ++i) {
        frame f;
        f.cmd = i % 3 == 0 ? command::send : (i % 3 == 1 ? command::ack : command::message);
        f.headers.emplace_back("id", "n:" + std::to_string(i));
        if (carries_body(f.cmd)) {
            f.body = std::string(static_cast<std::size_t>(i % 50), static_cast<char>(i % 7));
            f.headers.emplace_back("content-length", std::to_string(f.body.size()));
        }
        const std::vector<header> views = f.header_views();
        stream += serialize_to_string({f.cmd, views, f.body}, version::v1_2);
        stream.append(static_cast<std::size_t>(i % 3), '\n');
        sent.push_back(std::move(f));
    }

    parser p;
    p.set_version(version::v1_2);
    std::size_t offset = 0;
    std::size_t received = 0;
    std::size_t heartbeats = 0;
    while (offset < stream.size()) {
        const parse_result r = p.parse(std::span<char>(stream).subspan(offset));
        REQUIRE((r.status == parse_status::complete || r.status == parse_status::heartbeat));
        if (r.status == parse_status::complete) {
            REQUIRE(received < sent.size());
            REQUIRE(frame::from(p.frame()) == sent[received]);
            ++received;
        } else {
            heartbeats += r.consumed;
        }
        offset += r.consumed;
    }
    CHECK(received == sent.size());
    CHECK(heartbeats == 3000);  // 0 + 1 + 2 per three frames
}
