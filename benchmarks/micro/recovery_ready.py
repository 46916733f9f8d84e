#!/usr/bin/env python3
"""Broker start-up on a journal of N pending persistent messages (issue 10).

    benchmarks/micro/recovery_ready.py [--bin build/stampede] [--load build/stampede-load]
                                       [--messages 1000000] [--body-size 512] [--reps 3]
                                       [--how kill|term]

Fills one durable queue of a fresh broker with N receipted persistent:true
SENDs (build/stampede-load's crash scenario without consumers and without a
kill; journal.sync never for the fill only, which changes how fast the
journal is written, not what it holds), ends the broker (SIGKILL by default,
or SIGTERM), then starts it again on the same data directory `--reps` times
(ending each the same way) and prints, per start: seconds from spawn to the
STOMP port listening (recovery runs before the listeners open, so this is
"ready"), seconds from spawn to the first MESSAGE a subscriber gets, the
broker's own "recovered in" figure and its RSS once ready. Medians too.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
import stampede_test  # noqa: E402

QUEUE = "/queue/recovery"
RECOVERED = re.compile(r"recovered in (\d+) ms, (\d+) message")


def fill(load, port, messages, body_size):
    cmd = [load, "crash", "--port", str(port), "--producers", "8", "--consumers", "0",
           "--window", "100", "--messages", str(messages), "--body-size", str(body_size),
           "--destination", QUEUE, "--drain-timeout", "1", "--timeout", "3600"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3700)
    lines = [line for line in out.stdout.splitlines() if line.strip().startswith("{")]
    if not lines:
        raise RuntimeError("the load driver printed nothing: " + out.stderr[-2000:])
    return json.loads(lines[-1])


def end(broker, how):
    if how == "kill":
        broker.process.send_signal(signal.SIGKILL)
        broker.process.wait()
    broker.stop(timeout=300)


def first_message_after(port, started):
    """Seconds from `started` to the first MESSAGE of QUEUE on a new subscriber."""
    c = stampede_test.Client(port)
    try:
        c.connect()
        c.subscribe(QUEUE, ack="client-individual", headers={"prefetch-count": "1"})
        c.await_frame("MESSAGE", timeout=120)
        return time.monotonic() - started
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "stampede"))
    ap.add_argument("--load", default=os.path.join(ROOT, "build", "stampede-load"))
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--body-size", type=int, default=512)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--how", choices=("kill", "term"), default="kill")
    args = ap.parse_args()
    stampede_test.STAMPEDE_BIN = os.path.abspath(args.bin)
    data = tempfile.mkdtemp(prefix="stampede-recovery-")
    # Room for every message: the queue limits are what would drop them.
    limits = {"max_length": 2 * args.messages, "max_bytes": 4 * args.messages * args.body_size}
    config = {"queues": limits}
    try:
        filling = stampede_test.Broker(config=dict(config, journal={"sync": "never"}),
                                       data_dir=data, admin=True, start_timeout=600).start()
        t = time.monotonic()
        result = fill(os.path.abspath(args.load), filling.port, args.messages, args.body_size)
        fill_s = time.monotonic() - t
        depth = (filling.destination_stats(QUEUE) or {}).get("depth")
        end(filling, args.how)
        runs = []
        for _ in range(args.reps):
            broker = stampede_test.Broker(config=config, data_dir=data, admin=False,
                                          start_timeout=600)
            spawn = time.monotonic()
            broker.start()
            ready = time.monotonic() - spawn
            rss = broker.rss_bytes()
            first = first_message_after(broker.port, spawn)
            match = RECOVERED.search(broker.log())
            runs.append({"ready_s": round(ready, 3), "first_message_s": round(first, 3),
                         "recovered_ms": int(match.group(1)) if match else None,
                         "recovered_messages": int(match.group(2)) if match else None,
                         "rss_ready_mib": round(rss / 2**20, 1)})
            print(runs[-1], file=sys.stderr)
            end(broker, args.how)
        disk = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data))
        print(json.dumps({
            "messages": args.messages, "body_size": args.body_size, "how": args.how,
            "fill": {"receipted": result.get("receipted"), "seconds": round(fill_s, 1),
                     "queue_depth": depth},
            "data_dir_bytes": disk, "runs": runs,
            "median": {k: statistics.median(r[k] for r in runs)
                       for k in ("ready_s", "first_message_s", "rss_ready_mib")},
            "load": open("/proc/loadavg").read().split()[:3]}, indent=2))
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
