// Compiles a selector to postfix code with an operator-precedence parser over explicit stacks
// (shunting-yard): no recursion, so a selector's nesting cannot grow the (fiber) stack; the
// operator stack is bounded by compile_options::max_depth.
//
// AND and OR short-circuit: the left operand is followed by jump_false / jump_true to just
// past the combining instruction, leaving the deciding value on the stack.

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "selector_lexer.hpp"
#include "stampede/routing/selector.hpp"

namespace stampede::routing {

using detail::lexer;
using detail::op;
using detail::token;
using detail::token_kind;

namespace {

/// What an operand is known to be at compile time.
enum class stype : std::uint8_t { boolean, number, string, header, null };

struct operand_info {
    stype type;
    std::size_t position;
};

enum class pending_kind : std::uint8_t { paren, prefix, binary, between };

struct pending {
    pending_kind kind;
    token_kind tok;
    int prec = 0;
    std::size_t position = 0;
    std::uint32_t patch = 0;   ///< AND/OR: the jump to aim past the combining instruction
    bool negated = false;      ///< NOT BETWEEN
    bool awaiting_and = true;  ///< BETWEEN: still reading the lower bound
};

constexpr int prec_or = 1;
constexpr int prec_and = 2;
constexpr int prec_not = 3;
constexpr int prec_equality = 4;
constexpr int prec_relational = 5;
constexpr int prec_additive = 6;
constexpr int prec_multiplicative = 7;
constexpr int prec_unary = 8;

int binary_precedence(token_kind k) {
    switch (k) {
        case token_kind::kw_or:
            return prec_or;
        case token_kind::kw_and:
            return prec_and;
        case token_kind::eq:
        case token_kind::ne:
            return prec_equality;
        case token_kind::lt:
        case token_kind::le:
        case token_kind::gt:
        case token_kind::ge:
            return prec_relational;
        case token_kind::plus:
        case token_kind::minus:
            return prec_additive;
        case token_kind::star:
        case token_kind::slash:
        case token_kind::percent:
            return prec_multiplicative;
        default:
            return 0;
    }
}

op binary_op(token_kind k) {
    switch (k) {
        case token_kind::kw_or:
            return op::or_;
        case token_kind::kw_and:
            return op::and_;
        case token_kind::eq:
            return op::eq;
        case token_kind::ne:
            return op::ne;
        case token_kind::lt:
            return op::lt;
        case token_kind::le:
            return op::le;
        case token_kind::gt:
            return op::gt;
        case token_kind::ge:
            return op::ge;
        case token_kind::plus:
            return op::add;
        case token_kind::minus:
            return op::sub;
        case token_kind::star:
            return op::mul;
        case token_kind::slash:
            return op::div;
        default:
            return op::mod;
    }
}

std::string_view type_name(stype t) {
    switch (t) {
        case stype::boolean:
            return "a boolean";
        case stype::number:
            return "a number";
        case stype::string:
            return "a string literal";
        case stype::header:
            return "a header";
        case stype::null:
            return "NULL";
    }
    return "a value";
}

std::string op_name(token_kind k) {
    token t;
    t.kind = k;
    return detail::describe_token(t);
}

bool numeric_operand(stype t) {
    return t == stype::number || t == stype::header;
}

std::size_t utf8_length(unsigned char lead) {
    return lead < 0x80   ? 1
           : lead < 0xC0 ? 1
           : lead < 0xE0 ? 2
           : lead < 0xF0 ? 3
           : lead < 0xF8 ? 4
                         : 1;
}

}  // namespace

class selector_compiler {
  public:
    selector_compiler(std::string_view text, const compile_options& options)
        : text_(text), options_(options), lex_(text) {}

    result<selector> run();

  private:
    enum class reduced { done, between_separator, failed };

    void advance() { tok_ = lex_.next(); }
    bool fail(errc code, std::size_t position, std::string message);
    bool fail_expected(std::string_view what);

    void emit(op code, std::uint32_t arg, int stack_delta);
    std::uint32_t add_string(std::string_view s);
    std::uint32_t add_name(std::string_view name);
    void push_constant(detail::constant c, stype type);

    bool operand_step(bool& expect_operand);
    bool operator_step(bool& expect_operand);
    bool push_pending(pending p);
    reduced reduce_to(int prec, token_kind incoming);
    bool reduce_top();
    bool reduce_prefix(const pending& p);
    bool reduce_binary(const pending& p);
    bool reduce_between(const pending& p);
    bool make_truth(operand_info& o, std::string_view context);
    bool fuse_compare(op cmp, const operand_info& left, const operand_info& right);
    std::optional<std::uint32_t> take_trailing_header(const operand_info& o);
    bool binary(token_kind k);
    bool between();
    bool like(bool negated);
    bool in(bool negated);
    bool is_null();
    bool close_paren();
    bool finish();
    void measure_stack();

    std::string_view text_;
    compile_options options_;
    lexer lex_;
    token tok_;
    selector out_;
    std::vector<pending> ops_;
    std::vector<operand_info> operands_;
    std::optional<error> error_;
    int depth_ = 0;
};

bool selector_compiler::fail(errc code, std::size_t position, std::string message) {
    if (!error_) {
        error_ = error{code, position,
                       message + " at column " + std::to_string(position + 1) + " of the selector"};
    }
    return false;
}

bool selector_compiler::fail_expected(std::string_view what) {
    if (tok_.kind == token_kind::error) {
        return fail(errc::selector_syntax, tok_.position, tok_.text);
    }
    return fail(errc::selector_syntax, tok_.position,
                "expected " + std::string(what) + " but found " + detail::describe_token(tok_));
}

void selector_compiler::emit(op code, std::uint32_t arg, int stack_delta) {
    out_.code_.push_back({code, arg});
    depth_ += stack_delta;
    out_.max_stack_ = std::max(out_.max_stack_, static_cast<std::uint32_t>(depth_));
}

std::uint32_t selector_compiler::add_string(std::string_view s) {
    const auto offset = static_cast<std::uint32_t>(out_.strings_.size());
    out_.strings_.append(s);
    return offset;
}

std::uint32_t selector_compiler::add_name(std::string_view name) {
    for (std::uint32_t i = 0; i < out_.names_.size(); ++i) {
        if (out_.view(out_.names_[i]) == name) {
            return i;
        }
    }
    out_.names_.push_back({add_string(name), static_cast<std::uint32_t>(name.size())});
    out_.name_sizes_ |= std::uint64_t{1} << (name.size() % 64);
    return static_cast<std::uint32_t>(out_.names_.size() - 1);
}

void selector_compiler::push_constant(detail::constant c, stype type) {
    out_.constants_.push_back(c);
    emit(op::push_const, static_cast<std::uint32_t>(out_.constants_.size() - 1), 1);
    operands_.push_back({type, tok_.position});
}

result<selector> selector_compiler::run() {
    if (text_.size() > options_.max_length) {
        fail(errc::selector_too_long, options_.max_length,
             "selector longer than " + std::to_string(options_.max_length) + " bytes");
        return *error_;
    }
    out_.text_ = std::string(text_);
    advance();
    bool expect_operand = true;
    for (;;) {
        if (tok_.kind == token_kind::error) {
            fail(errc::selector_syntax, tok_.position, tok_.text);
            return *error_;
        }
        if (!expect_operand && tok_.kind == token_kind::end) {
            if (!finish()) {
                return *error_;
            }
            return std::move(out_);
        }
        const bool ok =
            expect_operand ? operand_step(expect_operand) : operator_step(expect_operand);
        if (!ok) {
            return *error_;
        }
    }
}

bool selector_compiler::push_pending(pending p) {
    if (ops_.size() >= options_.max_depth) {
        return fail(
            errc::selector_too_deep, p.position,
            "selector nested more than " + std::to_string(options_.max_depth) + " levels deep");
    }
    ops_.push_back(p);
    return true;
}

// Reads one operand, or a prefix that comes before one ('(', NOT, unary + and -).
bool selector_compiler::operand_step(bool& expect_operand) {
    detail::constant c;
    switch (tok_.kind) {
        case token_kind::identifier:
            emit(op::push_header, add_name(tok_.text), 1);
            operands_.push_back({stype::header, tok_.position});
            break;
        case token_kind::string:
            c.kind = detail::constant_kind::string;
            c.text = {add_string(tok_.text), static_cast<std::uint32_t>(tok_.text.size())};
            push_constant(c, stype::string);
            break;
        case token_kind::integer:
            c.kind = detail::constant_kind::integer;
            c.integer = tok_.integer;
            push_constant(c, stype::number);
            break;
        case token_kind::real:
            c.kind = detail::constant_kind::real;
            c.real = tok_.real;
            push_constant(c, stype::number);
            break;
        case token_kind::kw_true:
        case token_kind::kw_false:
            c.kind = detail::constant_kind::boolean;
            c.boolean = tok_.kind == token_kind::kw_true;
            push_constant(c, stype::boolean);
            break;
        case token_kind::kw_null:
            push_constant(c, stype::null);
            break;
        case token_kind::lparen:
            if (!push_pending({pending_kind::paren, tok_.kind, 0, tok_.position})) {
                return false;
            }
            advance();
            return true;
        case token_kind::kw_not:
        case token_kind::minus:
        case token_kind::plus: {
            const int prec = tok_.kind == token_kind::kw_not ? prec_not : prec_unary;
            if (!push_pending({pending_kind::prefix, tok_.kind, prec, tok_.position})) {
                return false;
            }
            advance();
            return true;
        }
        default:
            return fail_expected("an identifier, a literal, '(' or NOT");
    }
    advance();
    expect_operand = false;
    return true;
}

// Reads what follows a complete operand: an infix or postfix operator, ')' or the end.
bool selector_compiler::operator_step(bool& expect_operand) {
    switch (tok_.kind) {
        case token_kind::kw_or:
        case token_kind::kw_and:
        case token_kind::eq:
        case token_kind::ne:
        case token_kind::lt:
        case token_kind::le:
        case token_kind::gt:
        case token_kind::ge:
        case token_kind::plus:
        case token_kind::minus:
        case token_kind::star:
        case token_kind::slash:
        case token_kind::percent:
            expect_operand = true;
            return binary(tok_.kind);
        case token_kind::kw_between:
            expect_operand = true;
            return between();
        case token_kind::kw_not: {
            advance();
            if (tok_.kind == token_kind::kw_like) {
                return like(true);
            }
            if (tok_.kind == token_kind::kw_in) {
                return in(true);
            }
            if (tok_.kind == token_kind::kw_between) {
                expect_operand = true;
                const bool ok = between();
                if (ok) {
                    ops_.back().negated = true;
                }
                return ok;
            }
            return fail_expected("LIKE, IN or BETWEEN after NOT");
        }
        case token_kind::kw_like:
            return like(false);
        case token_kind::kw_in:
            return in(false);
        case token_kind::kw_is:
            return is_null();
        case token_kind::rparen:
            return close_paren();
        default:
            return fail_expected("an operator, AND, OR, ')' or the end of the selector");
    }
}

// Reduces the pending operators that bind at least as tightly as an incoming operator of
// precedence `prec`. A BETWEEN still reading its lower bound stops the reduction: an AND then
// separates its bounds (between_separator); anything else of relational precedence or looser
// is an error.
selector_compiler::reduced selector_compiler::reduce_to(int prec, token_kind incoming) {
    while (!ops_.empty()) {
        const pending top = ops_.back();
        if (top.kind == pending_kind::paren) {
            return reduced::done;
        }
        if (top.kind == pending_kind::between) {
            if (prec > prec_relational) {
                return reduced::done;
            }
            if (top.awaiting_and) {
                if (incoming == token_kind::kw_and) {
                    return reduced::between_separator;
                }
                fail_expected("AND between the bounds of BETWEEN");
                return reduced::failed;
            }
            ops_.pop_back();
            if (!reduce_between(top)) {
                return reduced::failed;
            }
            continue;
        }
        if (top.prec < prec) {
            return reduced::done;
        }
        if (!reduce_top()) {
            return reduced::failed;
        }
    }
    return reduced::done;
}

bool selector_compiler::reduce_top() {
    const pending p = ops_.back();
    ops_.pop_back();
    return p.kind == pending_kind::prefix ? reduce_prefix(p) : reduce_binary(p);
}

// A header in a boolean position reads "true"/"false"; anything but a boolean or a header is
// a type error.
bool selector_compiler::make_truth(operand_info& o, std::string_view context) {
    if (o.type == stype::header) {
        emit(op::to_truth, 0, 0);
        o.type = stype::boolean;
        return true;
    }
    if (o.type != stype::boolean) {
        return fail(
            errc::selector_type, o.position,
            std::string(context) + " needs a boolean, not " + std::string(type_name(o.type)));
    }
    return true;
}

bool selector_compiler::reduce_prefix(const pending& p) {
    operand_info& o = operands_.back();
    if (p.tok == token_kind::kw_not) {
        if (!make_truth(o, "NOT")) {
            return false;
        }
        emit(op::not_, 0, 0);
    } else {
        if (!numeric_operand(o.type)) {
            return fail(errc::selector_type, o.position,
                        "unary " + op_name(p.tok) + " needs a number, not " +
                            std::string(type_name(o.type)));
        }
        emit(p.tok == token_kind::minus ? op::neg : op::pos, 0, 0);
        o.type = stype::number;
    }
    o.position = p.position;
    return true;
}

bool selector_compiler::reduce_binary(const pending& p) {
    operand_info right = operands_.back();
    operands_.pop_back();
    operand_info& left = operands_.back();
    const std::string name = op_name(p.tok);
    switch (p.tok) {
        case token_kind::kw_and:
        case token_kind::kw_or:
            if (!make_truth(right, name)) {
                return false;
            }
            emit(binary_op(p.tok), 0, -1);
            out_.code_[p.patch].arg = static_cast<std::uint32_t>(out_.code_.size());
            left.type = stype::boolean;
            return true;
        case token_kind::eq:
        case token_kind::ne:
            for (const operand_info* o : {&left, &right}) {
                if (o->type == stype::null) {
                    return fail(errc::selector_type, o->position,
                                "NULL cannot be compared with " + name + " (use IS NULL)");
                }
            }
            if (!fuse_compare(binary_op(p.tok), left, right)) {
                emit(binary_op(p.tok), 0, -1);
            }
            left.type = stype::boolean;
            return true;
        default:
            break;
    }
    // Ordering comparisons and arithmetic take numbers (headers read as numbers).
    for (const operand_info* o : {&left, &right}) {
        if (!numeric_operand(o->type)) {
            return fail(errc::selector_type, o->position,
                        name + " needs numbers, not " + std::string(type_name(o->type)));
        }
    }
    if (p.prec != prec_relational || !fuse_compare(binary_op(p.tok), left, right)) {
        emit(binary_op(p.tok), 0, -1);
    }
    left.type = p.prec == prec_relational ? stype::boolean : stype::number;
    return true;
}

// header <cmp> literal (or literal <cmp> header) becomes one compare_header instruction. A
// header operand is always one push_header and a literal one push_const, so the two are the
// last two instructions exactly when the operands are a header and a literal. Jumps only
// target the start of an operand, never between the two.
bool selector_compiler::fuse_compare(op cmp, const operand_info& left, const operand_info& right) {
    const std::size_t n = out_.code_.size();
    const bool literal_right =
        right.type != stype::header && out_.code_[n - 1].code == op::push_const;
    const bool literal_left =
        left.type != stype::header && out_.code_[n - 2].code == op::push_const;
    detail::fused_compare f;
    f.cmp = cmp;
    if (left.type == stype::header && literal_right && out_.code_[n - 2].code == op::push_header) {
        f.name = out_.code_[n - 2].arg;
        f.constant = out_.code_[n - 1].arg;
    } else if (right.type == stype::header && literal_left &&
               out_.code_[n - 1].code == op::push_header) {
        f.name = out_.code_[n - 1].arg;
        f.constant = out_.code_[n - 2].arg;
        // constant <cmp> header is header <flipped cmp> constant.
        f.cmp = cmp == op::lt   ? op::gt
                : cmp == op::gt ? op::lt
                : cmp == op::le ? op::ge
                : cmp == op::ge ? op::le
                                : cmp;
    } else {
        return false;
    }
    out_.fused_.push_back(f);
    out_.code_.resize(n - 2);
    depth_ -= 2;
    emit(op::compare_header, static_cast<std::uint32_t>(out_.fused_.size() - 1), 1);
    return true;
}

// If operand `o` is a header, which is then the last instruction, removes that push_header
// and returns its name index, for an instruction that reads the header itself.
std::optional<std::uint32_t> selector_compiler::take_trailing_header(const operand_info& o) {
    if (o.type != stype::header || out_.code_.back().code != op::push_header) {
        return std::nullopt;
    }
    const std::uint32_t name = out_.code_.back().arg;
    out_.code_.pop_back();
    --depth_;
    return name;
}

bool selector_compiler::reduce_between(const pending& p) {
    for (std::size_t i = operands_.size() - 3; i < operands_.size(); ++i) {
        if (!numeric_operand(operands_[i].type)) {
            return fail(errc::selector_type, operands_[i].position,
                        "BETWEEN needs numbers, not " + std::string(type_name(operands_[i].type)));
        }
    }
    operands_.resize(operands_.size() - 2);
    operands_.back().type = stype::boolean;
    emit(p.negated ? op::not_between : op::between, 0, -2);
    return true;
}

bool selector_compiler::binary(token_kind k) {
    const int prec = binary_precedence(k);
    const std::size_t position = tok_.position;
    const reduced r = reduce_to(prec, k);
    if (r == reduced::failed) {
        return false;
    }
    if (r == reduced::between_separator) {
        ops_.back().awaiting_and = false;
        advance();
        return true;
    }
    pending p{pending_kind::binary, k, prec, position};
    if (k == token_kind::kw_and || k == token_kind::kw_or) {
        if (!make_truth(operands_.back(), op_name(k))) {
            return false;
        }
        p.patch = static_cast<std::uint32_t>(out_.code_.size());
        emit(k == token_kind::kw_and ? op::jump_false : op::jump_true, 0, 0);
    }
    if (!push_pending(p)) {
        return false;
    }
    advance();
    return true;
}

bool selector_compiler::between() {
    const std::size_t position = tok_.position;
    if (reduce_to(prec_relational, token_kind::kw_between) == reduced::failed) {
        return false;
    }
    if (!push_pending({pending_kind::between, token_kind::kw_between, prec_relational, position})) {
        return false;
    }
    advance();
    return true;
}

// [NOT] LIKE 'pattern' [ESCAPE 'c']: the pattern is split at its unescaped '%' into pieces.
// An escape character not followed by '%', '_' or itself stands for itself (as in ActiveMQ).
bool selector_compiler::like(bool negated) {
    if (reduce_to(prec_relational, token_kind::kw_like) == reduced::failed) {
        return false;
    }
    operand_info& o = operands_.back();
    if (o.type != stype::header && o.type != stype::string) {
        return fail(errc::selector_type, o.position,
                    "LIKE needs a header or a string, not " + std::string(type_name(o.type)));
    }
    advance();
    if (tok_.kind != token_kind::string) {
        return fail_expected("a string literal pattern after LIKE");
    }
    const std::string pattern = tok_.text;
    std::string escape;
    advance();
    if (tok_.kind == token_kind::kw_escape) {
        advance();
        if (tok_.kind != token_kind::string) {
            return fail_expected("a string literal after ESCAPE");
        }
        if (tok_.text.empty() ||
            utf8_length(static_cast<unsigned char>(tok_.text[0])) != tok_.text.size()) {
            return fail(errc::selector_escape, tok_.position,
                        "ESCAPE must be a string of exactly one character");
        }
        escape = tok_.text;
        advance();
    }

    // Tokens of the pattern: a literal byte (wild '0'), '_' (wild '1') or a '%' break.
    detail::like_pattern lp;
    lp.first_piece = static_cast<std::uint32_t>(out_.like_pieces_.size());
    std::string text;
    std::string wild;
    bool any_token = false;
    bool last_was_percent = false;
    auto close_piece = [&] {
        if (text.empty()) {
            return;
        }
        detail::like_piece piece;
        piece.text = {add_string(text), static_cast<std::uint32_t>(text.size())};
        piece.has_wild = wild.find('1') != std::string::npos;
        if (piece.has_wild) {
            piece.wild = {add_string(wild), static_cast<std::uint32_t>(wild.size())};
        }
        out_.like_pieces_.push_back(piece);
        text.clear();
        wild.clear();
    };
    for (std::size_t i = 0; i < pattern.size();) {
        if (!escape.empty() && pattern.compare(i, escape.size(), escape) == 0) {
            const std::size_t next = i + escape.size();
            if (next < pattern.size() && (pattern[next] == '%' || pattern[next] == '_')) {
                text += pattern[next];
                wild += '0';
                i = next + 1;
            } else {
                text += escape;
                wild.append(escape.size(), '0');
                i = pattern.compare(next, escape.size(), escape) == 0 ? next + escape.size() : next;
            }
            any_token = true;
            last_was_percent = false;
            continue;
        }
        const char c = pattern[i++];
        if (c == '%') {
            if (!any_token) {
                lp.anchored_start = false;
            }
            lp.has_percent = true;
            close_piece();
            last_was_percent = true;
        } else {
            text += c;
            wild += c == '_' ? '1' : '0';
            last_was_percent = false;
        }
        any_token = true;
    }
    close_piece();
    lp.anchored_end = !last_was_percent;
    lp.piece_count = static_cast<std::uint32_t>(out_.like_pieces_.size()) - lp.first_piece;
    const auto header = take_trailing_header(o);
    lp.name = header.value_or(0);
    out_.likes_.push_back(lp);
    const auto index = static_cast<std::uint32_t>(out_.likes_.size() - 1);
    if (header) {
        emit(negated ? op::not_like_header : op::like_header, index, 1);
    } else {
        emit(negated ? op::not_like : op::like, index, 0);
    }
    o.type = stype::boolean;
    return true;
}

// [NOT] IN ('a', 'b', ...): string literals only, as in ActiveMQ. Lists longer than eight are
// sorted for binary search.
bool selector_compiler::in(bool negated) {
    if (reduce_to(prec_relational, token_kind::kw_in) == reduced::failed) {
        return false;
    }
    operand_info& o = operands_.back();
    if (o.type != stype::header) {
        return fail(errc::selector_type, o.position,
                    "IN needs a header on its left, not " + std::string(type_name(o.type)));
    }
    advance();
    if (tok_.kind != token_kind::lparen) {
        return fail_expected("'(' after IN");
    }
    detail::in_list list;
    list.first = static_cast<std::uint32_t>(out_.in_items_.size());
    for (;;) {
        advance();
        if (tok_.kind != token_kind::string) {
            return fail_expected("a string literal in the IN list");
        }
        out_.in_items_.push_back(
            {add_string(tok_.text), static_cast<std::uint32_t>(tok_.text.size())});
        advance();
        if (tok_.kind == token_kind::rparen) {
            break;
        }
        if (tok_.kind != token_kind::comma) {
            return fail_expected("',' or ')' in the IN list");
        }
    }
    advance();
    list.count = static_cast<std::uint32_t>(out_.in_items_.size()) - list.first;
    if (list.count > 8) {
        const auto first = out_.in_items_.begin() + list.first;
        std::sort(first, first + list.count, [this](detail::span_ref a, detail::span_ref b) {
            return out_.view(a) < out_.view(b);
        });
        list.sorted = true;
    }
    const auto header = take_trailing_header(o);
    list.name = header.value_or(0);
    out_.in_lists_.push_back(list);
    const auto index = static_cast<std::uint32_t>(out_.in_lists_.size() - 1);
    if (header) {
        emit(negated ? op::not_in_header : op::in_header, index, 1);
    } else {
        emit(negated ? op::not_in : op::in, index, 0);
    }
    o.type = stype::boolean;
    return true;
}

bool selector_compiler::is_null() {
    if (reduce_to(prec_equality, token_kind::kw_is) == reduced::failed) {
        return false;
    }
    advance();
    bool negated = false;
    if (tok_.kind == token_kind::kw_not) {
        negated = true;
        advance();
    }
    if (tok_.kind != token_kind::kw_null) {
        return fail_expected(negated ? "NULL after IS NOT" : "NULL or NOT NULL after IS");
    }
    advance();
    emit(negated ? op::is_not_null : op::is_null, 0, 0);
    operands_.back().type = stype::boolean;
    return true;
}

bool selector_compiler::close_paren() {
    if (reduce_to(0, token_kind::rparen) == reduced::failed) {
        return false;
    }
    if (ops_.empty()) {
        return fail(errc::selector_syntax, tok_.position, "')' without a matching '('");
    }
    ops_.pop_back();
    advance();
    return true;
}

bool selector_compiler::finish() {
    if (reduce_to(0, token_kind::end) == reduced::failed) {
        return false;
    }
    if (!ops_.empty()) {
        return fail(errc::selector_syntax, tok_.position,
                    "expected ')' to close the '(' at column " +
                        std::to_string(ops_.back().position + 1) + " but found " +
                        detail::describe_token(tok_));
    }
    if (operands_.back().type == stype::header) {
        emit(op::to_truth, 0, 0);
    } else if (operands_.back().type != stype::boolean) {
        return fail(
            errc::selector_type, operands_.back().position,
            "a selector must be a condition, not " + std::string(type_name(operands_.back().type)));
    }
    measure_stack();
    return true;
}

// The deepest the stack gets, by one pass over the finished code: every path reaches an
// instruction with the same depth (a jump skips code whose net effect is nil).
void selector_compiler::measure_stack() {
    int depth = 0;
    int deepest = 0;
    for (const detail::instr& i : out_.code_) {
        switch (i.code) {
            case op::push_const:
            case op::push_header:
            case op::compare_header:
            case op::like_header:
            case op::not_like_header:
            case op::in_header:
            case op::not_in_header:
                ++depth;
                break;
            case op::eq:
            case op::ne:
            case op::lt:
            case op::le:
            case op::gt:
            case op::ge:
            case op::add:
            case op::sub:
            case op::mul:
            case op::div:
            case op::mod:
            case op::and_:
            case op::or_:
                --depth;
                break;
            case op::between:
            case op::not_between:
                depth -= 2;
                break;
            default:
                break;
        }
        deepest = std::max(deepest, depth);
    }
    out_.max_stack_ = static_cast<std::uint32_t>(deepest);
}

result<selector> selector::compile(std::string_view text, const compile_options& options) {
    return selector_compiler(text, options).run();
}

}  // namespace stampede::routing
