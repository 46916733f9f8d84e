#!/usr/bin/env bash
# A short, bounded libFuzzer run of the STOMP parser for the normal test
# suite (ctest -L fuzz): builds tests/fuzz/ with clang++-14 into BUILD_DIR
# (its own tree: the fuzz target needs clang, the main build is g++), then
# fuzzes for SECONDS from a scratch copy of the seed corpus. Non-zero on a
# crash, leak, timeout or sanitizer report; 77 (ctest: Skipped, with the
# reason) when clang++-14 or its libFuzzer runtime is missing.
#
#   tests/fuzz/smoke.sh BUILD_DIR [SECONDS]     (default 25; one process, so
#                                                about that much CPU)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_dir=$1
seconds=${2:-25}
cxx=${FUZZ_CXX:-clang++-14}

skip() {
    echo "SKIPPED: $*" >&2
    exit 77
}
command -v "$cxx" >/dev/null || skip "$cxx not found (apt-get install clang-14 libclang-rt-14-dev)"
# The fuzzer runtime is a separate package from the compiler.
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' |
    "$cxx" -x c++ -fsanitize=fuzzer - -o /dev/null 2>/dev/null ||
    skip "$cxx cannot link -fsanitize=fuzzer (apt-get install libclang-rt-14-dev)"

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake -S "$here" -B "$build_dir" "${generator[@]}" \
        -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build_dir" --target parser_fuzz

# A fresh scratch corpus each run, so the run is bounded by the seeds and the
# time, not by what earlier runs found.
work="$build_dir/smoke-corpus"
artifacts="$build_dir/smoke-artifacts"
rm -rf "$work"
mkdir -p "$work" "$artifacts"
cp "$here"/corpus/* "$work"/

exec "$build_dir/parser_fuzz" "$work" \
    -max_total_time="$seconds" \
    -max_len=8192 \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 \
    -artifact_prefix="$artifacts/"
