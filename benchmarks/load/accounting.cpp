#include "accounting.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>

namespace stampede::load {

namespace {

constexpr unsigned sub_bits = 6;  // 64 buckets per power of two
constexpr std::uint64_t exact_below = std::uint64_t{1} << (sub_bits + 1);
constexpr std::size_t id_window = 64;  // the id must end within the body's first 64 bytes

std::size_t bucket_of(std::uint64_t value) noexcept {
    if (value < exact_below) {
        return static_cast<std::size_t>(value);
    }
    const unsigned shift = static_cast<unsigned>(std::bit_width(value)) - (sub_bits + 1);
    return (std::size_t{shift} << sub_bits) + static_cast<std::size_t>(value >> shift);
}

std::uint64_t bucket_floor(std::size_t index) noexcept {
    if (index < exact_below) {
        return index;
    }
    const std::size_t shift = (index >> sub_bits) - 1;
    return static_cast<std::uint64_t>(index - (shift << sub_bits)) << shift;
}

std::size_t digits_of(std::uint64_t v) noexcept {
    std::size_t n = 1;
    while (v >= 10) {
        v /= 10;
        ++n;
    }
    return n;
}

}  // namespace

// ---- message bodies ----

std::size_t body_size(std::string_view stream, std::uint64_t seq, std::size_t size) {
    const std::size_t head = stream.size() + 1 + digits_of(seq) + 1;
    return std::max(head, size);
}

std::size_t write_body(char* out, std::string_view stream, std::uint64_t seq, std::size_t size) {
    char* p = out;
    std::memcpy(p, stream.data(), stream.size());
    p += stream.size();
    *p++ = '-';
    p = std::to_chars(p, p + 20, seq).ptr;
    *p++ = ';';
    const auto head = static_cast<std::size_t>(p - out);
    if (head < size) {
        std::memset(p, 'x', size - head);
        return size;
    }
    return head;
}

std::optional<body_id> parse_body_id(std::string_view body) noexcept {
    const std::string_view window = body.substr(0, id_window);
    const std::size_t semi = window.find(';');
    if (semi == std::string_view::npos || semi == 0) {
        return std::nullopt;
    }
    const std::size_t dash = window.substr(0, semi).rfind('-');
    if (dash == std::string_view::npos || dash == 0 || dash + 1 == semi) {
        return std::nullopt;
    }
    body_id id{window.substr(0, dash), 0};
    const char* first = window.data() + dash + 1;
    const char* last = window.data() + semi;
    const auto [end, ec] = std::from_chars(first, last, id.seq);
    if (ec != std::errc{} || end != last) {
        return std::nullopt;
    }
    return id;
}

std::vector<std::uint64_t> split_evenly(std::uint64_t total, std::size_t parts) {
    std::vector<std::uint64_t> out;
    if (parts == 0) {
        return out;
    }
    const std::uint64_t base = total / parts;
    const std::uint64_t extra = total % parts;
    for (std::size_t i = 0; i < parts; ++i) {
        out.push_back(base + (i < extra ? 1 : 0));
    }
    return out;
}

// ---- latency ----

void latency_histogram::record(std::int64_t value) {
    const std::uint64_t v = value < 0 ? 0 : static_cast<std::uint64_t>(value);
    const std::size_t b = bucket_of(v);
    if (b >= buckets_.size()) {
        buckets_.resize(b + 1 + b / 8);
    }
    ++buckets_[b];
    ++count_;
    total_ += v;
    max_ = std::max(max_, v);
}

void latency_histogram::merge(const latency_histogram& other) {
    if (other.buckets_.size() > buckets_.size()) {
        buckets_.resize(other.buckets_.size());
    }
    for (std::size_t i = 0; i < other.buckets_.size(); ++i) {
        buckets_[i] += other.buckets_[i];
    }
    count_ += other.count_;
    total_ += other.total_;
    max_ = std::max(max_, other.max_);
}

std::optional<std::uint64_t> latency_histogram::percentile(double q) const {
    if (count_ == 0) {
        return std::nullopt;
    }
    if (q >= 1.0) {
        return max_;
    }
    const double rank = q * static_cast<double>(count_);
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
        seen += buckets_[b];
        if (seen > 0 && static_cast<double>(seen) >= rank) {
            return std::min(bucket_floor(b), max_);
        }
    }
    return max_;
}

json latency_histogram::summary() const {
    json out;
    out["count"] = count_;
    if (count_ == 0) {
        for (const char* k : {"mean", "p50", "p90", "p99", "p999", "p100"}) {
            out[k] = nullptr;
        }
        out["histogram"] = json::array();
        return out;
    }
    out["mean"] = static_cast<std::uint64_t>(total_ / count_);
    out["p50"] = *percentile(0.50);
    out["p90"] = *percentile(0.90);
    out["p99"] = *percentile(0.99);
    out["p999"] = *percentile(0.999);
    out["p100"] = max_;
    json hist = json::array();
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
        if (buckets_[b] != 0) {
            hist.push_back(json::array({bucket_floor(b), buckets_[b]}));
        }
    }
    out["histogram"] = std::move(hist);
    return out;
}

// ---- per-second series ----

void per_second::set_origin(std::int64_t t0_ns) {
    std::uint64_t early = early_;
    for (const auto c : counts_) {
        early += c;
    }
    counts_.clear();
    if (early != 0) {
        counts_.push_back(early);
    }
    early_ = 0;
    t0_ns_ = t0_ns;
}

void per_second::add(std::int64_t t_ns, std::uint64_t n) {
    if (!t0_ns_) {
        early_ += n;
        return;
    }
    const std::int64_t i = t_ns < *t0_ns_ ? 0 : (t_ns - *t0_ns_) / 1'000'000'000;
    const auto index = static_cast<std::size_t>(i);
    if (index >= counts_.size()) {
        counts_.resize(index + 1, 0);
    }
    counts_[index] += n;
}

void add_into(std::vector<std::uint64_t>& sum, const std::vector<std::uint64_t>& series) {
    if (series.size() > sum.size()) {
        sum.resize(series.size(), 0);
    }
    for (std::size_t i = 0; i < series.size(); ++i) {
        sum[i] += series[i];
    }
}

// ---- sequence tracking ----

sequence_tracker::stream_counts& sequence_tracker::find(std::string_view stream) {
    if (last_ < streams_.size() && streams_[last_].name == stream) {
        return streams_[last_];
    }
    for (std::size_t i = 0; i < streams_.size(); ++i) {
        if (streams_[i].name == stream) {
            last_ = i;
            return streams_[i];
        }
    }
    streams_.push_back({std::string(stream), {}, {}});
    last_ = streams_.size() - 1;
    return streams_.back();
}

bool sequence_tracker::bump(std::uint8_t& c) noexcept {
    const bool first = c == 0;
    if (c < 255) {
        ++c;
    }
    return first;
}

bool sequence_tracker::record(std::string_view stream, std::uint64_t seq) {
    ++total_;
    stream_counts& s = find(stream);
    bool first = false;
    if (seq >= dense_limit) {
        first = bump(s.sparse[seq]);
    } else {
        if (seq >= s.counts.size()) {
            s.counts.resize(std::max<std::size_t>({1024, seq + 1, s.counts.size() * 2}), 0);
        }
        first = bump(s.counts[seq]);
    }
    distinct_ += first ? 1 : 0;
    return first;
}

void sequence_tracker::merge(const sequence_tracker& other) {
    for (const stream_counts& theirs : other.streams_) {
        stream_counts& mine = find(theirs.name);
        if (theirs.counts.size() > mine.counts.size()) {
            mine.counts.resize(theirs.counts.size(), 0);
        }
        for (std::size_t i = 0; i < theirs.counts.size(); ++i) {
            if (theirs.counts[i] != 0) {
                distinct_ += mine.counts[i] == 0 ? 1 : 0;
                mine.counts[i] = static_cast<std::uint8_t>(
                    std::min(255, int{mine.counts[i]} + int{theirs.counts[i]}));
            }
        }
        for (const auto& [seq, c] : theirs.sparse) {
            std::uint8_t& m = mine.sparse[seq];
            distinct_ += m == 0 ? 1 : 0;
            m = static_cast<std::uint8_t>(std::min(255, int{m} + int{c}));
        }
    }
    total_ += other.total_;
}

std::pair<std::uint64_t, std::uint64_t> sequence_tracker::check(
    const std::vector<std::pair<std::string, std::uint64_t>>& expected) const {
    std::uint64_t missing = 0;
    std::uint64_t want = 0;
    for (const auto& [name, n] : expected) {
        want += n;
        const auto it = std::find_if(streams_.begin(), streams_.end(),
                                     [&](const stream_counts& s) { return s.name == name; });
        if (it == streams_.end()) {
            missing += n;
            continue;
        }
        std::uint64_t seen = 0;
        const std::uint64_t dense = std::min<std::uint64_t>(n, it->counts.size());
        for (std::uint64_t i = 0; i < dense; ++i) {
            seen += it->counts[i] != 0 ? 1 : 0;
        }
        for (const auto& [seq, c] : it->sparse) {
            seen += (seq < n && c != 0) ? 1 : 0;
        }
        missing += n - seen;
    }
    return {missing, distinct_ - (want - missing)};
}

// ---- verdicts ----

expectation expected_streams(char prefix, const std::vector<std::uint64_t>& counts) {
    expectation out;
    for (std::size_t i = 0; i < counts.size(); ++i) {
        out.emplace_back(prefix + std::to_string(i), counts[i]);
    }
    return out;
}

std::uint64_t expected_total(const expectation& expected) {
    std::uint64_t n = 0;
    for (const auto& e : expected) {
        n += e.second;
    }
    return n;
}

subscriber_counts counts_of(const sequence_tracker& t, const expectation& expected) {
    const auto [missing, unexpected] = t.check(expected);
    return {t.distinct(), t.duplicates(), missing, unexpected};
}

json completeness(const expectation& expected,
                  const std::vector<std::pair<std::size_t, subscriber_counts>>& subscribers) {
    subscriber_counts sum;
    std::vector<std::pair<std::uint64_t, std::size_t>> incomplete;  // (missing, index)
    for (const auto& [index, c] : subscribers) {
        sum.distinct += c.distinct;
        sum.duplicates += c.duplicates;
        sum.missing += c.missing;
        sum.unexpected += c.unexpected;
        if (c.missing != 0) {
            incomplete.emplace_back(c.missing, index);
        }
    }
    std::sort(incomplete.rbegin(), incomplete.rend());  // worst first
    json worst = json::array();
    for (std::size_t i = 0; i < incomplete.size() && i < 20; ++i) {
        worst.push_back(json::array({incomplete[i].second, incomplete[i].first}));
    }
    json out;
    out["expected_deliveries"] = expected_total(expected) * subscribers.size();
    out["delivered"] = sum.distinct;
    out["duplicates"] = sum.duplicates;
    out["missing"] = sum.missing;
    out["unexpected"] = sum.unexpected;
    out["subscribers_incomplete"] = incomplete.size();
    out["missing_by_subscriber"] = std::move(worst);
    out["complete"] = sum.missing == 0 && sum.unexpected == 0;
    return out;
}

json queue_loss(const expectation& expected, const sequence_tracker& consumed) {
    const auto [missing, unexpected] = consumed.check(expected);
    json out;
    out["consumed"] = consumed.distinct();
    out["lost"] = missing;
    out["duplicates"] = consumed.duplicates();
    out["unexpected"] = unexpected;
    return out;
}

json fairness(const std::vector<std::uint64_t>& counts) {
    std::uint64_t total = 0;
    for (auto c : counts) {
        total += c;
    }
    json out;
    if (counts.empty() || total == 0) {
        out["fairness"] = nullptr;
        out["share_min"] = nullptr;
        out["share_max"] = nullptr;
        return out;
    }
    const auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
    out["fairness"] = static_cast<double>(*lo) / static_cast<double>(*hi);
    out["share_min"] = static_cast<double>(*lo) / static_cast<double>(total);
    out["share_max"] = static_cast<double>(*hi) / static_cast<double>(total);
    return out;
}

json rate(double count, const std::optional<double>& seconds) {
    if (!seconds || *seconds <= 0) {
        return nullptr;
    }
    return count / *seconds;
}

std::optional<double> span_seconds(const std::vector<std::optional<std::int64_t>>& starts,
                                   const std::vector<std::optional<std::int64_t>>& ends) {
    std::optional<std::int64_t> first;
    std::optional<std::int64_t> last;
    for (const auto& s : starts) {
        if (s && (!first || *s < *first)) {
            first = s;
        }
    }
    for (const auto& e : ends) {
        if (e && (!last || *e > *last)) {
            last = e;
        }
    }
    if (!first || !last) {
        return std::nullopt;
    }
    return static_cast<double>(std::max<std::int64_t>(0, *last - *first)) / 1e9;
}

}  // namespace stampede::load
