# Warnings every Stampede target compiles with. Applied per target, so that
# third-party headers (Boost, Catch2) pulled in as SYSTEM stay quiet.
add_library(stampede_warnings INTERFACE)
add_library(stampede::warnings ALIAS stampede_warnings)
target_compile_options(stampede_warnings INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wold-style-cast
    -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough)
