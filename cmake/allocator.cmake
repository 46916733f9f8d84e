# The malloc build/stampede runs on (issue 14, NOTES.md "Memory after a
# burst"): glibc (tuned: free() does not trim, the memory monitor gives
# memory back once a burst is over), jemalloc (libjemalloc-dev; a background
# thread purges after ~1 s) or mimalloc (libmimalloc-dev).
#   cmake -B build -DSTAMPEDE_ALLOCATOR=jemalloc
# Sanitizer builds keep glibc: ASan and TSan replace malloc themselves.
set(STAMPEDE_ALLOCATOR "glibc" CACHE STRING "malloc for the broker: glibc, jemalloc or mimalloc")
set_property(CACHE STAMPEDE_ALLOCATOR PROPERTY STRINGS glibc jemalloc mimalloc)
if(NOT STAMPEDE_SANITIZE STREQUAL "" AND NOT STAMPEDE_ALLOCATOR STREQUAL "glibc")
    message(STATUS "STAMPEDE_ALLOCATOR=${STAMPEDE_ALLOCATOR} ignored in a sanitizer build: glibc")
    set(STAMPEDE_ALLOCATOR "glibc" CACHE STRING "" FORCE)
endif()

# stampede_use_allocator(library source): `source` (the one file that sets
# the allocator up) learns which allocator it runs on
# (STAMPEDE_ALLOCATOR_<NAME>; only that file, so switching allocators
# recompiles one file), and every program on `library` links it.
function(stampede_use_allocator library source)
    if(STAMPEDE_ALLOCATOR STREQUAL "glibc")
        return()
    elseif(STAMPEDE_ALLOCATOR STREQUAL "jemalloc")
        find_library(STAMPEDE_JEMALLOC_LIBRARY NAMES jemalloc REQUIRED)
        set(lib ${STAMPEDE_JEMALLOC_LIBRARY})
        set_property(SOURCE ${source} APPEND PROPERTY COMPILE_DEFINITIONS
                     STAMPEDE_ALLOCATOR_JEMALLOC)
    elseif(STAMPEDE_ALLOCATOR STREQUAL "mimalloc")
        find_library(STAMPEDE_MIMALLOC_LIBRARY NAMES mimalloc REQUIRED)
        find_path(STAMPEDE_MIMALLOC_INCLUDE mimalloc.h PATH_SUFFIXES mimalloc REQUIRED)
        set(lib ${STAMPEDE_MIMALLOC_LIBRARY})
        set_property(SOURCE ${source} APPEND PROPERTY COMPILE_DEFINITIONS
                     STAMPEDE_ALLOCATOR_MIMALLOC)
        set_property(SOURCE ${source} APPEND PROPERTY INCLUDE_DIRECTORIES
                     ${STAMPEDE_MIMALLOC_INCLUDE})
    else()
        message(FATAL_ERROR "STAMPEDE_ALLOCATOR must be glibc, jemalloc or mimalloc, "
                            "not '${STAMPEDE_ALLOCATOR}'")
    endif()
    # Public: every program on the broker library (build/stampede, tests,
    # benchmarks) runs on the same malloc as the code was built for.
    target_link_libraries(${library} PUBLIC ${lib})
endfunction()
