#include "recovery.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <set>

namespace stampede::storage::detail {

// ---- directory_lock ----

result<directory_lock> directory_lock::acquire(const std::filesystem::path& dir, bool shared,
                                               std::string* why) {
    const auto path = dir / "LOCK";
    const int fd = ::open(path.c_str(), (shared ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (why != nullptr) {
            *why = "data directory " + dir.string() + ": cannot open " + path.string() + ": " +
                   std::strerror(errno);
        }
        return make_error_code(errc::bad_directory);
    }
    if (::flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
        char pid[32] = {};
        const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
        ::close(fd);
        if (why != nullptr) {
            *why = "data directory " + dir.string() + " is in use by another process";
            if (n > 0) {
                *why += " (pid " + std::string(pid, static_cast<std::size_t>(n)) + ")";
            }
            *why += "; only one broker may use a data directory";
        }
        return make_error_code(errc::locked);
    }
    if (!shared) {
        const std::string pid = std::to_string(::getpid());
        if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
            // The pid is only for the message a second opener prints.
        }
    }
    return directory_lock(fd);
}

directory_lock::~directory_lock() {
    if (fd_ >= 0) {
        ::close(fd_);  // releases the flock
    }
}

directory_lock& directory_lock::operator=(directory_lock&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) {
            ::close(fd_);
        }
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

namespace {

constexpr std::uint64_t npos = ~std::uint64_t{0};

/// A segment file mapped read-only for the duration of recovery.
class mapped_segment {
  public:
    mapped_segment() = default;
    mapped_segment(const mapped_segment&) = delete;
    mapped_segment& operator=(const mapped_segment&) = delete;
    ~mapped_segment() {
        if (data_ != nullptr) {
            ::munmap(data_, size_);
        }
    }
    int map(int fd) {
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            return -errno;
        }
        size_ = static_cast<std::size_t>(st.st_size);
        if (size_ == 0) {
            return 0;
        }
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            return -errno;
        }
        ::madvise(p, size_, MADV_SEQUENTIAL);
        data_ = p;
        return 0;
    }
    std::string_view bytes() const noexcept {
        return {static_cast<const char*>(data_), data_ == nullptr ? 0 : size_};
    }

  private:
    void* data_ = nullptr;
    std::size_t size_ = 0;
};

struct scanned_record {
    std::uint64_t offset = 0;
    record_view view;
};

/// Unreadable bytes from `offset` until `resumes` (npos: to the end).
struct gap_info {
    std::uint64_t offset = 0;
    std::uint64_t resumes = npos;
    std::uint64_t seq_before = 0;  // seq of the last good record before it
};

struct segment_scan {
    std::vector<scanned_record> records;
    std::vector<gap_info> gaps;
    std::uint64_t end = 0;  // end of the valid data
    bool sealed = false;
    std::uint64_t max_seq = 0;
};

bool is_header_of(const record_view& r, std::uint32_t number) {
    if (r.type != record_type::segment_start || r.payload.size() != 16) {
        return false;
    }
    return load<std::uint64_t>(r.payload.data()) == segment_magic &&
           load<std::uint32_t>(r.payload.data() + 8) == number;
}

// The next offset at or after `from` holding a record whose checksum holds
// and whose seq is above `after` (records are 8-byte aligned). Cheap over
// zeros and over stale records: most candidates fail before any hashing.
std::uint64_t resync(std::string_view data, std::uint64_t from, std::uint64_t after) {
    for (std::uint64_t off = align8(from); off + header_size <= data.size(); off += 8) {
        const char* p = data.data() + off;
        if (!known_type(static_cast<std::uint8_t>(p[12])) ||
            static_cast<std::uint8_t>(p[13]) != format_version || load<std::uint64_t>(p + 16) <= after) {
            continue;
        }
        record_view r;
        if (parse_record(data.substr(off), r) == parse_status::ok) {
            return off;
        }
    }
    return npos;
}

// Reads one segment's records in order. Stops at its seal, at the end of the
// written data (zeros, or a stale record left by an overwritten failed
// write), skipping unreadable stretches it can resynchronise after.
segment_scan scan_segment(std::string_view data, std::uint32_t number, std::uint64_t last) {
    segment_scan s;
    std::uint64_t off = 0;
    while (off < data.size()) {
        record_view r;
        const parse_status st = parse_record(data.substr(off), r);
        const bool good =
            st == parse_status::ok && r.seq > last && (off != 0 || is_header_of(r, number));
        if (good) {
            s.records.push_back({off, r});
            last = r.seq;
            s.max_seq = std::max(s.max_seq, r.seq);
            off += r.size;
            if (r.type == record_type::seal) {
                s.sealed = true;
                break;
            }
            continue;
        }
        const std::uint64_t resume = resync(data, off + 8, last);
        if (resume == npos) {
            if (st == parse_status::bad || off == 0) {
                s.gaps.push_back({off, npos, last});
            }
            break;
        }
        s.gaps.push_back({off, resume, last});
        off = resume;
    }
    s.end = std::min<std::uint64_t>(off, data.size());
    return s;
}

// A segment that holds no records but its header (an interrupted roll, or a
// new segment not yet written to), or nothing at all.
bool holds_no_records(std::string_view data, std::uint32_t number) {
    record_view r;
    const parse_status st = parse_record(data, r);
    if (st == parse_status::end) {
        return resync(data, 0, 0) == npos;
    }
    if (st != parse_status::ok || !is_header_of(r, number)) {
        return false;
    }
    record_view next;
    return parse_record(data.substr(r.size), next) == parse_status::end &&
           resync(data, r.size, r.seq) == npos;
}

// Highest synced_through claimed by a batch_start at or after `offset`.
std::uint64_t synced_claim_after(const segment_scan& s, std::uint64_t offset) {
    std::uint64_t claim = 0;
    for (const auto& rec : s.records) {
        if (rec.offset >= offset && rec.view.type == record_type::batch_start &&
            rec.view.payload.size() == 8) {
            claim = std::max(claim, load<std::uint64_t>(rec.view.payload.data()));
        }
    }
    return claim;
}

struct segment_file_entry {
    std::uint32_t number = 0;
    std::filesystem::path path;
    std::shared_ptr<segment_file> file;
    mapped_segment map;
};

class recoverer {
  public:
    recoverer(const journal_options& options, recovery_result& out)
        : options_(options), dir_(options.directory), out_(out) {}

    int run();

  private:
    int list_files();
    void reconcile_with_manifest();
    void drop_interrupted_roll();
    void replay(segment_file_entry& entry, bool is_tail);
    void cut_or_damage(segment_file_entry& entry, segment_scan& scan, bool is_tail);
    void report_damage(damage_report::kind kind, const std::filesystem::path& file,
                       std::uint64_t offset, std::string detail, std::set<queue_id> queues);
    void quarantine();
    void finish_report();
    void set_aside(segment_file_entry& entry, const char* suffix, const std::string& why);

    const journal_options& options_;
    std::filesystem::path dir_;
    recovery_result& out_;
    std::optional<manifest> manifest_;
    std::map<std::uint32_t, segment_file_entry> files_;
    std::uint32_t max_number_ = 0;
    std::uint64_t last_seq_ = 0;
    std::uint64_t max_seq_ = 0;
    bool quarantine_all_ = false;
    std::string quarantine_all_reason_;
    // queues to quarantine, with why
    std::map<queue_id, std::string> quarantine_;
};

int recoverer::list_files() {
    std::error_code ec;
    for (const auto& item : std::filesystem::directory_iterator(dir_, ec)) {
        const std::uint32_t number = parse_segment_file_name(item.path().filename().string());
        if (number == 0) {
            continue;
        }
        const int flags = options_.read_only ? O_RDONLY : O_RDWR;
        const int fd = ::open(item.path().c_str(), flags | O_CLOEXEC);
        if (fd < 0) {
            return -errno;
        }
        segment_file_entry& entry = files_[number];
        entry.number = number;
        entry.path = item.path();
        entry.file = std::make_shared<segment_file>(fd, number, item.path());
        if (const int rc = entry.map.map(fd); rc != 0) {
            return rc;
        }
        max_number_ = std::max(max_number_, number);
    }
    return ec ? -ec.value() : 0;
}

void recoverer::set_aside(segment_file_entry& entry, const char* suffix, const std::string& why) {
    if (options_.read_only) {
        out_.report.notes.push_back(entry.path.string() + ": " + why + " (left in place: read-only)");
        return;
    }
    auto target = entry.path;
    target += suffix;
    if (std::strcmp(suffix, "") == 0) {
        ::unlink(entry.path.c_str());
        out_.report.notes.push_back(entry.path.string() + ": " + why + "; removed");
    } else {
        std::filesystem::rename(entry.path, target);
        out_.report.notes.push_back(entry.path.string() + ": " + why + "; renamed to " +
                                    target.filename().string());
    }
}

// Segments on disk against the manifest's list. A file the manifest does not
// list was being created (newer than every listed one: removed when empty)
// or deleted (older: set aside, compaction had copied what it needed). A
// listed file that is gone is damage.
void recoverer::reconcile_with_manifest() {
    bool absent = false;
    manifest_ = read_manifest(dir_, absent);
    if (!manifest_) {
        if (!absent) {
            out_.report.notes.push_back("MANIFEST unreadable or damaged: using the segment files present");
        } else if (!files_.empty()) {
            out_.report.notes.push_back("MANIFEST missing: using the segment files present");
        }
        return;
    }
    std::uint32_t max_listed = 0;
    for (const auto& s : manifest_->segments) {
        max_listed = std::max(max_listed, s.number);
    }
    for (auto it = files_.begin(); it != files_.end();) {
        segment_file_entry& entry = it->second;
        if (manifest_->find(entry.number) != nullptr) {
            ++it;
            continue;
        }
        if (entry.number > max_listed && !holds_no_records(entry.map.bytes(), entry.number)) {
            out_.report.notes.push_back(entry.path.string() +
                                        ": not in the manifest but holds records; read as the newest segment");
            ++it;
            continue;
        }
        set_aside(entry, entry.number > max_listed ? "" : ".unlisted",
                  entry.number > max_listed ? "an interrupted segment creation"
                                            : "an interrupted segment deletion");
        it = files_.erase(it);
    }
    for (const auto& s : manifest_->segments) {
        max_number_ = std::max(max_number_, s.number);
        if (files_.contains(s.number)) {
            continue;
        }
        out_.missing.push_back(s);
        segment_info& info = out_.state.segments[s.number];
        info.number = s.number;
        info.missing = true;
        info.sealed = s.sealed;
        std::set<queue_id> queues(s.queues.begin(), s.queues.end());
        info.queues = queues;
        const auto path = dir_ / segment_file_name(s.number);
        if (!s.sealed) {
            quarantine_all_ = true;
            quarantine_all_reason_ = "the active segment " + path.filename().string() +
                                     " is missing (which queues it held is unknown)";
        }
        report_damage(damage_report::kind::missing_segment, path, 0,
                      "segment listed in the manifest is missing", std::move(queues));
    }
}

// Segments after the newest one with records that hold nothing but their
// header: a roll that was interrupted, or a segment not yet written to. The
// journal removes them (manifest first) before it writes; the segment before
// them is the tail.
void recoverer::drop_interrupted_roll() {
    while (files_.size() > 1) {
        auto last = std::prev(files_.end());
        if (!holds_no_records(last->second.map.bytes(), last->first)) {
            return;
        }
        if (!out_.missing.empty() && out_.missing.back().number > last->first) {
            return;
        }
        out_.empties.push_back(last->second.path);
        files_.erase(last);
    }
}

void recoverer::report_damage(damage_report::kind kind, const std::filesystem::path& file,
                              std::uint64_t offset, std::string detail,
                              std::set<queue_id> queues) {
    damage_report d;
    d.what = kind;
    d.file = file.string();
    d.offset = offset;
    d.detail = std::move(detail);
    if (kind == damage_report::kind::torn_tail) {
        ++out_.report.tail_cuts;
    } else {
        const std::string why = file.filename().string() + " " + d.detail + " (offset " +
                                std::to_string(offset) + ")";
        for (queue_id q : queues) {
            quarantine_.emplace(q, why);
        }
    }
    out_.report.damage.push_back(std::move(d));
}

// A stretch that cannot be read is a torn tail when it is in the newest
// segment and no later batch claims a sync past the record before it: then
// none of it was ever confirmed and it is cut, with every record after it.
// Otherwise confirmed records were lost: the segment is damaged.
void recoverer::cut_or_damage(segment_file_entry& entry, segment_scan& scan, bool is_tail) {
    segment_info& info = out_.state.segments[entry.number];
    for (const gap_info& g : scan.gaps) {
        if (is_tail && !scan.sealed && synced_claim_after(scan, g.offset) <= g.seq_before) {
            std::erase_if(scan.records, [&](const scanned_record& r) { return r.offset > g.offset; });
            scan.end = g.offset;
            scan.sealed = false;
            const std::uint64_t length =
                (g.resumes == npos ? entry.map.bytes().size() : g.resumes) - g.offset;
            report_damage(damage_report::kind::torn_tail, entry.path, g.offset,
                          "torn or damaged tail cut after the last good record (" +
                              std::to_string(length) + " bytes after it ignored)",
                          {});
            return;
        }
        info.damaged = true;
        const std::string length =
            g.resumes == npos ? "to the end" : std::to_string(g.resumes - g.offset) + " bytes";
        std::set<queue_id> queues = info.queues;
        if (manifest_) {
            if (const auto* listed = manifest_->find(entry.number)) {
                queues.insert(listed->queues.begin(), listed->queues.end());
            }
        }
        for (const auto& r : scan.records) {
            if (r.view.payload.size() >= 4 && r.view.type != record_type::segment_start &&
                r.view.type != record_type::batch_start && r.view.type != record_type::seal &&
                r.view.type != record_type::subscription_remove) {
                queues.insert(load<queue_id>(r.view.payload.data()));
            }
        }
        report_damage(damage_report::kind::damaged, entry.path, g.offset,
                      "is damaged: " + length + " unreadable", std::move(queues));
    }
}

void recoverer::replay(segment_file_entry& entry, bool is_tail) {
    const std::string_view data = entry.map.bytes();
    segment_scan scan = scan_segment(data, entry.number, last_seq_);
    max_seq_ = std::max(max_seq_, scan.max_seq);
    segment_info& info = out_.state.segments[entry.number];
    info.number = entry.number;
    info.file = entry.file;
    cut_or_damage(entry, scan, is_tail);
    for (const auto& r : scan.records) {
        const location where{entry.number, static_cast<std::uint32_t>(r.offset),
                             static_cast<std::uint32_t>(r.view.size)};
        if (!out_.state.apply(r.view, where)) {
            info.damaged = true;
            report_damage(damage_report::kind::damaged, entry.path, r.offset,
                          "holds a record whose checksum holds but whose contents do not parse", {});
        }
        last_seq_ = std::max(last_seq_, r.view.seq);
        ++out_.report.records;
    }
    info.used = scan.end;
    info.sealed = scan.sealed;
    if (manifest_) {
        // Keep what the manifest knew (a damaged part may have held more queues).
        if (const auto* listed = manifest_->find(entry.number); listed != nullptr && listed->sealed) {
            info.queues.insert(listed->queues.begin(), listed->queues.end());
        }
    }
    if (!scan.sealed && !is_tail && !info.damaged) {
        info.damaged = true;
        std::set<queue_id> queues = info.queues;
        if (manifest_) {
            if (const auto* listed = manifest_->find(entry.number)) {
                queues.insert(listed->queues.begin(), listed->queues.end());
            }
        }
        report_damage(damage_report::kind::damaged, entry.path, scan.end,
                      "ends without its seal", std::move(queues));
    }
}

void recoverer::quarantine() {
    auto& queues = out_.state.queues;
    if (quarantine_all_) {
        for (auto& [id, q] : queues) {
            quarantine_.emplace(id, quarantine_all_reason_);
        }
    }
    for (const auto& [id, why] : quarantine_) {
        auto it = queues.find(id);
        if (it != queues.end() && !it->second.quarantined) {
            it->second.quarantined = true;
            it->second.reason = why;
        }
    }
}

void recoverer::finish_report() {
    auto& report = out_.report;
    for (const auto& [id, q] : out_.state.queues) {
        queue_summary s;
        s.id = id;
        s.name = q.name;
        s.messages = q.messages;
        s.bytes = q.bytes;
        const message_id first = q.slots.next_live(0);
        s.first = first == 0 ? q.next_id : first;
        s.next_id = q.next_id;
        s.quarantined = q.quarantined;
        s.reason = q.reason;
        report.queues.push_back(std::move(s));
    }
    std::sort(report.queues.begin(), report.queues.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });
    for (const auto& [name, sub] : out_.state.subscriptions) {
        report.subscriptions.push_back(sub.record);
    }
}

int recoverer::run() {
    if (const int rc = list_files(); rc != 0) {
        return rc;
    }
    reconcile_with_manifest();
    drop_interrupted_roll();
    // The newest segment is the tail, unless a listed segment after it is missing.
    std::uint32_t tail = files_.empty() ? 0 : files_.rbegin()->first;
    if (!out_.missing.empty() && out_.missing.back().number > tail) {
        tail = 0;
    }
    for (auto& [number, entry] : files_) {
        replay(entry, number == tail);
        ++out_.report.segments;
    }
    quarantine();
    if (manifest_) {
        auto& state = out_.state;
        state.next_queue = std::max(state.next_queue, manifest_->next_queue);
        for (const auto& [q, next] : manifest_->next_ids) {
            if (auto* qs = state.find_queue(q)) {
                qs->next_id = std::max(qs->next_id, next);
            }
        }
    }
    finish_report();
    out_.next_seq = std::max(max_seq_, last_seq_) + 1;
    out_.next_segment = max_number_ + 1;
    if (tail != 0 && out_.state.segments[tail].used == 0) {
        // Torn before its own header was whole: it never held anything confirmed.
        out_.empties.push_back(files_[tail].path);
        out_.state.segments.erase(tail);
        tail = 0;
    }
    if (tail != 0) {
        const segment_info& info = out_.state.segments[tail];
        if (!info.sealed && !info.damaged) {
            out_.active = files_[tail].file;
            out_.tail = info.used;
        }
    }
    return 0;
}

}  // namespace

result<recovery_result> recover(const journal_options& options, std::string* diagnostic) {
    const auto started = std::chrono::steady_clock::now();
    std::error_code ec;
    if (!options.read_only) {
        std::filesystem::create_directories(options.directory, ec);
    }
    if (ec || !std::filesystem::is_directory(options.directory, ec)) {
        if (diagnostic != nullptr) {
            *diagnostic = "data directory " + options.directory.string() +
                          " cannot be used: " + (ec ? ec.message() : "not a directory");
        }
        return make_error_code(errc::bad_directory);
    }
    auto lock = directory_lock::acquire(options.directory, options.read_only, diagnostic);
    if (!lock) {
        return lock.error();
    }
    recovery_result out;
    out.lock = std::move(*lock);
    recoverer r(options, out);
    if (const int rc = r.run(); rc != 0) {
        if (diagnostic != nullptr) {
            *diagnostic = "data directory " + options.directory.string() +
                          " cannot be read: " + std::strerror(-rc);
        }
        return make_error_code(errc::bad_directory);
    }
    out.report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return out;
}

}  // namespace stampede::storage::detail
