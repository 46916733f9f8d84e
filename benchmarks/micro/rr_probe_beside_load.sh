#!/bin/bash
# rr probe: closed-loop request-reply from its own process, alone / beside a
# topic fan-out (+ 64 KiB topic stand-in for bulk) on the same broker / on another broker.
# usage: rr_probe_beside_load.sh [BROKER_BIN] [ROUNDS]
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$ROOT/build/stampede}; ROUNDS=${2:-3}
LOAD=$ROOT/build/stampede-load
$BIN --listen 127.0.0.1:62811 --admin off --data-dir none --schedulers 2 >/dev/null 2>&1 & B1=$!
$BIN --listen 127.0.0.1:62812 --admin off --data-dir none --schedulers 2 >/dev/null 2>&1 & B2=$!
sleep 0.5
probe() { $LOAD request-reply --port 62811 --requests 3000 --body-size 128 2>/dev/null | python3 -c '
import json,sys; d=json.load(sys.stdin); r=d["rtt_ns"]; print("p50 %.3f p90 %.3f p99 %.3f ms" % (r["p50"]/1e6, r["p90"]/1e6, r["p99"]/1e6))'; }
bg() { # port
  $LOAD fanout --port $1 --subscribers 10 --publishers 1 --rate 2000 --body-size 256 --messages 16000 >/dev/null 2>&1 &
  $LOAD fanout --port $1 --subscribers 2 --publishers 1 --rate 50 --body-size 65536 --messages 400 --destination /topic/bulkish >/dev/null 2>&1 &
  sleep 1.5
}
for r in $(seq 1 $ROUNDS); do
  echo "round $r load $(cut -d' ' -f1 /proc/loadavg)"
  echo -n "  alone:        "; probe
  bg 62811; echo -n "  bg same:      "; probe; wait $(jobs -p | grep -v -e $B1 -e $B2) 2>/dev/null
  bg 62812; echo -n "  bg other:     "; probe; wait $(jobs -p | grep -v -e $B1 -e $B2) 2>/dev/null
done
kill $B1 $B2
