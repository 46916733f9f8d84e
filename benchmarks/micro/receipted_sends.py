#!/usr/bin/env python3
"""Receipted SEND throughput, persistent:true against memory-only (issue 10).

    benchmarks/micro/receipted_sends.py [--bin build/stampede] [--seconds 5]
                                        [--publishers 1,8,64] [--reps 3]

Starts build/stampede on a fresh data directory (journal.sync always) per
repetition. P publisher connections each send a 512 B SEND to its own
/queue/ with a receipt and wait for that RECEIPT before the next (one
outstanding frame each: what a client that needs a confirmation does). The
same run does persistent:true (journalled; the RECEIPT follows the fdatasync
that covers it) and no persistent header (memory only). Nobody consumes: the
queues grow, which both kinds pay alike.

Prints one JSON document: receipted SENDs/s per (kind, P), median of the
repetitions, plus the journal's syncs and appends over the persistent runs
(GET /stats, journal section) so messages per sync can be read off, and the
SEND-to-RECEIPT round trip each publisher saw (p50, p99, p99.9 over every
SEND of the repetitions, and each repetition's p99): with P=1 that is the
receipt latency of a producer waiting for each receipt. The client's own
time (one Python loop) is in it: an upper bound on the broker's.

One asyncio loop drives every connection: with 64 publishers the client, not
the broker, may be the limit for memory-only SENDs. Read the persistent/memory
ratio within one run, on a loaded machine only as an order of magnitude.
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "support"))
import stampede_test  # noqa: E402


def frame(command, headers, body=b""):
    head = command + "\n" + "".join("%s:%s\n" % kv for kv in headers.items())
    return head.encode() + b"\n" + body + b"\0"


async def read_frame(reader):
    raw = await reader.readuntil(b"\0")
    return raw.lstrip(b"\r\n")


async def publisher(port, index, persistent, stop_at, counts, rtts):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(frame("CONNECT", {"accept-version": "1.2", "host": "/"}))
    await writer.drain()
    if not (await read_frame(reader)).startswith(b"CONNECTED"):
        raise RuntimeError("no CONNECTED")
    headers = {"destination": "/queue/bench-%d" % index, "content-length": "512"}
    if persistent:
        headers["persistent"] = "true"
    body = b"x" * 512
    n = 0
    while time.monotonic() < stop_at:
        headers["receipt"] = str(n)
        sent = time.perf_counter_ns()
        writer.write(frame("SEND", headers, body))
        got = await read_frame(reader)
        rtts.append(time.perf_counter_ns() - sent)
        if not got.startswith(b"RECEIPT"):
            raise RuntimeError("expected a RECEIPT, got %r" % got[:200])
        n += 1
    counts[index] = n
    writer.close()


async def run_kind(port, publishers, persistent, seconds, rtts):
    counts = [0] * publishers
    start = time.monotonic()
    stop_at = start + seconds
    await asyncio.gather(*(publisher(port, i, persistent, stop_at, counts, rtts)
                           for i in range(publishers)))
    return sum(counts) / (time.monotonic() - start)


def percentile_ms(sorted_ns, q):
    if not sorted_ns:
        return None
    return round(sorted_ns[min(len(sorted_ns) - 1, int(q * len(sorted_ns)))] / 1e6, 3)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                  "build", "stampede"))
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--publishers", default="1,8,64")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    stampede_test.STAMPEDE_BIN = os.path.abspath(args.bin)
    results = {}
    for p in [int(x) for x in args.publishers.split(",")]:
        for persistent in (True, False):
            key = "%s P=%d" % ("persistent" if persistent else "memory", p)
            rates, syncs, appends, all_rtts, rep_p99 = [], 0, 0, [], []
            for _ in range(args.reps):
                data = tempfile.mkdtemp(prefix="stampede-receipted-")
                broker = stampede_test.Broker(
                    config={"journal": {"sync": "always"}}, args=["--data-dir", data],
                    admin=True).start()
                try:
                    before = broker.stats()["journal"]
                    rtts = []
                    rates.append(asyncio.run(run_kind(broker.port, p, persistent, args.seconds,
                                                      rtts)))
                    rtts.sort()
                    rep_p99.append(percentile_ms(rtts, 0.99))
                    all_rtts += rtts
                    after = broker.stats()["journal"]
                    syncs += after["syncs"] - before["syncs"]
                    appends += after["appends"] - before["appends"]
                finally:
                    broker.stop()
                    shutil.rmtree(data, ignore_errors=True)
            results[key] = {"sends_per_s_median": round(statistics.median(rates)),
                            "sends_per_s": [round(r) for r in rates],
                            "journal_syncs": syncs, "journal_appends": appends,
                            "appends_per_sync": round(appends / syncs, 2) if syncs else None}
            all_rtts.sort()
            results[key]["receipt_ms"] = {"p50": percentile_ms(all_rtts, 0.5),
                                          "p99": percentile_ms(all_rtts, 0.99),
                                          "p999": percentile_ms(all_rtts, 0.999),
                                          "p99_per_rep": rep_p99}
            print(key, results[key], file=sys.stderr)
    print(json.dumps({"seconds": args.seconds, "reps": args.reps, "results": results}, indent=2))


if __name__ == "__main__":
    main()
