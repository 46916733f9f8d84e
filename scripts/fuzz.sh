#!/usr/bin/env bash
# Builds the libFuzzer targets and fuzzes them; exits non-zero on a finding.
#
#   scripts/fuzz.sh [options] [TARGET...] [SECONDS]
#
#   TARGET          parser, config, admin_http, websocket, or all (the default)
#   SECONDS         fuzzing time per target (default 60)
#   --grow          merge the inputs that found new coverage into the
#                   committed corpus tests/fuzz/corpus/TARGET/ (commit them)
#   --scratch       fuzz from a fresh copy of the committed corpus in the
#                   build directory, so that nothing carries over (ctest)
#   --build-dir D   the clang tree (default build-fuzz/)
#   --no-build      do not configure or build (another step did)
#   --build-only    configure and build, fuzz nothing
#   --list          print the targets
#
# Builds tests/fuzz/ with clang++-14 (FUZZ_CXX) and
# -fsanitize=fuzzer,address,undefined. Without --scratch each target fuzzes
# from the scratch corpus tests/fuzz/corpus-work/TARGET/ (git-ignored; it
# keeps growing from run to run), seeded from tests/fuzz/corpus/TARGET/.
# Crash, leak and timeout inputs land in tests/fuzz/artifacts/ (or the build
# directory's artifacts/ with --scratch); add one to the committed corpus as
# a regression seed once it is fixed. Exits 77 (ctest: Skipped, with the
# reason) when clang++-14 or its libFuzzer runtime is missing.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
all_targets=(parser config admin_http websocket)
seconds=60
grow=0
scratch=0
build=1
fuzz=1
build_dir="$root/build-fuzz"
targets=()

while [ $# -gt 0 ]; do
    case "$1" in
        --grow) grow=1 ;;
        --scratch) scratch=1 ;;
        --no-build) build=0 ;;
        --build-only) fuzz=0 ;;
        --build-dir) build_dir=$2; shift ;;
        --build-dir=*) build_dir=${1#--build-dir=} ;;
        --list) printf '%s\n' "${all_targets[@]}"; exit 0 ;;
        -h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        all) targets+=("${all_targets[@]}") ;;
        ''|*[!0-9]*)
            if [[ " ${all_targets[*]} " != *" $1 "* ]]; then
                echo "fuzz.sh: unknown target or option '$1' (targets: ${all_targets[*]})" >&2
                exit 2
            fi
            targets+=("$1") ;;
        *) seconds=$1 ;;
    esac
    shift
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

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

if [ "$build" -eq 1 ]; then
    generator=()
    command -v ninja >/dev/null && generator=(-G Ninja)
    launcher=()
    command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    if [ ! -f "$build_dir/CMakeCache.txt" ]; then
        cmake -S "$root/tests/fuzz" -B "$build_dir" "${generator[@]}" "${launcher[@]}" \
            -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    fi
    cmake --build "$build_dir" --target "${targets[@]/%/_fuzz}"
fi
[ "$fuzz" -eq 1 ] || exit 0

status=0
for target in "${targets[@]}"; do
    seeds="$root/tests/fuzz/corpus/$target"
    if [ "$scratch" -eq 1 ]; then
        work="$build_dir/corpus-work/$target"
        artifacts="$build_dir/artifacts/$target"
        rm -rf "$work"
    else
        work="$root/tests/fuzz/corpus-work/$target"
        artifacts="$root/tests/fuzz/artifacts/$target"
    fi
    mkdir -p "$work" "$artifacts"
    cp -n "$seeds"/* "$work"/ 2>/dev/null || true
    options=(-max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048
             -print_final_stats=1 -artifact_prefix="$artifacts/")
    [ -f "$root/tests/fuzz/$target.dict" ] && options+=(-dict="$root/tests/fuzz/$target.dict")
    echo "fuzz.sh: $target for ${seconds}s (corpus $work, artifacts $artifacts)"
    # libFuzzer exits non-zero on a crash, leak, timeout or sanitizer report.
    if ! "$build_dir/${target}_fuzz" "$work" "${options[@]}"; then
        echo "fuzz.sh: $target found a problem: see $artifacts/" >&2
        status=1
        continue
    fi
    if [ "$grow" -eq 1 ]; then
        mkdir -p "$seeds"
        before=$(ls "$seeds" | wc -l)
        "$build_dir/${target}_fuzz" -merge=1 -max_len=8192 "$seeds" "$work" 2>/dev/null
        echo "fuzz.sh: $target corpus $before -> $(ls "$seeds" | wc -l) inputs ($seeds)"
    fi
done
exit "$status"
