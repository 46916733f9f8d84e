#pragma once

// Threads and locks of a journal (NOTES.md, "Storage"):
//
//   callers (any thread)  encode a record's payload into the pending batch
//                         under pending_mutex_ (a memcpy; never any I/O)
//   writer thread         takes the pending batch, lays its records out in
//                         the active segment (rolling to a new one when
//                         full), pwrite()s each run, applies it to state_
//                         under index_mutex_, asks for a sync, compacts
//   sync lanes (N)        fdatasync() covering everything written when it
//                         started; then run completions in batch order
//   reader thread         read(): resolve slots under index_mutex_, pread()
//
// Lock order: none is ever held while taking another, except that
// completion_mutex_ is held while handlers run (they only cast).

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "manifest.hpp"
#include "recovery.hpp"
#include "state.hpp"
#include "stampede/storage/journal.hpp"

namespace stampede::storage::detail {

using steady = std::chrono::steady_clock;

/// One submitted operation, waiting in a batch.
struct pending_op {
    record_type type{};
    bool verbatim = false;  ///< compaction copy: payload final, no patching
    bool no_record = false; ///< a flush barrier: only its callback
    queue_id queue = 0;
    std::uint64_t token = no_token;
    std::size_t payload_offset = 0;
    std::size_t payload_size = 0;
    std::uint32_t callback = 0;  ///< 1-based index into batch::callbacks; 0: none
    boost::system::error_code error;  ///< set by the writer when not stored

    static pending_op make(record_type type, queue_id queue = 0, std::uint64_t token = no_token) {
        pending_op op;
        op.type = type;
        op.queue = queue;
        op.token = token;
        return op;
    }
};

/// A group of operations written together and completed together.
struct batch {
    std::string payloads;
    std::vector<pending_op> ops;
    std::vector<done_handler> callbacks;
    bool requires_sync = true;  ///< completions wait for a sync covering last_seq
    bool force_sync = false;    ///< flush(): synced whatever the mode
    std::uint64_t last_seq = 0; ///< everything up to here must be durable first
    steady::time_point first_at{};

    bool empty() const noexcept { return ops.empty(); }
};

/// What callers see of a queue (under pending_mutex_).
struct catalog_entry {
    std::string name;
    message_id next_id = 1;
    bool quarantined = false;
};

class journal_impl {
  public:
    journal_impl(journal_options options, recovery_result recovered);
    ~journal_impl();

    /// Creates the first segment if needed, writes the manifest and starts the
    /// threads (not in read-only mode). 0 or -errno.
    int start();
    void close();

    const journal_options& options() const noexcept { return options_; }
    const recovery_report& report() const noexcept { return report_; }

    result<queue_id> open_queue(std::string_view name, completion_handler on_complete);
    void close_queue(queue_id queue);
    result<void> delete_queue(queue_id queue, done_handler done);
    result<message_id> append(queue_id queue, const message_in& message, std::uint64_t token);
    result<void> refs(record_type type, queue_id queue, std::span<const message_id> ids,
                      std::uint64_t token);
    void read(queue_id queue, message_id from, read_limits limits, read_handler done);
    result<std::vector<stored_message>> read_now(queue_id queue, message_id from,
                                                 read_limits limits) const;
    result<void> put_subscription(const subscription_record& record, done_handler done);
    result<void> remove_subscription(std::string_view name, done_handler done);
    std::vector<subscription_record> subscriptions() const;
    std::vector<queue_summary> queues() const;
    store_stats stats() const;
    void flush();
    void compact_now();

  private:
    // ---- callers ----
    result<void> admit_locked(queue_id queue, bool allow_unknown = false) const;
    void push_locked(pending_op op, std::string_view payload, done_handler done = {});
    void wake_writer_locked();
    steady::time_point now() const { return options_.now(); }

    // ---- writer thread (writer.cpp) ----
    void writer_main();
    bool may_write_locked(steady::time_point at) const;
    std::optional<steady::time_point> wake_deadline_locked(steady::time_point at) const;
    bool interval_sync_due(steady::time_point at) const;
    bool write_batch(std::unique_ptr<batch> b, bool internal);
    std::string_view prepare(batch& b, std::size_t index, bool& reclaims);
    bool ensure_room(batch& b, std::size_t index, std::size_t size);
    bool flush_run(batch& b, std::size_t next_op);
    void fail_from(batch& b, std::size_t first, boost::system::error_code why);
    void emit_record(record_type type, std::string_view payload);
    void patch_refs(std::string& payload);
    bool roll();
    int create_segment(std::uint32_t number, std::shared_ptr<segment_file>& out);
    int write_current_manifest();
    void request_sync(std::uint64_t through);
    void set_written(std::uint64_t seq);
    void finish_writer();
    int zero_tail();

    // ---- sync lanes and completions (writer.cpp) ----
    void lane_main();
    void pump_completions();
    void deliver(batch& b, boost::system::error_code batch_error);
    void enter_failed(int err);

    // ---- compaction (compaction.cpp) ----
    bool compaction_step();
    std::optional<std::uint32_t> pick_candidate();
    void copy_live_records(std::uint32_t segment, std::string_view data, std::uint64_t base,
                           batch& copies);
    bool finish_compaction(std::uint32_t segment);

    // ---- reader thread ----
    void reader_main();

    journal_options options_;
    recovery_report report_;
    directory_lock lock_;
    std::uint64_t max_payload_ = 0;

    // Callers' view, under pending_mutex_.
    mutable std::mutex pending_mutex_;
    std::condition_variable writer_cv_;
    std::unique_ptr<batch> pending_;
    std::size_t pending_bytes_ = 0;
    std::unordered_map<queue_id, catalog_entry> catalog_;
    std::unordered_map<std::string, queue_id> catalog_names_;
    std::map<std::string, subscription_record> catalog_subscriptions_;
    queue_id next_queue_ = 1;
    enum class writer_wait { none, data, lane };
    writer_wait writer_waiting_ = writer_wait::none;
    bool closing_ = false;
    bool writer_done_ = false;
    unsigned compact_requests_ = 0;
    unsigned compact_done_ = 0;
    std::condition_variable compact_cv_;

    // Writer thread only.
    std::shared_ptr<segment_file> active_;
    std::uint32_t active_number_ = 0;
    std::uint64_t active_size_ = 0;
    std::uint64_t tail_ = 0;
    std::uint64_t next_seq_ = 1;
    std::uint32_t next_segment_ = 1;
    std::vector<std::filesystem::path> empties_;
    boost::system::error_code roll_error_;
    std::string compaction_buffer_;
    std::string out_;              // the run being laid out
    std::size_t run_first_op_ = 0; // first op of the run in its batch
    std::string scratch_;
    struct compaction_job {
        std::uint32_t segment = 0;
        std::uint64_t cursor = 0;
    };
    std::optional<compaction_job> job_;
    bool compaction_dirty_ = true;
    steady::time_point last_sync_request_{};

    // Sync lanes, under sync_mutex_.
    std::mutex sync_mutex_;
    std::condition_variable sync_cv_;
    std::atomic<std::uint64_t> written_seq_{0};  // every record up to here is written
    std::uint64_t sync_target_ = 0;     // a sync covering this is wanted
    std::uint64_t sync_started_ = 0;    // a sync covering this has started
    std::shared_ptr<segment_file> sync_file_;
    std::atomic<unsigned> busy_lanes_{0};
    bool stop_lanes_ = false;
    std::atomic<std::uint64_t> durable_seq_{0};
    std::atomic<bool> failed_{false};

    // Completions, under completion_mutex_.
    std::mutex completion_mutex_;
    std::deque<std::unique_ptr<batch>> unconfirmed_;
    std::unordered_map<queue_id, completion_handler> handlers_;

    // The index, under index_mutex_ (mutated only by the writer thread).
    mutable std::mutex index_mutex_;
    journal_state state_;
    std::vector<manifest::segment_entry> missing_;  // listed, gone: kept listed

    // Reader thread.
    struct read_request {
        queue_id queue;
        message_id from;
        read_limits limits;
        read_handler done;
    };
    std::mutex read_mutex_;
    std::condition_variable read_cv_;
    std::deque<read_request> reads_;
    bool stop_reader_ = false;

    // Counters.
    std::atomic<std::uint64_t> appends_{0};
    std::atomic<std::uint64_t> batches_{0};
    std::atomic<std::uint64_t> syncs_{0};
    std::atomic<std::uint64_t> write_errors_{0};
    std::atomic<std::uint64_t> compacted_{0};

    std::thread writer_;
    std::vector<std::thread> lanes_;
    std::thread reader_;
    bool started_ = false;
};

}  // namespace stampede::storage::detail
