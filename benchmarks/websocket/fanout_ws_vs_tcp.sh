#!/usr/bin/env bash
# The fanout phase over TCP and over WebSocket against ONE broker process
# (one build, one configuration), interleaved tcp, ws, tcp, ws, ... ROUNDS
# times; prints each run's delivery rate and the median ratio ws/tcp.
#
#   benchmarks/websocket/fanout_ws_vs_tcp.sh [--rounds 3] [--subscribers 20]
#       [--messages 5000] [--body-size 1024] [--stampede build/stampede]
#       [--broker-ws HOST:PORT --broker-tcp HOST:PORT]   (a running broker instead)
#       [--login L --passcode P] [--driver python|native] [--policy block|drop]
#
# One driver for both transports: the Python one (default;
# benchmarks/driver/stampede_load.py) or the native one (build/stampede-load,
# Boost.Beast's client over WebSocket), which finds the broker's ceiling
# rather than the Python client's. The broker's slow-consumer
# policy is `block` here, so that a client slowed by the loaded machine holds
# the publisher instead of losing topic messages: every run must be complete
# and the rate compares like with like. The broker's own CPU time per
# delivery (from /proc, when this script started it) separates its cost
# from the Python client's.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ROUNDS=3 SUBS=20 MSGS=5000 BODY=1024 STAMPEDE=$ROOT/build/stampede WS= TCP= AUTH=() DRIVER=python
POLICY=block
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2;;
    --subscribers) SUBS=$2; shift 2;;
    --messages) MSGS=$2; shift 2;;
    --body-size) BODY=$2; shift 2;;
    --stampede) STAMPEDE=$2; shift 2;;
    --broker-ws) WS=$2; shift 2;;
    --broker-tcp) TCP=$2; shift 2;;
    --login) AUTH+=(--login "$2"); shift 2;;
    --passcode) AUTH+=(--passcode "$2"); shift 2;;
    --driver) DRIVER=$2; shift 2;;
    --policy) POLICY=$2; shift 2;;
    *) sed -n 2,19p "$0"; exit 2;;
  esac
done
WORK=$(mktemp -d)
# Memory only (the default is a journal in data/ under the working directory):
# this measures sockets, not the journal, and leaves nothing behind.
MEMORY_ONLY=()
"$STAMPEDE" --help 2>/dev/null | grep -q -- --data-dir && MEMORY_ONLY=(--data-dir none)
BROKER_PID=
cleanup() { [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
if [ -z "$WS" ]; then
  TP=$(free_port); WP=$(free_port); AP=$(free_port)
  cat > "$WORK/config.json" <<JSON
{"listeners": [{"name": "stomp", "port": $TP}, {"name": "web", "port": $WP, "websocket": {"path": "/ws"}}],
 "outbound": {"slow_consumer": "$POLICY"}}
JSON
  "$STAMPEDE" "${MEMORY_ONLY[@]}" --config "$WORK/config.json" --admin 127.0.0.1:$AP >"$WORK/broker.log" 2>&1 &
  BROKER_PID=$!
  for _ in $(seq 100); do curl -sf 127.0.0.1:$AP/healthz >/dev/null && break; sleep 0.1; done
  WS=127.0.0.1:$WP TCP=127.0.0.1:$TP
  echo "broker: $("$STAMPEDE" --version 2>&1 | head -1), pid $BROKER_PID, tcp $TCP, ws $WS" >&2
fi
cpu_ticks() {  # the broker's user+system CPU in clock ticks (-1: a broker not ours)
  if [ -n "$BROKER_PID" ]; then awk '{print $14 + $15}' /proc/$BROKER_PID/stat; else echo -1; fi
}
run() {  # transport host:port -> one line of JSON summary
  local t=$1 hp=$2 c0 c1
  c0=$(cpu_ticks)
  local cmd=(python3 "$ROOT/benchmarks/driver/stampede_load.py")
  [ "$DRIVER" = native ] && cmd=("$ROOT/build/stampede-load")
  "${cmd[@]}" fanout --host "${hp%:*}" --port "${hp##*:}" \
      "${AUTH[@]}" --transport "$t" --subscribers "$SUBS" --messages "$MSGS" --body-size "$BODY" \
      --drain-timeout 20 2>/dev/null > "$WORK/$t.json" || true
  c1=$(cpu_ticks)
  python3 - "$t" "$WORK/$t.json" "$c0" "$c1" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[2]))
c0, c1 = int(sys.argv[3]), int(sys.argv[4])
cpu_s = (c1 - c0) / os.sysconf("SC_CLK_TCK") if c0 >= 0 else None
print(json.dumps({"transport": sys.argv[1], "delivery_rate": d["delivery_rate"],
                  "dropped": d.get("broker_dropped", d.get("dropped")),
                  "missing": d.get("missing"),
                  "broker_cpu_us_per_delivery":
                      cpu_s * 1e6 / max(1, d["delivered"]) if cpu_s is not None else None,
                  "publish_rate": d["publish_rate"], "complete": d["complete"],
                  "delivered": d["delivered"], "p50_ms": d["latency_ns"]["p50"] / 1e6,
                  "p99_ms": d["latency_ns"]["p99"] / 1e6}))
PY
}
for i in $(seq "$ROUNDS"); do
  run tcp "$TCP" | tee -a "$WORK/all.jsonl"
  run ws "$WS" | tee -a "$WORK/all.jsonl"
done
python3 - "$WORK/all.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = {t: statistics.median(r["delivery_rate"] for r in rows if r["transport"] == t)
       for t in ("tcp", "ws")}
ok = all(r["complete"] for r in rows)
cpu = {t: [r["broker_cpu_us_per_delivery"] for r in rows
           if r["transport"] == t and r["broker_cpu_us_per_delivery"] is not None]
       for t in ("tcp", "ws")}
print("median deliveries/s: tcp %.0f  ws %.0f  ratio ws/tcp %.2f  (all complete: %s)"
      % (med["tcp"], med["ws"], med["ws"] / med["tcp"], ok))
if cpu["tcp"] and cpu["ws"]:
    c = {t: statistics.median(v) for t, v in cpu.items()}
    print("median broker CPU per delivery: tcp %.2f us  ws %.2f us  ratio ws/tcp %.2f"
          % (c["tcp"], c["ws"], c["ws"] / c["tcp"]))
PY
