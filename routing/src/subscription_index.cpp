#include "stampede/routing/subscription_index.hpp"

#include <vector>

namespace stampede::routing {
namespace {

bool is_any(std::string_view seg) {
    return seg == "#" || seg == ">";
}

std::vector<std::string_view> segments(std::string_view name) {
    std::vector<std::string_view> out;
    for_each_segment(name, [&](std::string_view s) { out.push_back(s); });
    return out;
}

}  // namespace

bool is_wildcard_pattern(std::string_view name) noexcept {
    bool wild = false;
    for_each_segment(name, [&](std::string_view s) { wild = wild || s == "*" || is_any(s); });
    return wild;
}

// Glob matching over segments: '#' as the glob star, '*' as the one-element wildcard. On a
// mismatch, go back to just after the last '#' and let it take one more segment; only the
// last '#' needs remembering, so this is a loop, O(|pattern| x |name|) at worst.
bool pattern_matches(std::string_view pattern, std::string_view name) {
    const std::vector<std::string_view> p = segments(pattern);
    const std::vector<std::string_view> n = segments(name);
    std::size_t pi = 0;
    std::size_t ni = 0;
    std::size_t star_p = SIZE_MAX;
    std::size_t star_n = 0;
    while (ni < n.size()) {
        if (pi < p.size() && is_any(p[pi])) {
            star_p = pi++;
            star_n = ni;
        } else if (pi < p.size() && (p[pi] == "*" || p[pi] == n[ni])) {
            ++pi;
            ++ni;
        } else if (star_p != SIZE_MAX) {
            pi = star_p + 1;
            ni = ++star_n;
        } else {
            return false;
        }
    }
    while (pi < p.size() && is_any(p[pi])) {
        ++pi;
    }
    return pi == p.size();
}

}  // namespace stampede::routing
