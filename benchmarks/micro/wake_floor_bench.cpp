// The machine's floor under a cross-scheduler round trip: two plain threads
// that block in read(2) on eventfds and wake each other, no runtime at all.
// A call between actors on different schedulers that are both asleep pays
// two such wake-ups; bench_gen_server's call_round_trip_across_schedulers
// is read against this figure.

#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "micro_support.hpp"

using namespace stampede::bench;

namespace {

constexpr int round_trips = 20000;
constexpr int repetitions = 7;

void must(bool ok, const char* what) {
    if (!ok) {
        std::perror(what);
        std::exit(1);
    }
}

void signal_fd(int fd) {
    const std::uint64_t one = 1;
    must(::write(fd, &one, sizeof one) == sizeof one, "write eventfd");
}

void wait_fd(int fd) {
    std::uint64_t value = 0;
    must(::read(fd, &value, sizeof value) == sizeof value, "read eventfd");
}

// Microseconds per round trip, over `round_trips` of them.
double one_repetition() {
    const int ping = ::eventfd(0, 0);
    const int pong = ::eventfd(0, 0);
    must(ping >= 0 && pong >= 0, "eventfd");
    std::thread echo([&] {
        for (int i = 0; i < round_trips; ++i) {
            wait_fd(ping);
            signal_fd(pong);
        }
    });
    const auto start = bench_clock::now();
    for (int i = 0; i < round_trips; ++i) {
        signal_fd(ping);
        wait_fd(pong);
    }
    const double seconds = seconds_since(start);
    echo.join();
    ::close(ping);
    ::close(pong);
    return seconds * 1e6 / round_trips;
}

}  // namespace

int main() {
    const double load_at_start = load_average();
    measurement m{"eventfd_round_trip_two_blocked_threads",
                  "us/round trip",
                  {},
                  round_trips,
                  "thread A writes eventfd 1 and blocks reading eventfd 2; thread B, blocked "
                  "reading eventfd 1, wakes and writes eventfd 2",
                  {}};
    for (int r = 0; r < repetitions; ++r) {
        m.samples.push_back(one_repetition());
    }
    json_writer j;
    j.open_object();
    j.field("benchmark", "bench_wake_floor");
    write_machine(j, load_at_start);
    j.field("build_type", STAMPEDE_BUILD_TYPE);
    j.open_array("results");
    write_measurement(j, m);
    j.close_array();
    j.close_object();
    std::fputs(j.text().c_str(), stdout);
    return 0;
}
