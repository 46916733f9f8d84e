#!/usr/bin/env python3
"""A queue larger than memory (issue 10): broker RSS while N persistent
messages fill one durable queue, after a restart, and while it drains.

    benchmarks/micro/paged_queue.py [--bin build/stampede] [--messages 1000000]
        [--size 1024] [--producers 16] [--window 64] [--sync always]
        [--budget BYTES] [--data-dir DIR] [--keep]

One broker on a fresh data directory (removed at the end unless --keep).
P producer connections (one asyncio loop) each keep W persistent SENDs with a
RECEIPT in flight to /queue/paged until N are receipted; RSS is sampled from
/proc every 0.25 s meanwhile. Then GET /stats (the queue's depth, paged
messages and bytes), SIGTERM, and a restart on the same directory: "ready" is
from the spawn to the listener's log line (the journal is recovered and the
queues refilled before the listener opens), "first delivery" until a
consumer's first MESSAGE. One consumer (auto ack, prefetch 1000) then drains
the queue, checking that each body carries its producer's next number, while
RSS is sampled again.

Prints one JSON document. --budget sets queues.memory_budget (default: the
broker's own default). Run the binary of another build with --bin to compare
(a broker without paging holds every message in memory). Single run: read
the figures with the machine's load, printed with them.
"""

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "support"))
import stampede_test  # noqa: E402

MiB = 1 << 20


def frame(command, headers, body=b""):
    head = command + "\n" + "".join("%s:%s\n" % kv for kv in headers.items())
    return head.encode() + b"\n" + body + b"\0"


async def read_frame(reader):
    raw = await reader.readuntil(b"\0")
    return raw.lstrip(b"\r\n")


async def connect(port):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    writer.write(frame("CONNECT", {"accept-version": "1.2", "host": "/"}))
    await writer.drain()
    if not (await read_frame(reader)).startswith(b"CONNECTED"):
        raise RuntimeError("no CONNECTED")
    return reader, writer


def body_of(producer, n, size):
    head = b"%d:%d:" % (producer, n)
    return head + b"x" * (size - len(head))


async def producer(port, index, count, size, window):
    reader, writer = await connect(port)
    headers = {"destination": "/queue/paged", "persistent": "true",
               "content-length": str(size)}
    sent = 0
    confirmed = 0
    while confirmed < count:
        while sent < count and sent - confirmed < window:
            headers["receipt"] = str(sent)
            writer.write(frame("SEND", headers, body_of(index, sent, size)))
            sent += 1
        await writer.drain()
        got = await read_frame(reader)
        if not got.startswith(b"RECEIPT"):
            raise RuntimeError("expected a RECEIPT, got %r" % got[:300])
        confirmed += 1
    writer.close()


async def fill(port, messages, producers, size, window):
    share = [messages // producers + (1 if i < messages % producers else 0)
             for i in range(producers)]
    await asyncio.gather(*(producer(port, i, share[i], size, window)
                           for i in range(producers)))
    return share


async def drain(port, share, size, first_delivery, limit=None):
    reader, writer = await connect(port)
    writer.write(frame("SUBSCRIBE", {"destination": "/queue/paged", "id": "1", "ack": "auto",
                                     "activemq.prefetchSize": "1000"}))
    await writer.drain()
    expected = [0] * len(share)
    total = sum(share) if limit is None else min(limit, sum(share))
    got = 0
    while got < total:
        raw = await read_frame(reader)
        if got == 0:
            first_delivery.append(time.monotonic())
        if not raw.startswith(b"MESSAGE"):
            raise RuntimeError("expected a MESSAGE, got %r" % raw[:300])
        body = raw[raw.index(b"\n\n") + 2:-1]
        p, n = (int(x) for x in body.split(b":", 2)[:2])
        if n != expected[p] or len(body) != size:
            raise RuntimeError("producer %d: got message %d (%d bytes), expected %d"
                               % (p, n, len(body), expected[p]))
        expected[p] += 1
        got += 1
    writer.close()


class Sampler:
    """RSS of a process every `period` seconds, in a thread."""

    def __init__(self, pid, period=0.25):
        self.pid = pid
        self.period = period
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self):
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def _run(self):
        while not self._stop.is_set():
            rss = self._rss()
            if rss is not None:
                self.samples.append(rss)
            self._stop.wait(self.period)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self):
        s = sorted(self.samples) or [0]
        return {"max_mib": round(s[-1] / MiB, 1), "median_mib": round(s[len(s) // 2] / MiB, 1),
                "last_mib": round(self.samples[-1] / MiB, 1) if self.samples else None,
                "samples": len(self.samples)}


def start(args, data_dir, config):
    broker = stampede_test.Broker(config=config, args=["--data-dir", data_dir], admin=True,
                                  start_timeout=600)
    spawned = time.monotonic()
    broker.start()
    return broker, time.monotonic() - spawned


def queue_stats(broker):
    d = broker.destination_stats("/queue/paged") or {}
    return {k: d.get(k) for k in ("depth", "depth_bytes", "paged", "paged_bytes", "unacked")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=None)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--producers", type=int, default=16)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--sync", default="always")
    ap.add_argument("--budget", type=int, default=None)
    ap.add_argument("--data-dir", default=None, help="parent of the data directory")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--skip-drain", action="store_true")
    ap.add_argument("--drain", type=int, default=None,
                    help="drain only this many messages (a 10 M run in reasonable time)")
    ap.add_argument("--existing", default=None,
                    help="only restart on this data directory (kept) and report ready time "
                         "and RSS: compares binaries on one journal")
    args = ap.parse_args()
    if args.bin:
        stampede_test.STAMPEDE_BIN = os.path.abspath(args.bin)
    elif not os.environ.get("STAMPEDE_BIN"):
        stampede_test.STAMPEDE_BIN = os.path.abspath("build/stampede")
    # Limits out of the way: a binary without paging holds every message in
    # memory, and its default max_bytes would drop-head most of them.
    config = {"journal": {"sync": args.sync},
              "queues": {"max_length": 1_000_000_000_000, "max_bytes": 1 << 40}}
    if args.budget is not None:
        config["queues"]["memory_budget"] = args.budget
    if args.existing:
        broker, ready = start(args, args.existing, config)
        recovered = [l for l in broker.log().splitlines() if "recovered in" in l]
        print(json.dumps({"bin": stampede_test.STAMPEDE_BIN, "ready_s": round(ready, 2),
                          "rss_mib": round(broker.rss_bytes() / MiB, 1),
                          "queue": queue_stats(broker), "log": recovered[-1] if recovered else None,
                          "load_average": os.getloadavg()}, indent=2))
        broker.stop(timeout=600)
        return
    data_dir = tempfile.mkdtemp(prefix="stampede-paged-", dir=args.data_dir)
    out = {"bin": stampede_test.STAMPEDE_BIN, "messages": args.messages, "size": args.size,
           "producers": args.producers, "window": args.window, "sync": args.sync,
           "budget": args.budget, "load_average_start": os.getloadavg()}
    broker = None
    try:
        broker, ready = start(args, data_dir, config)
        out["empty_rss_mib"] = round(broker.rss_bytes() / MiB, 1)
        began = time.monotonic()
        with Sampler(broker.pid()) as fill_rss:
            share = asyncio.run(fill(broker.port, args.messages, args.producers, args.size,
                                     args.window))
        seconds = time.monotonic() - began
        out["fill"] = {"seconds": round(seconds, 1),
                       "messages_per_s": round(args.messages / seconds),
                       "rss": fill_rss.summary(), "queue": queue_stats(broker)}
        out["fill"]["rss_at_end_mib"] = round(broker.rss_bytes() / MiB, 1)
        status = broker.stop(timeout=600)
        if status != 0:
            raise RuntimeError("stampede exited %s:\n%s" % (status, broker.log()[-3000:]))
        out["disk_mib"] = round(sum(os.path.getsize(os.path.join(data_dir, f))
                                    for f in os.listdir(data_dir)) / MiB)
        broker, ready = start(args, data_dir, config)
        recovered = [l for l in broker.log().splitlines() if "recovered in" in l]
        out["restart"] = {"ready_s": round(ready, 2),
                          "rss_mib": round(broker.rss_bytes() / MiB, 1),
                          "queue": queue_stats(broker),
                          "log": recovered[-1] if recovered else None}
        if not args.skip_drain:
            first = []
            began = time.monotonic()
            with Sampler(broker.pid()) as drain_rss:
                asyncio.run(drain(broker.port, share, args.size, first, args.drain))
            seconds = time.monotonic() - began
            drained = args.messages if args.drain is None else min(args.drain, args.messages)
            out["drain"] = {"messages": drained, "seconds": round(seconds, 1),
                            "messages_per_s": round(drained / seconds),
                            "first_delivery_s": round(first[0] - began, 3) if first else None,
                            "rss": drain_rss.summary(), "queue": queue_stats(broker)}
        out["load_average_end"] = os.getloadavg()
        status = broker.stop(timeout=600)
        broker = None
        if status != 0:
            raise RuntimeError("stampede exited %s" % status)
    finally:
        if broker is not None and broker.process.poll() is None:
            broker.process.kill()
            broker.process.wait()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
