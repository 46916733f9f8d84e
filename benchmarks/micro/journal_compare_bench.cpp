// bench_journal_compare: the journal against two embedded engines for the
// queue workload, on the same machine in the same run (NOTES.md, "Storage").
// Built only where liblmdb-dev and librocksdb-dev are installed; neither is a
// dependency of Stampede.
//
//   bench_journal_compare [--dir DIR] [--seconds S] [--reps R] [--queue N]
//
// - durable puts: P producers (1 and 64), each putting a 512 B message and
//   waiting until it is durable before the next:
//     journal   append + completion (sync mode always)
//     rocksdb   Put with WriteOptions::sync (its write group commits together)
//     lmdb      one write transaction per message, committed with its sync
// - head deletes: a queue of N messages (sequential keys) consumed FIFO, each
//   pop = find the first key, then delete it (no sync). Pops per second over
//   the first tenth and the last tenth: RocksDB's deletes leave tombstones
//   that every seek to the head skips until compaction drops them.

#include <lmdb.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <atomic>
#include <filesystem>
#include <semaphore>
#include <thread>

#include "micro_support.hpp"
#include "stampede/storage/journal.hpp"

namespace {

using namespace stampede::bench;
namespace storage = stampede::storage;
namespace fs = std::filesystem;

struct settings {
    fs::path dir = "/tmp";
    double seconds = 3;
    int reps = 1;
    std::uint64_t queue = 200'000;
};

class bench_dir {
  public:
    explicit bench_dir(const fs::path& parent) {
        std::string pattern = (parent / "stampede-compare-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
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

std::string key_of(std::uint64_t producer, std::uint64_t n) {
    const std::uint64_t v = __builtin_bswap64((producer << 40) | n);  // big-endian: sorted by number
    return {reinterpret_cast<const char*>(&v), sizeof v};
}

void must(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "%s failed\n", what);
        std::exit(1);
    }
}

/// Runs `put(producer, n)` (returning once durable) on P threads for S seconds; puts per second.
template <class Put>
double drive(const settings& s, unsigned producers, Put put) {
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> done{0};
    std::vector<std::thread> threads;
    for (unsigned p = 0; p < producers; ++p) {
        threads.emplace_back([&, p] {
            for (std::uint64_t n = 1; !stop.load(std::memory_order_relaxed); ++n) {
                put(p, n);
                done.fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const std::uint64_t d0 = done.load();
    const auto t0 = bench_clock::now();
    std::this_thread::sleep_for(std::chrono::duration<double>(s.seconds));
    const double rate = static_cast<double>(done.load() - d0) / seconds_since(t0);
    stop = true;
    for (auto& t : threads) {
        t.join();
    }
    return rate;
}

const std::string body(512, 'm');

double journal_puts(const settings& s, unsigned producers) {
    bench_dir dir(s.dir);
    storage::journal_options o;
    o.directory = dir.path();
    auto opened = storage::journal::open(o);
    must(bool(opened), "journal open");
    auto& j = **opened;
    std::vector<std::unique_ptr<std::binary_semaphore>> ready;
    for (unsigned p = 0; p < producers; ++p) {
        ready.push_back(std::make_unique<std::binary_semaphore>(0));
    }
    const auto q = j.open_queue("q", [&](storage::completion&& c) {
        for (auto t : c.tokens) {
            ready[t - 1]->release();
        }
    });
    return drive(s, producers, [&](unsigned p, std::uint64_t) {
        storage::message_in m;
        m.body = body;
        must(bool(j.append(*q, m, p + 1)), "append");
        ready[p]->acquire();
    });
}

double rocksdb_puts(const settings& s, unsigned producers) {
    bench_dir dir(s.dir);
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    must(rocksdb::DB::Open(options, dir.path().string(), &raw).ok(), "rocksdb open");
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::WriteOptions w;
    w.sync = true;
    return drive(s, producers, [&](unsigned p, std::uint64_t n) {
        must(db->Put(w, key_of(p, n), body).ok(), "rocksdb put");
    });
}

struct lmdb_env {
    MDB_env* env = nullptr;
    MDB_dbi dbi = 0;
    explicit lmdb_env(const fs::path& dir) {
        must(mdb_env_create(&env) == 0, "mdb_env_create");
        mdb_env_set_mapsize(env, std::size_t{8} << 30);
        must(mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0644) == 0, "mdb_env_open");
        MDB_txn* txn = nullptr;
        mdb_txn_begin(env, nullptr, 0, &txn);
        mdb_dbi_open(txn, nullptr, 0, &dbi);
        mdb_txn_commit(txn);
    }
    ~lmdb_env() { mdb_env_close(env); }
};

double lmdb_puts(const settings& s, unsigned producers) {
    bench_dir dir(s.dir);
    lmdb_env db(dir.path());
    return drive(s, producers, [&](unsigned p, std::uint64_t n) {
        MDB_txn* txn = nullptr;
        must(mdb_txn_begin(db.env, nullptr, 0, &txn) == 0, "mdb_txn_begin");
        std::string k = key_of(p, n);
        MDB_val key{k.size(), k.data()};
        MDB_val val{body.size(), const_cast<char*>(body.data())};
        must(mdb_put(txn, db.dbi, &key, &val, 0) == 0, "mdb_put");
        must(mdb_txn_commit(txn) == 0, "mdb_txn_commit");
    });
}

// Pops per second over the first and the last tenth of a FIFO drain.
std::pair<double, double> rocksdb_head_deletes(const settings& s) {
    bench_dir dir(s.dir);
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* raw = nullptr;
    must(rocksdb::DB::Open(options, dir.path().string(), &raw).ok(), "rocksdb open");
    std::unique_ptr<rocksdb::DB> db(raw);
    for (std::uint64_t n = 1; n <= s.queue; ++n) {
        must(db->Put(rocksdb::WriteOptions(), key_of(0, n), body).ok(), "put");
    }
    const std::uint64_t tenth = s.queue / 10;
    double first = 0;
    double last = 0;
    auto t = bench_clock::now();
    for (std::uint64_t popped = 0; popped < s.queue; ++popped) {
        if (popped == tenth) {
            first = static_cast<double>(tenth) / seconds_since(t);
        }
        if (popped == s.queue - tenth) {
            t = bench_clock::now();
        }
        std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
        it->SeekToFirst();
        must(it->Valid(), "head");
        must(db->Delete(rocksdb::WriteOptions(), it->key()).ok(), "delete");
    }
    last = static_cast<double>(tenth) / seconds_since(t);
    return {first, last};
}

std::pair<double, double> lmdb_head_deletes(const settings& s) {
    bench_dir dir(s.dir);
    lmdb_env db(dir.path());
    MDB_txn* txn = nullptr;
    mdb_txn_begin(db.env, nullptr, 0, &txn);
    for (std::uint64_t n = 1; n <= s.queue; ++n) {
        std::string k = key_of(0, n);
        MDB_val key{k.size(), k.data()};
        MDB_val val{body.size(), const_cast<char*>(body.data())};
        mdb_put(txn, db.dbi, &key, &val, MDB_APPEND);
    }
    mdb_txn_commit(txn);
    mdb_env_set_flags(db.env, MDB_NOSYNC, 1);  // the pops: no sync, as for RocksDB
    const std::uint64_t tenth = s.queue / 10;
    double first = 0;
    auto t = bench_clock::now();
    for (std::uint64_t popped = 0; popped < s.queue; ++popped) {
        if (popped == tenth) {
            first = static_cast<double>(tenth) / seconds_since(t);
        }
        if (popped == s.queue - tenth) {
            t = bench_clock::now();
        }
        mdb_txn_begin(db.env, nullptr, 0, &txn);
        MDB_cursor* c = nullptr;
        mdb_cursor_open(txn, db.dbi, &c);
        MDB_val key, val;
        must(mdb_cursor_get(c, &key, &val, MDB_FIRST) == 0, "first");
        mdb_cursor_del(c, 0);
        mdb_cursor_close(c);
        mdb_txn_commit(txn);
    }
    return {first, static_cast<double>(tenth) / seconds_since(t)};
}

}  // namespace

int main(int argc, char** argv) {
    const double load_at_start = load_average();
    settings s;
    s.dir = option(argc, argv, "--dir").value_or(s.dir.string());
    s.seconds = option_number(argc, argv, "--seconds", s.seconds);
    s.reps = static_cast<int>(option_number(argc, argv, "--reps", s.reps));
    s.queue = static_cast<std::uint64_t>(option_number(argc, argv, "--queue", double(s.queue)));

    std::vector<measurement> results;
    for (unsigned producers : {1u, 64u}) {
        const std::string suffix = "_" + std::to_string(producers) + "_producers";
        measurement j{"journal_durable_puts" + suffix, "puts/s", {}, 0, "512 B, wait for durability", {}};
        measurement r{"rocksdb_durable_puts" + suffix, "puts/s", {}, 0, "512 B, Put with sync", {}};
        measurement l{"lmdb_durable_puts" + suffix, "puts/s", {}, 0, "512 B, a synced txn each", {}};
        for (int rep = 0; rep < s.reps; ++rep) {
            j.samples.push_back(journal_puts(s, producers));
            r.samples.push_back(rocksdb_puts(s, producers));
            l.samples.push_back(lmdb_puts(s, producers));
            progress("%u producers: journal %.0f, rocksdb %.0f, lmdb %.0f puts/s", producers,
                     j.samples.back(), r.samples.back(), l.samples.back());
        }
        results.push_back(j);
        results.push_back(r);
        results.push_back(l);
    }
    measurement rf{"rocksdb_head_pops_first_tenth", "pops/s", {}, s.queue / 10, "seek to first, delete", {}};
    measurement rl{"rocksdb_head_pops_last_tenth", "pops/s", {}, s.queue / 10, "seek to first, delete", {}};
    measurement lf{"lmdb_head_pops_first_tenth", "pops/s", {}, s.queue / 10, "cursor first, delete", {}};
    measurement ll{"lmdb_head_pops_last_tenth", "pops/s", {}, s.queue / 10, "cursor first, delete", {}};
    for (int rep = 0; rep < s.reps; ++rep) {
        const auto [r1, r2] = rocksdb_head_deletes(s);
        const auto [l1, l2] = lmdb_head_deletes(s);
        rf.samples.push_back(r1);
        rl.samples.push_back(r2);
        lf.samples.push_back(l1);
        ll.samples.push_back(l2);
        progress("head pops: rocksdb %.0f -> %.0f, lmdb %.0f -> %.0f pops/s", r1, r2, l1, l2);
    }
    results.insert(results.end(), {rf, rl, lf, ll});

    json_writer out;
    out.open_object();
    out.field("benchmark", "bench_journal_compare");
    write_machine(out, load_at_start);
    out.field("build_type", STAMPEDE_BUILD_TYPE);
    out.field("rocksdb", "Debian librocksdb-dev, default options");
    out.field("lmdb", "Debian liblmdb-dev, default flags (+MDB_NOTLS)");
    out.open_array("results");
    for (const auto& m : results) {
        write_measurement(out, m);
    }
    out.close_array();
    out.close_object();
    std::fputs(out.text().c_str(), stdout);
    return 0;
}
