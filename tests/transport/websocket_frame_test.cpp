// RFC 6455 framing as pure functions: headers, masking, the UTF-8 check.

#include "websocket_frame.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace stampede::transport::ws;

TEST_CASE("a frame header decodes as it was encoded, for every length encoding",
          "[transport][websocket]") {
    const std::uint64_t length =
        GENERATE(0ull, 1ull, 125ull, 126ull, 127ull, 65535ull, 65536ull, (1ull << 32) + 5);
    const bool masked = GENERATE(false, true);
    const opcode op = GENERATE(opcode::text, opcode::binary, opcode::continuation, opcode::ping);
    const bool fin = GENERATE(false, true);
    const std::array<std::uint8_t, 4> key{1, 2, 3, 250};
    std::array<std::uint8_t, max_header_size> bytes{};
    const std::size_t size = encode_header(bytes.data(), op, fin, length, masked ? &key : nullptr);
    const std::size_t expected_size = (length < 126       ? 2
                                       : length <= 0xFFFF ? 4
                                                          : 10) +
                                      (masked ? 4 : 0);
    CHECK(size == expected_size);
    CHECK(header_size(bytes[0], bytes[1]) == size);
    frame_header h;
    CHECK(decode_header({bytes.data(), size}, h) == size);
    CHECK(h.fin == fin);
    CHECK(h.op() == op);
    CHECK(h.rsv == 0);
    CHECK(h.masked == masked);
    CHECK(h.length == length);
    if (masked) {
        CHECK(h.key == key);
    }
}

TEST_CASE("the header of RFC 6455's examples decodes to their values", "[transport][websocket]") {
    // 5.7: a single-frame masked text message "Hello".
    const std::vector<std::uint8_t> hello{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                          0x7f, 0x9f, 0x4d, 0x51, 0x58};
    frame_header h;
    REQUIRE(decode_header(hello, h) == 6);
    CHECK(h.fin);
    CHECK(h.op() == opcode::text);
    CHECK(h.length == 5);
    std::string payload(reinterpret_cast<const char*>(hello.data() + 6), 5);
    apply_mask(std::span<char>(payload), h.key, 0);
    CHECK(payload == "Hello");
    // 5.7: 256 bytes in an unmasked binary frame.
    const std::vector<std::uint8_t> binary256{0x82, 0x7E, 0x01, 0x00};
    REQUIRE(decode_header(binary256, h) == 4);
    CHECK(h.length == 256);
    CHECK(h.op() == opcode::binary);
}

TEST_CASE("masking twice restores the bytes, from every offset and split anywhere",
          "[transport][websocket]") {
    std::string original(257, '\0');
    for (std::size_t i = 0; i < original.size(); ++i) {
        original[i] = static_cast<char>(i * 7 + 3);
    }
    const std::array<std::uint8_t, 4> key{0xA1, 0x00, 0x7F, 0xFF};
    // Masked in one go...
    std::string whole = original;
    apply_mask(std::span<char>(whole), key, 0);
    // ...equals masked in two pieces at every split point.
    for (std::size_t split = 0; split <= original.size(); ++split) {
        std::string pieces = original;
        apply_mask(std::span<char>(pieces.data(), split), key, 0);
        apply_mask(std::span<char>(pieces.data() + split, pieces.size() - split), key, split);
        REQUIRE(pieces == whole);
    }
    std::string copied(original.size(), '\0');
    copy_masked(copied.data(), original, key, 0);
    CHECK(copied == whole);
    apply_mask(std::span<char>(whole), key, 0);
    CHECK(whole == original);
}

namespace {

bool valid_split_everywhere(const std::string& s) {
    const bool whole = is_utf8(s);
    for (std::size_t split = 0; split <= s.size(); ++split) {
        utf8_validator v;
        const bool ok = v.feed({s.data(), split}) && v.feed({s.data() + split, s.size() - split}) &&
                        v.complete();
        if (ok != whole) {
            FAIL("split at " << split << " disagrees with the whole for " << s.size() << " bytes");
        }
    }
    return whole;
}

}  // namespace

TEST_CASE("the UTF-8 check accepts well-formed text, split anywhere", "[transport][websocket]") {
    CHECK(valid_split_everywhere(""));
    CHECK(valid_split_everywhere("plain ASCII, long enough to take the eight-byte path"));
    CHECK(valid_split_everywhere("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xED\x9F\xBF"));
    CHECK(valid_split_everywhere("\xF4\x8F\xBF\xBF"));  // U+10FFFF
    CHECK(valid_split_everywhere(std::string("MESSAGE\ndestination:/q\n\nbody\0", 29)));
}

TEST_CASE("the UTF-8 check refuses overlongs, surrogates, stray and missing bytes",
          "[transport][websocket]") {
    CHECK_FALSE(valid_split_everywhere("\xC0\xAF"));          // overlong '/'
    CHECK_FALSE(valid_split_everywhere("\xE0\x80\xAF"));      // overlong
    CHECK_FALSE(valid_split_everywhere("\xF0\x80\x80\xAF"));  // overlong
    CHECK_FALSE(valid_split_everywhere("\xED\xA0\x80"));      // U+D800, a surrogate
    CHECK_FALSE(valid_split_everywhere("\xF4\x90\x80\x80"));  // past U+10FFFF
    CHECK_FALSE(valid_split_everywhere("\xF5\x80\x80\x80"));
    CHECK_FALSE(valid_split_everywhere("\x80"));     // a stray continuation
    CHECK_FALSE(valid_split_everywhere("abc\xC3"));  // cut short
    CHECK_FALSE(valid_split_everywhere("\xE2\x82"));
    CHECK_FALSE(valid_split_everywhere("\xFF"));
    CHECK_FALSE(valid_split_everywhere("a\xC3(b"));
}

TEST_CASE("every byte value outside ASCII alone is not UTF-8", "[transport][websocket]") {
    for (int b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        CHECK(is_utf8({&c, 1}) == (b < 0x80));
    }
}

TEST_CASE("close codes are valid on the wire exactly where RFC 6455 allows them",
          "[transport][websocket]") {
    for (const std::uint16_t code :
         {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999}) {
        CHECK(is_valid_close_code(code));
    }
    for (const std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535}) {
        CHECK_FALSE(is_valid_close_code(code));
    }
}
