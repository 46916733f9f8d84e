#include "selector_lexer.hpp"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <utility>

namespace stampede::routing::detail {
namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}
bool is_digit(char c) {
    return c >= '0' && c <= '9';
}
bool is_ident_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}
bool is_ident_part(char c) {
    return is_ident_start(c) || is_digit(c);
}
char lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != b[i]) {
            return false;
        }
    }
    return true;
}

struct keyword {
    std::string_view text;
    token_kind kind;
};
constexpr keyword keywords[] = {
    {"and", token_kind::kw_and},   {"or", token_kind::kw_or},
    {"not", token_kind::kw_not},   {"between", token_kind::kw_between},
    {"like", token_kind::kw_like}, {"escape", token_kind::kw_escape},
    {"in", token_kind::kw_in},     {"is", token_kind::kw_is},
    {"true", token_kind::kw_true}, {"false", token_kind::kw_false},
    {"null", token_kind::kw_null},
};

// The JMS header names ActiveMQ's selectors know, and the STOMP header each one reads.
struct alias {
    std::string_view jms;
    std::string_view stomp;
};
constexpr alias jms_aliases[] = {
    {"JMSCorrelationID", "correlation-id"},
    {"JMSMessageID", "message-id"},
    {"JMSPriority", "priority"},
    {"JMSTimestamp", "timestamp"},
    {"JMSType", "type"},
    {"JMSExpiration", "expires"},
    {"JMSReplyTo", "reply-to"},
    {"JMSDestination", "destination"},
    {"JMSRedelivered", "redelivered"},
};

}  // namespace

token lexer::fail(std::size_t position, std::string message) const {
    token t;
    t.kind = token_kind::error;
    t.position = position;
    t.text = std::move(message);
    return t;
}

bool lexer::skip_blanks_and_comments(token& out) {
    for (;;) {
        while (pos_ < input_.size() && is_blank(input_[pos_])) {
            ++pos_;
        }
        if (input_.substr(pos_, 2) == "--") {
            const std::size_t eol = input_.find_first_of("\r\n", pos_);
            pos_ = eol == std::string_view::npos ? input_.size() : eol;
            continue;
        }
        if (input_.substr(pos_, 2) == "/*") {
            const std::size_t close = input_.find("*/", pos_ + 2);
            if (close == std::string_view::npos) {
                out = fail(pos_, "unterminated comment");
                return false;
            }
            pos_ = close + 2;
            continue;
        }
        return true;
    }
}

token lexer::next() {
    token t;
    if (!skip_blanks_and_comments(t)) {
        return t;
    }
    t.position = pos_;
    if (pos_ == input_.size()) {
        t.kind = token_kind::end;
        return t;
    }
    const char c = input_[pos_];
    if (is_digit(c) || (c == '.' && pos_ + 1 < input_.size() && is_digit(input_[pos_ + 1]))) {
        return lex_number();
    }
    if (is_ident_start(c)) {
        return lex_word();
    }
    if (c == '\'') {
        return lex_quoted('\'', token_kind::string);
    }
    if (c == '"') {
        return lex_quoted('"', token_kind::identifier);
    }
    return lex_operator();
}

// Numbers as ActiveMQ's grammar reads them: decimal integers with an optional L, 0x hex,
// 0-prefixed octal, and decimals with a point and/or an exponent.
token lexer::lex_number() {
    const std::size_t start = pos_;
    std::size_t end = pos_;
    if (input_.substr(start, 2) == "0x" || input_.substr(start, 2) == "0X") {
        end = start + 2;
        while (end < input_.size() && std::isxdigit(static_cast<unsigned char>(input_[end]))) {
            ++end;
        }
        if (end == start + 2) {
            return fail(start, "a hexadecimal literal needs digits after 0x");
        }
        token t;
        t.kind = token_kind::integer;
        t.position = start;
        std::uint64_t v = 0;
        const auto r = std::from_chars(input_.data() + start + 2, input_.data() + end, v, 16);
        if (r.ec != std::errc{} || v > static_cast<std::uint64_t>(INT64_MAX)) {
            return fail(start, "integer literal out of range");
        }
        t.integer = static_cast<std::int64_t>(v);
        pos_ = end;
        return t;
    }
    while (end < input_.size() && is_digit(input_[end])) {
        ++end;
    }
    bool is_real = false;
    if (end < input_.size() && input_[end] == '.') {
        is_real = true;
        ++end;
        while (end < input_.size() && is_digit(input_[end])) {
            ++end;
        }
    }
    if (end < input_.size() && (input_[end] == 'e' || input_[end] == 'E')) {
        std::size_t e = end + 1;
        if (e < input_.size() && (input_[e] == '+' || input_[e] == '-')) {
            ++e;
        }
        if (e < input_.size() && is_digit(input_[e])) {
            is_real = true;
            end = e;
            while (end < input_.size() && is_digit(input_[end])) {
                ++end;
            }
        }
    }
    token t;
    t.position = start;
    const char* first = input_.data() + start;
    const char* last = input_.data() + end;
    if (is_real) {
        t.kind = token_kind::real;
        const auto r = std::from_chars(first, last, t.real);
        if (r.ec != std::errc{} || r.ptr != last) {
            return fail(start, "decimal literal out of range");
        }
    } else {
        t.kind = token_kind::integer;
        const bool octal = end - start > 1 && input_[start] == '0';
        const auto r = std::from_chars(octal ? first + 1 : first, last, t.integer, octal ? 8 : 10);
        if (r.ec == std::errc::result_out_of_range) {
            return fail(start, "integer literal out of range");
        }
        if (r.ec != std::errc{} || r.ptr != last) {
            return fail(start, "invalid octal literal (a literal starting with 0 is octal)");
        }
        if (end < input_.size() && (input_[end] == 'l' || input_[end] == 'L')) {
            ++end;
        }
    }
    pos_ = end;
    return t;
}

token lexer::lex_word() {
    const std::size_t start = pos_;
    std::size_t end = pos_ + 1;
    while (end < input_.size() && is_ident_part(input_[end])) {
        ++end;
    }
    pos_ = end;
    const std::string_view word = input_.substr(start, end - start);
    token t;
    t.position = start;
    for (const keyword& k : keywords) {
        if (iequals(word, k.text)) {
            t.kind = k.kind;
            return t;
        }
    }
    t.kind = token_kind::identifier;
    t.text = std::string(word);
    for (const alias& a : jms_aliases) {
        if (word == a.jms) {
            t.text = std::string(a.stomp);
        }
    }
    return t;
}

// 'string' and "identifier": the quote doubled stands for itself.
token lexer::lex_quoted(char quote, token_kind kind) {
    const std::size_t start = pos_;
    std::string text;
    std::size_t i = pos_ + 1;
    for (;;) {
        const std::size_t q = input_.find(quote, i);
        if (q == std::string_view::npos) {
            return fail(start, kind == token_kind::string ? "unterminated string literal"
                                                          : "unterminated quoted identifier");
        }
        text.append(input_.substr(i, q - i));
        if (q + 1 < input_.size() && input_[q + 1] == quote) {
            text.push_back(quote);
            i = q + 2;
            continue;
        }
        pos_ = q + 1;
        break;
    }
    if (kind == token_kind::identifier && text.empty()) {
        return fail(start, "empty quoted identifier");
    }
    token t;
    t.kind = kind;
    t.position = start;
    t.text = std::move(text);
    return t;
}

token lexer::lex_operator() {
    const std::size_t start = pos_;
    const char c = input_[pos_];
    const char n = pos_ + 1 < input_.size() ? input_[pos_ + 1] : '\0';
    token t;
    t.position = start;
    std::size_t length = 1;
    switch (c) {
        case '=':
            t.kind = token_kind::eq;
            break;
        case '<':
            t.kind = n == '>' ? token_kind::ne : n == '=' ? token_kind::le : token_kind::lt;
            length = n == '>' || n == '=' ? 2 : 1;
            break;
        case '>':
            t.kind = n == '=' ? token_kind::ge : token_kind::gt;
            length = n == '=' ? 2 : 1;
            break;
        case '+':
            t.kind = token_kind::plus;
            break;
        case '-':
            t.kind = token_kind::minus;
            break;
        case '*':
            t.kind = token_kind::star;
            break;
        case '/':
            t.kind = token_kind::slash;
            break;
        case '%':
            t.kind = token_kind::percent;
            break;
        case '(':
            t.kind = token_kind::lparen;
            break;
        case ')':
            t.kind = token_kind::rparen;
            break;
        case ',':
            t.kind = token_kind::comma;
            break;
        case '!':
            if (n == '=') {
                return fail(start, "'!=' is not a selector operator (use <>)");
            }
            [[fallthrough]];
        default:
            return fail(start, "unexpected character '" + std::string(1, c) + "'");
    }
    pos_ += length;
    return t;
}

std::string describe_token(const token& t) {
    switch (t.kind) {
        case token_kind::end:
            return "the end of the selector";
        case token_kind::identifier:
            return "the identifier '" + t.text + "'";
        case token_kind::string:
            return "a string literal";
        case token_kind::integer:
        case token_kind::real:
            return "a number";
        case token_kind::kw_and:
            return "AND";
        case token_kind::kw_or:
            return "OR";
        case token_kind::kw_not:
            return "NOT";
        case token_kind::kw_between:
            return "BETWEEN";
        case token_kind::kw_like:
            return "LIKE";
        case token_kind::kw_escape:
            return "ESCAPE";
        case token_kind::kw_in:
            return "IN";
        case token_kind::kw_is:
            return "IS";
        case token_kind::kw_true:
            return "TRUE";
        case token_kind::kw_false:
            return "FALSE";
        case token_kind::kw_null:
            return "NULL";
        case token_kind::eq:
            return "'='";
        case token_kind::ne:
            return "'<>'";
        case token_kind::lt:
            return "'<'";
        case token_kind::le:
            return "'<='";
        case token_kind::gt:
            return "'>'";
        case token_kind::ge:
            return "'>='";
        case token_kind::plus:
            return "'+'";
        case token_kind::minus:
            return "'-'";
        case token_kind::star:
            return "'*'";
        case token_kind::slash:
            return "'/'";
        case token_kind::percent:
            return "'%'";
        case token_kind::lparen:
            return "'('";
        case token_kind::rparen:
            return "')'";
        case token_kind::comma:
            return "','";
        case token_kind::error:
            return t.text;
    }
    return "a token";
}

}  // namespace stampede::routing::detail
