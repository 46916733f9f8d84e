#!/usr/bin/env python3
"""Allocator A/B for issue 14: idle RSS before a queue burst, at its peak and
after it, and the queue and fanout throughput, for several broker variants,
interleaved (round 1: A B C, round 2: A B C, ...) because the machine is
shared and its load drifts.

  benchmarks/micro/rss_after_burst.py [--rounds 3] [--variant 'NAME=BIN[;ENV=VAL...]']...

A variant is a broker binary and the environment it runs with (';' apart), e.g.
  --variant glibc=build/stampede
  --variant 'je=build/stampede;LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2'
Without --variant: build/stampede as it is.

Per run, each on a fresh broker (build/stampede-load drives the load):
  1. idle RSS: median over 2 s after start;
  2. queue: 200,000 messages of 256 B, 4 consumers, 2 producers (the issue's
     burst); RSS sampled every 50 ms, peak kept;
  3. RSS polled for --after seconds once the driver has exited (every client
     gone, nothing queued): the value at +10 s, at the end, and the first
     time it came within 20% of the idle level;
  4. fanout: 50 subscribers, 2 publishers, 10,000 messages of 1 KiB, on the
     same broker (its throughput only).
Prints one JSON document: per-run rows and per-variant medians.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOAD = os.environ.get("STAMPEDE_BENCH_NATIVE") or os.path.join(ROOT, "build", "stampede-load")


def rss(pid):
    with open("/proc/%d/statm" % pid) as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss(self.pid))
            time.sleep(0.05)


def drive(scenario, port, params):
    cmd = [LOAD, scenario, "--host", "127.0.0.1", "--port", str(port), "--vhost", "/"]
    for k, v in params.items():
        cmd += ["--" + k.replace("_", "-"), str(v)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    # A non-zero exit with a JSON result is a run that lost messages (a
    # subscriber dropped on a loaded machine): its rate still counts.
    if not out.stdout.strip():
        raise RuntimeError("%s failed: %s" % (scenario, out.stderr[-2000:]))
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory_only_args(binary):
    """`--data-dir none` for a build that has a journal (its default is data/
    under the working directory): this measures memory, not the journal, and
    must leave nothing behind. Older builds have no such flag."""
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    return ["--data-dir", "none"] if "--data-dir" in out.stdout else []


def one_run(binary, env, after, schedulers):
    port = free_port()
    cmd = [binary, "--listen", "127.0.0.1:%d" % port] + memory_only_args(binary)
    if schedulers:
        cmd += ["--schedulers", str(schedulers)]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, env=dict(os.environ, **env), stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        if not wait_port(port, proc):
            log.seek(0)
            raise RuntimeError("broker did not start: " + log.read().decode()[-2000:])
        idle = []
        for _ in range(20):
            idle.append(rss(proc.pid))
            time.sleep(0.1)
        before = statistics.median(idle)
        sampler = Sampler(proc.pid)
        sampler.start()
        q = drive("queue", port, dict(consumers=4, producers=2, messages=200000,
                                      body_size=256, prefetch=100))
        done = time.monotonic()
        sampler.stop.set()
        sampler.join()
        trace, within = [], None
        while time.monotonic() - done < after:
            t = time.monotonic() - done
            r = rss(proc.pid)
            trace.append((round(t, 2), r))
            if within is None and r <= 1.2 * before:
                within = t
            time.sleep(0.25)
        at10 = next((r for t, r in trace if t >= 10.0), trace[-1][1])
        f = drive("fanout", port, dict(subscribers=50, publishers=2, messages=10000,
                                       body_size=1024))
        return {"rss_idle_before": before, "rss_peak": max(sampler.peak, trace[0][1]),
                "rss_after_10s": at10, "rss_after_end": trace[-1][1],
                "seconds_to_within_20pct": within,
                "after_over_before_10s": at10 / before,
                "queue_throughput": q.get("throughput"), "queue_lost": q.get("lost"),
                "fanout_delivery_rate": f.get("delivery_rate")}
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def parse_variant(text):
    name, spec = text.split("=", 1)
    parts = spec.split(";")
    env = dict(p.split("=", 1) for p in parts[1:])
    return name, parts[0], env


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--after", type=float, default=12.0, help="seconds of idle polling")
    ap.add_argument("--schedulers", type=int, default=0)
    ap.add_argument("--variant", action="append", default=[])
    a = ap.parse_args()
    variants = [parse_variant(v) for v in a.variant] or [
        ("default", os.path.join(ROOT, "build", "stampede"), {})]
    rows = []
    for rnd in range(a.rounds):
        for name, binary, env in variants:
            r = one_run(binary, env, a.after, a.schedulers)
            r.update(variant=name, round=rnd)
            rows.append(r)
            print("round %d %-12s idle %5.1f MiB peak %6.1f +10s %6.1f (%.0f%%) "
                  "queue %7.0f/s fanout %8.0f/s" %
                  (rnd, name, r["rss_idle_before"] / 2**20, r["rss_peak"] / 2**20,
                   r["rss_after_10s"] / 2**20, 100 * r["after_over_before_10s"],
                   r["queue_throughput"] or 0, r["fanout_delivery_rate"] or 0),
                  file=sys.stderr, flush=True)
    summary = {}
    base = variants[0][0]
    for name, _, _ in variants:
        mine = [r for r in rows if r["variant"] == name]
        med = {k: statistics.median(r[k] for r in mine)
               for k in ("rss_idle_before", "rss_peak", "rss_after_10s", "rss_after_end",
                         "after_over_before_10s", "queue_throughput", "fanout_delivery_rate")}
        # Ratios within a round (against the first variant), then their median.
        for k in ("queue_throughput", "fanout_delivery_rate"):
            ratios = []
            for rnd in range(a.rounds):
                mine_r = [r for r in rows if r["variant"] == name and r["round"] == rnd]
                ref = [r for r in rows if r["variant"] == base and r["round"] == rnd]
                if mine_r and ref and ref[0][k]:
                    ratios.append(mine_r[0][k] / ref[0][k])
            med[k + "_ratio_vs_" + base] = statistics.median(ratios) if ratios else None
        summary[name] = med
    print(json.dumps({"variants": [{"name": n, "binary": b, "env": e} for n, b, e in variants],
                      "runs": rows, "medians": summary}, indent=1))


if __name__ == "__main__":
    main()
