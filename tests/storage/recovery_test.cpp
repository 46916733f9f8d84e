// Recovery from a damaged journal: truncation at every record boundary and
// inside records, bit flips in the tail and in older segments, removed and
// stray segment files. A damaged journal never stops the journal opening.

#include <fcntl.h>
#include <unistd.h>

#include <fstream>

#include "format.hpp"
#include "storage_test_support.hpp"

using namespace storage_test;
namespace detail = stampede::storage::detail;

namespace {

struct record_at {
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
    detail::record_type type{};
    message_id id = 0;  // message records
};

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

// Every record of a segment file, in order, up to the end of its data.
std::vector<record_at> records_of(const fs::path& segment) {
    const std::string data = read_file(segment);
    std::vector<record_at> out;
    std::size_t off = 0;
    detail::record_view r;
    while (off < data.size() &&
           detail::parse_record(std::string_view(data).substr(off), r) == detail::parse_status::ok) {
        record_at rec{off, r.size, r.type, 0};
        if (r.type == detail::record_type::message) {
            rec.id = detail::load<message_id>(r.payload.data() + detail::message_layout::id);
        }
        out.push_back(rec);
        off += r.size;
    }
    return out;
}

void flip_byte(const fs::path& path, std::uint64_t offset) {
    const int fd = ::open(path.c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    char c = 0;
    REQUIRE(::pread(fd, &c, 1, static_cast<off_t>(offset)) == 1);
    c = static_cast<char>(c ^ 0x10);
    REQUIRE(::pwrite(fd, &c, 1, static_cast<off_t>(offset)) == 1);
    ::close(fd);
}

std::vector<message_id> ids_of(const journal& j, queue_id q) {
    std::vector<message_id> ids;
    for (const auto& m : read_all(j, q)) {
        ids.push_back(m.id);
    }
    return ids;
}

std::vector<message_id> one_to(message_id n) {
    std::vector<message_id> ids;
    for (message_id i = 1; i <= n; ++i) {
        ids.push_back(i);
    }
    return ids;
}

std::size_t count_kind(const recovery_report& r, damage_report::kind k) {
    return static_cast<std::size_t>(
        std::count_if(r.damage.begin(), r.damage.end(), [&](const auto& d) { return d.what == k; }));
}

// One queue, `n` messages, each in a batch (and a sync) of its own.
void write_one_by_one(const journal_options& o, const std::string& queue, int n,
                      std::size_t body = 300) {
    auto j = open_journal(o);
    collector done;
    const auto q = j->open_queue(queue, done.handler());
    REQUIRE(q);
    for (int i = 1; i <= n; ++i) {
        REQUIRE(j->append(*q, message_of(body_of(i, body)), static_cast<std::uint64_t>(i)));
        REQUIRE_FALSE(done.wait(static_cast<std::uint64_t>(i)));
    }
}

// Queue "a" fills the first segments, then queue "b" writes only after it.
void write_two_eras(const journal_options& o) {
    auto j = open_journal(o);
    collector done;
    const auto a = *j->open_queue("a", done.handler());
    for (int i = 1; i <= 250; ++i) {  // ~100 KiB: segments 1 and 2
        REQUIRE(j->append(a, message_of(body_of(i, 400)), no_token));
    }
    j->flush();
    const auto b = *j->open_queue("b", done.handler());
    for (int i = 1; i <= 50; ++i) {
        REQUIRE(j->append(b, message_of(body_of(i, 400)), no_token));
    }
    j->flush();
}

}  // namespace

TEST_CASE("truncation at every record boundary and inside every record keeps exactly the whole records",
          "[storage][recovery]") {
    scratch_dir dir;
    const auto pristine = dir / "pristine";
    auto o = test_options(pristine);
    o.sync = sync_mode::never;  // each message still gets its own batch: it waits for its completion
    write_one_by_one(o, "q", 12);
    const auto segments = segment_files(pristine);
    REQUIRE(segments.size() == 1);
    const auto records = records_of(segments[0]);
    REQUIRE(records.size() > 12);

    std::vector<std::uint64_t> cuts;
    for (const auto& r : records) {
        for (std::uint64_t at : {r.offset, r.offset + 1, r.offset + r.size / 2, r.offset + r.size - 1}) {
            cuts.push_back(at);
        }
    }
    cuts.push_back(records.back().offset + records.back().size);

    for (const std::uint64_t cut : cuts) {
        INFO("cut at " << cut);
        const auto work = dir / "work";
        copy_dir(pristine, work);
        fs::resize_file(work / segments[0].filename(), cut);
        const bool on_boundary =
            cut == 0 || std::any_of(records.begin(), records.end(),
                                    [&](const auto& r) { return r.offset + r.size == cut; });
        message_id whole = 0;
        bool declared = false;
        for (const auto& r : records) {
            if (r.offset + r.size <= cut) {
                whole = std::max(whole, r.id);
                declared = declared || r.type == detail::record_type::queue_declare;
            }
        }
        auto wo = test_options(work);
        {
            auto j = open_journal(wo);
            const auto& report = j->recovery();
            CHECK(report.tail_cuts == (on_boundary ? 0u : 1u));
            CHECK(count_kind(report, damage_report::kind::damaged) == 0);
            const auto s = summary_of(report, "q");
            REQUIRE(s.has_value() == declared);
            if (!declared) {
                continue;
            }
            CHECK_FALSE(s->quarantined);
            CHECK(ids_of(*j, s->id) == one_to(whole));
            // The journal goes on writing after the cut.
            collector done;
            const auto q = j->open_queue("q", done.handler());
            REQUIRE(q);
            REQUIRE(j->append(*q, message_of("after the cut"), 1));
            REQUIRE_FALSE(done.wait(1));
        }
        auto j = open_journal(wo);
        CHECK(j->recovery().damage.empty());
        const auto s = summary_of(j->recovery(), "q");
        REQUIRE(s);
        auto ids = ids_of(*j, s->id);
        REQUIRE(ids.size() == whole + 1);
        CHECK(read_all(*j, s->id).back().body == "after the cut");
    }
}

TEST_CASE("a bit flipped in the newest record is a torn tail: cut, counted, the queue serves",
          "[storage][recovery]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    write_one_by_one(o, "q", 10);
    const auto seg = segment_files(dir.path()).back();
    const auto records = records_of(seg);
    const auto last = records.back();
    REQUIRE(last.id == 10);
    flip_byte(seg, last.offset + last.size - 20);  // inside its body

    auto j = open_journal(o);
    const auto& r = j->recovery();
    CHECK(r.tail_cuts == 1);
    REQUIRE(r.damage.size() == 1);
    CHECK(r.damage[0].what == damage_report::kind::torn_tail);
    CHECK(r.damage[0].file == seg.string());
    CHECK(r.damage[0].offset == last.offset);
    const auto s = summary_of(r, "q");
    REQUIRE(s);
    CHECK_FALSE(s->quarantined);
    CHECK(ids_of(*j, s->id) == one_to(9));
    collector done;
    CHECK(j->open_queue("q", done.handler()));
}

TEST_CASE("a bit flipped in a confirmed record before newer ones quarantines its queue",
          "[storage][recovery]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    write_one_by_one(o, "q", 10);
    const auto seg = segment_files(dir.path()).back();
    const auto records = records_of(seg);
    const auto it = std::find_if(records.begin(), records.end(), [](const auto& r) { return r.id == 4; });
    REQUIRE(it != records.end());
    flip_byte(seg, it->offset + 30);

    auto j = open_journal(o);
    const auto& r = j->recovery();
    CHECK(r.tail_cuts == 0);
    REQUIRE(count_kind(r, damage_report::kind::damaged) == 1);
    CHECK(r.damage[0].offset == it->offset);
    const auto s = summary_of(r, "q");
    REQUIRE(s);
    CHECK(s->quarantined);
    CHECK(s->reason.find(seg.filename().string()) != std::string::npos);
    // Quarantined: not served, but what is readable stays readable for the operator.
    collector done;
    CHECK(j->open_queue("q", done.handler()).error() == make_error_code(errc::quarantined));
    CHECK(ids_of(*j, s->id) == std::vector<message_id>{1, 2, 3, 5, 6, 7, 8, 9, 10});
}

TEST_CASE("damage in an older segment quarantines the queues it held and the rest starts",
          "[storage][recovery]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    o.compaction = false;
    write_two_eras(o);
    const auto segments = segment_files(dir.path());
    REQUIRE(segments.size() >= 3);
    // Damage a message of queue "a" in the middle of the segment. The middle
    // record is not always a message: how appends group into batches depends
    // on the writer's timing, and a damaged batch_start loses no message.
    std::vector<record_at> messages;
    for (const auto& rec : records_of(segments[0])) {
        if (rec.type == detail::record_type::message) {
            messages.push_back(rec);
        }
    }
    REQUIRE(messages.size() > 2);
    flip_byte(segments[0], messages[messages.size() / 2].offset + 10);

    auto j = open_journal(o);
    const auto& r = j->recovery();
    CHECK(r.tail_cuts == 0);
    REQUIRE(count_kind(r, damage_report::kind::damaged) >= 1);
    CHECK(r.damage[0].file == segments[0].string());
    const auto a = summary_of(r, "a");
    const auto b = summary_of(r, "b");
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a->quarantined);
    CHECK_FALSE(b->quarantined);
    CHECK(b->messages == 50);
    collector done;
    const auto bq = j->open_queue("b", done.handler());
    REQUIRE(bq);
    REQUIRE(j->append(*bq, message_of("more"), 1));
    CHECK_FALSE(done.wait(1));
    CHECK(j->open_queue("a", done.handler()).error() == make_error_code(errc::quarantined));
    CHECK(ids_of(*j, a->id).size() == a->messages);
    CHECK(a->messages > 0);
    CHECK(a->messages < 250);
}

TEST_CASE("a removed segment quarantines the queues the manifest says it held", "[storage][recovery]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    o.compaction = false;
    write_two_eras(o);
    const auto segments = segment_files(dir.path());
    REQUIRE(segments.size() >= 3);
    fs::remove(segments[0]);

    auto j = open_journal(o);
    const auto& r = j->recovery();
    REQUIRE(count_kind(r, damage_report::kind::missing_segment) == 1);
    CHECK(r.damage[0].file == segments[0].string());
    // Queue a's declaration was in segment 1: it is known by id only now.
    CHECK_FALSE(summary_of(r, "a").has_value());
    REQUIRE(summary_of(r, "b").has_value());
    CHECK_FALSE(summary_of(r, "b")->quarantined);
    bool a_quarantined = false;
    for (const auto& q : r.queues) {
        if (q.name != "b") {
            a_quarantined = a_quarantined || q.quarantined;
        }
    }
    CHECK(a_quarantined);
    j.reset();
    // Still missing at the next start: still quarantined (the manifest keeps it listed).
    auto again = open_journal(o);
    CHECK(count_kind(again->recovery(), damage_report::kind::missing_segment) == 1);
    CHECK_FALSE(summary_of(again->recovery(), "b")->quarantined);
}

TEST_CASE("a removed active segment quarantines every queue (its contents are unknown)",
          "[storage][recovery]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    o.compaction = false;
    write_two_eras(o);
    const auto segments = segment_files(dir.path());
    fs::remove(segments.back());
    auto j = open_journal(o);
    CHECK(count_kind(j->recovery(), damage_report::kind::missing_segment) == 1);
    for (const auto& q : j->recovery().queues) {
        CHECK(q.quarantined);
    }
}

TEST_CASE("a segment compaction had deleted, put back, is set aside and resurrects nothing",
          "[storage][recovery]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    o.compaction = false;
    queue_id q = 0;
    fs::path first;
    {
        auto j = open_journal(o);
        collector done;
        q = *j->open_queue("q", done.handler());
        std::vector<message_id> ids;
        for (int i = 1; i <= 400; ++i) {
            ids.push_back(*j->append(q, message_of(body_of(i, 400)), no_token));
        }
        j->flush();
        first = segment_files(dir.path()).front();
        fs::copy_file(first, dir / "saved.seg");
        REQUIRE(j->ack(q, std::span(ids).first(300), no_token));
        j->compact_now();
        REQUIRE_FALSE(fs::exists(first));
    }
    fs::rename(dir / "saved.seg", first);
    auto j = open_journal(o);
    CHECK(j->recovery().damage.empty());
    REQUIRE(j->recovery().notes.size() == 1);
    CHECK(j->recovery().notes[0].find("interrupted segment deletion") != std::string::npos);
    const auto ids = ids_of(*j, q);
    REQUIRE(ids.size() == 100);
    CHECK(ids.front() == 301);
}

TEST_CASE("an empty trailing segment (an interrupted roll) is no damage", "[storage][recovery]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    write_one_by_one(o, "q", 3);
    const auto last = segment_files(dir.path()).back();
    auto number = detail::parse_segment_file_name(last.filename().string());
    std::ofstream(dir / detail::segment_file_name(number + 1)).put('\0');  // created, then the crash
    auto j = open_journal(o);
    CHECK(j->recovery().damage.empty());
    CHECK(summary_of(j->recovery(), "q")->messages == 3);
}
