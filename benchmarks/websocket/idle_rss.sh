#!/usr/bin/env bash
# Broker RSS per idle connection, over plain TCP, WebSocket and WebSocket on
# TLS: for each transport a fresh broker, its RSS once up (VmRSS), then N
# clients (benchmarks/websocket/idle_clients.mjs, one Node process) that
# CONNECT with heart-beats off and SUBSCRIBE to a topic each, then its RSS
# once /stats counts all N connections (rss_connected), and once they are
# idle (rss_idle: no writer fiber left and RSS no longer falling, see
# settle()); bytes_per_connection is (rss_idle - RSS_0) / N, the cost of an
# idle connection, and bytes_per_connection_at_connect the same right after
# the burst of handshakes, freed memory included.
#
#   benchmarks/websocket/idle_rss.sh [--count 10000] [--transports tcp,ws,wss]
#        [--stampede build/stampede] [--io auto|uring|asio]
#
# Needs `ulimit -n` above N for the broker and for the client (it raises the
# soft limit to the hard one) and tests/browser/node_modules (npm ci there).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
COUNT=10000 TRANSPORTS=tcp,ws,wss STAMPEDE=$ROOT/build/stampede IO=auto
while [ $# -gt 0 ]; do
  case $1 in
    --count) COUNT=$2; shift 2;;
    --transports) TRANSPORTS=$2; shift 2;;
    --stampede) STAMPEDE=$2; shift 2;;
    --io) IO=$2; shift 2;;
    *) sed -n 2,13p "$0"; exit 2;;
  esac
done
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -le $((COUNT + 100)) ]; then
  echo "ulimit -n is $(ulimit -n): too low for $COUNT connections" >&2; exit 2
fi
WORK=$(mktemp -d)
# Memory only (the default is a journal in data/ under the working directory):
# this measures sockets, not the journal, and leaves nothing behind.
MEMORY_ONLY=()
"$STAMPEDE" --help 2>/dev/null | grep -q -- --data-dir && MEMORY_ONLY=(--data-dir none)
BROKER_PID= CLIENT_PID=
cleanup() {
  [ -n "$CLIENT_PID" ] && kill "$CLIENT_PID" 2>/dev/null
  [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null
  wait 2>/dev/null; rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss() { awk '/^VmRSS/ {print $2 * 1024}' /proc/"$1"/status; }
stat_connections() { curl -sf "127.0.0.1:$AP/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["broker"]["connections"])'; }
# Live writer fibers: each connection's writer ends 1 s after its last output.
stat_writers() { curl -sf "127.0.0.1:$AP/stats" | python3 -c 'import json,sys; print(sum(s["fibers"] for s in json.load(sys.stdin)["stacks"] if s["kind"] == "session.writer"))'; }
stat_reader_stacks() { curl -sf "127.0.0.1:$AP/stats" | python3 -c 'import json,sys; print(sum(s["resident_bytes"] for s in json.load(sys.stdin)["stacks"] if s["kind"] == "session.reader"))'; }
# The idle state: no writer left, and RSS no longer falling (the memory
# monitor gives back what the connection burst freed once the heap has
# settled): three samples a second apart with no drop, at most 60 s.
settle() {
  until [ "$(stat_writers)" -eq 0 ]; do sleep 0.5; done
  local last best=$(rss $BROKER_PID) same=0
  for _ in $(seq 60); do
    sleep 1; last=$(rss $BROKER_PID)
    if [ "$last" -lt "$best" ]; then best=$last same=0; else same=$((same + 1)); fi
    [ $same -ge 3 ] && break
  done
  echo "$best"
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj /CN=localhost -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
echo "broker: $("$STAMPEDE" --version 2>&1 | head -1); $COUNT idle connections; load: $(cut -d' ' -f1-3 /proc/loadavg)"
for T in ${TRANSPORTS//,/ }; do
  TP=$(free_port) WP=$(free_port) SP=$(free_port) AP=$(free_port)
  cat > "$WORK/config.json" <<JSON
{"listeners": [{"name": "tcp", "port": $TP},
               {"name": "ws", "port": $WP, "websocket": {"path": "/ws"}},
               {"name": "wss", "port": $SP, "websocket": {"path": "/ws"},
                "tls": {"certificate": "$WORK/cert.pem", "private_key": "$WORK/key.pem"}}],
 "limits": {"max_connections": $((COUNT * 2))}}
JSON
  "$STAMPEDE" "${MEMORY_ONLY[@]}" --config "$WORK/config.json" --io "$IO" --admin 127.0.0.1:$AP >"$WORK/broker-$T.log" 2>&1 &
  BROKER_PID=$!
  for _ in $(seq 100); do curl -sf 127.0.0.1:$AP/healthz >/dev/null && break; sleep 0.1; done
  sleep 1
  R0=$(rss $BROKER_PID)
  case $T in tcp) P=$TP;; ws) P=$WP;; wss) P=$SP;; esac
  node "$ROOT/benchmarks/websocket/idle_clients.mjs" --transport "$T" --port "$P" \
       --count "$COUNT" --concurrency 200 > "$WORK/client-$T.json" 2>"$WORK/client-$T.err" &
  CLIENT_PID=$!
  until [ -s "$WORK/client-$T.json" ]; do
    kill -0 $CLIENT_PID 2>/dev/null || { cat "$WORK/client-$T.err" >&2; exit 1; }
    sleep 0.5
  done
  N=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["established"])' "$WORK/client-$T.json")
  # Barrier: the broker counts every established connection.
  until [ "$(stat_connections)" -ge "$N" ]; do sleep 0.5; done
  R1=$(rss $BROKER_PID)
  R2=$(settle)
  STACKS=$(stat_reader_stacks)
  python3 - "$T" "$N" "$R0" "$R1" "$R2" "$STACKS" "$WORK/client-$T.json" <<'PY'
import json, sys
t, n, r0, r1, r2, stacks = sys.argv[1], *map(int, sys.argv[2:7])
client = json.load(open(sys.argv[7]))
per = lambda b: round(b / n) if n else None
print(json.dumps({"transport": t, "connections": n, "failed": client["failed"],
                  "failures": client["failures"], "rss_before": r0,
                  "rss_connected": r1, "rss_idle": r2,
                  "bytes_per_connection": per(r2 - r0),
                  "bytes_per_connection_at_connect": per(r1 - r0),
                  "reader_stack_per_connection": per(stacks),
                  "connect_seconds": client["seconds"]}))
PY
  kill "$CLIENT_PID"; wait "$CLIENT_PID" 2>/dev/null || true; CLIENT_PID=
  kill "$BROKER_PID"; wait "$BROKER_PID" 2>/dev/null || true; BROKER_PID=
done
