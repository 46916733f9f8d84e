#pragma once

// JMS message selectors (the SQL-92 subset ActiveMQ accepts) over STOMP headers.
//
//   auto s = selector::compile("type = 'order' AND size > 3");
//   if (!s) { send_error(s.error_info().message); }
//   bool deliver = s->matches(frame.headers);        // many times, no allocation
//
// Grammar (keywords case-insensitive, identifiers case-sensitive):
//   OR < AND < NOT < (= <> IS [NOT] NULL) < (< > <= >= [NOT] LIKE [NOT] IN [NOT] BETWEEN)
//      < (+ -) < (* / %) < unary (+ -)
//   literals: 'it''s' strings, 42 / 42L / 0x2A / 052 integers, 1.5 / .5 / 5. / 1e3 decimals,
//   TRUE, FALSE, NULL; identifiers [A-Za-z_$][A-Za-z0-9_$]* or "quoted-header" (an
//   extension, for header names such as content-type); comments -- to end of line and /* */.
//   JMSCorrelationID, JMSMessageID, JMSPriority, JMSTimestamp, JMSType, JMSExpiration,
//   JMSReplyTo, JMSDestination and JMSRedelivered name the STOMP headers correlation-id,
//   message-id, priority, timestamp, type, expires, reply-to, destination and redelivered.
//
// Values: a header is a string, or NULL when absent. Compared with a number (a numeric
// literal or arithmetic), a header is read as a number: "10" is 10, "2.5e3" is 2500.0; a
// header that is not a number makes = FALSE, <> TRUE and <, >, <=, >=, BETWEEN FALSE (as
// ActiveMQ's STOMP selectors do). Compared with TRUE/FALSE, "true"/"false" (any case) are
// booleans. A bare header in a boolean position is TRUE for "true", FALSE for "false" (any
// case) and for any other value, UNKNOWN when absent. Two headers compare as strings with =
// and <>; with <, >, <=, >= numerically when both are numbers, else byte-wise.
// Arithmetic on NULL or on a non-number is NULL; integer arithmetic that overflows continues
// in double; integer division by zero is NULL.
//
// Three-valued logic exactly as JMS specifies: any comparison with NULL is UNKNOWN; NOT
// UNKNOWN is UNKNOWN; FALSE AND x is FALSE, TRUE OR x is TRUE, otherwise UNKNOWN wins over
// the remaining value; IS [NOT] NULL is never UNKNOWN. A message is selected only when the
// selector is TRUE.
//
// No recursion: parsing uses explicit stacks (shunting-yard) with a nesting limit, and the
// compiled form is postfix code run by one loop. LIKE splits its pattern at '%' and finds
// each piece leftmost, so it never backtracks: its cost is at most len(value) x len(pattern).
//
// The most common shapes (header <op> literal, header [NOT] LIKE, header [NOT] IN) compile to
// single instructions, and evaluate(span) finds every header the selector names in one pass
// over the frame's headers.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stampede/protocol/frame.hpp"
#include "stampede/routing/errc.hpp"

namespace stampede::routing {

/// A value of three-valued logic.
enum class truth : std::uint8_t { false_ = 0, true_ = 1, unknown = 2 };

/// "TRUE", "FALSE" or "UNKNOWN".
std::string_view to_string(truth t) noexcept;

/// Limits on what compile() accepts, so that a selector from a client is a bounded resource.
struct compile_options {
    std::size_t max_length = 64 * 1024;  ///< bytes of selector text
    std::size_t max_depth = 256;         ///< parentheses, prefix operators and pending operators
};

namespace detail {

enum class op : std::uint8_t {
    push_const,   ///< arg: constant index
    push_header,  ///< arg: name index
    to_truth,     ///< a header in a boolean position
    eq,
    ne,
    lt,
    le,
    gt,
    ge,
    add,
    sub,
    mul,
    div,
    mod,
    neg,
    pos,  ///< unary plus: reads a header as a number
    not_,
    and_,
    or_,
    jump_false,  ///< arg: target; if the top is FALSE, jump (keeping it)
    jump_true,   ///< arg: target; if the top is TRUE, jump (keeping it)
    is_null,
    is_not_null,
    like,         ///< arg: pattern index
    not_like,     ///< arg: pattern index
    in,           ///< arg: list index
    not_in,       ///< arg: list index
    between,      ///< pops value, low, high
    not_between,  ///< pops value, low, high
    // Superinstructions for the most common shapes, fused at compile time:
    compare_header,  ///< arg: fused_compare index; header <op> constant
    like_header,     ///< arg: pattern index; pattern's header LIKE pattern
    not_like_header,
    in_header,  ///< arg: list index; list's header IN list
    not_in_header,
};

/// header <cmp> constant, as one instruction.
struct fused_compare {
    std::uint32_t name = 0;
    std::uint32_t constant = 0;
    op cmp = op::eq;
};

struct instr {
    op code;
    std::uint32_t arg = 0;
};

/// A byte range of selector::strings_.
struct span_ref {
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
};

enum class constant_kind : std::uint8_t { null, boolean, integer, real, string };

struct constant {
    constant_kind kind = constant_kind::null;
    bool boolean = false;
    std::int64_t integer = 0;
    double real = 0;
    span_ref text;
};

/// One '%'-free piece of a LIKE pattern; `wild` marks its '_' positions ('1') when any.
struct like_piece {
    span_ref text;
    span_ref wild;
    bool has_wild = false;
};

/// A LIKE pattern split at its '%' signs.
struct like_pattern {
    std::uint32_t name = 0;  ///< for like_header
    std::uint32_t first_piece = 0;
    std::uint32_t piece_count = 0;
    bool has_percent = false;
    bool anchored_start = true;  ///< no '%' before the first piece
    bool anchored_end = true;    ///< no '%' after the last piece
};

/// The string literals of an IN list: in_items_[first, first + count), sorted when `sorted`.
struct in_list {
    std::uint32_t name = 0;  ///< for in_header
    std::uint32_t first = 0;
    std::uint32_t count = 0;
    bool sorted = false;
};

}  // namespace detail

/// A compiled message selector. Cheap to evaluate many times; copyable and movable.
///
/// evaluate() and matches() are const and allocate nothing for selectors whose evaluation
/// stack fits 16 values and that name at most 16 headers (any selector without deep
/// nesting); they may run on any thread.
class selector {
  public:
    /// Looks a header up by name: its value, or nullopt when the message has no such header.
    using lookup_fn = std::optional<std::string_view> (*)(const void* context,
                                                          std::string_view name);

    /// Compiles `text`, or says what is wrong and where (errc::selector_syntax,
    /// selector_type, selector_too_deep, selector_too_long or selector_escape; error::position
    /// is the byte offset). An empty or all-blank selector is a syntax error: callers treat an
    /// absent `selector` header as "select everything" without compiling anything.
    [[nodiscard]] static result<selector> compile(std::string_view text,
                                                  const compile_options& options = {});

    /// The selector's value for a message whose headers `lookup(context, name)` finds.
    [[nodiscard]] truth evaluate(lookup_fn lookup, const void* context) const;

    /// The selector's value for a message with these headers (the first of a repeated header
    /// wins, as STOMP says).
    [[nodiscard]] truth evaluate(std::span<const protocol::header> headers) const;

    /// The selector's value with headers found by `lookup(std::string_view) ->
    /// std::optional<std::string_view>`.
    template <class Lookup>
    [[nodiscard]] truth evaluate_with(const Lookup& lookup) const {
        return evaluate(
            [](const void* context, std::string_view name) -> std::optional<std::string_view> {
                return (*static_cast<const Lookup*>(context))(name);
            },
            &lookup);
    }

    /// Whether a message with these headers is selected (the selector is TRUE).
    [[nodiscard]] bool matches(std::span<const protocol::header> headers) const {
        return evaluate(headers) == truth::true_;
    }

    /// The text compiled.
    const std::string& text() const noexcept { return text_; }
    /// How many instructions the compiled form has (for tests and statistics).
    std::size_t instruction_count() const noexcept { return code_.size(); }
    /// The deepest the evaluation stack gets.
    std::size_t max_stack() const noexcept { return max_stack_; }

  private:
    friend class selector_compiler;
    friend class selector_machine;

    std::string_view view(detail::span_ref r) const noexcept {
        return {strings_.data() + r.offset, r.length};
    }

    std::string text_;
    std::string strings_;  ///< literals, header names, LIKE pieces, IN items
    std::vector<detail::instr> code_;
    std::vector<detail::constant> constants_;
    std::vector<detail::span_ref> names_;
    std::vector<detail::like_pattern> likes_;
    std::vector<detail::like_piece> like_pieces_;
    std::vector<detail::in_list> in_lists_;
    std::vector<detail::span_ref> in_items_;
    std::vector<detail::fused_compare> fused_;
    std::uint64_t name_sizes_ = 0;  ///< bit (size % 64) set for each header name's size
    std::uint32_t max_stack_ = 0;
};

}  // namespace stampede::routing
