// bench_journal: the durable store's figures (issue 10's targets).
//
//   bench_journal [--dir DIR] [--reps R] [--seconds S] [--messages N] [--only SECTION]
//
// Prints one JSON document. Sections:
//
// - floor: the machine's fdatasync after a 4 KiB pwrite into a preallocated
//   file, one at a time: what one sync per message would cost.
// - throughput: P producers (threads), each appending a 512 B message and
//   waiting for its completion before the next (a SEND with a receipt after
//   the sync), sync mode `always`; P = 1, 8, 64 with the default 2 sync
//   lanes, and P = 64 with 1 and 4 lanes. Appends per second, records per
//   fdatasync.
// - latency: one producer, append and wait, per message: p50 and p99.
// - recovery: N (default 1,000,000) pending 512 B messages written (sync
//   mode never, then flushed), the journal closed, and journal::open timed:
//   with the files in the page cache (warm) and after evicting them
//   (posix_fadvise DONTNEED on each segment: cold, from the disk). RSS of the
//   index. Then everything acknowledged and compacted: disk use.
//
// DIR (default /tmp) gets a fresh directory per repetition, removed after.
// The machine is shared: read figures as medians and ratios within one run.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <semaphore>
#include <thread>

#include "micro_support.hpp"
#include "stampede/storage/journal.hpp"

namespace {

using namespace stampede::bench;
using namespace stampede::storage;
namespace fs = std::filesystem;

struct settings {
    fs::path dir = "/tmp";
    int reps = 3;
    double seconds = 3;
    std::uint64_t messages = 1'000'000;
};

/// A fresh directory for one repetition, removed afterwards.
class bench_dir {
  public:
    explicit bench_dir(const fs::path& parent) {
        std::string pattern = (parent / "stampede-journal-bench-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            std::perror("mkdtemp");
            std::exit(1);
        }
        path_ = pattern;
    }
    ~bench_dir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

std::unique_ptr<journal> must_open(journal_options o) {
    std::string why;
    auto j = journal::open(std::move(o), &why);
    if (!j) {
        std::fprintf(stderr, "journal::open: %s\n", why.c_str());
        std::exit(1);
    }
    return std::move(*j);
}

std::uint64_t directory_bytes(const fs::path& dir) {
    std::uint64_t total = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        struct stat st {};
        if (::stat(e.path().c_str(), &st) == 0) {
            total += static_cast<std::uint64_t>(st.st_blocks) * 512;
        }
    }
    return total;
}

double percentile(std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
}

// ---- floor ----

std::vector<double> sync_floor_sample(const settings& s, int count) {
    bench_dir dir(s.dir);
    const auto path = dir.path() / "floor";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
    ::posix_fallocate(fd, 0, 64 << 20);
    ::fsync(fd);
    std::string page(4096, 'x');
    std::vector<double> us;
    for (int i = 0; i < count; ++i) {
        const auto t = bench_clock::now();
        if (::pwrite(fd, page.data(), page.size(), static_cast<off_t>(i) * 4096) < 0 || ::fdatasync(fd) != 0) {
            std::perror("floor");
            std::exit(1);
        }
        us.push_back(seconds_since(t) * 1e6);
    }
    ::close(fd);
    return us;
}

void floor_section(const settings& s, std::vector<measurement>& out) {
    measurement p50{"fdatasync_4k_p50", "us", {}, 300, "pwrite 4 KiB + fdatasync, preallocated file", {}};
    measurement p99{"fdatasync_4k_p99", "us", {}, 300, "pwrite 4 KiB + fdatasync, preallocated file", {}};
    for (int r = 0; r < s.reps; ++r) {
        const auto us = sync_floor_sample(s, 300);
        p50.samples.push_back(percentile(us, 0.5));
        p99.samples.push_back(percentile(us, 0.99));
        progress("floor: p50 %.0f us, p99 %.0f us", p50.samples.back(), p99.samples.back());
    }
    out.push_back(p50);
    out.push_back(p99);
}

// ---- throughput and latency ----

struct producers_result {
    double per_second = 0;
    double records_per_sync = 0;
    std::vector<double> latencies_us;  // one producer only
};

// P threads, each: append, wait for its completion, again, for `seconds`.
producers_result run_producers(const settings& s, unsigned producers, unsigned lanes,
                               double seconds, bool keep_latencies) {
    bench_dir dir(s.dir);
    journal_options o;
    o.directory = dir.path();
    o.sync_lanes = lanes;
    auto j = must_open(o);
    std::vector<std::unique_ptr<std::binary_semaphore>> ready;
    for (unsigned p = 0; p < producers; ++p) {
        ready.push_back(std::make_unique<std::binary_semaphore>(0));
    }
    const auto q = j->open_queue("/queue/bench", [&](completion&& c) {
        for (auto token : c.tokens) {
            ready[(token >> 40) - 1]->release();
        }
    });
    if (!q) {
        std::exit(1);
    }
    const std::string body(512, 'b');
    const std::string headers = "content-type:text/plain\npersistent:true\n";
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> done{0};
    std::vector<double> latencies;
    std::vector<std::thread> threads;
    for (unsigned p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            message_in m;
            m.headers = headers;
            m.body = body;
            for (std::uint64_t n = 1; !stop.load(std::memory_order_relaxed); ++n) {
                const auto t = bench_clock::now();
                if (!j->append(*q, m, (std::uint64_t{p + 1} << 40) | n)) {
                    std::exit(1);
                }
                ready[p]->acquire();
                if (keep_latencies) {
                    latencies.push_back(seconds_since(t) * 1e6);
                }
                done.fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // warm-up
    const auto stats0 = j->stats();
    const std::uint64_t done0 = done.load();
    const std::size_t latencies0 = latencies.size();
    const auto t0 = bench_clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    const std::uint64_t done1 = done.load();
    const double elapsed = seconds_since(t0);
    const auto stats1 = j->stats();
    stop = true;
    for (auto& t : threads) {
        t.join();
    }
    producers_result r;
    r.per_second = static_cast<double>(done1 - done0) / elapsed;
    r.records_per_sync = static_cast<double>(stats1.appends - stats0.appends) /
                         static_cast<double>(std::max<std::uint64_t>(1, stats1.syncs - stats0.syncs));
    if (keep_latencies) {
        r.latencies_us.assign(latencies.begin() + static_cast<long>(latencies0), latencies.end());
    }
    return r;
}

void throughput_section(const settings& s, std::vector<measurement>& out) {
    struct cell {
        unsigned producers;
        unsigned lanes;
    };
    for (const cell c : {cell{1, 2}, cell{8, 2}, cell{64, 2}, cell{64, 1}, cell{64, 4}}) {
        const std::string suffix =
            std::to_string(c.producers) + "_producers_" + std::to_string(c.lanes) + "_lanes";
        measurement rate{"appends_per_s_always_" + suffix, "appends/s", {}, 0,
                         "append a 512 B message and wait for its completion (after its fdatasync)", {}};
        measurement batch{"records_per_sync_" + suffix, "records/fdatasync", {}, 0,
                          "records written per fdatasync (batch_start records included)", {}};
        if (c.producers == 64 && c.lanes == 2) {
            rate.goal = {"at_least", 100000};
        }
        for (int r = 0; r < s.reps; ++r) {
            const auto result = run_producers(s, c.producers, c.lanes, s.seconds, false);
            rate.samples.push_back(result.per_second);
            batch.samples.push_back(result.records_per_sync);
            progress("throughput %s: %.0f appends/s, %.1f records/sync", suffix.c_str(),
                     result.per_second, result.records_per_sync);
        }
        out.push_back(rate);
        out.push_back(batch);
    }
}

void latency_section(const settings& s, std::vector<measurement>& out) {
    measurement p50{"single_producer_latency_p50", "us", {}, 0, "append 512 B, wait for its completion", {}};
    measurement p99{"single_producer_latency_p99", "us", {}, 0, "append 512 B, wait for its completion",
                    {"at_most", 2000}};
    for (int r = 0; r < s.reps; ++r) {
        const auto result = run_producers(s, 1, 2, s.seconds, true);
        p50.samples.push_back(percentile(result.latencies_us, 0.5));
        p99.samples.push_back(percentile(result.latencies_us, 0.99));
        p50.iterations_per_repetition = p99.iterations_per_repetition = result.latencies_us.size();
        progress("latency: p50 %.0f us, p99 %.0f us over %zu", p50.samples.back(), p99.samples.back(),
                 result.latencies_us.size());
    }
    out.push_back(p50);
    out.push_back(p99);
}

// ---- recovery and compaction ----

void evict(const fs::path& dir) {
    for (const auto& e : fs::directory_iterator(dir)) {
        const int fd = ::open(e.path().c_str(), O_RDONLY);
        if (fd >= 0) {
            ::fdatasync(fd);
            ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            ::close(fd);
        }
    }
}

void recovery_section(const settings& s, std::vector<measurement>& out) {
    const std::string what = std::to_string(s.messages) + " pending 512 B messages";
    measurement warm{"recovery_seconds_warm", "s", {}, s.messages, what + ", segments in the page cache",
                     {"at_most", 10}};
    measurement cold{"recovery_seconds_cold", "s", {}, s.messages, what + ", segments evicted first",
                     {"at_most", 10}};
    measurement rss{"rss_after_recovery", "MiB", {}, s.messages, "process RSS after open (index of " + what + ")", {}};
    measurement write{"bulk_write_seconds", "s", {}, s.messages, "append all, sync mode never, then flush", {}};
    measurement compact{"compaction_seconds", "s", {}, s.messages, "ack all, then compact_now()", {}};
    measurement disk{"disk_after_ack_and_compaction", "segments", {}, s.messages,
                     "journal bytes on disk after everything is acknowledged and compacted, in segments",
                     {"at_most", 2}};
    for (int r = 0; r < s.reps; ++r) {
        const auto sample = in_child([&] {
            bench_dir dir(s.dir);
            journal_options o;
            o.directory = dir.path();
            o.sync = sync_mode::never;
            o.compaction = false;
            const std::string body(512, 'r');
            const std::string headers = "persistent:true\n";
            queue_id q = 0;
            const auto t_write = bench_clock::now();
            {
                auto j = must_open(o);
                q = *j->open_queue("/queue/recovery", [](completion&&) {});
                message_in m;
                m.headers = headers;
                m.body = body;
                for (std::uint64_t i = 0; i < s.messages; ++i) {
                    (void)j->append(q, m, no_token);
                    if (i % 10000 == 0 && j->stats().pending_bytes > (64u << 20)) {
                        j->flush();  // keep the pending batch bounded
                    }
                }
                j->flush();
            }
            const double wrote = seconds_since(t_write);
            o.sync = sync_mode::always;
            auto t = bench_clock::now();
            double warm_s = 0;
            {
                auto j = must_open(o);
                warm_s = seconds_since(t);
            }
            evict(dir.path());
            t = bench_clock::now();
            auto j = must_open(o);
            const double cold_s = seconds_since(t);
            const double rss_mib = static_cast<double>(rss_bytes()) / (1 << 20);
            if (j->recovery().queues.front().messages != s.messages) {
                std::fprintf(stderr, "recovered %llu messages\n",
                             static_cast<unsigned long long>(j->recovery().queues.front().messages));
                std::exit(1);
            }
            const auto t_compact = bench_clock::now();
            std::vector<message_id> ids;
            for (message_id id = 1; id <= s.messages; ++id) {
                ids.push_back(id);
                if (ids.size() == 10000 || id == s.messages) {
                    (void)j->ack(q, ids, no_token);
                    ids.clear();
                }
            }
            j->compact_now();
            const double compact_s = seconds_since(t_compact);
            const double segments = static_cast<double>(directory_bytes(dir.path())) /
                                    static_cast<double>(o.segment_bytes);
            return std::vector<double>{wrote, warm_s, cold_s, rss_mib, compact_s, segments};
        });
        if (!sample || sample->size() != 6) {
            std::fprintf(stderr, "recovery repetition failed\n");
            std::exit(1);
        }
        const auto& v = *sample;
        write.samples.push_back(v[0]);
        warm.samples.push_back(v[1]);
        cold.samples.push_back(v[2]);
        rss.samples.push_back(v[3]);
        compact.samples.push_back(v[4]);
        disk.samples.push_back(v[5]);
        progress("recovery: wrote %.1f s, warm %.2f s, cold %.2f s, rss %.0f MiB, compaction %.1f s, "
                 "disk %.2f segments",
                 v[0], v[1], v[2], v[3], v[4], v[5]);
    }
    for (auto* m : {&write, &warm, &cold, &rss, &compact, &disk}) {
        out.push_back(*m);
    }
}

}  // namespace

int main(int argc, char** argv) {
    const double load_at_start = load_average();
    settings s;
    s.dir = option(argc, argv, "--dir").value_or(s.dir.string());
    s.reps = static_cast<int>(option_number(argc, argv, "--reps", s.reps));
    s.seconds = option_number(argc, argv, "--seconds", s.seconds);
    s.messages = static_cast<std::uint64_t>(option_number(argc, argv, "--messages", double(s.messages)));
    const std::string only = option(argc, argv, "--only").value_or("");
    const auto wanted = [&only](const char* section) { return only.empty() || only == section; };

    std::vector<measurement> results;
    // The recovery section forks: it goes first, while this process has no threads.
    if (wanted("recovery")) {
        recovery_section(s, results);
    }
    if (wanted("floor")) {
        floor_section(s, results);
    }
    if (wanted("throughput")) {
        throughput_section(s, results);
    }
    if (wanted("latency")) {
        latency_section(s, results);
    }

    json_writer j;
    j.open_object();
    j.field("benchmark", "bench_journal");
    write_machine(j, load_at_start);
    j.field("build_type", STAMPEDE_BUILD_TYPE);
    j.open_object("config");
    j.field("dir", s.dir.string());
    j.field("repetitions", s.reps);
    j.field("seconds_per_repetition", s.seconds);
    j.field("recovery_messages", s.messages);
    j.field("segment_bytes", journal_options{}.segment_bytes);
    j.field("message", "512 B body, ~40 B of headers");
    j.close_object();
    j.open_array("results");
    for (const auto& m : results) {
        write_measurement(j, m);
    }
    j.close_array();
    j.close_object();
    std::fputs(j.text().c_str(), stdout);
    return 0;
}
