#include "format.hpp"

#include <xxhash.h>

#include <charconv>
#include <cstdio>

namespace stampede::storage::detail {

namespace {

std::uint64_t checksum_of(const char* record, std::size_t payload) noexcept {
    return XXH3_64bits(record + 8, header_size - 8 + payload);
}

}  // namespace

void encode_record(char* dst, record_type type, std::uint64_t seq, std::string_view payload) {
    const std::size_t total = record_size(payload.size());
    store<std::uint32_t>(dst + 8, static_cast<std::uint32_t>(payload.size()));
    dst[12] = static_cast<char>(type);
    dst[13] = static_cast<char>(format_version);
    store<std::uint16_t>(dst + 14, 0);
    store<std::uint64_t>(dst + 16, seq);
    std::memcpy(dst + header_size, payload.data(), payload.size());
    std::memset(dst + header_size + payload.size(), 0, total - header_size - payload.size());
    store<std::uint64_t>(dst, checksum_of(dst, payload.size()));
}

void reseal_record(char* p) noexcept {
    store<std::uint64_t>(p, checksum_of(p, load<std::uint32_t>(p + 8)));
}

bool known_type(std::uint8_t type) noexcept {
    switch (static_cast<record_type>(type)) {
        case record_type::segment_start:
        case record_type::batch_start:
        case record_type::seal:
        case record_type::queue_declare:
        case record_type::queue_delete:
        case record_type::message:
        case record_type::ack:
        case record_type::delivered:
        case record_type::subscription_put:
        case record_type::subscription_remove:
            return true;
    }
    return false;
}

parse_status parse_record(std::string_view region, record_view& out, bool verify) noexcept {
    if (region.size() < header_size) {
        // Too short for a header: the end if it is all zeros, garbage otherwise.
        for (char c : region) {
            if (c != 0) {
                return parse_status::bad;
            }
        }
        return parse_status::end;
    }
    const char* p = region.data();
    const auto length = load<std::uint32_t>(p + 8);
    const auto type = static_cast<std::uint8_t>(p[12]);
    if (type == 0 && length == 0 && load<std::uint64_t>(p) == 0 &&
        load<std::uint64_t>(p + 16) == 0) {
        return parse_status::end;
    }
    if (!known_type(type) || static_cast<std::uint8_t>(p[13]) != format_version ||
        record_size(length) > region.size() || record_size(length) > max_record_size) {
        return parse_status::bad;
    }
    if (verify && load<std::uint64_t>(p) != checksum_of(p, length)) {
        return parse_status::bad;
    }
    out.type = static_cast<record_type>(type);
    out.seq = load<std::uint64_t>(p + 16);
    out.payload = region.substr(header_size, length);
    out.size = record_size(length);
    return parse_status::ok;
}

std::string segment_file_name(std::uint32_t number) {
    char name[32];
    std::snprintf(name, sizeof name, "journal-%08u.seg", number);
    return name;
}

std::uint32_t parse_segment_file_name(std::string_view name) noexcept {
    constexpr std::string_view prefix = "journal-";
    constexpr std::string_view suffix = ".seg";
    if (name.size() != prefix.size() + 8 + suffix.size() || !name.starts_with(prefix) ||
        !name.ends_with(suffix)) {
        return 0;
    }
    std::uint32_t number = 0;
    const char* first = name.data() + prefix.size();
    const auto [ptr, ec] = std::from_chars(first, first + 8, number);
    if (ec != std::errc{} || ptr != first + 8) {
        return 0;
    }
    return number;
}

}  // namespace stampede::storage::detail
