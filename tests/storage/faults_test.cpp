// A full disk and failing writes or syncs: the operation's completion says
// so (errc), nothing confirmed is lost, reads go on being served.

#include "storage_test_support.hpp"

using namespace storage_test;

namespace {

// Appends until a completion reports an error; returns the ids that were
// confirmed and the error.
std::pair<std::vector<message_id>, boost::system::error_code> fill_until_error(journal& j, queue_id q,
                                                                               collector& done,
                                                                               std::uint64_t& token) {
    std::vector<message_id> confirmed;
    for (int i = 0; i < 10000; ++i) {
        ++token;
        const auto id = j.append(q, message_of(body_of(token)), token);
        REQUIRE(id);
        if (const auto ec = done.wait(token)) {
            return {confirmed, ec};
        }
        confirmed.push_back(*id);
    }
    FAIL("no error came");
    return {};
}

}  // namespace

TEST_CASE("a full disk fails appends with no_space, keeps what was confirmed and keeps serving",
          "[storage][faults]") {
    scratch_dir dir;
    auto files = std::make_shared<fault_files>();
    auto o = test_options(dir.path());
    o.files = files;
    std::vector<message_id> confirmed;
    queue_id q = 0;
    {
        auto j = open_journal(o);
        collector done;
        q = *j->open_queue("q", done.handler());
        files->fail_allocate = ENOSPC;  // no new segment can be had
        std::uint64_t token = 0;
        auto [ok, ec] = fill_until_error(*j, q, done, token);
        confirmed = ok;
        CHECK(ec == make_error_code(errc::no_space));
        CHECK(confirmed.size() > 50);  // the first segment filled up

        // Reads and small records (acks) still work in the space left.
        CHECK(read_all(*j, q).size() == confirmed.size());
        const message_id first[] = {confirmed.front()};
        REQUIRE(j->ack(q, first, ++token));
        CHECK_FALSE(done.wait(token));
        confirmed.erase(confirmed.begin());
        REQUIRE(j->append(q, message_of(body_of(0)), ++token));
        CHECK(done.wait(token) == make_error_code(errc::no_space));
        CHECK(j->stats().write_errors >= 2);

        // Space again: appends go on.
        files->fail_allocate = 0;
        const auto id = j->append(q, message_of("after"), ++token);
        REQUIRE(id);
        CHECK_FALSE(done.wait(token));
        confirmed.push_back(*id);
    }
    auto j = open_journal(test_options(dir.path()));
    CHECK(j->recovery().damage.empty());
    std::vector<message_id> ids;
    for (const auto& m : read_all(*j, q)) {
        ids.push_back(m.id);
    }
    CHECK(ids == confirmed);
}

TEST_CASE("a failing write fails its batch with write_failed and the journal goes on",
          "[storage][faults]") {
    scratch_dir dir;
    auto files = std::make_shared<fault_files>();
    auto o = test_options(dir.path());
    o.files = files;
    queue_id q = 0;
    {
        auto j = open_journal(o);
        collector done;
        q = *j->open_queue("q", done.handler());
        REQUIRE(j->append(q, message_of("one"), 1));
        CHECK_FALSE(done.wait(1));
        files->fail_write = EIO;
        REQUIRE(j->append(q, message_of("two"), 2));
        CHECK(done.wait(2) == make_error_code(errc::write_failed));
        files->fail_write = 0;
        REQUIRE(j->append(q, message_of("three"), 3));
        CHECK_FALSE(done.wait(3));
        const auto all = read_all(*j, q);
        REQUIRE(all.size() == 2);
        CHECK(all[0].body == "one");
        CHECK(all[1].body == "three");
    }
    auto j = open_journal(test_options(dir.path()));
    CHECK(j->recovery().damage.empty());
    const auto all = read_all(*j, q);
    REQUIRE(all.size() == 2);
    CHECK(all[0].id == 1);
    CHECK(all[1].id == 3);
}

TEST_CASE("a failed fdatasync stops writing for good and confirmed messages stay readable",
          "[storage][faults]") {
    scratch_dir dir;
    auto files = std::make_shared<fault_files>();
    auto o = test_options(dir.path());
    o.files = files;
    queue_id q = 0;
    {
        auto j = open_journal(o);
        collector done;
        q = *j->open_queue("q", done.handler());
        REQUIRE(j->append(q, message_of("confirmed"), 1));
        CHECK_FALSE(done.wait(1));
        files->fail_sync = EIO;
        REQUIRE(j->append(q, message_of("lost?"), 2));
        CHECK(done.wait(2) == make_error_code(errc::sync_failed));
        CHECK(j->stats().failed);
        CHECK(j->append(q, message_of("refused"), 3).error() == make_error_code(errc::sync_failed));
        const auto all = read_all(*j, q);
        REQUIRE_FALSE(all.empty());
        CHECK(all[0].body == "confirmed");
    }
    auto j = open_journal(test_options(dir.path()));
    const auto all = read_all(*j, q);
    REQUIRE_FALSE(all.empty());
    CHECK(all[0].body == "confirmed");  // an unconfirmed one may or may not be there
}
