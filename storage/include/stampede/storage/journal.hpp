#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "stampede/storage/file_ops.hpp"
#include "stampede/storage/store.hpp"

namespace stampede::storage {

/// When a completion may be reported.
enum class sync_mode {
    always,    ///< after an fdatasync covering the record (group commit); the default
    interval,  ///< fdatasync at most every sync_interval; completions wait for it
    never,     ///< after the write(2): survives a crash of the broker, not of the machine
};

/// Parses a `journal.sync` value: "always", "never", or "interval_ms:N" /
/// a bare number of milliseconds N (interval). False if malformed.
bool parse_sync_mode(std::string_view text, sync_mode& mode, std::chrono::milliseconds& interval);

/// How a journal is opened. The defaults suit the broker.
struct journal_options {
    std::filesystem::path directory = "data";  ///< created if missing; locked while open
    sync_mode sync = sync_mode::always;
    std::chrono::milliseconds sync_interval{10};  ///< sync_mode::interval only

    /// Size of each segment file, fixed and preallocated. A record must fit in
    /// one (less 64 bytes of framing). At least 64 KiB.
    std::uint64_t segment_bytes = 64u << 20;

    /// Group commit: a batch is written as soon as a sync lane is free, or at
    /// once when this many bytes wait; and after at most batch_delay.
    std::size_t max_batch_bytes = 1u << 20;
    std::chrono::microseconds batch_delay{0};  ///< 0: no waiting to gather more

    /// fdatasync calls that may run at once (each covering everything written
    /// before it started). More than one overlaps the device's flushes.
    unsigned sync_lanes = 2;

    /// Compaction rewrites a sealed segment once its live share is at most
    /// this, and it would free at least a quarter of a segment.
    double compact_below = 0.5;
    bool compaction = true;  ///< false: only compact_now() compacts

    /// Operator tool: read and report, never write (a shared lock: fails while
    /// a broker holds the directory).
    bool read_only = false;

    /// System calls on segment files; tests put fault injection here.
    std::shared_ptr<file_ops> files;

    /// The clock for sync intervals and batch delays; tests put a fake here.
    std::function<std::chrono::steady_clock::time_point()> now;
};

namespace detail {
class journal_impl;
}

/// The local store: an append-only journal of fixed-size segment files with
/// checksummed records, group commit, an in-memory index rebuilt at open, and
/// compaction. One writer thread lays out and writes batches, up to
/// `sync_lanes` threads run fdatasync, one reader thread serves read().
class journal final : public message_store {
  public:
    /// Locks `options.directory`, recovers it and starts the journal's threads.
    /// Recovery never fails for damage (see recovery()); it fails for
    /// errc::locked (another process has the directory), errc::bad_directory,
    /// errc::invalid_argument. `diagnostic`, when given, receives one line
    /// that names the directory and the cause.
    [[nodiscard]] static result<std::unique_ptr<journal>> open(journal_options options,
                                                               std::string* diagnostic = nullptr);

    /// Writes and syncs everything submitted, then stops the threads and
    /// releases the directory.
    ~journal() override;
    journal(const journal&) = delete;
    journal& operator=(const journal&) = delete;

    const recovery_report& recovery() const noexcept override;
    [[nodiscard]] result<queue_id> open_queue(std::string_view name,
                                              completion_handler on_complete) override;
    void close_queue(queue_id queue) override;
    [[nodiscard]] result<void> delete_queue(queue_id queue, done_handler done) override;
    [[nodiscard]] result<message_id> append(queue_id queue, const message_in& message,
                                            std::uint64_t token) override;
    [[nodiscard]] result<void> ack(queue_id queue, std::span<const message_id> ids,
                                   std::uint64_t token) override;
    [[nodiscard]] result<void> mark_delivered(queue_id queue, std::span<const message_id> ids,
                                              std::uint64_t token) override;
    void read(queue_id queue, message_id from, read_limits limits, read_handler done) override;
    [[nodiscard]] result<void> put_subscription(const subscription_record& record,
                                                done_handler done) override;
    [[nodiscard]] result<void> remove_subscription(std::string_view name,
                                                   done_handler done) override;
    std::vector<subscription_record> subscriptions() const override;
    store_stats stats() const override;

    /// read() on the calling thread: blocks on pread(2). For tools, tests and
    /// start-up, never on a scheduler thread. Works on quarantined queues.
    [[nodiscard]] result<std::vector<stored_message>> read_now(queue_id queue, message_id from,
                                                               read_limits limits) const;

    /// Blocks until everything submitted before the call is written and
    /// synced (whatever the sync mode) and its completions have run.
    void flush();

    /// Blocks until compaction has nothing left to do (whatever `compaction`
    /// says). For tests, benchmarks and the operator tool.
    void compact_now();

    /// The queues the journal knows now, with their pending counts.
    std::vector<queue_summary> queues() const;

    const journal_options& options() const noexcept;

  private:
    explicit journal(std::unique_ptr<detail::journal_impl> impl);
    std::unique_ptr<detail::journal_impl> impl_;
};

}  // namespace stampede::storage
