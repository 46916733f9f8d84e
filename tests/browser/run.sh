#!/usr/bin/env bash
# Runs one browser-suite test file with node's test runner (ctest label
# browser). Exits 77, which ctest reports as Skipped with the reason below,
# only when a tool the suite needs is missing: node, Debian's chromium (for
# the browser test), or the npm packages (scripts/setup.sh runs npm ci).
#
#   tests/browser/run.sh FILE.test.mjs [--chromium]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
file=$1
needs_chromium=${2:-}

skip() {
    echo "SKIPPED: $*" >&2
    exit 77
}
command -v node >/dev/null || skip "no node on PATH (Debian: apt-get install nodejs)"
[ -d "$here/node_modules/ws" ] && [ -d "$here/node_modules/@stomp/stompjs" ] ||
    skip "tests/browser/node_modules is not installed (run scripts/setup.sh, or npm ci in tests/browser)"
if [ "$needs_chromium" = --chromium ]; then
    chromium=${CHROMIUM:-/usr/bin/chromium}
    [ -x "$chromium" ] || skip "no chromium at $chromium (Debian: apt-get install chromium, or set CHROMIUM)"
    [ -d "$here/node_modules/puppeteer-core" ] || skip "puppeteer-core is not installed (npm ci in tests/browser)"
fi
cd "$here"
exec node --test --test-reporter=spec --test-timeout=120000 "$file"
