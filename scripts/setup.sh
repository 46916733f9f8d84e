#!/usr/bin/env bash
# Installs what Stampede needs (only what is missing) and builds it.
#
#   scripts/setup.sh [--sanitize=address|thread] [--debug] [--build-dir DIR] [--no-build]
#                    [--for-tests]
#
# --for-tests builds what the tests need and skips the micro benchmarks
# (build/benchmarks/micro/bench_*; about half of the compile time).
#
# Idempotent: on a machine that is already set up it checks the packages,
# lets ninja find nothing to do, and returns in seconds.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sanitize=""
build_type=Release
build_dir=""
do_build=1
micro_benchmarks=1

for arg in "$@"; do
    case "$arg" in
        --sanitize=address|--sanitize=thread) sanitize=${arg#--sanitize=} ;;
        --sanitize=*) echo "setup.sh: --sanitize takes 'address' or 'thread', not '${arg#--sanitize=}'" >&2; exit 2 ;;
        --debug) build_type=Debug ;;
        --build-dir=*) build_dir=${arg#--build-dir=} ;;
        --no-build) do_build=0 ;;
        --for-tests) micro_benchmarks=0 ;;
        -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

# Debian 12 package names. Later issues append to this list.
packages=(
    g++ cmake ninja-build pkg-config
    libboost1.81-dev libboost-context1.81-dev
    liburing-dev nlohmann-json3-dev catch2
    python3 python3-stomp python3-matplotlib
    ruby-stomp libnet-stomp-perl
    libboost-program-options1.81-dev
    libssl-dev openssl libsodium-dev libxxhash-dev
    libre2-dev
    nodejs chromium
)

is_debian12() {
    [ -r /etc/os-release ] || return 1
    # shellcheck disable=SC1091
    . /etc/os-release
    [ "${ID:-}" = debian ] && [ "${VERSION_ID:-}" = 12 ]
}

missing_packages() {
    local p status
    for p in "${packages[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || printf '%s\n' "$p"
    done
}

install_packages() {
    local -a missing
    mapfile -t missing < <(missing_packages)
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "setup.sh: installing ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "setup.sh: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine may have stale or no package lists; refresh once.
    if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}"; then
        $sudo apt-get update -q
        $sudo apt-get install -y --no-install-recommends "${missing[@]}"
    fi
}

if is_debian12; then
    install_packages
else
    cat >&2 <<EOF
setup.sh: this script installs dependencies on Debian 12 only. Elsewhere, provide:
  a C++20 compiler (g++ 12 or clang 14+), CMake >= 3.25, Ninja,
  Boost 1.81 (headers + Boost.Context), liburing >= 2.3, nlohmann-json 3,
  Catch2 2.13, Python 3 with stomp.py and matplotlib,
  and for the conformance tests ruby-stomp and Perl Net::Stomp.
Continuing with the build; it fails clearly if something is missing.
EOF
fi

# The browser tests' npm packages (ws, @stomp/stompjs, puppeteer-core), from
# the committed lockfile; npm ci runs again only when the lockfile changed.
# Debian's nodejs lacks npm (nodesource's bundles it): install it then.
if is_debian12 && ! command -v npm >/dev/null; then
    packages=(npm)
    install_packages
fi
if command -v npm >/dev/null; then
    browser="$root/tests/browser"
    stamp="$browser/node_modules/.stampede-lock.sha256"
    want=$(sha256sum "$browser/package-lock.json" | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        (cd "$browser" && npm ci --no-audit --no-fund --loglevel=error)
        echo "$want" >"$stamp"
    fi
else
    echo "setup.sh: no npm: the browser tests (ctest -L browser) will be skipped" >&2
fi

[ "$do_build" -eq 1 ] || exit 0

if [ -z "$build_dir" ]; then
    build_dir="$root/build"
    [ -n "$sanitize" ] && build_dir="$root/build-$sanitize"
    [ "$build_type" = Debug ] && [ -z "$sanitize" ] && build_dir="$root/build-debug"
fi

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build_dir" "${generator[@]}" \
        -DCMAKE_BUILD_TYPE="$build_type" -DSTAMPEDE_SANITIZE="$sanitize"
fi
cmake --build "$build_dir" --parallel "$(nproc)"
if [ "$micro_benchmarks" -eq 1 ]; then
    cmake --build "$build_dir" --parallel "$(nproc)" --target micro_benchmarks
fi
