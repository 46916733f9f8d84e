#!/usr/bin/env bash
# Builds the STOMP parser fuzz target and runs it; exits non-zero on a finding.
#
#   scripts/fuzz.sh [seconds]      (default 60)
#
# Builds tests/fuzz/ with clang++-14 and -fsanitize=fuzzer,address,undefined
# into build-fuzz/, copies the seed corpus tests/fuzz/corpus/ into the
# scratch corpus tests/fuzz/corpus-work/ (git-ignored; it keeps growing from
# run to run), and runs libFuzzer for the given time. Crash, leak and timeout
# inputs land in tests/fuzz/artifacts/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-60}
case "$seconds" in
    ''|*[!0-9]*) echo "fuzz.sh: seconds must be a whole number, not '$seconds'" >&2; exit 2 ;;
esac

cxx=${FUZZ_CXX:-clang++-14}
command -v "$cxx" >/dev/null || { echo "fuzz.sh: $cxx not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }

build_dir="$root/build-fuzz"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake -S "$root/tests/fuzz" -B "$build_dir" "${generator[@]}" \
        -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$build_dir" --target parser_fuzz

work="$root/tests/fuzz/corpus-work"
artifacts="$root/tests/fuzz/artifacts"
mkdir -p "$work" "$artifacts"
cp -n "$root"/tests/fuzz/corpus/* "$work"/ 2>/dev/null || true

echo "fuzz.sh: fuzzing for ${seconds}s (corpus $work, artifacts $artifacts)"
# libFuzzer exits non-zero on a crash, leak, timeout or sanitizer report.
exec "$build_dir/parser_fuzz" "$work" \
    -max_total_time="$seconds" \
    -max_len=8192 \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 \
    -artifact_prefix="$artifacts/"
