#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string>

#include "stampede/storage/errc.hpp"
#include "stampede/storage/file_ops.hpp"
#include "stampede/storage/journal.hpp"

namespace stampede::storage {

namespace {

class category final : public boost::system::error_category {
  public:
    const char* name() const noexcept override { return "stampede.storage"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::locked:
                return "data directory is in use by another process";
            case errc::bad_directory:
                return "data directory cannot be used";
            case errc::no_space:
                return "no space left for the journal";
            case errc::write_failed:
                return "journal write failed";
            case errc::sync_failed:
                return "journal sync failed; no more writes until restart";
            case errc::record_too_large:
                return "record larger than a journal segment";
            case errc::unknown_queue:
                return "unknown queue";
            case errc::quarantined:
                return "queue quarantined: its journal records are damaged";
            case errc::corrupt:
                return "journal record failed its checksum";
            case errc::read_only:
                return "journal opened read-only";
            case errc::closed:
                return "journal closed";
            case errc::invalid_argument:
                return "invalid argument";
        }
        return "unknown storage error";
    }
};

}  // namespace

const boost::system::error_category& storage_category() noexcept {
    static const category instance;
    return instance;
}

ssize_t file_ops::write_at(int fd, const void* data, std::size_t size, off_t offset) {
    const char* p = static_cast<const char*>(data);
    std::size_t done = 0;
    while (done < size) {
        const ssize_t n = ::pwrite(fd, p + done, size - done, offset + static_cast<off_t>(done));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            return -EIO;
        }
        done += static_cast<std::size_t>(n);
    }
    return static_cast<ssize_t>(done);
}

int file_ops::sync(int fd) {
    return ::fdatasync(fd) == 0 ? 0 : -errno;
}

int file_ops::allocate(int fd, off_t size) {
    if (::fallocate(fd, 0, 0, size) == 0) {
        return 0;
    }
    if (errno != EOPNOTSUPP) {
        return -errno;
    }
    return -::posix_fallocate(fd, 0, size);
}

bool parse_sync_mode(std::string_view text, sync_mode& mode, std::chrono::milliseconds& interval) {
    if (text == "always") {
        mode = sync_mode::always;
        return true;
    }
    if (text == "never") {
        mode = sync_mode::never;
        return true;
    }
    for (std::string_view prefix : {"interval_ms:", "interval_ms=", "interval:"}) {
        if (text.starts_with(prefix)) {
            text.remove_prefix(prefix.size());
            break;
        }
    }
    unsigned ms = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || ms == 0) {
        return false;
    }
    mode = sync_mode::interval;
    interval = std::chrono::milliseconds(ms);
    return true;
}

}  // namespace stampede::storage
