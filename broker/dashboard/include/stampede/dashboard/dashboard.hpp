#pragma once

// The dashboard page the admin endpoint serves at `/`: one self-contained
// HTML document (stylesheet and script inline, charts drawn on canvases)
// that reads /stats once a second. Built from broker/dashboard/ at compile
// time.

#include <string_view>

namespace stampede::dashboard {

/// The page, UTF-8 HTML; lives as long as the program.
std::string_view page_html() noexcept;

}  // namespace stampede::dashboard
