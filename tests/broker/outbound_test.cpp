#include "outbound.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include "test_support.hpp"

using namespace stampede::broker;
using stampede::broker::testing::make_message;

namespace {

// Queues `text` as one entry of `kind` for subscription `slot`, as the session does.
void queue(outbound_queue& out, const std::string& text, entry_kind kind, std::uint64_t slot = 0,
           std::uint64_t sequence = 0) {
    auto room = out.reserve(text.size());
    std::memcpy(room.data(), text.data(), text.size());
    const auto size = static_cast<std::uint32_t>(text.size());
    out.commit({size, size, kind, slot, sequence, nullptr});
}

std::string taken_text(outbound_queue& out, std::vector<outbound_entry>* entries_out = nullptr) {
    byte_buffer bytes;
    std::vector<outbound_entry> entries;
    out.take(bytes, entries);
    if (entries_out != nullptr) {
        *entries_out = entries;
    }
    return std::string(bytes.data(), bytes.size());
}

}  // namespace

TEST_CASE("the outbound queue counts its bytes, in all and per kind of entry", "[outbound]") {
    outbound_queue out;
    CHECK(out.empty());
    queue(out, "CONNECTED", entry_kind::control);
    queue(out, "topic-message", entry_kind::topic_message, 1, 10);
    queue(out, "queue-msg", entry_kind::queue_message, 2, 20);
    out.push("RECEIPT", entry_kind::control);
    CHECK(out.frames() == 4);
    CHECK(out.bytes() == 9 + 13 + 9 + 7);
    CHECK(out.bytes_of(entry_kind::control) == 9 + 7);
    CHECK(out.bytes_of(entry_kind::topic_message) == 13);
    CHECK(out.bytes_of(entry_kind::queue_message) == 9);
}

TEST_CASE("taking the queue hands over every frame in order and leaves it empty", "[outbound]") {
    outbound_queue out;
    queue(out, "one|", entry_kind::control);
    queue(out, "two|", entry_kind::topic_message, 1, 1);
    std::vector<outbound_entry> entries;
    CHECK(taken_text(out, &entries) == "one|two|");
    REQUIRE(entries.size() == 2);
    CHECK(entries[1].kind == entry_kind::topic_message);
    CHECK(out.empty());
    CHECK(out.bytes() == 0);
    CHECK(out.bytes_of(entry_kind::control) == 0);
    CHECK(out.bytes_of(entry_kind::topic_message) == 0);
}

TEST_CASE(
    "drop_oldest drops the oldest droppable entries down to the target, keeping the rest "
    "intact and in order",
    "[outbound]") {
    outbound_queue out;
    queue(out, "[T1]", entry_kind::topic_message, 1, 1);
    queue(out, "[RECEIPT]", entry_kind::control);
    queue(out, "[T2]", entry_kind::topic_message, 1, 2);
    queue(out, "[Q1]", entry_kind::queue_message, 2, 7);
    queue(out, "[T3]", entry_kind::topic_message, 1, 3);
    const std::size_t before = out.bytes();
    const auto topic_only = [](const outbound_entry& e) {
        return e.kind == entry_kind::topic_message;
    };

    // Down to at most before - 5 bytes: two 4-byte topic entries must go.
    const auto dropped = out.drop_oldest(topic_only, before - 5);
    REQUIRE(dropped.size() == 2);
    CHECK(dropped[0].sequence == 1);
    CHECK(dropped[1].sequence == 2);
    CHECK(out.bytes() == before - 8);
    CHECK(out.bytes_of(entry_kind::topic_message) == 4);
    CHECK(out.bytes_of(entry_kind::control) == 9);
    CHECK(out.frames() == 3);
    CHECK(taken_text(out) == "[RECEIPT][Q1][T3]");
}

TEST_CASE("drop_oldest never drops what is not droppable, even far over the target", "[outbound]") {
    outbound_queue out;
    queue(out, std::string(1000, 'r'), entry_kind::control);
    queue(out, std::string(1000, 'q'), entry_kind::queue_message);
    queue(out, "tt", entry_kind::topic_message, 1, 1);
    const auto dropped = out.drop_oldest(
        [](const outbound_entry& e) { return e.kind == entry_kind::topic_message; }, 0);
    CHECK(dropped.size() == 1);
    CHECK(out.bytes() == 2000);
    CHECK(out.bytes_of(entry_kind::topic_message) == 0);
    CHECK(taken_text(out) == std::string(1000, 'r') + std::string(1000, 'q'));
}

TEST_CASE("drop_oldest under the target drops nothing", "[outbound]") {
    outbound_queue out;
    queue(out, "abc", entry_kind::topic_message, 1, 1);
    CHECK(out.drop_oldest([](const outbound_entry&) { return true; }, 3).empty());
    CHECK(out.bytes() == 3);
}

TEST_CASE("shared bodies are counted in an entry's size and gathered, not copied", "[outbound]") {
    outbound_queue out;
    const auto msg = make_message("m", 5);
    const std::string head = "MESSAGE\nx:y\n\n";
    auto room = out.reserve(head.size());
    std::memcpy(room.data(), head.data(), head.size());
    out.commit({static_cast<std::uint32_t>(head.size() + 5 + 1),
                static_cast<std::uint32_t>(head.size()), entry_kind::topic_message, 1, 1, msg});
    queue(out, "RECEIPT\n\n", entry_kind::control);
    CHECK(out.bytes() == head.size() + 6 + 9);

    byte_buffer bytes;
    std::vector<outbound_entry> entries;
    out.take(bytes, entries);
    CHECK(has_shared_bodies(entries));
    std::vector<iovec> iov;
    gather_iovecs(bytes, entries, iov);
    std::string wire;
    for (const auto& v : iov) {
        wire.append(static_cast<const char*>(v.iov_base), v.iov_len);
    }
    CHECK(wire == head + std::string(msg->body()) + std::string(1, '\0') + "RECEIPT\n\n");
    // The body is referenced where it lives, between the inline runs.
    REQUIRE(iov.size() == 4);
    CHECK(iov[1].iov_base == msg->body().data());
}

TEST_CASE("inline frames are gathered into one run", "[outbound]") {
    outbound_queue out;
    queue(out, "a", entry_kind::control);
    queue(out, "bb", entry_kind::control);
    queue(out, "ccc", entry_kind::topic_message, 1, 1);
    byte_buffer bytes;
    std::vector<outbound_entry> entries;
    out.take(bytes, entries);
    CHECK_FALSE(has_shared_bodies(entries));
    std::vector<iovec> iov;
    gather_iovecs(bytes, entries, iov);
    REQUIRE(iov.size() == 1);
    CHECK(iov[0].iov_len == 6);
}

TEST_CASE("a byte buffer grows without losing what it holds and frees on release", "[outbound]") {
    byte_buffer b;
    std::memcpy(b.append(3), "abc", 3);
    const std::size_t first = b.capacity();
    CHECK(first >= 3);
    char* more = b.append(first * 4);  // forces a move to a larger allocation
    std::memset(more, 'x', first * 4);
    CHECK(b.size() == 3 + first * 4);
    CHECK(std::string(b.data(), 3) == "abc");
    b.truncate(2);
    CHECK(b.size() == 2);
    b.truncate(50);  // never grows
    CHECK(b.size() == 2);
    byte_buffer other;
    other.swap(b);
    CHECK(b.empty());
    CHECK(std::string(other.data(), other.size()) == "ab");
    other.release();
    CHECK(other.capacity() == 0);
    CHECK(other.size() == 0);
}
