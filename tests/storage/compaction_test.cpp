// Compaction: the disk bound after everything is acknowledged, pending
// messages and their delivery counts kept across it, and a randomised run
// against a model of what must survive (with restarts in between).

#include <random>

#include "storage_test_support.hpp"

using namespace storage_test;

TEST_CASE("after everything is acknowledged and compacted, disk use is at most live data plus two segments",
          "[storage][compaction]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    o.compaction = false;  // only compact_now(), so the test sees the before and the after
    queue_id q = 0;
    {
        auto j = open_journal(o);
        collector done;
        q = *j->open_queue("q", done.handler());
        std::vector<message_id> ids;
        for (int i = 1; i <= 2000; ++i) {
            ids.push_back(*j->append(q, message_of(body_of(i)), no_token));
        }
        for (std::size_t i = 0; i < ids.size(); i += 100) {
            REQUIRE(j->ack(q, std::span(ids).subspan(i, 100), no_token));
        }
        j->flush();
        const auto before = j->stats();
        CHECK(before.segments > 15);
        CHECK(before.live_messages == 0);
        j->compact_now();
        const auto after = j->stats();
        INFO("disk " << after.disk_bytes << " live " << after.live_bytes);
        CHECK(after.disk_bytes <= after.live_bytes + 2 * o.segment_bytes);
        CHECK(after.segments <= 2);
        CHECK(after.compacted_segments >= before.segments - 2);
    }
    auto j = open_journal(o);
    CHECK(j->recovery().damage.empty());
    const auto s = summary_of(j->recovery(), "q");
    REQUIRE(s);
    CHECK(s->messages == 0);
    CHECK(s->next_id == 2001);  // ids are never handed out twice
    collector done;
    CHECK(*j->append(*j->open_queue("q", done.handler()), message_of("x"), no_token) == 2001);
}

TEST_CASE("compaction keeps pending messages, their order and their delivery counts",
          "[storage][compaction]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    o.compaction = false;
    std::vector<message_id> kept;
    queue_id q = 0;
    auto check = [&](const journal& j) {
        const auto all = read_all(j, q);
        REQUIRE(all.size() == kept.size());
        for (std::size_t i = 0; i < all.size(); ++i) {
            CHECK(all[i].id == kept[i]);
            CHECK(all[i].body == body_of(kept[i]));
            CHECK(all[i].properties.deliveries == (kept[i] % 2 == 0 ? 2u : 0u));
        }
    };
    {
        auto j = open_journal(o);
        collector done;
        q = *j->open_queue("q", done.handler());
        std::vector<message_id> acked;
        std::vector<message_id> delivered;
        for (message_id i = 1; i <= 1000; ++i) {
            REQUIRE(*j->append(q, message_of(body_of(i)), no_token) == i);
            (i % 7 == 0 ? kept : acked).push_back(i);
            if (i % 14 == 0) {
                delivered.push_back(i);
            }
        }
        REQUIRE(j->mark_delivered(q, delivered, no_token));
        REQUIRE(j->ack(q, acked, no_token));
        REQUIRE(j->mark_delivered(q, delivered, no_token));
        j->compact_now();
        CHECK(j->stats().compacted_segments > 0);
        check(*j);
    }
    auto j = open_journal(o);
    CHECK(j->recovery().damage.empty());
    check(*j);
    j->compact_now();
    check(*j);
}

TEST_CASE("a segment holding a quarantined queue is never compacted away", "[storage][compaction]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    o.compaction = false;
    {
        auto j = open_journal(o);
        collector done;
        const auto a = *j->open_queue("a", done.handler());
        for (int i = 1; i <= 200; ++i) {
            REQUIRE(j->append(a, message_of(body_of(i, 400)), no_token));
        }
    }
    const auto first = segment_files(dir.path()).front();
    fs::resize_file(first, fs::file_size(first) / 2);  // confirmed records lost: damage
    auto j = open_journal(o);
    REQUIRE(summary_of(j->recovery(), "a")->quarantined);
    j->compact_now();
    CHECK(fs::exists(first));
}

namespace {

// What must survive: per queue name, id -> (body, deliveries).
struct model_message {
    std::string body;
    std::uint32_t deliveries = 0;
};
using model = std::map<std::string, std::map<message_id, model_message>>;

// Only completed operations are promised to be visible: flush first.
void check_against(journal& j, const model& m, const std::map<std::string, queue_id>& ids) {
    j.flush();
    for (const auto& [name, messages] : m) {
        INFO("queue " << name);
        const auto all = read_all(j, ids.at(name));
        std::vector<message_id> got_ids;
        std::vector<message_id> want_ids;
        for (const auto& g : all) {
            got_ids.push_back(g.id);
        }
        for (const auto& [id, w] : messages) {
            want_ids.push_back(id);
        }
        REQUIRE(got_ids == want_ids);
        auto it = messages.begin();
        for (const auto& got : all) {
            CHECK(got.id == it->first);
            CHECK(got.body == it->second.body);
            CHECK(got.properties.deliveries == it->second.deliveries);
            ++it;
        }
    }
}

}  // namespace

TEST_CASE("random appends, acks, deliveries and deletions survive compaction and restarts as the model says",
          "[storage][compaction]") {
    scratch_dir dir;
    auto o = test_options(dir.path());
    o.compaction = true;
    o.compact_below = 0.6;
    std::mt19937_64 rng(20240607);
    model m;
    std::map<std::string, queue_id> ids;
    const std::vector<std::string> names = {"fast", "slow", "bursty"};
    std::uint64_t serial = 0;
    for (int life = 0; life < 6; ++life) {
        auto j = open_journal(o);
        INFO("life " << life);
        CHECK(j->recovery().damage.empty());
        collector done;
        for (const auto& name : names) {
            const auto id = j->open_queue(name, done.handler());
            REQUIRE(id);
            ids[name] = *id;
            m[name];
        }
        {
            INFO("right after opening");
            check_against(*j, m, ids);
        }
        for (int step = 0; step < 1500; ++step) {
            const std::string& name = names[rng() % names.size()];
            auto& queue = m[name];
            const unsigned dice = rng() % 100;
            if (dice < 60) {
                const std::string body = body_of(++serial, 64 + rng() % 900);
                const auto id = j->append(ids[name], message_of(body), no_token);
                REQUIRE(id);
                queue[*id] = {body, 0};
            } else if (dice < 90 && !queue.empty() && (name != "slow" || rng() % 4 == 0)) {
                // The slow queue acks rarely, so its old messages pin old segments.
                std::vector<message_id> acks;
                for (auto it = queue.begin(); it != queue.end();) {
                    if (rng() % 3 == 0) {
                        acks.push_back(it->first);
                        it = queue.erase(it);
                    } else {
                        ++it;
                    }
                }
                REQUIRE(j->ack(ids[name], acks, no_token));
            } else if (dice < 98 && !queue.empty()) {
                auto it = std::next(queue.begin(), static_cast<long>(rng() % queue.size()));
                const message_id one[] = {it->first};
                REQUIRE(j->mark_delivered(ids[name], one, no_token));
                ++it->second.deliveries;
            } else if (dice == 99 && name == "bursty") {
                done_waiter w;
                REQUIRE(j->delete_queue(ids[name], w.handler()));
                REQUIRE_FALSE(w.wait());
                ids[name] = *j->open_queue(name, done.handler());
                queue.clear();
            }
            if (step % 500 == 499) {
                INFO("step " << step);
                j->compact_now();
                check_against(*j, m, ids);
            }
        }
        check_against(*j, m, ids);
        j->compact_now();
        const auto s = j->stats();
        INFO("segments " << s.segments << " live " << s.live_bytes);
        CHECK(s.disk_bytes <= 2 * s.live_bytes + 3 * o.segment_bytes);
    }
}
