#!/usr/bin/env bash
# Sets up, builds and runs every test; exits non-zero on any failure.
#
#   scripts/test.sh [--sanitize=address|thread] [--label=LABEL] [--long]
#
#   --sanitize=...  build into build-<sanitizer>/ with ASan+UBSan or TSan
#   --label=L       run only the ctest label L (protocol, runtime, ...)
#   --long          also run the long tests (soak-length runs), off by default
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
setup_args=()
build_dir="$root/build"
label=""
long=0

for arg in "$@"; do
    case "$arg" in
        --sanitize=*) setup_args+=("$arg"); build_dir="$root/build-${arg#--sanitize=}" ;;
        --label=*) label=${arg#--label=} ;;
        --long) long=1 ;;
        -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "test.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

"$root/scripts/setup.sh" --for-tests "${setup_args[@]}"

# Tests run in parallel, one per core (STAMPEDE_TEST_JOBS overrides): each
# starts its own broker on a kernel-chosen port, and most of a suite's time is
# spent waiting on sockets. Suites that measure rates or memory are marked
# RUN_SERIAL and run alone.
jobs=${STAMPEDE_TEST_JOBS:-$(nproc)}
ctest_args=(--test-dir "$build_dir" --output-on-failure --no-tests=error --parallel "$jobs")
[ -n "$label" ] && ctest_args+=(-L "^${label}\$")
[ "$long" -eq 1 ] || ctest_args+=(-LE '^long$')

export STAMPEDE_LONG_TESTS=$long
started=$(date +%s)
ctest "${ctest_args[@]}"
echo "test.sh: all tests passed in $(( $(date +%s) - started )) s (build: $build_dir)"
