#include "manifest.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace stampede::storage::detail {

namespace {

constexpr std::string_view header_line = "stampede-journal-manifest 1\n";
constexpr std::string_view checksum_prefix = "checksum ";

std::string hex64(std::uint64_t v) {
    char text[20];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(v));
    return text;
}

template <class T>
bool number_from(std::string_view word, T& out) {
    const auto [ptr, ec] = std::from_chars(word.data(), word.data() + word.size(), out);
    return ec == std::errc{} && ptr == word.data() + word.size();
}

std::vector<std::string_view> words_of(std::string_view line) {
    std::vector<std::string_view> words;
    std::size_t pos = 0;
    while (pos < line.size()) {
        const std::size_t end = std::min(line.find(' ', pos), line.size());
        if (end > pos) {
            words.push_back(line.substr(pos, end - pos));
        }
        pos = end + 1;
    }
    return words;
}

bool parse_line(const std::vector<std::string_view>& w, manifest& m) {
    if (w.empty()) {
        return true;
    }
    if (w[0] == "next_queue" && w.size() == 2) {
        return number_from(w[1], m.next_queue);
    }
    if (w[0] == "queue" && w.size() == 3) {
        std::pair<queue_id, message_id> entry;
        const bool ok = number_from(w[1], entry.first) && number_from(w[2], entry.second);
        m.next_ids.push_back(entry);
        return ok;
    }
    if (w[0] == "segment" && w.size() >= 3) {
        manifest::segment_entry entry;
        if (!number_from(w[1], entry.number) || (w[2] != "sealed" && w[2] != "active")) {
            return false;
        }
        entry.sealed = w[2] == "sealed";
        for (std::size_t i = 3; i < w.size(); ++i) {
            queue_id q = 0;
            if (!number_from(w[i], q)) {
                return false;
            }
            entry.queues.push_back(q);
        }
        m.segments.push_back(std::move(entry));
        return true;
    }
    return false;
}

int write_all(int fd, std::string_view text, file_ops& files) {
    const ssize_t n = files.write_at(fd, text.data(), text.size(), 0);
    return n < 0 ? static_cast<int>(n) : 0;
}

}  // namespace

const manifest::segment_entry* manifest::find(std::uint32_t number) const noexcept {
    for (const auto& s : segments) {
        if (s.number == number) {
            return &s;
        }
    }
    return nullptr;
}

std::string render_manifest(const manifest& m) {
    std::string text(header_line);
    text += "next_queue " + std::to_string(m.next_queue) + "\n";
    for (const auto& [q, next] : m.next_ids) {
        text += "queue " + std::to_string(q) + " " + std::to_string(next) + "\n";
    }
    for (const auto& s : m.segments) {
        text += "segment " + std::to_string(s.number) + (s.sealed ? " sealed" : " active");
        for (queue_id q : s.queues) {
            text += " " + std::to_string(q);
        }
        text += "\n";
    }
    text += std::string(checksum_prefix) + hex64(XXH3_64bits(text.data(), text.size())) + "\n";
    return text;
}

std::optional<manifest> parse_manifest(std::string_view text) {
    const std::size_t at = text.rfind(checksum_prefix);
    if (!text.starts_with(header_line) || at == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view stated = text.substr(at + checksum_prefix.size());
    if (stated.ends_with('\n')) {
        stated.remove_suffix(1);
    }
    if (stated != hex64(XXH3_64bits(text.data(), at))) {
        return std::nullopt;
    }
    manifest m;
    std::string_view body = text.substr(header_line.size(), at - header_line.size());
    while (!body.empty()) {
        const std::size_t end = std::min(body.find('\n'), body.size());
        if (!parse_line(words_of(body.substr(0, end)), m)) {
            return std::nullopt;
        }
        body.remove_prefix(std::min(end + 1, body.size()));
    }
    return m;
}

std::optional<manifest> read_manifest(const std::filesystem::path& dir, bool& absent) {
    std::error_code ec;
    absent = false;
    if (!std::filesystem::exists(dir / manifest_file, ec)) {
        absent = !ec;
        return std::nullopt;
    }
    std::ifstream in(dir / manifest_file, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse_manifest(text.str());
}

int write_manifest(const std::filesystem::path& dir, const manifest& m, file_ops& files) {
    const std::string text = render_manifest(m);
    const auto temporary = dir / "MANIFEST.tmp";
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    int rc = write_all(fd, text, files);
    if (rc == 0) {
        rc = files.sync(fd);
    }
    ::close(fd);
    if (rc == 0 && ::rename(temporary.c_str(), (dir / manifest_file).c_str()) != 0) {
        rc = -errno;
    }
    return rc == 0 ? sync_directory(dir) : rc;
}

int sync_directory(const std::filesystem::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    const int rc = ::fsync(fd) == 0 ? 0 : -errno;
    ::close(fd);
    return rc;
}

}  // namespace stampede::storage::detail
