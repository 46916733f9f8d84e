// The journal's contract: round trips, completions per sync mode, group
// commit, ordering, the directory lock, subscriptions, queue deletion.

#include <future>

#include "format.hpp"
#include "storage_test_support.hpp"

using namespace storage_test;
using namespace std::chrono_literals;
using namespace std::string_literals;
namespace detail = stampede::storage::detail;

TEST_CASE("a record encodes and parses back, and any flipped bit is caught", "[storage]") {
    const std::string payload = "payload with a \0 inside"s;
    std::string record(detail::record_size(payload.size()), '\0');
    detail::encode_record(record.data(), detail::record_type::message, 42, payload);
    detail::record_view r;
    REQUIRE(detail::parse_record(record, r) == detail::parse_status::ok);
    CHECK(r.type == detail::record_type::message);
    CHECK(r.seq == 42);
    CHECK(r.payload == payload);
    CHECK(r.size == record.size());
    for (std::size_t bit = 0; bit < (detail::header_size + payload.size()) * 8; ++bit) {
        std::string flipped = record;
        flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
        detail::record_view out;
        INFO("bit " << bit);
        CHECK(detail::parse_record(flipped, out) != detail::parse_status::ok);
    }
    CHECK(detail::parse_record(std::string(64, '\0'), r) == detail::parse_status::end);
}

TEST_CASE("a message comes back with its headers, body and properties", "[storage]") {
    scratch_dir dir;
    auto j = open_journal(test_options(dir.path()));
    collector done;
    const auto q = j->open_queue("/queue/a", done.handler());
    REQUIRE(q);
    const std::string body = "binary\0body\xff"s;
    message_in m;
    m.headers = "content-type:text/plain\nx:y\n";
    m.body = body;
    m.properties = {.priority = 9, .expires_at_ms = 123456, .deliver_at_ms = 99, .deliveries = 2};
    const auto id = j->append(*q, m, 1);
    REQUIRE(id);
    CHECK(*id == 1);
    CHECK_FALSE(done.wait(1));

    auto back = j->read_now(*q, 1, {});
    REQUIRE(back);
    REQUIRE(back->size() == 1);
    const stored_message& s = back->front();
    CHECK(s.id == 1);
    CHECK(s.headers == m.headers);
    CHECK(s.body == body);
    CHECK(s.properties.priority == 9);
    CHECK(s.properties.expires_at_ms == 123456);
    CHECK(s.properties.deliver_at_ms == 99);
    CHECK(s.properties.deliveries == 2);

    // The asynchronous read gives the same, on the reader thread.
    std::promise<result<std::vector<stored_message>>> read;
    j->read(*q, 1, {}, [&](result<std::vector<stored_message>> r) { read.set_value(std::move(r)); });
    auto async = read.get_future().get();
    REQUIRE(async);
    REQUIRE(async->size() == 1);
    CHECK(async->front().body == body);
}

TEST_CASE("ids increase per queue and reads honour their limits", "[storage]") {
    scratch_dir dir;
    auto j = open_journal(test_options(dir.path()));
    collector done;
    const auto a = j->open_queue("a", done.handler());
    const auto b = j->open_queue("b", done.handler());
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*a != *b);
    for (std::uint64_t i = 1; i <= 10; ++i) {
        const std::string body = body_of(i, 100);
        CHECK(*j->append(*a, message_of(body), i) == i);
        CHECK(*j->append(*b, message_of(body), 100 + i) == i);
    }
    CHECK_FALSE(done.wait(110));
    auto three = j->read_now(*a, 1, {.max_messages = 3, .max_bytes = 1u << 20});
    REQUIRE(three);
    REQUIRE(three->size() == 3);
    CHECK(three->back().id == 3);
    auto from_five = j->read_now(*a, 5, {.max_messages = 100, .max_bytes = 1});
    REQUIRE(from_five);
    REQUIRE(from_five->size() == 1);  // at least one, whatever max_bytes says
    CHECK(from_five->front().id == 5);
    CHECK(j->read_now(999, 1, {}).error() == make_error_code(errc::unknown_queue));
}

TEST_CASE("completions of one queue come in submission order, grouped per batch", "[storage]") {
    scratch_dir dir;
    auto j = open_journal(test_options(dir.path()));
    collector done;
    const auto q = j->open_queue("q", done.handler());
    REQUIRE(q);
    const std::string body = body_of(1);
    for (std::uint64_t t = 1; t <= 500; ++t) {
        REQUIRE(j->append(*q, message_of(body), t));
    }
    done.wait(500);
    std::vector<std::uint64_t> seen;
    for (const auto& c : done.batches()) {
        CHECK(c.queue == *q);
        CHECK_FALSE(c.error);
        seen.insert(seen.end(), c.tokens.begin(), c.tokens.end());
    }
    REQUIRE(seen.size() == 500);
    CHECK(std::is_sorted(seen.begin(), seen.end()));
}

TEST_CASE("group commit: what arrives during a sync is written and synced as one batch",
          "[storage]") {
    scratch_dir dir;
    auto files = std::make_shared<fault_files>();
    auto o = test_options(dir.path());
    o.files = files;
    o.sync_lanes = 1;
    auto j = open_journal(o);
    collector done;
    const auto q = j->open_queue("q", done.handler());
    REQUIRE(q);
    j->flush();
    const auto before = j->stats();
    const int syncs_before = files->syncs;

    files->hold();
    const std::string body = body_of(1);
    REQUIRE(j->append(*q, message_of(body), 1));
    files->wait_held(1);  // batch 1 is written; its sync is in progress
    for (std::uint64_t t = 2; t <= 101; ++t) {
        REQUIRE(j->append(*q, message_of(body), t));
    }
    CHECK_FALSE(done.has(1));  // nothing completes before its sync
    files->release();
    done.wait(101);

    const auto after = j->stats();
    CHECK(after.batches - before.batches == 2);
    CHECK(files->syncs - syncs_before == 2);
    const auto batches = done.batches();
    REQUIRE(batches.size() == 2);
    CHECK(batches[0].tokens == std::vector<std::uint64_t>{1});
    CHECK(batches[1].tokens.size() == 100);
}

TEST_CASE("sync mode always: a completion means its sync has returned", "[storage]") {
    scratch_dir dir;
    auto files = std::make_shared<fault_files>();
    auto o = test_options(dir.path());
    o.files = files;
    auto syncs_seen = std::make_shared<std::atomic<int>>(-1);  // outlives the journal's last completion
    auto j = open_journal(o);
    collector done;
    auto inner = done.handler();
    const auto q = j->open_queue("q", [files, syncs_seen, inner](completion&& c) {
        *syncs_seen = files->syncs.load();
        inner(std::move(c));
    });
    REQUIRE(q);
    j->flush();
    const int base = files->syncs;
    files->hold();
    REQUIRE(j->append(*q, message_of(body_of(1)), 1));
    files->wait_held(1);
    CHECK_FALSE(done.has(1));
    files->release();
    done.wait(1);
    CHECK(*syncs_seen > base);
}

TEST_CASE("sync mode never: completions do not wait for a sync", "[storage]") {
    scratch_dir dir;
    auto files = std::make_shared<fault_files>();
    auto o = test_options(dir.path());
    o.files = files;
    o.sync = sync_mode::never;
    auto j = open_journal(o);
    collector done;
    const auto q = j->open_queue("q", done.handler());
    REQUIRE(q);
    files->hold();  // no sync can finish from here on
    for (std::uint64_t t = 1; t <= 20; ++t) {
        REQUIRE(j->append(*q, message_of(body_of(t)), t));
    }
    CHECK_FALSE(done.wait(20));
    files->release();
    j.reset();
    auto again = open_journal(o);
    CHECK(summary_of(again->recovery(), "q")->messages == 20);
}

TEST_CASE("sync mode interval: completions wait for the next interval's sync", "[storage]") {
    scratch_dir dir;
    fake_clock clock;
    auto files = std::make_shared<fault_files>();
    auto o = test_options(dir.path());
    o.files = files;
    o.sync = sync_mode::interval;
    o.sync_interval = 100ms;
    o.now = clock.function();
    auto j = open_journal(o);
    collector done;
    const auto q = j->open_queue("q", done.handler());
    REQUIRE(q);
    j->flush();  // the declaration; the last interval sync was at this fake time

    const auto batches = j->stats().batches;
    const int syncs = files->syncs;
    REQUIRE(j->append(*q, message_of(body_of(1)), 1));
    // Wait until it is written (a condition, not a time), then see it is not synced.
    for (auto deadline = std::chrono::steady_clock::now() + hang_guard; j->stats().batches == batches;) {
        REQUIRE(std::chrono::steady_clock::now() < deadline);
        std::this_thread::yield();
    }
    clock.advance(99ms);
    clock.wait_reads(3);  // the writer has looked at the clock since
    auto read = j->read_now(*q, 1, {});  // written: readable from the page cache
    REQUIRE(read);
    CHECK(read->size() == 1);
    CHECK_FALSE(done.has(1));
    CHECK(files->syncs == syncs);
    clock.advance(1ms);
    CHECK_FALSE(done.wait(1));
    CHECK(files->syncs == syncs + 1);
}

TEST_CASE("flush syncs whatever the mode", "[storage]") {
    scratch_dir dir;
    fake_clock clock;
    auto files = std::make_shared<fault_files>();
    auto o = test_options(dir.path());
    o.files = files;
    o.sync = sync_mode::interval;
    o.sync_interval = 1h;
    o.now = clock.function();
    auto j = open_journal(o);
    collector done;
    const auto q = j->open_queue("q", done.handler());
    REQUIRE(q);
    j->flush();
    REQUIRE(j->append(*q, message_of(body_of(1)), 1));
    REQUIRE(j->append(*q, message_of(body_of(2)), 2));
    CHECK_FALSE(done.has(1));
    j->flush();
    CHECK(done.has(1));
    CHECK(done.has(2));
}

TEST_CASE("a second opener of a data directory fails and names it", "[storage]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    auto first = open_journal(o);
    std::string why;
    auto second = journal::open(o, &why);
    REQUIRE_FALSE(second);
    CHECK(second.error() == make_error_code(errc::locked));
    CHECK(why.find(dir.path().string()) != std::string::npos);
    o.read_only = true;
    CHECK(journal::open(o).error() == make_error_code(errc::locked));
    first.reset();
    CHECK(journal::open(o));  // the operator tool may look once the broker is gone
}

TEST_CASE("operations on unknown or closed queues fail at once", "[storage]") {
    scratch_dir dir;
    auto j = open_journal(test_options(dir.path()));
    collector done;
    const std::string body = "x";
    CHECK(j->append(77, message_of(body), 1).error() == make_error_code(errc::unknown_queue));
    const message_id ids[] = {1};
    CHECK(j->ack(77, ids, 1).error() == make_error_code(errc::unknown_queue));
    const auto q = j->open_queue("q", done.handler());
    REQUIRE(q);
    const std::string huge(70u << 10, 'x');
    CHECK(j->append(*q, message_of(huge), 1).error() == make_error_code(errc::record_too_large));
}

TEST_CASE("acknowledged messages are gone, now and after a restart", "[storage]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    {
        auto j = open_journal(o);
        collector done;
        const auto q = j->open_queue("q", done.handler());
        REQUIRE(q);
        for (std::uint64_t i = 1; i <= 10; ++i) {
            REQUIRE(j->append(*q, message_of(body_of(i)), i));
        }
        const message_id acked[] = {1, 2, 5, 10};
        REQUIRE(j->ack(*q, acked, 11));
        CHECK_FALSE(done.wait(11));
        std::vector<message_id> left;
        for (const auto& m : read_all(*j, *q)) {
            left.push_back(m.id);
        }
        CHECK(left == std::vector<message_id>{3, 4, 6, 7, 8, 9});
    }
    auto j = open_journal(o);
    const auto s = summary_of(j->recovery(), "q");
    REQUIRE(s);
    CHECK(s->messages == 6);
    CHECK(s->first == 3);
    CHECK(s->next_id == 11);
    std::vector<message_id> left;
    for (const auto& m : read_all(*j, s->id)) {
        left.push_back(m.id);
        CHECK(m.body == body_of(m.id));
    }
    CHECK(left == std::vector<message_id>{3, 4, 6, 7, 8, 9});
    collector done;
    const auto q = j->open_queue("q", done.handler());
    REQUIRE(q);
    CHECK(*q == s->id);
    CHECK(*j->append(*q, message_of("new"), 1) == 11);
}

TEST_CASE("recovery gives each queue its pending messages in order", "[storage]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    std::map<std::string, std::vector<message_id>> expected;
    {
        auto j = open_journal(o);
        collector done;
        std::map<std::string, queue_id> ids;
        for (const char* name : {"a", "b", "c"}) {
            ids[name] = *j->open_queue(name, done.handler());
        }
        std::uint64_t token = 0;
        for (int round = 0; round < 300; ++round) {  // spans several 64 KiB segments
            for (auto& [name, id] : ids) {
                const auto m = j->append(id, message_of(body_of(round, 100 + round % 7)), ++token);
                REQUIRE(m);
                if (round % 3 == 0) {
                    const message_id one[] = {*m};
                    REQUIRE(j->ack(id, one, no_token));
                } else {
                    expected[name].push_back(*m);
                }
            }
        }
        done.wait(token);
        j->flush();
    }
    auto j = open_journal(o);
    CHECK(j->recovery().damage.empty());
    for (const auto& [name, ids] : expected) {
        const auto s = summary_of(j->recovery(), name);
        REQUIRE(s);
        CHECK(s->messages == ids.size());
        std::vector<message_id> got;
        for (const auto& m : read_all(*j, s->id)) {
            got.push_back(m.id);
            CHECK(m.body == body_of(m.id - 1, 100 + (m.id - 1) % 7));
        }
        CHECK(got == ids);
    }
}

TEST_CASE("delivery counts survive a restart", "[storage]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    queue_id q = 0;
    {
        auto j = open_journal(o);
        collector done;
        q = *j->open_queue("q", done.handler());
        for (std::uint64_t i = 1; i <= 3; ++i) {
            REQUIRE(j->append(q, message_of(body_of(i)), i));
        }
        const message_id first_two[] = {1, 2};
        const message_id second[] = {2};
        REQUIRE(j->mark_delivered(q, first_two, 4));
        REQUIRE(j->mark_delivered(q, second, 5));
        CHECK_FALSE(done.wait(5));
        auto now = read_all(*j, q);
        CHECK(now[0].properties.deliveries == 1);
        CHECK(now[1].properties.deliveries == 2);
        CHECK(now[2].properties.deliveries == 0);
    }
    auto j = open_journal(o);
    auto back = read_all(*j, q);
    REQUIRE(back.size() == 3);
    CHECK(back[0].properties.deliveries == 1);
    CHECK(back[1].properties.deliveries == 2);
    CHECK(back[2].properties.deliveries == 0);
}

TEST_CASE("durable subscriptions survive a restart, replaced and removed", "[storage]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    {
        auto j = open_journal(o);
        collector done;
        const auto q1 = *j->open_queue("sub:app/one", done.handler());
        const auto q2 = *j->open_queue("sub:app/two", done.handler());
        const auto q3 = *j->open_queue("sub:three", done.handler());
        done_waiter w1, w2, w3, w4, w5;
        REQUIRE(j->put_subscription({"app/one", "/topic/a", "", q1}, w1.handler()));
        REQUIRE(j->put_subscription({"app/two", "/topic/b", "x > 1", q2}, w2.handler()));
        REQUIRE(j->put_subscription({"three", "/topic/c", "", q3}, w3.handler()));
        REQUIRE(j->put_subscription({"app/one", "/topic/a.*", "y = 'z'", q1}, w4.handler()));
        REQUIRE(j->remove_subscription("app/two", w5.handler()));
        CHECK_FALSE(w5.wait());
        CHECK(j->subscriptions().size() == 2);
    }
    auto j = open_journal(o);
    const auto& subs = j->recovery().subscriptions;
    REQUIRE(subs.size() == 2);
    CHECK(subs[0].name == "app/one");
    CHECK(subs[0].destination == "/topic/a.*");
    CHECK(subs[0].selector == "y = 'z'");
    CHECK(subs[0].queue == summary_of(j->recovery(), "sub:app/one")->id);
    CHECK(subs[1].name == "three");
    CHECK(subs[1].destination == "/topic/c");
}

TEST_CASE("a deleted queue and its messages do not come back", "[storage]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    {
        auto j = open_journal(o);
        collector done;
        const auto gone = *j->open_queue("gone", done.handler());
        const auto kept = *j->open_queue("kept", done.handler());
        for (std::uint64_t i = 1; i <= 200; ++i) {
            REQUIRE(j->append(gone, message_of(body_of(i)), no_token));
            REQUIRE(j->append(kept, message_of(body_of(i)), i));
        }
        done_waiter w;
        REQUIRE(j->delete_queue(gone, w.handler()));
        CHECK_FALSE(w.wait());
        CHECK(j->append(gone, message_of("x"), 1).error() == make_error_code(errc::unknown_queue));
        const auto again = j->open_queue("gone", done.handler());
        REQUIRE(again);
        CHECK(*again != gone);  // a new queue under the old name
    }
    auto j = open_journal(o);
    CHECK(summary_of(j->recovery(), "kept")->messages == 200);
    CHECK(summary_of(j->recovery(), "gone")->messages == 0);
    j->compact_now();
    j.reset();
    auto after = open_journal(o);
    CHECK(summary_of(after->recovery(), "kept")->messages == 200);
    CHECK(summary_of(after->recovery(), "gone")->messages == 0);
}
