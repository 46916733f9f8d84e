// bench_routing: the pure routing structures of stampede_routing, one thread, no broker.
//
//   bench_routing [--seconds S] [--max-subscriptions N] [--timers N]
//                 [--only timers|selectors|wildcards|priority]
//
// Prints one JSON document (progress on stderr). Each figure is the median of 7 repetitions
// of about S seconds (default 0.2) unless said otherwise:
//   selector_eval_*      ns per evaluate() of a 1-, 3- and 10-term selector on a MESSAGE's
//                        11 headers, when every term is TRUE (all evaluated) and when the first
//                        term is FALSE (short-circuit)
//   selector_compile_*   ns per compile() of the same selectors (their all-TRUE forms)
//   wildcard_match_N     ns per published name against N wildcard subscriptions (10 to
//                        --max-subscriptions, default 100,000), and the RSS the index takes
//   wildcard_linear_N    the same by testing every pattern (pattern_matches), N <= 1,000
//   priority_*           ns per push + pop at a steady depth of 1,024: priority_list with one
//                        priority, with random priorities 0-9, and std::deque
//   timer_*              a fresh child process per repetition (3): ns per push of --timers
//                        (default 1,000,000) entries into a new queue (page faults included)
//                        and into a drained one, random and increasing deadlines; RSS bytes
//                        per pending entry; ns per entry fired
//
// The target the issue sets: a 3-term selector evaluated in <= 100 ns.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "micro_support.hpp"
#include "stampede/routing/priority_list.hpp"
#include "stampede/routing/selector.hpp"
#include "stampede/routing/subscription_index.hpp"
#include "stampede/routing/timer_queue.hpp"

namespace {

using namespace stampede;
using bench::json_writer;
using bench::measurement;

constexpr int repetitions = 7;

/// Runs `batch` (returning how many operations it did) for about `seconds`; ns per operation.
template <class Batch>
double ns_per_op(double seconds, Batch&& batch) {
    std::uint64_t ops = 0;
    const auto start = bench::bench_clock::now();
    const auto deadline = start + std::chrono::duration<double>(seconds);
    auto now = start;
    do {
        ops += batch();
        now = bench::bench_clock::now();
    } while (now < deadline);
    return std::chrono::duration<double, std::nano>(now - start).count() / static_cast<double>(ops);
}

template <class Batch>
measurement measure(std::string name, std::string counts, double seconds, Batch&& batch) {
    measurement m;
    m.name = std::move(name);
    m.unit = "ns";
    m.counts = std::move(counts);
    for (int r = 0; r < repetitions; ++r) {
        m.samples.push_back(ns_per_op(seconds, batch));
    }
    bench::progress("%s: %.1f ns", m.name.c_str(), bench::summarize(m.samples).median);
    return m;
}

// ---- selectors ----

const std::vector<protocol::header> message_headers = {
    {"destination", "/queue/orders"},
    {"message-id", "T-1-42"},
    {"subscription", "sub-0"},
    {"content-type", "application/json"},
    {"content-length", "512"},
    {"type", "order"},
    {"size", "10"},
    {"region", "eu"},
    {"priority", "6"},
    {"customer", "acme-corp"},
    {"amount", "250.75"},
};

struct selector_case {
    const char* name;
    const char* all_true;
    const char* first_false;
};

const selector_case selector_cases[] = {
    {"1_term", "type = 'order'", "type = 'refund'"},
    {"3_terms", "type = 'order' AND size > 3 AND region IN ('eu', 'us')",
     "type = 'refund' AND size > 3 AND region IN ('eu', 'us')"},
    {"10_terms",
     "type = 'order' AND size > 3 AND region IN ('eu', 'us') AND priority >= 4 AND customer "
     "LIKE 'acme%' AND NOT cancelled IS NOT NULL AND amount BETWEEN 10 AND 1000 AND currency IS "
     "NULL AND size * 2 < 100 AND \"content-type\" = 'application/json'",
     "type = 'refund' AND size > 3 AND region IN ('eu', 'us') AND priority >= 4 AND customer "
     "LIKE 'acme%' AND NOT cancelled IS NOT NULL AND amount BETWEEN 10 AND 1000 AND currency IS "
     "NULL AND size * 2 < 100 AND \"content-type\" = 'application/json'"},
};

void bench_selectors(json_writer& j, double seconds) {
    for (const selector_case& c : selector_cases) {
        for (const bool all_true : {true, false}) {
            const char* text = all_true ? c.all_true : c.first_false;
            const auto s = routing::selector::compile(text);
            if (!s || s->matches(message_headers) != all_true) {
                std::fprintf(stderr, "selector %s did not compile or evaluate as expected\n", text);
                std::exit(1);
            }
            measurement m = measure(
                std::string("selector_eval_") + c.name + (all_true ? "_true" : "_first_false"),
                "one evaluate() over 11 headers", seconds, [&] {
                    for (int i = 0; i < 1000; ++i) {
                        bench::keep(s->evaluate(message_headers));
                    }
                    return 1000;
                });
            if (std::string(c.name) == "3_terms") {
                m.goal = {"at_most", 100};
            }
            bench::write_measurement(j, m);
        }
        measurement compile =
            measure(std::string("selector_compile_") + c.name, "one compile()", seconds, [&] {
                for (int i = 0; i < 100; ++i) {
                    auto s = routing::selector::compile(c.all_true);
                    bench::keep(s.has_value());
                }
                return 100;
            });
        bench::write_measurement(j, compile);
    }
}

// ---- wildcard subscriptions ----

const char* regions[] = {"eu", "us", "ap"};
const char* kinds[] = {"orders", "alerts", "billing", "audit"};

/// The k-th of n subscription patterns over names region.tenant.kind.id: a mix of '*' and '#'
/// at the end, in the middle and at the start, about four per tenant, so that a published
/// name matches a handful of subscriptions whatever n is.
std::string pattern(std::size_t k, std::size_t n) {
    const std::size_t tenants = std::max<std::size_t>(1, n / 4);
    const std::string tenant = "t" + std::to_string(k % tenants);
    switch (k / tenants % 4) {
        case 0:
            return std::string(regions[k % 3]) + "." + tenant + ".*.*";
        case 1:
            return "*." + tenant + "." + kinds[k % 4] + ".#";
        case 2:
            return std::string(regions[k % 3]) + "." + tenant + ".#";
        default:
            return "#." + tenant + "." + kinds[k % 4] + ".*";
    }
}

std::vector<std::string> published_names(std::size_t n, std::size_t count) {
    std::mt19937 rng(7);
    const std::size_t tenants = std::max<std::size_t>(1, n / 4);
    std::vector<std::string> names;
    for (std::size_t i = 0; i < count; ++i) {
        names.push_back(std::string(regions[rng() % 3]) + ".t" + std::to_string(rng() % tenants) +
                        "." + kinds[rng() % 4] + "." + std::to_string(rng() % 1000));
    }
    return names;
}

void bench_wildcards(json_writer& j, double seconds, std::size_t max_subscriptions) {
    for (std::size_t n = 10; n <= max_subscriptions; n *= 10) {
        const std::size_t rss_before = bench::rss_bytes();
        auto index = std::make_unique<routing::subscription_index<std::uint32_t>>();
        for (std::size_t k = 0; k < n; ++k) {
            index->add(pattern(k, n), static_cast<std::uint32_t>(k));
        }
        const std::size_t rss_after = bench::rss_bytes();
        const std::vector<std::string> names = published_names(n, 4096);
        std::uint64_t matched = 0;
        for (const std::string& name : names) {
            index->match(name, [&](std::uint32_t) { ++matched; });
        }
        const double per_publish = static_cast<double>(matched) / static_cast<double>(names.size());
        measurement m = measure("wildcard_match_" + std::to_string(n),
                                "one published name matched against the index", seconds, [&] {
                                    std::uint64_t hits = 0;
                                    for (const std::string& name : names) {
                                        index->match(name, [&](std::uint32_t v) { hits += v; });
                                    }
                                    bench::keep(hits);
                                    return names.size();
                                });
        j.open_object();
        bench::write_measurement_fields(j, m);
        j.field("subscriptions", n);
        j.field("trie_nodes", index->node_count());
        j.field("matches_per_publish", per_publish);
        j.field("index_rss_bytes", rss_after > rss_before ? rss_after - rss_before : 0);
        j.close_object();

        if (n <= 1000) {
            std::vector<std::string> patterns;
            for (std::size_t k = 0; k < n; ++k) {
                patterns.push_back(pattern(k, n));
            }
            bench::write_measurement(
                j, measure("wildcard_linear_" + std::to_string(n),
                           "one published name tested against every pattern", seconds, [&] {
                               std::uint64_t hits = 0;
                               for (std::size_t i = 0; i < 64; ++i) {
                                   for (const std::string& p : patterns) {
                                       hits += routing::pattern_matches(p, names[i]) ? 1 : 0;
                                   }
                               }
                               bench::keep(hits);
                               return 64;
                           }));
        }
    }
}

// ---- priority ready list ----

void bench_priority(json_writer& j, double seconds) {
    constexpr int depth = 1024;
    std::mt19937 rng(3);
    std::vector<std::uint8_t> priorities(4096);
    for (auto& p : priorities) {
        p = static_cast<std::uint8_t>(rng() % 10);
    }
    {
        routing::priority_list<std::uint64_t> list;
        for (int i = 0; i < depth; ++i) {
            list.push(4, static_cast<std::uint64_t>(i));
        }
        bench::write_measurement(
            j, measure("priority_list_one_priority", "one push + one pop", seconds, [&] {
                std::uint64_t sum = 0;
                for (std::uint64_t i = 0; i < 4096; ++i) {
                    list.push(4, i);
                    sum += list.pop()->second;
                }
                bench::keep(sum);
                return 4096;
            }));
    }
    {
        routing::priority_list<std::uint64_t> list;
        for (int i = 0; i < depth; ++i) {
            list.push(priorities[static_cast<std::size_t>(i)], static_cast<std::uint64_t>(i));
        }
        bench::write_measurement(
            j, measure("priority_list_random_priorities", "one push + one pop", seconds, [&] {
                std::uint64_t sum = 0;
                for (std::uint64_t i = 0; i < 4096; ++i) {
                    list.push(priorities[i], i);
                    sum += list.pop()->second;
                }
                bench::keep(sum);
                return 4096;
            }));
    }
    {
        std::deque<std::uint64_t> plain;
        for (int i = 0; i < depth; ++i) {
            plain.push_back(static_cast<std::uint64_t>(i));
        }
        bench::write_measurement(
            j, measure("std_deque", "one push_back + one pop_front", seconds, [&] {
                std::uint64_t sum = 0;
                for (std::uint64_t i = 0; i < 4096; ++i) {
                    plain.push_back(i);
                    sum += plain.front();
                    plain.pop_front();
                }
                bench::keep(sum);
                return 4096;
            }));
    }
}

// ---- timers ----

/// In a fresh process: [ns per push into a new queue (random deadlines; growth and first-touch
/// page faults included), RSS bytes per entry, ns per fire, ns per push into the drained queue
/// (random), ns per push into the drained queue (increasing deadlines)].
std::vector<double> timer_run(std::size_t count) {
    std::mt19937_64 rng(11);
    std::vector<std::int64_t> deadlines(count);
    for (auto& d : deadlines) {
        d = static_cast<std::int64_t>(rng() % 3'600'000);  // within the hour, in ms
    }
    auto fill = [&](routing::timer_queue<std::uint64_t>& q, bool increasing) {
        const auto start = bench::bench_clock::now();
        for (std::size_t i = 0; i < count; ++i) {
            // Increasing: a 60 s TTL on messages arriving at 100,000/s.
            q.push(increasing ? static_cast<std::int64_t>(60'000 + i / 100) : deadlines[i], i);
        }
        return bench::seconds_since(start) * 1e9 / static_cast<double>(count);
    };
    std::uint64_t sum = 0;
    auto drain = [&](routing::timer_queue<std::uint64_t>& q) {
        const auto start = bench::bench_clock::now();
        for (std::int64_t now = 0; !q.empty(); now += 1000) {
            q.fire_due(now, [&](std::uint64_t v) { sum += v; });
        }
        return bench::seconds_since(start) * 1e9 / static_cast<double>(count);
    };
    const std::size_t rss_before = bench::rss_bytes();
    routing::timer_queue<std::uint64_t> q;
    const double push_cold = fill(q, false);
    const double bytes_per_entry =
        static_cast<double>(bench::rss_bytes() - rss_before) / static_cast<double>(count);
    const double fire = drain(q);
    const double push_warm = fill(q, false);
    drain(q);
    const double push_increasing = fill(q, true);
    bench::keep(sum);
    return {push_cold, bytes_per_entry, fire, push_warm, push_increasing};
}

void bench_timers(json_writer& j, std::size_t count) {
    std::vector<std::vector<double>> columns(5);
    for (int r = 0; r < 3; ++r) {
        const auto v = bench::in_child([count] { return timer_run(count); });
        if (!v || v->size() != columns.size()) {
            std::fprintf(stderr, "timer child failed\n");
            std::exit(1);
        }
        for (std::size_t c = 0; c < columns.size(); ++c) {
            columns[c].push_back((*v)[c]);
        }
    }
    const std::string n = std::to_string(count);
    auto write = [&](std::string name, std::string unit, std::string counts,
                     std::vector<double> samples) {
        measurement m;
        m.name = std::move(name);
        m.unit = std::move(unit);
        m.counts = std::move(counts);
        m.samples = std::move(samples);
        m.iterations_per_repetition = count;
        bench::progress("%s: %.1f %s", m.name.c_str(), bench::summarize(m.samples).median,
                        m.unit.c_str());
        bench::write_measurement(j, m);
    };
    write("timer_push_cold", "ns",
          "one push of " + n +
              " into a new queue, random deadlines within an hour, growth and "
              "first-touch page faults included",
          columns[0]);
    write("timer_rss_per_entry", "bytes", "RSS growth per pending entry at " + n, columns[1]);
    write("timer_fire", "ns", "one entry fired, clock advancing 1 s per fire_due", columns[2]);
    write("timer_push_warm", "ns", "one push of " + n + " into the drained queue, random deadlines",
          columns[3]);
    write("timer_push_increasing", "ns",
          "one push of " + n + " into the drained queue, increasing deadlines (a fixed TTL)",
          columns[4]);
}

}  // namespace

int main(int argc, char** argv) {
    const double seconds = bench::option_number(argc, argv, "--seconds", 0.2);
    const auto max_subscriptions =
        static_cast<std::size_t>(bench::option_number(argc, argv, "--max-subscriptions", 100000));
    const auto timers =
        static_cast<std::size_t>(bench::option_number(argc, argv, "--timers", 1000000));
    const double load_at_start = bench::load_average();

    json_writer j;
    j.open_object();
    j.field("benchmark", "bench_routing");
    j.field("build_type", STAMPEDE_BUILD_TYPE);
    j.field("seconds_per_repetition", seconds);
    const std::string only = bench::option(argc, argv, "--only").value_or("");
    auto wanted = [&](std::string_view part) { return only.empty() || only == part; };
    // Timers first: the children fork from a process that holds nothing large yet.
    if (wanted("timers")) {
        j.open_array("timers");
        bench_timers(j, timers);
        j.close_array();
    }
    if (wanted("selectors")) {
        j.open_array("selectors");
        bench_selectors(j, seconds);
        j.close_array();
    }
    if (wanted("wildcards")) {
        j.open_array("wildcards");
        bench_wildcards(j, seconds, max_subscriptions);
        j.close_array();
    }
    if (wanted("priority")) {
        j.open_array("priority");
        bench_priority(j, seconds);
        j.close_array();
    }
    bench::write_machine(j, load_at_start);
    j.close_object();
    std::fputs(j.text().c_str(), stdout);
    return 0;
}
