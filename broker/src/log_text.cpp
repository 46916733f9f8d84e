#include "log_text.hpp"

namespace stampede::broker {

std::string escape_for_log(std::string_view text, std::size_t max_bytes) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(std::min(text.size(), max_bytes) + 8);
    std::size_t used = 0;
    for (; used < text.size() && out.size() < max_bytes; ++used) {
        const auto c = static_cast<unsigned char>(text[used]);
        switch (c) {
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\\':
                out += "\\\\";
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    out += "\\x";
                    out += hex[c >> 4];
                    out += hex[c & 0xf];
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    if (used < text.size()) {
        out += "...(" + std::to_string(text.size()) + " bytes)";
    }
    return out;
}

bool log_budget::take(std::uint64_t& suppressed) noexcept {
    return take_at(std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count(),
                   suppressed);
}

bool log_budget::take_at(std::int64_t now_ms, std::uint64_t& suppressed) noexcept {
    std::int64_t start = window_start_ms_.load(std::memory_order_relaxed);
    if (now_ms - start >= 1000 &&
        window_start_ms_.compare_exchange_strong(start, now_ms, std::memory_order_relaxed)) {
        used_.store(0, std::memory_order_relaxed);
    }
    if (used_.fetch_add(1, std::memory_order_relaxed) >= per_second_) {
        suppressed_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
    return true;
}

log_budget& client_error_budget() noexcept {
    static log_budget budget(20);
    return budget;
}

}  // namespace stampede::broker
