#include "test_support.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <stdexcept>

namespace stampede::protocol::test {
namespace {

constexpr std::array<std::pair<std::string_view, errc>, 13> error_names = {{
    {"command_too_long", errc::command_too_long},
    {"unknown_command", errc::unknown_command},
    {"malformed_header", errc::malformed_header},
    {"header_line_too_long", errc::header_line_too_long},
    {"too_many_headers", errc::too_many_headers},
    {"invalid_escape", errc::invalid_escape},
    {"frame_too_large", errc::frame_too_large},
    {"invalid_content_length", errc::invalid_content_length},
    {"missing_null_after_body", errc::missing_null_after_body},
    {"body_not_allowed", errc::body_not_allowed},
    {"invalid_eol", errc::invalid_eol},
    {"invalid_heart_beat", errc::invalid_heart_beat},
    {"unsupported_version", errc::unsupported_version},
}};

constexpr std::array<errc, error_names.size()> errors = [] {
    std::array<errc, error_names.size()> all{};
    for (std::size_t i = 0; i < all.size(); ++i) {
        all[i] = error_names[i].second;
    }
    return all;
}();

std::optional<version> version_from_mode(std::string_view mode) {
    if (mode == "none") {
        return std::nullopt;
    }
    if (mode.size() == 4 && mode[0] == 'v') {
        if (auto v = parse_version(mode.substr(1))) {
            return v;
        }
    }
    throw std::runtime_error("corpus file name has an unknown mode: " + std::string(mode));
}

std::string read_file(const std::filesystem::path& path) {
    // Sized read: istreambuf_iterator trips g++ 12's -Wnull-dereference.
    std::string data(std::filesystem::file_size(path), '\0');
    std::ifstream in(path, std::ios::binary);
    if (!in.read(data.data(), static_cast<std::streamsize>(data.size()))) {
        throw std::runtime_error("cannot read " + path.string());
    }
    return data;
}

void add_event(std::vector<event>& events, event e) {
    if (e.status == parse_status::heartbeat && !events.empty() &&
        events.back().status == parse_status::heartbeat) {
        events.back().size += e.size;
        return;
    }
    events.push_back(std::move(e));
}

}  // namespace

limits strict_limits() {
    limits l;
    l.strict = true;
    return l;
}

limits corpus_limits() {
    limits l;
    l.max_command_line = 32;
    l.max_headers = 8;
    l.max_header_line = 100;
    l.max_frame = 1024;
    return l;
}

std::span<char> heap_placement::place(std::string_view data) {
    // Allocated while both previous buffers live, so its address is new.
    std::vector<char> fresh(data.begin(), data.end());
    buffers_[next_] = std::move(fresh);
    std::span<char> out(buffers_[next_]);
    next_ ^= 1;
    return out;
}

guard_placement::guard_placement(std::size_t max_size) {
    const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    for (region& r : regions_) {
        r.usable = (max_size / page + 1) * page;
        r.mapped = r.usable + page;
        void* p =
            mmap(nullptr, r.mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            throw std::runtime_error("mmap failed");
        }
        r.base = static_cast<char*>(p);
        if (mprotect(r.base + r.usable, page, PROT_NONE) != 0) {
            throw std::runtime_error("mprotect failed");
        }
    }
}

guard_placement::~guard_placement() {
    for (region& r : regions_) {
        if (r.base != nullptr) {
            munmap(r.base, r.mapped);
        }
    }
}

std::span<char> guard_placement::place(std::string_view data) {
    region& r = regions_[next_];
    next_ ^= 1;
    if (data.size() > r.usable) {
        throw std::runtime_error("guard_placement: data larger than the region");
    }
    char* start = r.base + r.usable - data.size();
    std::copy(data.begin(), data.end(), start);
    return {start, data.size()};
}

std::vector<event> parse_stream(std::string_view stream, const parser_mode& mode,
                                std::span<const std::size_t> cuts, placement& where,
                                leniency_counts* counts) {
    parser p(mode.lim);
    if (mode.negotiated) {
        p.set_version(*mode.negotiated);
    }
    std::vector<event> events;
    std::string pending;
    std::size_t received = 0;
    for (const std::size_t cut : cuts) {
        pending.append(stream.substr(received, cut - received));
        received = cut;
        for (;;) {
            const parse_result r = p.parse(where.place(pending));
            if (r.status == parse_status::need_more) {
                break;
            }
            if (r.status == parse_status::error) {
                events.push_back({parse_status::error, 0, r.error, std::nullopt});
                if (counts != nullptr) {
                    *counts = p.leniency();
                }
                return events;
            }
            event e{r.status, r.consumed, errc::ok, std::nullopt};
            if (r.status == parse_status::complete) {
                e.parsed = frame::from(p.frame());
            }
            add_event(events, std::move(e));
            pending.erase(0, r.consumed);
        }
    }
    if (!pending.empty()) {
        events.push_back({parse_status::need_more, pending.size(), errc::ok, std::nullopt});
    }
    if (counts != nullptr) {
        *counts = p.leniency();
    }
    return events;
}

std::vector<event> parse_whole(std::string_view stream, const parser_mode& mode) {
    heap_placement heap;
    const std::size_t cut = stream.size();
    return parse_stream(stream, mode, {&cut, 1}, heap);
}

parse_result parse_once(std::string_view data, const parser_mode& mode) {
    parser p(mode.lim);
    if (mode.negotiated) {
        p.set_version(*mode.negotiated);
    }
    std::vector<char> copy(data.begin(), data.end());
    return p.parse(copy);
}

std::vector<corpus_file> load_corpus(std::string_view dir) {
    const std::filesystem::path root = std::filesystem::path(STAMPEDE_PROTOCOL_CORPUS_DIR) / dir;
    std::vector<corpus_file> files;
    for (const auto& entry : std::filesystem::directory_iterator(root)) {
        if (entry.path().extension() != ".stomp") {
            continue;
        }
        corpus_file f;
        f.path = entry.path();
        f.data = read_file(f.path);
        const std::string name = f.path.stem().string();
        const std::size_t mode_end = name.find("--");
        std::string_view mode = std::string_view(name).substr(0, mode_end);
        limits lim = corpus_limits();
        if (mode.starts_with("strict-")) {
            lim.strict = true;
            mode.remove_prefix(7);
        }
        f.mode = {version_from_mode(mode), lim};
        if (dir == "malformed") {
            const std::size_t errc_end = name.find("--", mode_end + 2);
            const auto e = errc_from_name(name.substr(mode_end + 2, errc_end - mode_end - 2));
            if (!e) {
                throw std::runtime_error("malformed corpus file names no errc: " + name);
            }
            f.expected = *e;
        }
        files.push_back(std::move(f));
    }
    std::sort(files.begin(), files.end(),
              [](const corpus_file& a, const corpus_file& b) { return a.path < b.path; });
    return files;
}

std::optional<errc> errc_from_name(std::string_view name) {
    for (const auto& [n, e] : error_names) {
        if (n == name) {
            return e;
        }
    }
    return std::nullopt;
}

std::span<const errc> all_errors() {
    return errors;
}

std::vector<std::size_t> byte_by_byte(std::size_t size) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i <= size; ++i) {
        cuts.push_back(i);
    }
    return cuts;
}

}  // namespace stampede::protocol::test
