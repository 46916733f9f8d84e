#!/usr/bin/env bash
# A short, bounded libFuzzer run for the normal test suite (ctest -L fuzz):
# scripts/fuzz.sh on one target, from a fresh copy of its committed corpus,
# in BUILD_DIR (a clang++-14 tree of its own: the main build is g++).
# `--build-only` builds every target (the ctest fixture that runs first, so
# that the per-target runs never build the same tree at once). Non-zero on a
# crash, leak, timeout or sanitizer report; 77 (ctest: Skipped, with the
# reason) when clang++-14 or its libFuzzer runtime is missing.
#
#   tests/fuzz/smoke.sh BUILD_DIR --build-only
#   tests/fuzz/smoke.sh BUILD_DIR TARGET [SECONDS]     (default 20; one process)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build_dir=$1
if [ "${2:-}" = "--build-only" ]; then
    exec "$here/../../scripts/fuzz.sh" --build-dir "$build_dir" --build-only all
fi
exec "$here/../../scripts/fuzz.sh" --build-dir "$build_dir" --no-build --scratch "$2" "${3:-20}"
