#!/usr/bin/env python3
"""Priority queue against plain queue throughput in Stampede (issue 13).

    STAMPEDE_BIN=build/stampede tests/destinations/priority_throughput.py \
        [--messages 20000] [--repeats 3] [--body-size 100]

Each repetition, for each mode, on a fresh queue of one broker:
  fill:  one connection writes N SENDs back to back (the last with a
         receipt) to a queue with no consumer, so that the queue holds all N;
         timed until that RECEIPT (the queue has stored every message).
  drain: one consumer (ack:auto) SUBSCRIBEs and reads all N MESSAGEs.
Modes: `plain` (no priority header: every message at the default level) and
`priority` (priority 0-9, seeded random per message, so every level is busy
and the anti-starvation rule runs). The modes alternate within a repetition,
so load from others on the machine falls on both; medians are printed with
the ratio priority/plain. The client is one Python thread per side, so the
absolute rates include its cost, and on a loaded machine the wall-clock
rates swing widely; the broker's own CPU time per message (from
/proc/PID/task/*/schedstat, when this script started the broker) is steadier, and printed
beside them.
"""

import argparse
import os
import random
import select
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))

from stampede_test import Broker, Client, encode_frame  # noqa: E402


def fill(port, queue, count, body, priorities):
    c = Client(port)
    c.connect("1.2", host="/")
    frames = []
    for i in range(count):
        h = {"destination": queue}
        if priorities:
            h["priority"] = str(priorities[i])
        if i == count - 1:
            h["receipt"] = "last"
        frames.append(encode_frame("SEND", h, body))
    blob = b"".join(frames)
    start = time.perf_counter()
    c.send_raw(blob)
    c.expect("RECEIPT", {"receipt-id": "last"}, timeout=120)
    elapsed = time.perf_counter() - start
    c.close()
    return elapsed


def drain(port, queue, count):
    """Reads until `count` MESSAGE frames have arrived: bodies hold no NUL,
    so each NUL ends one frame (the RECEIPT of the SUBSCRIBE is one more)."""
    c = Client(port)
    c.connect("1.2", host="/")
    sock = c.sock
    start = time.perf_counter()
    sock.sendall(encode_frame("SUBSCRIBE", {"destination": queue, "id": "d", "ack": "auto",
                                            "receipt": "sub"}))
    wanted = count + 1
    seen = 0
    data = []
    deadline = time.monotonic() + 120
    while seen < wanted:
        if time.monotonic() > deadline:
            raise TimeoutError("drained %d of %d" % (seen - 1, count))
        ready, _, _ = select.select([sock], [], [], 5)
        if not ready:
            continue
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("broker closed after %d messages" % (seen - 1))
        seen += chunk.count(b"\0")
        data.append(chunk)
    elapsed = time.perf_counter() - start
    c.close()
    return elapsed, b"".join(data)


def levels_in_order(raw):
    """The priority of each delivered message, in delivery order."""
    out = []
    for frame in raw.split(b"\0"):
        if frame.lstrip(b"\n").startswith(b"MESSAGE"):
            head = frame.split(b"\n\n", 1)[0]
            level = [line[9:] for line in head.split(b"\n") if line.startswith(b"priority:")]
            out.append(int(level[0]) if level else None)
    return out


def cpu_seconds(pid):
    """The broker's CPU time so far, all threads, in ns resolution
    (/proc/PID/task/*/schedstat; /proc/PID/stat counts 10 ms ticks). Threads
    that ended before the call are not counted: the broker's are long-lived."""
    if not pid:
        return 0.0
    total = 0
    for task in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, task)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=20000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--body-size", type=int, default=100)
    p.add_argument("--port", type=int, help="a running Stampede (default: start build/stampede)")
    args = p.parse_args()
    body = b"x" * args.body_size
    rng = random.Random(13)
    results = {m: {"fill": [], "drain": [], "fill_cpu": [], "drain_cpu": []}
               for m in ("plain", "priority")}
    broker = None
    port = args.port
    pid = None
    if not port:
        broker = Broker(admin=False, schedulers=2)
        broker.start()
        port = broker.port
        pid = broker.pid()
    try:
        for rep in range(args.repeats):
            for mode in ("plain", "priority") if rep % 2 == 0 else ("priority", "plain"):
                q = "/queue/prio-bench-%s-%d-%d" % (mode, rep, os.getpid())
                prios = [rng.randrange(10) for _ in range(args.messages)] if mode == "priority" \
                    else None
                c0 = cpu_seconds(pid)
                f = fill(port, q, args.messages, body, prios)
                c1 = cpu_seconds(pid)
                d, raw = drain(port, q, args.messages)
                c2 = cpu_seconds(pid)
                results[mode]["fill_cpu"].append((c1 - c0) / args.messages * 1e6)
                results[mode]["drain_cpu"].append((c2 - c1) / args.messages * 1e6)
                levels = levels_in_order(raw)
                if len(levels) != args.messages:
                    raise AssertionError("%s: %d of %d delivered" % (mode, len(levels),
                                                                     args.messages))
                results[mode]["fill"].append(args.messages / f)
                results[mode]["drain"].append(args.messages / d)
                head = levels[:args.messages // 10]
                print("rep %d %-8s fill %7.0f msg/s %5.1f cpu-us/msg  drain %7.0f msg/s %5.1f "
                      "cpu-us/msg  first 10%% of deliveries: levels %s" % (
                          rep, mode, args.messages / f, results[mode]["fill_cpu"][-1],
                          args.messages / d, results[mode]["drain_cpu"][-1],
                          sorted(set(head), key=lambda v: -1 if v is None else -v)),
                      flush=True)
    finally:
        if broker:
            broker.stop()
    try:
        load = open("/proc/loadavg").read().split()[:3]
    except OSError:
        load = ["?"]
    print("\n%d messages of %d B, median of %d, load average %s" % (
        args.messages, args.body_size, args.repeats, " ".join(load)))
    for phase in ("fill", "drain"):
        plain = statistics.median(results["plain"][phase])
        prio = statistics.median(results["priority"][phase])
        print("%-5s plain %7.0f msg/s  priority %7.0f msg/s  ratio %.2f" % (
            phase, plain, prio, prio / plain))
        if pid:
            plain = statistics.median(results["plain"][phase + "_cpu"])
            prio = statistics.median(results["priority"][phase + "_cpu"])
            print("%-5s broker CPU per message: plain %.2f us  priority %.2f us  ratio %.2f" % (
                phase, plain, prio, prio / plain if plain else float("nan")))


if __name__ == "__main__":
    main()
