#!/usr/bin/env python3
"""Fresh-broker fanout and queue runs, variants interleaved per round (ABAB),
per-round ratios against the first variant, medians; load average per run.

usage: fresh_abab.py ROUNDS NAME=BROKER_BIN [NAME=BROKER_BIN ...]
env: FAN_SUBS (200), FAN_MSGS (2000 per publisher, 2 publishers, 1 KiB),
QUE_MSGS (50000, 4 consumers, 2 producers, 1 KiB, prefetch 100), OUT (json).
NOTES.md "No throughput loss" and "Throughput against the commit before the
session cut"."""
import json, os, socket, statistics, subprocess, sys, time
LOAD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "stampede-load")
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def run(binary, scenario, params):
    port = free_port()
    b = subprocess.Popen([binary, "--listen", "127.0.0.1:%d" % port, "--admin", "off", "--data-dir", "none"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close(); break
            except OSError: time.sleep(0.05)
        args = [LOAD, scenario, "--port", str(port)]
        for k, v in params.items(): args += ["--" + k.replace("_", "-"), str(v)]
        load = os.getloadavg()[0]
        out = subprocess.run(args, capture_output=True, text=True, timeout=900).stdout
        d = json.loads(out.strip().splitlines()[-1])
        return d, load
    finally:
        b.terminate(); b.wait(15)
variants = [v.split("=", 1) for v in sys.argv[2:]]
rounds = int(sys.argv[1])
FAN = dict(subscribers=int(os.environ.get("FAN_SUBS", 200)), publishers=2,
           messages=int(os.environ.get("FAN_MSGS", 2000)), body_size=1024)
QUE = dict(consumers=4, producers=2, messages=int(os.environ.get("QUE_MSGS", 50000)),
           body_size=1024, prefetch=100)
rows = []
for r in range(rounds):
    for name, binary in variants:
        f, lf = run(binary, "fanout", FAN)
        q, lq = run(binary, "queue", QUE)
        row = dict(round=r, variant=name, fanout=f.get("delivery_rate"), queue=q.get("throughput"),
                   load_f=lf, load_q=lq, lost=q.get("lost"), missing=f.get("missing"))
        rows.append(row)
        print("round %d %-10s fanout %9.0f/s (load %.1f)  queue %8.0f/s (load %.1f)" %
              (r, name, row["fanout"] or 0, lf, row["queue"] or 0, lq), flush=True)
base = variants[0][0]
for name, _ in variants:
    for k in ("fanout", "queue"):
        vals = [x[k] for x in rows if x["variant"] == name]
        ratios = []
        for r in range(rounds):
            a = [x[k] for x in rows if x["variant"] == name and x["round"] == r]
            b = [x[k] for x in rows if x["variant"] == base and x["round"] == r]
            if a and b and b[0]: ratios.append(a[0] / b[0])
        print("%-10s %-6s median %9.0f/s  per-round ratios vs %s: %s  median %.3f" %
              (name, k, statistics.median(vals), base, " ".join("%.2f" % x for x in ratios),
               statistics.median(ratios)))
loads = [x["load_f"] for x in rows] + [x["load_q"] for x in rows]
print("load average (1 min) during the runs: min %.1f median %.1f max %.1f" %
      (min(loads), statistics.median(loads), max(loads)))
json.dump(rows, open(os.environ.get("OUT", "/tmp/perf-abab.json"), "w"), indent=1)
