#pragma once

// Shared by the microbenchmarks (bench_context_switch, bench_gen_server,
// bench_stack_probe, bench_echo, bench_fanout_one, bench_wake_floor): a small JSON writer,
// repetition summaries with targets, the machine description, RSS readings and a fork helper.
// Header-only so that each benchmark stays one executable of one source file.

#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

namespace stampede::bench {

using bench_clock = std::chrono::steady_clock;

inline double seconds_since(bench_clock::time_point start) {
    return std::chrono::duration<double>(bench_clock::now() - start).count();
}

/// CPU time consumed by every thread of this process so far, in seconds.
inline double process_cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// Makes `value` observable to the compiler, so the work producing it cannot be elided.
template <class T>
inline void keep(const T& value) {
    asm volatile("" : : "r,m"(value) : "memory");
}

/// Progress on stderr (stdout carries only the JSON document).
template <class... Args>
void progress(const char* format, Args... args) {
    std::fprintf(stderr, format, args...);
    std::fputc('\n', stderr);
}

// ---- JSON ----

/// Writes one pretty-printed JSON document. Keys are given for members of an
/// object and omitted for items of an array.
class json_writer {
  public:
    void open_object(std::string_view key = {}) { open(key, '{'); }
    void close_object() { close('}'); }
    void open_array(std::string_view key = {}) { open(key, '['); }
    void close_array() { close(']'); }

    template <class T>
    void field(std::string_view key, const T& value) {
        begin_item(key);
        write_value(value);
    }
    template <class T>
    void item(const T& value) {
        begin_item({});
        write_value(value);
    }

    /// A numeric array of samples.
    template <class T>
    void array(std::string_view key, const std::vector<T>& values) {
        begin_item(key);
        out_ += '[';
        for (std::size_t i = 0; i < values.size(); ++i) {
            out_ += i == 0 ? "" : ", ";
            write_value(values[i]);
        }
        out_ += ']';
    }

    const std::string& text() const noexcept { return out_; }

  private:
    void open(std::string_view key, char bracket) {
        begin_item(key);
        out_ += bracket;
        counts_.push_back(0);
    }
    void close(char bracket) {
        const bool empty = counts_.back() == 0;
        counts_.pop_back();
        if (!empty) {
            newline();
        }
        out_ += bracket;
        if (counts_.empty()) {
            out_ += '\n';
        }
    }
    void begin_item(std::string_view key) {
        if (!counts_.empty()) {
            out_ += counts_.back()++ == 0 ? "" : ",";
            newline();
        }
        if (!key.empty()) {
            write_string(key);
            out_ += ": ";
        }
    }
    void newline() {
        out_ += '\n';
        out_.append(2 * counts_.size(), ' ');
    }
    void write_string(std::string_view s) {
        out_ += '"';
        for (const char c : s) {
            if (c == '"' || c == '\\') {
                out_ += '\\';
                out_ += c;
            } else if (static_cast<unsigned char>(c) < 0x20) {
                char escaped[8];
                std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
                out_ += escaped;
            } else {
                out_ += c;
            }
        }
        out_ += '"';
    }
    void write_value(bool v) { out_ += v ? "true" : "false"; }
    void write_value(const char* v) { write_string(v); }
    void write_value(const std::string& v) { write_string(v); }
    void write_value(std::string_view v) { write_string(v); }
    template <class T>
    requires std::is_integral_v<T>
    void write_value(T v) { out_ += std::to_string(v); }
    void write_value(double v) {
        if (!std::isfinite(v)) {
            out_ += "null";
            return;
        }
        char text[64];
        // Enough significant digits for nanoseconds and for millions per second alike.
        std::snprintf(text, sizeof text, "%.6g", v);
        out_ += text;
    }

    std::string out_;
    std::vector<std::size_t> counts_;
};

// ---- Summaries and targets ----

struct summary {
    double median = 0;
    double min = 0;
    double max = 0;
};

inline summary summarize(std::vector<double> samples) {
    if (samples.empty()) {
        return {};
    }
    std::sort(samples.begin(), samples.end());
    const std::size_t n = samples.size();
    const double median = n % 2 == 1 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
    return {median, samples.front(), samples.back()};
}

/// Writes `key`: {median, min, max, samples} of `values` into the object being written.
inline void write_summary(json_writer& j, std::string_view key, const std::vector<double>& values) {
    const summary s = summarize(values);
    j.open_object(key);
    j.field("median", s.median);
    j.field("min", s.min);
    j.field("max", s.max);
    j.array("samples", values);
    j.close_object();
}

/// A goal the median is held against; `kind` "at_most" or "at_least" (empty: none).
struct target {
    std::string kind;
    double value = 0;

    bool met(double median) const { return kind == "at_most" ? median <= value : median >= value; }
};

/// One figure: a sample per repetition, and what a repetition did.
struct measurement {
    std::string name;
    std::string unit;
    std::vector<double> samples;
    std::uint64_t iterations_per_repetition = 0;  ///< operations timed in one repetition
    std::string counts;                           ///< what one iteration is
    target goal;
};

/// Writes `m`'s fields into the object being written.
inline void write_measurement_fields(json_writer& j, const measurement& m) {
    const summary s = summarize(m.samples);
    j.field("name", m.name);
    j.field("unit", m.unit);
    j.field("median", s.median);
    j.field("min", s.min);
    j.field("max", s.max);
    j.field("repetitions", m.samples.size());
    j.field("iterations_per_repetition", m.iterations_per_repetition);
    if (!m.counts.empty()) {
        j.field("one_iteration_is", m.counts);
    }
    j.array("samples", m.samples);
    if (!m.goal.kind.empty()) {
        j.open_object("target");
        j.field(m.goal.kind, m.goal.value);
        j.field("met", m.goal.met(s.median));
        j.close_object();
    }
}

inline void write_measurement(json_writer& j, const measurement& m) {
    j.open_object();
    write_measurement_fields(j, m);
    j.close_object();
}

// ---- The machine ----

inline std::string first_line_of(const char* path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
}

inline std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            return line.substr(line.find(':') + 2);
        }
    }
    return "unknown";
}

inline unsigned cpuinfo_processors() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    unsigned n = 0;
    while (std::getline(in, line)) {
        n += line.rfind("processor", 0) == 0 ? 1 : 0;
    }
    return n;
}

/// The 1-minute load average, read when called.
inline double load_average() {
    std::istringstream in(first_line_of("/proc/loadavg"));
    double one = 0;
    in >> one;
    return one;
}

/// Cores, CPU model, kernel, the load averages around the run and vm.max_map_count.
inline void write_machine(json_writer& j, double load_at_start) {
    utsname name{};
    ::uname(&name);
    j.open_object("machine");
    j.field("cores", cpuinfo_processors());
    j.field("hardware_concurrency", std::thread::hardware_concurrency());
    j.field("cpu_model", cpu_model());
    j.field("kernel", std::string(name.release));
    j.field("loadavg_1min_at_start", load_at_start);
    j.field("loadavg_1min_at_end", load_average());
    j.field("loadavg_now", first_line_of("/proc/loadavg"));
    j.field("vm_max_map_count", first_line_of("/proc/sys/vm/max_map_count"));
    j.close_object();
}

// ---- Memory ----

/// A "VmXxx:  N kB" line of /proc/self/status, in bytes (0 when absent).
inline std::size_t proc_status_bytes(std::string_view field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
            line[field.size()] == ':') {
            return std::strtoull(line.c_str() + field.size() + 1, nullptr, 10) * 1024;
        }
    }
    return 0;
}

inline std::size_t rss_bytes() {
    return proc_status_bytes("VmRSS");
}
inline std::size_t page_table_bytes() {
    return proc_status_bytes("VmPTE");
}

inline std::size_t mapping_count() {
    std::ifstream in("/proc/self/maps");
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) {
        ++n;
    }
    return n;
}

// ---- Child processes ----

/// Runs `fn` (returning std::vector<double>) in a forked child and returns its
/// values, or nothing if the child failed. A fresh process per repetition
/// keeps a measurement of RSS free of what earlier repetitions left in the
/// heap. Call only while this process runs no other threads.
template <class Fn>
std::optional<std::vector<double>> in_child(Fn fn) {
    int fds[2];
    if (::pipe(fds) != 0) {
        return std::nullopt;
    }
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
        return std::nullopt;
    }
    if (pid == 0) {
        ::close(fds[0]);
        const std::vector<double> values = fn();
        const auto bytes = static_cast<ssize_t>(values.size() * sizeof(double));
        const bool ok = ::write(fds[1], values.data(), static_cast<std::size_t>(bytes)) == bytes;
        ::_exit(ok ? 0 : 1);
    }
    ::close(fds[1]);
    std::vector<double> values;
    double value = 0;
    while (::read(fds[0], &value, sizeof value) == static_cast<ssize_t>(sizeof value)) {
        values.push_back(value);
    }
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return std::nullopt;
    }
    return values;
}

// ---- Command lines ----

/// The value after `--name` in argv, if given.
inline std::optional<std::string> option(int argc, char** argv, std::string_view name) {
    for (int i = 1; i + 1 < argc; ++i) {
        if (argv[i] == name) {
            return std::string(argv[i + 1]);
        }
    }
    return std::nullopt;
}

inline double option_number(int argc, char** argv, std::string_view name, double fallback) {
    const auto text = option(argc, argv, name);
    return text ? std::strtod(text->c_str(), nullptr) : fallback;
}

}  // namespace stampede::bench
