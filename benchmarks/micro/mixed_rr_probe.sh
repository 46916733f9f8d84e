#!/bin/bash
# The mixed scenario against one broker, and beside it an outside request/reply
# probe (its own process, closed loop) in 300-request chunks with wall times.
# usage: mixed_rr_probe.sh [BROKER_BIN] [OUT_PREFIX] [STAGE_SECONDS]
# Prints the driver's own per-class p50/p99 (alone -> mixed) and the outside
# probe's per stage: NOTES.md "Request/reply in the mixed phase".
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${1:-$ROOT/build/stampede}; OUT=${2:-/tmp/mixed-rr-probe}; SS=${3:-12}
LOAD=$ROOT/build/stampede-load
$BIN --listen 127.0.0.1:62821 --admin off --data-dir none --schedulers 2 >/dev/null 2>&1 & B=$!
sleep 0.5
( while kill -0 $B 2>/dev/null; do
    t=$(date +%s.%N)
    $LOAD request-reply --port 62821 --requests 300 --body-size 128 2>/dev/null | python3 -c '
import json,sys; d=json.load(sys.stdin); r=d["rtt_ns"]; print(sys.argv[1], r["p50"], r["p99"])' $t || break
  done ) > $OUT.probe &
P=$!
t0=$(date +%s.%N)
$LOAD mixed --port 62821 --stage-seconds $SS > $OUT.json 2> $OUT.err
t1=$(date +%s.%N)
kill $B; wait $P 2>/dev/null
echo "$t0 $t1" > $OUT.times
python3 "$ROOT/benchmarks/micro/mixed_rr_probe_align.py" "$OUT"
python3 - $OUT <<'PY'
import json,sys
o=sys.argv[1]; d=json.load(open(o+'.json'))
t0=d["t0_ns"]; 
for k,v in d["classes"].items():
    print(k, "alone p50 %.2f p99 %.1f | mixed p50 %.2f p99 %.1f ms" % (v["alone"]["latency_ns"]["p50"]/1e6, v["alone"]["latency_ns"]["p99"]/1e6, v["mixed"]["latency_ns"]["p50"]/1e6, v["mixed"]["latency_ns"]["p99"]/1e6))
PY
