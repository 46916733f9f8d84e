# STAMPEDE_SANITIZE=address builds everything with ASan + UBSan,
# STAMPEDE_SANITIZE=thread with TSan. Fiber switches are announced to ASan by
# the runtime (runtime/src/sanitizer.hpp) and to TSan by Boost's ucontext
# fibers, which is what makes stack switching legible to them.
if(STAMPEDE_SANITIZE STREQUAL "address")
    add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
                        -fno-sanitize-recover=undefined)
    add_link_options(-fsanitize=address,undefined)
    add_compile_definitions(STAMPEDE_ASAN=1)
elseif(STAMPEDE_SANITIZE STREQUAL "thread")
    add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
    add_link_options(-fsanitize=thread)
    # TSan needs its fiber switch annotations right at the switch, inside the
    # instrumented resume(): Boost's ucontext fibers have them built in.
    add_compile_definitions(STAMPEDE_TSAN=1 BOOST_USE_UCONTEXT BOOST_USE_TSAN)
elseif(NOT STAMPEDE_SANITIZE STREQUAL "")
    message(FATAL_ERROR "STAMPEDE_SANITIZE must be '', 'address' or 'thread', not '${STAMPEDE_SANITIZE}'")
endif()
if(NOT STAMPEDE_SANITIZE STREQUAL "" AND CMAKE_BUILD_TYPE STREQUAL "Release")
    # Keep optimisation but make reports readable.
    add_compile_options(-g)
endif()
