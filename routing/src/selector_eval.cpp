// Runs a compiled selector: one loop over postfix code with a value stack that lives in the
// caller's frame (16 values) or, for deeply nested selectors, on the heap. No recursion.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

#include "stampede/routing/selector.hpp"

namespace stampede::routing {

using detail::op;

std::string_view to_string(truth t) noexcept {
    switch (t) {
        case truth::false_:
            return "FALSE";
        case truth::true_:
            return "TRUE";
        case truth::unknown:
            return "UNKNOWN";
    }
    return "UNKNOWN";
}

namespace {

enum class kind : std::uint8_t { null, boolean, integer, real, string };

/// One value on the evaluation stack. Trivial, so that a stack of them costs nothing to set up.
struct value {
    kind k;
    truth b;
    union {
        std::int64_t i;
        double d;
    };
    // Not a string_view: its constructor would make a stack of values cost a loop to set up.
    const char* text_data;
    std::size_t text_size;

    std::string_view str() const { return {text_data, text_size}; }
    void set_str(std::string_view t) {
        text_data = t.data();
        text_size = t.size();
    }
};

value make_null() {
    value v;
    v.k = kind::null;
    return v;
}
value make_truth(truth t) {
    value v;
    v.k = t == truth::unknown ? kind::null : kind::boolean;
    v.b = t;
    return v;
}
value make_int(std::int64_t i) {
    value v;
    v.k = kind::integer;
    v.i = i;
    return v;
}
value make_real(double d) {
    value v;
    v.k = kind::real;
    v.d = d;
    return v;
}

truth from_bool(bool b) {
    return b ? truth::true_ : truth::false_;
}

/// A value in a boolean position: booleans as they are, NULL as UNKNOWN.
truth as_truth(const value& v) {
    return v.k == kind::boolean ? v.b : truth::unknown;
}

char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view lowercase) {
    if (a.size() != lowercase.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lowercase[i]) {
            return false;
        }
    }
    return true;
}

/// "true"/"false" in any case as a boolean, anything else as nothing.
std::optional<bool> parse_bool(std::string_view s) {
    if (iequals(s, "true")) {
        return true;
    }
    if (iequals(s, "false")) {
        return false;
    }
    return std::nullopt;
}

/// A decimal integer with an optional sign, the whole text, or nothing (also on overflow).
/// Hand-written: std::from_chars costs several times more on the short values headers hold.
std::optional<std::int64_t> parse_integer(std::string_view s) {
    std::size_t i = 0;
    const bool negative = !s.empty() && s[0] == '-';
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        i = 1;
    }
    if (i == s.size() || s.size() - i > 19) {
        return std::nullopt;
    }
    std::uint64_t v = 0;
    for (; i < s.size(); ++i) {
        const auto d = static_cast<unsigned>(s[i] - '0');
        if (d > 9) {
            return std::nullopt;
        }
        v = v * 10 + d;  // 19 digits fit in 64 unsigned bits
    }
    const std::uint64_t limit = negative ? std::uint64_t{1} << 63 : (std::uint64_t{1} << 63) - 1;
    if (v > limit) {
        return std::nullopt;
    }
    return negative ? static_cast<std::int64_t>(0 - v) : static_cast<std::int64_t>(v);
}

/// A header's text as a number: a decimal integer (optional sign) as an integer, else a
/// decimal with a point and/or an exponent as a double; blanks, hex, inf and nan are not
/// numbers. Integers beyond 64 bits are read as doubles.
std::optional<value> parse_number(std::string_view s) {
    if (s.empty()) {
        return std::nullopt;
    }
    std::size_t digits_at = s[0] == '-' || s[0] == '+' ? 1 : 0;
    if (digits_at == s.size()) {
        return std::nullopt;
    }
    const char lead = s[digits_at];
    if (!((lead >= '0' && lead <= '9') || lead == '.')) {
        return std::nullopt;  // rejects inf, nan and blanks, which from_chars would take
    }
    if (const auto i = parse_integer(s)) {
        return make_int(*i);
    }
    const char* first = s.data() + (s[0] == '+' ? 1 : 0);
    const char* last = s.data() + s.size();
    double d = 0;
    const auto rd = std::from_chars(first, last, d);
    if ((rd.ec == std::errc{} || rd.ec == std::errc::result_out_of_range) && rd.ptr == last) {
        return make_real(d);
    }
    return std::nullopt;
}

/// `v` as a number for arithmetic: numbers as they are, numeric strings parsed, else NULL.
value to_number(const value& v) {
    if (v.k == kind::integer || v.k == kind::real) {
        return v;
    }
    if (v.k == kind::string) {
        if (auto n = parse_number(v.str())) {
            return *n;
        }
    }
    return make_null();
}

double as_double(const value& v) {
    return v.k == kind::integer ? static_cast<double>(v.i) : v.d;
}

/// -1, 0, 1, or nothing when unordered (NaN). Both values are numbers.
std::optional<int> compare_numbers(const value& a, const value& b) {
    if (a.k == kind::integer && b.k == kind::integer) {
        return a.i < b.i ? -1 : a.i > b.i ? 1 : 0;
    }
    const double x = as_double(a);
    const double y = as_double(b);
    if (x < y) {
        return -1;
    }
    if (x > y) {
        return 1;
    }
    if (x == y) {
        return 0;
    }
    return std::nullopt;
}

/// Equality under the header coercions (see selector.hpp); NULL on either side is UNKNOWN.
truth equal(const value& a, const value& b) {
    if (a.k == kind::null || b.k == kind::null) {
        return truth::unknown;
    }
    if (a.k == kind::string && b.k == kind::string) {
        return from_bool(a.str() == b.str());
    }
    if (a.k == kind::boolean || b.k == kind::boolean) {
        const value& other = a.k == kind::boolean ? b : a;
        const bool mine = (a.k == kind::boolean ? a : b).b == truth::true_;
        if (other.k == kind::boolean) {
            return from_bool(a.b == b.b);
        }
        if (other.k == kind::string) {
            const auto parsed = parse_bool(other.str());
            return from_bool(parsed && *parsed == mine);
        }
        return truth::false_;
    }
    const value x = to_number(a);
    const value y = to_number(b);
    if (x.k == kind::null || y.k == kind::null) {
        return truth::false_;  // a string that is not a number is unlike any number
    }
    const auto c = compare_numbers(x, y);
    return from_bool(c && *c == 0);
}

/// <, <=, >, >= as a sign test on the comparison; two strings that are not both numbers
/// compare byte-wise; a string that is not a number against a number is FALSE.
truth order(const value& a, const value& b, op code) {
    if (a.k == kind::null || b.k == kind::null) {
        return truth::unknown;
    }
    std::optional<int> c;
    const value x = to_number(a);
    const value y = to_number(b);
    if (x.k != kind::null && y.k != kind::null) {
        c = compare_numbers(x, y);
    } else if (a.k == kind::string && b.k == kind::string) {
        const int r = a.str().compare(b.str());
        c = r < 0 ? -1 : r > 0 ? 1 : 0;
    }
    if (!c) {
        return truth::false_;
    }
    switch (code) {
        case op::lt:
            return from_bool(*c < 0);
        case op::le:
            return from_bool(*c <= 0);
        case op::gt:
            return from_bool(*c > 0);
        default:
            return from_bool(*c >= 0);
    }
}

truth logical_not(truth t) {
    return t == truth::unknown ? t : t == truth::true_ ? truth::false_ : truth::true_;
}

truth logical_and(truth a, truth b) {
    if (a == truth::false_ || b == truth::false_) {
        return truth::false_;
    }
    return a == truth::unknown || b == truth::unknown ? truth::unknown : truth::true_;
}

truth logical_or(truth a, truth b) {
    if (a == truth::true_ || b == truth::true_) {
        return truth::true_;
    }
    return a == truth::unknown || b == truth::unknown ? truth::unknown : truth::false_;
}

/// The comparison `cmp` given the sign of (left - right).
truth from_sign(int sign, op cmp) {
    switch (cmp) {
        case op::eq:
            return from_bool(sign == 0);
        case op::ne:
            return from_bool(sign != 0);
        case op::lt:
            return from_bool(sign < 0);
        case op::le:
            return from_bool(sign <= 0);
        case op::gt:
            return from_bool(sign > 0);
        default:
            return from_bool(sign >= 0);
    }
}

/// Integer arithmetic that overflows goes on in double; integer division or remainder by zero
/// is NULL (Java throws, and ActiveMQ then does not select the message).
value arithmetic(const value& a0, const value& b0, op code) {
    const value a = to_number(a0);
    const value b = to_number(b0);
    if (a.k == kind::null || b.k == kind::null) {
        return make_null();
    }
    if (a.k == kind::integer && b.k == kind::integer) {
        std::int64_t r = 0;
        switch (code) {
            case op::add:
                if (!__builtin_add_overflow(a.i, b.i, &r)) {
                    return make_int(r);
                }
                break;
            case op::sub:
                if (!__builtin_sub_overflow(a.i, b.i, &r)) {
                    return make_int(r);
                }
                break;
            case op::mul:
                if (!__builtin_mul_overflow(a.i, b.i, &r)) {
                    return make_int(r);
                }
                break;
            default:  // div, mod
                if (b.i == 0) {
                    return make_null();
                }
                if (a.i == INT64_MIN && b.i == -1) {
                    return code == op::mod ? make_int(0) : make_real(-as_double(a));
                }
                return make_int(code == op::div ? a.i / b.i : a.i % b.i);
        }
    }
    const double x = as_double(a);
    const double y = as_double(b);
    switch (code) {
        case op::add:
            return make_real(x + y);
        case op::sub:
            return make_real(x - y);
        case op::mul:
            return make_real(x * y);
        case op::div:
            return make_real(x / y);
        default:
            return make_real(std::fmod(x, y));
    }
}

value negate(const value& v0) {
    const value v = to_number(v0);
    if (v.k == kind::integer) {
        return v.i == INT64_MIN ? make_real(-as_double(v)) : make_int(-v.i);
    }
    if (v.k == kind::real) {
        return make_real(-v.d);
    }
    return make_null();
}

truth between(const value& x, const value& low, const value& high, bool negated) {
    if (negated) {
        return logical_or(order(x, low, op::lt), order(x, high, op::gt));
    }
    return logical_and(order(x, low, op::ge), order(x, high, op::le));
}

/// Bytes of the UTF-8 sequence `lead` starts (1 for a stray byte), at most `left`.
std::size_t code_point_length(unsigned char lead, std::size_t left) {
    const std::size_t n = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : lead < 0xF8 ? 4 : 1;
    return std::min(n, left);
}

bool is_continuation(unsigned char c) {
    return (c & 0xC0) == 0x80;
}

}  // namespace

/// The evaluation loop and the LIKE and IN matchers, with access to the compiled form.
class selector_machine {
  public:
    /// Runs `s` with `header(name_index) -> std::optional<std::string_view>`.
    template <class Header>
    static truth run(const selector& s, const Header& header);
    /// Runs `s` over `headers`, finding every header it names in one pass first.
    static truth run_resolved(const selector& s, std::span<const protocol::header> headers);

  private:
    static std::optional<std::size_t> match_at(const selector& s, const detail::like_piece& p,
                                               std::string_view text, std::size_t at);
    static std::optional<std::size_t> match_ending(const selector& s, const detail::like_piece& p,
                                                   std::string_view text);
    static std::optional<std::size_t> find_piece(const selector& s, const detail::like_piece& p,
                                                 std::string_view text, std::size_t from);
    static bool like(const selector& s, const detail::like_pattern& lp, std::string_view text);
    static bool in(const selector& s, const detail::in_list& list, std::string_view text);
    static truth compare_header(const selector& s, const detail::fused_compare& f,
                                std::string_view text);
};

// Where piece `p` matching at `at` ends, if it matches there: '_' takes one code point.
std::optional<std::size_t> selector_machine::match_at(const selector& s,
                                                      const detail::like_piece& p,
                                                      std::string_view text, std::size_t at) {
    const std::string_view pat = s.view(p.text);
    if (!p.has_wild) {
        return text.compare(at, pat.size(), pat) == 0 && at + pat.size() <= text.size()
                   ? std::optional<std::size_t>(at + pat.size())
                   : std::nullopt;
    }
    const std::string_view wild = s.view(p.wild);
    std::size_t t = at;
    for (std::size_t i = 0; i < pat.size(); ++i) {
        if (t >= text.size()) {
            return std::nullopt;
        }
        if (wild[i] == '1') {
            t += code_point_length(static_cast<unsigned char>(text[t]), text.size() - t);
        } else if (text[t] == pat[i]) {
            ++t;
        } else {
            return std::nullopt;
        }
    }
    return t;
}

// Where piece `p` starts if it matches ending exactly at the end of `text`.
std::optional<std::size_t> selector_machine::match_ending(const selector& s,
                                                          const detail::like_piece& p,
                                                          std::string_view text) {
    const std::string_view pat = s.view(p.text);
    if (!p.has_wild) {
        return text.ends_with(pat) ? std::optional<std::size_t>(text.size() - pat.size())
                                   : std::nullopt;
    }
    const std::string_view wild = s.view(p.wild);
    std::size_t t = text.size();
    for (std::size_t i = pat.size(); i-- > 0;) {
        if (t == 0) {
            return std::nullopt;
        }
        if (wild[i] == '1') {
            --t;
            while (t > 0 && is_continuation(static_cast<unsigned char>(text[t]))) {
                --t;
            }
        } else if (text[t - 1] == pat[i]) {
            --t;
        } else {
            return std::nullopt;
        }
    }
    return t;
}

// The end of the leftmost match of `p` at or after `from`. Leftmost is always right for a
// piece between two '%': any later match leaves less room for the pieces after it.
std::optional<std::size_t> selector_machine::find_piece(const selector& s,
                                                        const detail::like_piece& p,
                                                        std::string_view text, std::size_t from) {
    if (!p.has_wild) {
        const std::string_view pat = s.view(p.text);
        const std::size_t at = text.find(pat, from);
        return at == std::string_view::npos ? std::nullopt
                                            : std::optional<std::size_t>(at + pat.size());
    }
    for (std::size_t at = from; at < text.size(); ++at) {
        if (is_continuation(static_cast<unsigned char>(text[at]))) {
            continue;
        }
        if (auto end = match_at(s, p, text, at)) {
            return end;
        }
    }
    return std::nullopt;
}

bool selector_machine::like(const selector& s, const detail::like_pattern& lp,
                            std::string_view text) {
    const detail::like_piece* pieces = s.like_pieces_.data() + lp.first_piece;
    std::size_t first = 0;
    std::size_t last = lp.piece_count;
    if (!lp.has_percent) {
        if (last == 0) {
            return text.empty();
        }
        const auto end = match_at(s, pieces[0], text, 0);
        return end && *end == text.size();
    }
    std::size_t pos = 0;
    if (lp.anchored_start && first < last) {
        const auto end = match_at(s, pieces[first], text, 0);
        if (!end) {
            return false;
        }
        pos = *end;
        ++first;
    }
    std::string_view window = text;
    if (lp.anchored_end && first < last) {
        const auto start = match_ending(s, pieces[last - 1], text);
        if (!start || *start < pos) {
            return false;
        }
        window = text.substr(0, *start);
        --last;
    }
    for (std::size_t k = first; k < last; ++k) {
        const auto end = find_piece(s, pieces[k], window, pos);
        if (!end) {
            return false;
        }
        pos = *end;
    }
    return true;
}

bool selector_machine::in(const selector& s, const detail::in_list& list, std::string_view text) {
    const detail::span_ref* first = s.in_items_.data() + list.first;
    const detail::span_ref* last = first + list.count;
    if (list.sorted) {
        const auto it = std::lower_bound(
            first, last, text,
            [&s](detail::span_ref r, std::string_view t) { return s.view(r) < t; });
        return it != last && s.view(*it) == text;
    }
    return std::any_of(first, last, [&](detail::span_ref r) { return s.view(r) == text; });
}

template <class Header>
truth selector_machine::run(const selector& s, const Header& header) {
    constexpr std::size_t inline_values = 16;
    value inline_stack[inline_values];
    std::unique_ptr<value[]> heap;
    value* stack = inline_stack;
    if (s.max_stack_ > inline_values) {
        heap = std::make_unique<value[]>(s.max_stack_);
        stack = heap.get();
    }
    std::size_t sp = 0;  // number of values on the stack
    const detail::instr* code = s.code_.data();
    const std::size_t size = s.code_.size();
    for (std::size_t pc = 0; pc < size; ++pc) {
        const detail::instr ins = code[pc];
        switch (ins.code) {
            case op::push_const: {
                const detail::constant& c = s.constants_[ins.arg];
                value& v = stack[sp++];
                switch (c.kind) {
                    case detail::constant_kind::null:
                        v = make_null();
                        break;
                    case detail::constant_kind::boolean:
                        v = make_truth(from_bool(c.boolean));
                        break;
                    case detail::constant_kind::integer:
                        v = make_int(c.integer);
                        break;
                    case detail::constant_kind::real:
                        v = make_real(c.real);
                        break;
                    case detail::constant_kind::string:
                        v.k = kind::string;
                        v.set_str(s.view(c.text));
                        break;
                }
                break;
            }
            case op::push_header: {
                const auto found = header(ins.arg);
                value& v = stack[sp++];
                if (found) {
                    v.k = kind::string;
                    v.set_str(*found);
                } else {
                    v = make_null();
                }
                break;
            }
            case op::to_truth: {
                value& v = stack[sp - 1];
                if (v.k == kind::string) {
                    const auto b = parse_bool(v.str());
                    v = make_truth(from_bool(b && *b));
                } else if (v.k != kind::boolean) {
                    v = make_truth(truth::unknown);
                }
                break;
            }
            case op::eq:
            case op::ne: {
                const truth t = equal(stack[sp - 2], stack[sp - 1]);
                stack[sp - 2] = make_truth(ins.code == op::eq ? t : logical_not(t));
                --sp;
                break;
            }
            case op::lt:
            case op::le:
            case op::gt:
            case op::ge:
                stack[sp - 2] = make_truth(order(stack[sp - 2], stack[sp - 1], ins.code));
                --sp;
                break;
            case op::add:
            case op::sub:
            case op::mul:
            case op::div:
            case op::mod:
                stack[sp - 2] = arithmetic(stack[sp - 2], stack[sp - 1], ins.code);
                --sp;
                break;
            case op::neg:
                stack[sp - 1] = negate(stack[sp - 1]);
                break;
            case op::pos:
                stack[sp - 1] = to_number(stack[sp - 1]);
                break;
            case op::not_:
                stack[sp - 1] = make_truth(logical_not(as_truth(stack[sp - 1])));
                break;
            case op::and_:
                stack[sp - 2] =
                    make_truth(logical_and(as_truth(stack[sp - 2]), as_truth(stack[sp - 1])));
                --sp;
                break;
            case op::or_:
                stack[sp - 2] =
                    make_truth(logical_or(as_truth(stack[sp - 2]), as_truth(stack[sp - 1])));
                --sp;
                break;
            case op::jump_false:
                if (as_truth(stack[sp - 1]) == truth::false_) {
                    pc = ins.arg - 1;
                }
                break;
            case op::jump_true:
                if (as_truth(stack[sp - 1]) == truth::true_) {
                    pc = ins.arg - 1;
                }
                break;
            case op::is_null:
            case op::is_not_null: {
                const bool null = stack[sp - 1].k == kind::null;
                stack[sp - 1] = make_truth(from_bool(ins.code == op::is_null ? null : !null));
                break;
            }
            case op::like:
            case op::not_like: {
                value& v = stack[sp - 1];
                if (v.k == kind::null) {
                    break;  // stays NULL: UNKNOWN either way
                }
                const bool m = v.k == kind::string && like(s, s.likes_[ins.arg], v.str());
                v = make_truth(from_bool(ins.code == op::like ? m : !m));
                break;
            }
            case op::in:
            case op::not_in: {
                value& v = stack[sp - 1];
                if (v.k == kind::null) {
                    break;
                }
                const bool m =
                    v.k == kind::string && selector_machine::in(s, s.in_lists_[ins.arg], v.str());
                v = make_truth(from_bool(ins.code == op::in ? m : !m));
                break;
            }
            case op::between:
            case op::not_between:
                stack[sp - 3] = make_truth(between(stack[sp - 3], stack[sp - 2], stack[sp - 1],
                                                   ins.code == op::not_between));
                sp -= 2;
                break;
            case op::compare_header: {
                const detail::fused_compare& f = s.fused_[ins.arg];
                const auto found = header(f.name);
                stack[sp++] = make_truth(found ? compare_header(s, f, *found) : truth::unknown);
                break;
            }
            case op::like_header:
            case op::not_like_header: {
                const detail::like_pattern& lp = s.likes_[ins.arg];
                const auto found = header(lp.name);
                truth t = truth::unknown;
                if (found) {
                    const bool m = like(s, lp, *found);
                    t = from_bool(ins.code == op::like_header ? m : !m);
                }
                stack[sp++] = make_truth(t);
                break;
            }
            case op::in_header:
            case op::not_in_header: {
                const detail::in_list& list = s.in_lists_[ins.arg];
                const auto found = header(list.name);
                truth t = truth::unknown;
                if (found) {
                    const bool m = selector_machine::in(s, list, *found);
                    t = from_bool(ins.code == op::in_header ? m : !m);
                }
                stack[sp++] = make_truth(t);
                break;
            }
        }
    }
    return sp == 0 ? truth::unknown : as_truth(stack[sp - 1]);
}

// A header's value against a constant: strings directly, integers by from_chars when the
// header is an integer, everything else through the general rules.
truth selector_machine::compare_header(const selector& s, const detail::fused_compare& f,
                                       std::string_view text) {
    const detail::constant& c = s.constants_[f.constant];
    if (c.kind == detail::constant_kind::string) {
        const bool same = text == s.view(c.text);
        return from_bool(f.cmp == op::eq ? same : !same);
    }
    value h;
    h.k = kind::string;
    h.set_str(text);
    value k;
    switch (c.kind) {
        case detail::constant_kind::integer: {
            if (const auto i = parse_integer(text)) {
                return from_sign(*i < c.integer ? -1 : *i > c.integer ? 1 : 0, f.cmp);
            }
            k = make_int(c.integer);
            break;
        }
        case detail::constant_kind::real:
            k = make_real(c.real);
            break;
        case detail::constant_kind::boolean:
            k = make_truth(from_bool(c.boolean));
            break;
        default:
            return truth::unknown;
    }
    if (f.cmp == op::eq || f.cmp == op::ne) {
        const truth t = equal(h, k);
        return f.cmp == op::eq ? t : logical_not(t);
    }
    return order(h, k, f.cmp);
}

truth selector_machine::run_resolved(const selector& s, std::span<const protocol::header> headers) {
    constexpr std::size_t inline_names = 16;
    const std::size_t n = s.names_.size();
    const char* data[inline_names];  // trivial arrays: nothing to set up
    std::size_t size[inline_names];
    std::uint32_t found = 0;
    std::size_t missing = n;
    for (const protocol::header& h : headers) {
        if (missing == 0) {
            break;
        }
        // Most headers are ruled out by their size alone.
        if (((s.name_sizes_ >> (h.name.size() % 64)) & 1) == 0) {
            continue;
        }
        for (std::size_t i = 0; i < n; ++i) {
            const detail::span_ref name = s.names_[i];
            if ((found & (1u << i)) == 0 && name.length == h.name.size() &&
                std::memcmp(s.strings_.data() + name.offset, h.name.data(), name.length) == 0) {
                data[i] = h.value.data();  // the first of a repeated header wins
                size[i] = h.value.size();
                found |= 1u << i;
                --missing;
                break;
            }
        }
    }
    return run(s, [&](std::uint32_t i) -> std::optional<std::string_view> {
        if ((found & (1u << i)) == 0) {
            return std::nullopt;
        }
        return std::string_view(data[i], size[i]);
    });
}

truth selector::evaluate(lookup_fn lookup, const void* context) const {
    return selector_machine::run(*this,
                                 [&](std::uint32_t i) { return lookup(context, view(names_[i])); });
}

truth selector::evaluate(std::span<const protocol::header> headers) const {
    if (names_.size() <= 16) {
        return selector_machine::run_resolved(*this, headers);
    }
    return evaluate(
        [](const void* context, std::string_view name) -> std::optional<std::string_view> {
            const auto* hs = static_cast<const std::span<const protocol::header>*>(context);
            // Sizes and first bytes rule out most headers without a call to memcmp.
            for (const protocol::header& h : *hs) {
                if (h.name.size() == name.size() && !name.empty() && h.name[0] == name[0] &&
                    std::memcmp(h.name.data(), name.data(), name.size()) == 0) {
                    return h.value;
                }
                if (name.empty() && h.name.empty()) {
                    return h.value;
                }
            }
            return std::nullopt;
        },
        &headers);
}

}  // namespace stampede::routing
