#include "stampede/protocol/errc.hpp"

#include <string>

namespace stampede::protocol {
namespace {

class stomp_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "stomp"; }
    std::string message(int value) const override {
        return std::string(describe(static_cast<errc>(value)));
    }
};

}  // namespace

const std::error_category& stomp_category() noexcept {
    static const stomp_category_impl category;
    return category;
}

std::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), stomp_category()};
}

std::string_view describe(errc e) noexcept {
    switch (e) {
        case errc::ok:
            return "no error";
        case errc::command_too_long:
            return "command line exceeds the maximum command line length";
        case errc::unknown_command:
            return "unknown command (commands are case-sensitive upper case)";
        case errc::malformed_header:
            return "malformed header line without a colon or with an empty header name";
        case errc::header_line_too_long:
            return "header line exceeds the maximum header line length";
        case errc::too_many_headers:
            return "frame exceeds the maximum number of headers";
        case errc::invalid_escape:
            return "undefined escape sequence in header";
        case errc::frame_too_large:
            return "frame exceeds the maximum frame size";
        case errc::invalid_content_length:
            return "content-length is not a valid decimal octet count";
        case errc::missing_null_after_body:
            return "body of content-length octets is not followed by NUL";
        case errc::body_not_allowed:
            return "body not allowed, only SEND, MESSAGE and ERROR frames carry a body";
        case errc::invalid_eol:
            return "invalid end of line, a carriage return not followed by line feed";
        case errc::invalid_heart_beat:
            return "heart-beat header must be two comma-separated non-negative integers";
        case errc::unsupported_version:
            return "no supported protocol version in accept-version";
    }
    return "unknown stomp error";
}

}  // namespace stampede::protocol
