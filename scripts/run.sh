#!/usr/bin/env bash
# Sets up (if needed), builds, and runs the broker in the foreground on
# 127.0.0.1:61613. Extra arguments go to the broker (see build/stampede --help).
#
#   scripts/run.sh [stampede options]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"

cat <<'HINT'

Stampede is starting on 127.0.0.1:61613 (Ctrl-C stops it). To try it from another terminal:

  /usr/bin/python3 -c "import stomp,time; c=stomp.Connection([('127.0.0.1',61613)]); c.set_listener('',stomp.PrintingListener()); c.connect(wait=True); c.subscribe('/queue/demo',id=1); c.send('/queue/demo','hello'); time.sleep(1); c.disconnect()"

HINT
exec "$root/build/stampede" "$@"
