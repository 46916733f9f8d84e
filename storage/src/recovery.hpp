#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "manifest.hpp"
#include "state.hpp"
#include "stampede/storage/journal.hpp"

namespace stampede::storage::detail {

/// flock(2) on DIR/LOCK for as long as it lives: exclusive for a writer,
/// shared for the read-only operator tool.
class directory_lock {
  public:
    directory_lock() = default;
    /// Fails with errc::locked when another process holds the directory,
    /// errc::bad_directory when the lock file cannot be opened; `why` gets a
    /// line naming the directory.
    static result<directory_lock> acquire(const std::filesystem::path& dir, bool shared,
                                          std::string* why);
    ~directory_lock();
    directory_lock(directory_lock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    directory_lock& operator=(directory_lock&& other) noexcept;

  private:
    explicit directory_lock(int fd) : fd_(fd) {}
    int fd_ = -1;
};

/// What recovery hands the journal: the state, the report, and where to go on writing.
struct recovery_result {
    directory_lock lock;
    journal_state state;
    recovery_report report;
    std::shared_ptr<segment_file> active;  ///< segment to append to; null: start a new one
    std::uint64_t tail = 0;                ///< offset in `active` where writing goes on
    std::uint64_t next_seq = 1;
    std::uint32_t next_segment = 1;        ///< number for the next segment created
    std::vector<manifest::segment_entry> missing;  ///< listed, gone: stay listed
    std::vector<std::filesystem::path> empties;    ///< trailing header-only segments to remove
};

/// Locks and reads the journal in `options.directory`: lists segment files,
/// reconciles them with the manifest, replays every record in order, cuts a
/// torn tail, quarantines the queues of damaged or missing segments. Fails
/// only for the lock and for a directory it cannot read; damage is reported.
result<recovery_result> recover(const journal_options& options, std::string* diagnostic);

}  // namespace stampede::storage::detail
