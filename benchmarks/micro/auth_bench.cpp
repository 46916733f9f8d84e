// bench_auth: what authentication and permission checks cost.
//
//   bench_auth [--reps R]
//
// Prints one JSON document:
//
// argon2id     one hash and one verification at the broker's cost
//              (m=19456 KiB, t=2, p=1), milliseconds each.
// verifier     a credential_verifier with 1 and 2 threads (nice 10, the
//              default, and nice 0) given 48 wrong passcodes at once:
//              verifications per second until the last answer.
// cache_hit    verify() of a recently accepted pair (answered from the
//              cache on the calling thread): nanoseconds per call.
// throttle     login_throttle::admit and record_failure: nanoseconds per call.
// regex        RE2 (what permissions use), std::regex (libstdc++) and
//              Boost.Regex on destination names: nanoseconds per search for
//              typical patterns; a pathological pattern ((a+)+$ against
//              "aaa...ab") as the name grows; and the stack one search takes
//              on a 10 KiB name (the header line limit), measured by painting
//              a thread's stack.
//
// The machine is shared: compare the figures within one run.

#include <pthread.h>
#include <re2/re2.h>
#include <sys/mman.h>

#include <atomic>
#include <boost/regex.hpp>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

#include "micro_support.hpp"
#include "stampede/auth/permissions.hpp"
#include "stampede/auth/throttle.hpp"
#include "stampede/auth/verifier.hpp"

namespace {

using namespace stampede;
using namespace stampede::bench;
using namespace std::chrono_literals;

double thread_cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Nanoseconds per call of `fn` over `n` calls.
template <class Fn>
double ns_per_call(std::size_t n, Fn fn) {
    const auto start = bench_clock::now();
    for (std::size_t i = 0; i < n; ++i) {
        fn(i);
    }
    return seconds_since(start) * 1e9 / static_cast<double>(n);
}

// ---- argon2id and the verifier ----

double verifier_rate(const std::shared_ptr<const auth::user_table>& users, unsigned threads,
                     int nice, int requests) {
    auth::verifier_options options;
    options.threads = threads;
    options.thread_nice = nice;
    options.queue_limit = 1000;
    auth::credential_verifier verifier(users, options);
    std::mutex m;
    std::condition_variable cv;
    int answered = 0;
    const auto start = bench_clock::now();
    for (int i = 0; i < requests; ++i) {
        (void)verifier.verify("alice", "wrong " + std::to_string(i), [&](auth::verdict) {
            const std::lock_guard lock(m);
            ++answered;
            cv.notify_all();
        });
    }
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return answered == requests; });
    return requests / seconds_since(start);
}

// ---- the stack a call takes ----

struct stack_probe {
    std::function<void()> fn;
};

void* run_probe(void* arg) {
    static_cast<stack_probe*>(arg)->fn();
    return nullptr;
}

// Runs `fn` on a thread whose 64 MiB stack was painted first; returns how
// many bytes of it were written (the deepest the call went, plus a little
// for the thread's start).
std::size_t stack_used(std::function<void()> fn) {
    constexpr std::size_t size = 64u << 20;
    constexpr unsigned char paint = 0xa5;
    void* mem = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        return 0;
    }
    std::memset(mem, paint, size);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, mem, size);
    stack_probe probe{std::move(fn)};
    pthread_t thread;
    std::size_t used = 0;
    if (::pthread_create(&thread, &attr, run_probe, &probe) == 0) {
        ::pthread_join(thread, nullptr);
        const auto* bytes = static_cast<const unsigned char*>(mem);
        std::size_t untouched = 0;
        while (untouched < size && bytes[untouched] == paint) {
            ++untouched;
        }
        used = size - untouched;
    }
    pthread_attr_destroy(&attr);
    ::munmap(mem, size);
    return used;
}

// ---- regex engines ----

struct engine_set {
    re2::RE2 re2;
    std::regex std_re;
    boost::regex boost_re;

    static re2::RE2::Options re2_options() {
        re2::RE2::Options o;
        o.set_never_capture(true);
        o.set_log_errors(false);
        return o;
    }
    explicit engine_set(const std::string& pattern)
        : re2(pattern, re2_options()),
          std_re(pattern, std::regex::ECMAScript | std::regex::nosubs | std::regex::optimize),
          boost_re(pattern, boost::regex::perl | boost::regex::nosubs) {}
};

// Times one search of `name` for `pattern` in each engine; a Boost
// complexity refusal is reported as a negative figure.
void write_engine_times(json_writer& j, const std::string& pattern, const std::string& name,
                        std::size_t iterations, int reps) {
    engine_set e(pattern);
    std::vector<double> re2_ns, std_ns, boost_ns;
    bool boost_refused = false;
    bool agree = true;
    for (int r = 0; r < reps; ++r) {
        bool a = false, b = false, c = false;
        re2_ns.push_back(ns_per_call(iterations, [&](std::size_t) {
            a = re2::RE2::PartialMatch(name, e.re2);
            keep(a);
        }));
        std_ns.push_back(ns_per_call(iterations, [&](std::size_t) {
            b = std::regex_search(name, e.std_re);
            keep(b);
        }));
        try {
            boost_ns.push_back(ns_per_call(iterations, [&](std::size_t) {
                c = boost::regex_search(name, e.boost_re);
                keep(c);
            }));
        } catch (const std::runtime_error&) {
            boost_refused = true;
        }
        agree = agree && a == b && (boost_refused || b == c);
    }
    j.open_object();
    j.field("pattern", pattern);
    j.field("name_bytes", name.size());
    j.field("engines_agree", agree);
    write_summary(j, "re2_ns", re2_ns);
    write_summary(j, "std_regex_ns", std_ns);
    if (boost_refused) {
        j.field("boost_regex", "refused: complexity limit (an exception)");
    } else {
        write_summary(j, "boost_regex_ns", boost_ns);
    }
    j.close_object();
    progress("regex %-40s %6zu B: re2 %.0f ns, std %.0f ns, boost %s", pattern.c_str(), name.size(),
             summarize(re2_ns).median, summarize(std_ns).median,
             boost_refused ? "refused" : std::to_string(summarize(boost_ns).median).c_str());
}

void write_pathological(json_writer& j) {
    const std::string pattern = "(a+)+$";
    engine_set e(pattern);
    j.open_array("pathological");
    for (const std::size_t n : {std::size_t{10}, std::size_t{14}, std::size_t{18}, std::size_t{22},
                                std::size_t{10'000}}) {
        const std::string name = std::string(n, 'a') + "b";
        j.open_object();
        j.field("pattern", pattern);
        j.field("name_bytes", name.size());
        auto start = bench_clock::now();
        keep(re2::RE2::PartialMatch(name, e.re2));
        j.field("re2_us", seconds_since(start) * 1e6);
        if (n <= 22) {  // exponential: 2^22 steps already take seconds
            start = bench_clock::now();
            keep(std::regex_search(name, e.std_re));
            j.field("std_regex_us", seconds_since(start) * 1e6);
        } else {
            j.field("std_regex_us", "not run (exponential)");
        }
        start = bench_clock::now();
        try {
            keep(boost::regex_search(name, e.boost_re));
            j.field("boost_regex_us", seconds_since(start) * 1e6);
        } catch (const std::runtime_error&) {
            j.field("boost_regex",
                    "refused after " +
                        std::to_string(static_cast<long>(seconds_since(start) * 1e6)) +
                        " us: complexity limit (an exception)");
        }
        j.close_object();
    }
    j.close_array();
}

void write_stack_depths(json_writer& j) {
    const std::string name = std::string(10 * 1024, 'a');
    const std::size_t baseline = stack_used([] {});
    j.field("stack_bytes_of_an_empty_call", baseline);
    j.open_array("stack_bytes_10kib_name");
    for (const std::string pattern : {"(a|b)*c", "^/queue/.*x$", "orders"}) {
        engine_set e(pattern);
        bool r1 = false, r2 = false, r3 = false;
        const std::size_t re2_stack = stack_used([&] { r1 = re2::RE2::PartialMatch(name, e.re2); });
        const std::size_t std_stack = stack_used([&] { r2 = std::regex_search(name, e.std_re); });
        std::size_t boost_stack = stack_used([&] {
            try {
                r3 = boost::regex_search(name, e.boost_re);
            } catch (const std::runtime_error&) {
            }
        });
        keep(r1);
        keep(r2);
        keep(r3);
        j.open_object();
        j.field("pattern", pattern);
        j.field("re2", re2_stack);
        j.field("std_regex", std_stack);
        j.field("boost_regex", boost_stack);
        j.close_object();
        progress("stack %-14s re2 %zu B, std %zu B, boost %zu B", pattern.c_str(), re2_stack,
                 std_stack, boost_stack);
    }
    j.close_array();
}

}  // namespace

int main(int argc, char** argv) {
    const double load_at_start = load_average();
    const int reps = static_cast<int>(option_number(argc, argv, "--reps", 5));
    auth::init_sodium();

    json_writer j;
    j.open_object();
    j.field("benchmark", "bench_auth");
    j.field("build_type", STAMPEDE_BUILD_TYPE);

    // argon2id at the broker's cost.
    {
        std::vector<double> hash_ms, verify_ms, verify_cpu_ms;
        std::string stored;
        for (int r = 0; r < reps; ++r) {
            auto start = bench_clock::now();
            stored = auth::hash_password("a passcode of reasonable length").value();
            hash_ms.push_back(seconds_since(start) * 1e3);
            start = bench_clock::now();
            const double cpu0 = thread_cpu_seconds();
            keep(auth::verify_password(stored, "a wrong passcode"));
            verify_cpu_ms.push_back((thread_cpu_seconds() - cpu0) * 1e3);
            verify_ms.push_back(seconds_since(start) * 1e3);
        }
        progress("argon2id: hash %.1f ms, verify %.1f ms (%.1f ms CPU)", summarize(hash_ms).median,
                 summarize(verify_ms).median, summarize(verify_cpu_ms).median);
        j.open_object("argon2id");
        j.field("cost", "m=19456,t=2,p=1");
        write_summary(j, "hash_ms", hash_ms);
        write_summary(j, "verify_ms", verify_ms);
        write_summary(j, "verify_cpu_ms", verify_cpu_ms);
        j.close_object();
    }

    const auto users =
        auth::user_table::make({{"alice", auth::hash_password("wonderland").value()}});

    // Verifier throughput.
    j.open_array("verifier");
    for (const unsigned threads : {1u, 2u}) {
        for (const int nice : {10, 0}) {
            std::vector<double> rate;
            for (int r = 0; r < std::max(1, reps / 2); ++r) {
                rate.push_back(verifier_rate(users, threads, nice, 48));
            }
            progress("verifier %u thread(s), nice %d: %.0f verifications/s", threads, nice,
                     summarize(rate).median);
            j.open_object();
            j.field("threads", threads);
            j.field("nice", nice);
            write_summary(j, "verifications_per_second", rate);
            j.close_object();
        }
    }
    j.close_array();

    // Cache hits, on the calling thread.
    {
        auth::credential_verifier verifier(users);
        std::promise<void> first;
        (void)verifier.verify("alice", "wonderland", [&](auth::verdict) { first.set_value(); });
        first.get_future().wait();
        std::vector<double> ns;
        for (int r = 0; r < reps; ++r) {
            ns.push_back(ns_per_call(200'000, [&](std::size_t) {
                keep(verifier.verify("alice", "wonderland", [](auth::verdict) {}));
            }));
        }
        progress("cache hit: %.0f ns", summarize(ns).median);
        write_summary(j, "cache_hit_ns", ns);
    }

    // The throttle.
    {
        auth::login_throttle throttle;
        std::vector<double> admit_ns, failure_ns;
        for (int r = 0; r < reps; ++r) {
            admit_ns.push_back(ns_per_call(
                200'000, [&](std::size_t) { keep(throttle.admit("192.0.2.1:61613")); }));
            failure_ns.push_back(ns_per_call(200'000, [&](std::size_t i) {
                // Addresses cycle through 4,096, so the map stays warm and bounded.
                keep(throttle.record_failure("10.0." + std::to_string(i / 64 % 64) + "." +
                                             std::to_string(i % 64) + ":1"));
            }));
        }
        progress("throttle: admit %.0f ns, record_failure %.0f ns", summarize(admit_ns).median,
                 summarize(failure_ns).median);
        j.open_object("throttle");
        write_summary(j, "admit_ns", admit_ns);
        write_summary(j, "record_failure_ns", failure_ns);
        j.close_object();
    }

    // Regular expressions.
    j.open_object("regex");
    j.open_array("typical");
    const std::string name = "/queue/in.orders.eu-west.42";
    for (const std::string pattern : {".*", "^/queue/in\\.", "orders", "eu-west\\.[0-9]+$",
                                      "^/(queue|topic)/(in|out)\\.[a-z]+\\."}) {
        write_engine_times(j, pattern, name, 200'000, reps);
    }
    write_engine_times(j, "orders", std::string(10 * 1024, 'x'), 2'000, reps);
    write_engine_times(j, "^/queue/in\\.", std::string(10 * 1024, 'x'), 2'000, reps);
    j.close_array();
    {
        const auto table = auth::permission_table::make(
            {{"bob", {{"/", {"", "^/queue/in\\.", "^/queue/out\\."}}}}});
        const auto bob = table->find("bob", "/");
        std::vector<double> ns;
        for (int r = 0; r < reps; ++r) {
            ns.push_back(ns_per_call(200'000, [&](std::size_t) { keep(bob->rights(name)); }));
        }
        progress("vhost_permissions::rights (3 patterns): %.0f ns", summarize(ns).median);
        write_summary(j, "rights_three_patterns_ns", ns);
    }
    write_pathological(j);
    write_stack_depths(j);
    j.close_object();

    write_machine(j, load_at_start);
    j.close_object();
    std::fputs(j.text().c_str(), stdout);
    return 0;
}
