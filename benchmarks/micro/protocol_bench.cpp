// bench_protocol: parse and serialize throughput of the STOMP protocol library.
//
//   bench_protocol [seconds-per-repetition]   (default 0.25)
//
// Prints one JSON document. Each measurement runs 7 repetitions of about the
// given time on one thread and reports the median, min and max rate, with
// the work done per repetition. Parsing runs over a 1 MiB buffer of SEND
// frames (4 headers) back to back, as a receive buffer holds them
// (cache-resident, like bytes that recv() has just copied), with and without
// content-length. Serializing writes MESSAGE frames (destination, message-id,
// subscription and 4 user headers; message ids vary) one after another into a
// 1 MiB send buffer, with the generic serializer, with message_template, and
// with message_template's head alone (the shared-body mode).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "stampede/protocol/parser.hpp"
#include "stampede/protocol/serializer.hpp"

namespace {

using namespace stampede::protocol;
using clock_type = std::chrono::steady_clock;

constexpr int repetitions = 7;
constexpr std::size_t buffer_size = 1 << 20;
constexpr std::size_t body_sizes[] = {64, 256, 4096};

/// What one repetition did: the work and the time it took.
struct sample {
    std::uint64_t frames = 0;
    std::uint64_t bytes = 0;
    double seconds = 0;
};

struct result {
    std::string name;
    std::size_t body_bytes = 0;
    std::size_t frame_bytes = 0;
    std::vector<sample> samples;
};

// Folded into the output so that the compiler must do all the work.
std::uint64_t checksum = 0;

std::string make_body(std::size_t size) {
    std::string body(size, 'x');
    for (std::size_t i = 0; i < size; ++i) {
        body[i] = static_cast<char>('a' + i % 26);
    }
    return body;
}

/// Repeats `batch` (which returns the frames and bytes it handled) for about `seconds`.
template <typename Batch>
sample run_for(double seconds, Batch&& batch) {
    sample s;
    const auto start = clock_type::now();
    const auto deadline = start + std::chrono::duration<double>(seconds);
    auto now = start;
    do {
        const auto [frames, bytes] = batch();
        s.frames += frames;
        s.bytes += bytes;
        now = clock_type::now();
    } while (now < deadline);
    s.seconds = std::chrono::duration<double>(now - start).count();
    return s;
}

/// A SEND frame with four headers: destination, content-type, x-sequence and content-length.
///
/// Without content-length the fourth header is x-origin instead.
std::string send_frame(const std::string& body, bool with_content_length) {
    const header headers[] = {
        {"destination", "/queue/bench"}, {"content-type", "text/plain"}, {"x-sequence", "1234567"}};
    std::string text = serialize_to_string({command::send, headers, body}, version::v1_2);
    if (!with_content_length) {
        const std::size_t at = text.find("content-length:");
        const std::size_t end = text.find('\n', at) + 1;
        text.replace(at, end - at, "x-origin:load-driver\n");
    }
    return text;
}

/// Parses SEND frames; without content-length the body's end is found by scanning for NUL.
result bench_parse(std::size_t body_size, double seconds, bool with_content_length) {
    const std::string frame_bytes = send_frame(make_body(body_size), with_content_length);
    std::vector<char> buffer;
    while (buffer.size() + frame_bytes.size() <= buffer_size) {
        buffer.insert(buffer.end(), frame_bytes.begin(), frame_bytes.end());
    }
    parser p;
    p.set_version(version::v1_2);
    result r{with_content_length ? "parse_send" : "parse_send_no_content_length",
             body_size,
             frame_bytes.size(),
             {}};
    for (int rep = 0; rep < repetitions; ++rep) {
        r.samples.push_back(run_for(seconds, [&] {
            std::uint64_t frames = 0;
            std::size_t offset = 0;
            std::span<char> input(buffer);
            while (offset < input.size()) {
                const parse_result pr = p.parse(input.subspan(offset));
                if (pr.status != parse_status::complete) {
                    std::fprintf(stderr, "unexpected parse status\n");
                    std::exit(1);
                }
                const frame_view& f = p.frame();
                checksum += f.body.size() + f.headers.size() + f.headers[2].value.size();
                offset += pr.consumed;
                ++frames;
            }
            return std::pair<std::uint64_t, std::uint64_t>(frames, offset);
        }));
    }
    return r;
}

/// 4096 distinct message ids, as a broker would number its messages.
std::vector<std::string> message_ids() {
    std::vector<std::string> ids;
    for (int i = 0; i < 4096; ++i) {
        ids.push_back("T_sub-1@@session-42@@" + std::to_string(1000000 + i));
    }
    return ids;
}

const header user_headers[] = {{"content-type", "text/plain"},
                               {"x-sequence", "1234567"},
                               {"priority", "4"},
                               {"x-origin", "load-driver-7"}};

/// Writes frames with `write_one(out, i)` one after another into a send buffer.
template <typename WriteOne>
std::pair<std::uint64_t, std::uint64_t> fill_buffer(std::vector<char>& out, std::size_t max_frame,
                                                    WriteOne&& write_one) {
    std::uint64_t frames = 0;
    std::size_t offset = 0;
    while (offset + max_frame <= out.size()) {
        offset += write_one(std::span<char>(out).subspan(offset), frames);
        ++frames;
    }
    checksum += static_cast<unsigned char>(out[offset - 2]);
    return {frames, offset};
}

result bench_serialize(std::size_t body_size, double seconds) {
    const std::string body = make_body(body_size);
    const std::vector<std::string> ids = message_ids();
    std::vector<char> out(buffer_size);
    std::vector<header> headers = {
        {"destination", "/topic/bench"}, {"message-id", ""}, {"subscription", "sub-1"}};
    headers.insert(headers.end(), std::begin(user_headers), std::end(user_headers));
    const std::size_t max_frame =
        serialized_size({command::message, headers, body}, version::v1_2) + 64;
    result r{"serialize_message_generic", body_size, max_frame - 64, {}};
    for (int rep = 0; rep < repetitions; ++rep) {
        r.samples.push_back(run_for(seconds, [&] {
            return fill_buffer(out, max_frame, [&](std::span<char> dst, std::uint64_t i) {
                headers[1].value = ids[i & 4095];
                const outgoing_frame f{command::message, headers, body};
                return serialize(f, version::v1_2, dst);
            });
        }));
    }
    return r;
}

result bench_template(std::size_t body_size, double seconds, bool head_only) {
    const std::string body = make_body(body_size);
    const std::vector<std::string> ids = message_ids();
    std::vector<char> out(buffer_size);
    const message_template t(version::v1_2, "/topic/bench", user_headers, body);
    const std::size_t frame_size = t.size(ids[0], "sub-1", "");
    const std::size_t max_frame = frame_size + 64;
    // The head-only variant writes (and counts) just the head, as the shared-body mode does.
    const std::size_t written = head_only ? t.head_size(ids[0], "sub-1", "") : frame_size;
    result r{head_only ? "serialize_message_template_head" : "serialize_message_template",
             body_size,
             written,
             {}};
    for (int rep = 0; rep < repetitions; ++rep) {
        r.samples.push_back(run_for(seconds, [&] {
            return fill_buffer(out, max_frame, [&](std::span<char> dst, std::uint64_t i) {
                return head_only ? t.write_head(dst, ids[i & 4095], "sub-1", "")
                                 : t.write(dst, ids[i & 4095], "sub-1", "");
            });
        }));
    }
    return r;
}

struct summary {
    double median, min, max;
};

template <typename Rate>
summary summarize(const std::vector<sample>& samples, Rate&& rate) {
    std::vector<double> rates;
    for (const sample& s : samples) {
        rates.push_back(rate(s));
    }
    std::sort(rates.begin(), rates.end());
    return {rates[rates.size() / 2], rates.front(), rates.back()};
}

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) == 0) {
            return line.substr(line.find(':') + 2);
        }
    }
    return "unknown";
}

void print_summary(const char* key, summary s, const char* trailer) {
    std::printf("      \"%s\": {\"median\": %.0f, \"min\": %.0f, \"max\": %.0f}%s\n", key, s.median,
                s.min, s.max, trailer);
}

void print(const std::vector<result>& results, double seconds) {
    std::printf("{\n  \"benchmark\": \"bench_protocol\",\n");
    std::printf("  \"cpu\": \"%s\",\n  \"build_type\": \"%s\",\n", cpu_model().c_str(),
                STAMPEDE_BUILD_TYPE);
    std::printf("  \"threads\": 1,\n  \"repetitions\": %d,\n  \"seconds_per_repetition\": %.3f,\n",
                repetitions, seconds);
    std::printf("  \"results\": [\n");
    for (std::size_t i = 0; i < results.size(); ++i) {
        const result& r = results[i];
        std::printf("    {\n      \"name\": \"%s\",\n      \"body_bytes\": %zu,\n", r.name.c_str(),
                    r.body_bytes);
        std::printf("      \"frame_bytes\": %zu,\n      \"frames_per_repetition\": [",
                    r.frame_bytes);
        for (std::size_t j = 0; j < r.samples.size(); ++j) {
            std::printf("%s%llu", j == 0 ? "" : ", ",
                        static_cast<unsigned long long>(r.samples[j].frames));
        }
        std::printf("],\n");
        print_summary(
            "frames_per_second",
            summarize(r.samples,
                      [](const sample& s) { return static_cast<double>(s.frames) / s.seconds; }),
            ",");
        print_summary(
            "bytes_per_second",
            summarize(r.samples,
                      [](const sample& s) { return static_cast<double>(s.bytes) / s.seconds; }),
            "");
        std::printf("    }%s\n", i + 1 == results.size() ? "" : ",");
    }
    std::printf("  ],\n  \"checksum\": %llu\n}\n", static_cast<unsigned long long>(checksum));
}

}  // namespace

int main(int argc, char** argv) {
    const double seconds = argc > 1 ? std::atof(argv[1]) : 0.25;
    if (!(seconds > 0)) {
        std::fprintf(stderr, "usage: bench_protocol [seconds-per-repetition]\n");
        return 2;
    }
    std::vector<result> results;
    for (const bool with_content_length : {true, false}) {
        for (const std::size_t size : body_sizes) {
            results.push_back(bench_parse(size, seconds, with_content_length));
        }
    }
    for (const std::size_t size : body_sizes) {
        results.push_back(bench_serialize(size, seconds));
    }
    for (const std::size_t size : body_sizes) {
        results.push_back(bench_template(size, seconds, false));
    }
    for (const std::size_t size : body_sizes) {
        results.push_back(bench_template(size, seconds, true));
    }
    print(results, seconds);
    return 0;
}
