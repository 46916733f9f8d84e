#pragma once

// Helpers of the storage tests: a scratch directory, a completion collector
// that waits without racing the clock (a condition, with a generous guard
// against hanging), fault-injecting file operations, and a fake clock.

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "stampede/storage/journal.hpp"

// Catch prints a result as its outcome (the default would stream the value).
namespace Catch {
template <class T>
struct StringMaker<boost::system::result<T>> {
    static std::string convert(const boost::system::result<T>& r) {
        return r ? std::string("{value}") : "{error: " + r.error().message() + "}";
    }
};
}  // namespace Catch

namespace storage_test {

using namespace stampede::storage;
namespace fs = std::filesystem;

/// A fresh directory under /tmp, removed with everything in it.
class scratch_dir {
  public:
    scratch_dir() {
        std::string pattern = (fs::temp_directory_path() / "stampede-storage-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    ~scratch_dir() {
        if (std::getenv("STAMPEDE_KEEP_TEST_DIRS") != nullptr) {  // for debugging a failure
            std::fprintf(stderr, "kept %s\n", path_.c_str());
            return;
        }
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
    const fs::path& path() const { return path_; }
    fs::path operator/(const std::string& name) const { return path_ / name; }

  private:
    fs::path path_;
};

/// The guard against a hang; tests wait for conditions, never for time.
inline constexpr auto hang_guard = std::chrono::seconds(60);

/// Collects completions of queues; tokens are unique per test. The state is
/// shared with the handlers: a journal may still complete work in flight
/// while it closes, after a collector declared later in the test is gone.
class collector {
  public:
    completion_handler handler() {
        return [state = state_](completion&& c) {
            std::lock_guard lock(state->mutex);
            state->batches.push_back(c);
            for (auto t : c.tokens) {
                state->outcomes[t] = c.error;
            }
            state->cv.notify_all();
        };
    }

    /// The outcome of `token`, waiting for it.
    boost::system::error_code wait(std::uint64_t token) {
        std::unique_lock lock(state_->mutex);
        const bool arrived =
            state_->cv.wait_for(lock, hang_guard, [&] { return state_->outcomes.contains(token); });
        REQUIRE(arrived);
        return state_->outcomes[token];
    }
    bool has(std::uint64_t token) {
        std::lock_guard lock(state_->mutex);
        return state_->outcomes.contains(token);
    }
    std::vector<completion> batches() {
        std::lock_guard lock(state_->mutex);
        return state_->batches;
    }

  private:
    struct state {
        std::mutex mutex;
        std::condition_variable cv;
        std::map<std::uint64_t, boost::system::error_code> outcomes;
        std::vector<completion> batches;
    };
    std::shared_ptr<state> state_ = std::make_shared<state>();
};

/// A done_handler whose outcome can be waited for; state shared with the
/// handler for the same reason as collector's.
class done_waiter {
  public:
    done_handler handler() {
        return [state = state_](boost::system::error_code ec) {
            std::lock_guard lock(state->mutex);
            state->result = ec;
            state->done = true;
            state->cv.notify_all();
        };
    }
    boost::system::error_code wait() {
        std::unique_lock lock(state_->mutex);
        REQUIRE(state_->cv.wait_for(lock, hang_guard, [&] { return state_->done; }));
        return state_->result;
    }

  private:
    struct state {
        std::mutex mutex;
        std::condition_variable cv;
        bool done = false;
        boost::system::error_code result;
    };
    std::shared_ptr<state> state_ = std::make_shared<state>();
};

/// File operations with failures to inject and syncs that can be held.
class fault_files : public file_ops {
  public:
    std::atomic<int> fail_allocate{0};  ///< errno for allocate() to fail with; 0: none
    std::atomic<int> fail_write{0};
    std::atomic<int> fail_sync{0};
    std::atomic<int> syncs{0};          ///< sync() calls that got through

    ssize_t write_at(int fd, const void* data, std::size_t size, off_t offset) override {
        if (const int e = fail_write.load()) {
            return -e;
        }
        return file_ops::write_at(fd, data, size, offset);
    }
    int sync(int fd) override {
        {
            std::unique_lock lock(mutex_);
            ++waiting_;
            cv_.notify_all();
            cv_.wait(lock, [&] { return !hold_; });
            --waiting_;
        }
        if (const int e = fail_sync.load()) {
            return -e;
        }
        ++syncs;
        return file_ops::sync(fd);
    }
    int allocate(int fd, off_t size) override {
        if (const int e = fail_allocate.load()) {
            return -e;
        }
        return file_ops::allocate(fd, size);
    }

    /// Syncs block from now on until release().
    void hold() {
        std::lock_guard lock(mutex_);
        hold_ = true;
    }
    void release() {
        std::lock_guard lock(mutex_);
        hold_ = false;
        cv_.notify_all();
    }
    /// Waits until `n` syncs are blocked in hold().
    void wait_held(int n) {
        std::unique_lock lock(mutex_);
        REQUIRE(cv_.wait_for(lock, hang_guard, [&] { return waiting_ >= n; }));
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool hold_ = false;
    int waiting_ = 0;
};

/// A clock that moves only when told.
/// A clock that moves only when told, and counts how often it was read, so a
/// test can wait until the journal's writer has looked at the new time.
class fake_clock {
  public:
    std::chrono::steady_clock::time_point now() {
        ++reads_;
        return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms_.load()));
    }
    void advance(std::chrono::milliseconds by) { ms_ += by.count(); }
    std::function<std::chrono::steady_clock::time_point()> function() {
        return [this] { return now(); };
    }
    /// Waits until the clock has been read `n` more times than when called.
    void wait_reads(std::uint64_t n) {
        const std::uint64_t target = reads_.load() + n;
        for (auto deadline = std::chrono::steady_clock::now() + hang_guard; reads_.load() < target;) {
            REQUIRE(std::chrono::steady_clock::now() < deadline);
            std::this_thread::yield();
        }
    }

  private:
    std::atomic<std::int64_t> ms_{1'000'000};
    std::atomic<std::uint64_t> reads_{0};
};

/// Options for a test journal in `dir`: small segments, default sync.
inline journal_options test_options(const fs::path& dir, std::uint64_t segment_bytes = 64u << 10) {
    journal_options o;
    o.directory = dir;
    o.segment_bytes = segment_bytes;
    return o;
}

inline std::unique_ptr<journal> open_journal(const journal_options& o) {
    std::string why;
    auto j = journal::open(o, &why);
    INFO(why);
    REQUIRE(j);
    return std::move(*j);
}

/// A body that says which message it is, `size` bytes long.
inline std::string body_of(std::uint64_t n, std::size_t size = 512) {
    std::string b = "message-" + std::to_string(n) + ":";
    while (b.size() < size) {
        b += static_cast<char>('a' + (b.size() + n) % 26);
    }
    b.resize(size);
    return b;
}

inline message_in message_of(const std::string& body, std::string_view headers = "h:1\n") {
    message_in m;
    m.headers = headers;
    m.body = body;
    return m;
}

/// Every pending message of `queue`, read in chunks.
inline std::vector<stored_message> read_all(const journal& j, queue_id queue) {
    std::vector<stored_message> all;
    message_id from = 1;
    for (;;) {
        auto chunk = j.read_now(queue, from, {.max_messages = 100, .max_bytes = 1u << 20});
        REQUIRE(chunk);
        if (chunk->empty()) {
            return all;
        }
        from = chunk->back().id + 1;
        for (auto& m : *chunk) {
            all.push_back(std::move(m));
        }
    }
}

inline std::optional<queue_summary> summary_of(const recovery_report& r, std::string_view name) {
    for (const auto& q : r.queues) {
        if (q.name == name) {
            return q;
        }
    }
    return std::nullopt;
}

/// Segment files of `dir`, ascending.
inline std::vector<fs::path> segment_files(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        const auto name = e.path().filename().string();
        if (name.starts_with("journal-") && name.ends_with(".seg")) {
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

inline void copy_dir(const fs::path& from, const fs::path& to) {
    fs::remove_all(to);
    fs::create_directories(to);
    for (const auto& e : fs::directory_iterator(from)) {
        if (e.path().filename() != "LOCK") {
            fs::copy_file(e.path(), to / e.path().filename());
        }
    }
}

}  // namespace storage_test
