#pragma once

// The tokens of a JMS selector. Private to stampede_routing.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace stampede::routing::detail {

enum class token_kind : std::uint8_t {
    end,
    identifier,  ///< `text` is the header name (quotes removed, "" unescaped)
    string,      ///< `text` is the value ('' unescaped)
    integer,     ///< `integer`
    real,        ///< `real`
    kw_and,
    kw_or,
    kw_not,
    kw_between,
    kw_like,
    kw_escape,
    kw_in,
    kw_is,
    kw_true,
    kw_false,
    kw_null,
    eq,
    ne,
    lt,
    le,
    gt,
    ge,
    plus,
    minus,
    star,
    slash,
    percent,
    lparen,
    rparen,
    comma,
    error,  ///< `text` says what is wrong
};

struct token {
    token_kind kind = token_kind::end;
    std::size_t position = 0;  ///< byte offset of the token's first character
    std::string text;
    std::int64_t integer = 0;
    double real = 0;
};

/// Splits a selector into tokens, one at a time, skipping blanks and comments.
class lexer {
  public:
    explicit lexer(std::string_view input) : input_(input) {}

    /// The next token; an `error` token (with the position of the fault) ends the input.
    token next();

  private:
    bool skip_blanks_and_comments(token& out);
    token lex_number();
    token lex_word();
    token lex_quoted(char quote, token_kind kind);
    token lex_operator();
    token fail(std::size_t position, std::string message) const;

    std::string_view input_;
    std::size_t pos_ = 0;
};

/// How a token reads in an error message: "'AND'", "the string 'x'", "the end of the selector".
std::string describe_token(const token& t);

}  // namespace stampede::routing::detail
