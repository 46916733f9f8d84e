"""slow: a fast and a slow subscriber on one topic under a steady publish rate.

The slow subscriber stops reading its socket entirely (`--slow-mode stall`,
a stalled consumer) or reads a trickle of bytes (`--slow-mode trickle`).
After --duration seconds of publishing the slow one reads normally again for
--drain-timeout seconds, which tells what the broker did with what it could
not deliver: kept it (buffered), threw it away (dropped), closed the slow
connection (disconnected), or held the publisher back (blocked)."""

import asyncio
import os
import socket
import time

from clients import Errors, Publisher, Receiver, Tally, close_all, connect
from common import rate, span_seconds, worker_errors

NAME = "slow"
KIND = "topic"
TICK = 0.1
BLOCKED_BELOW = 0.9  # achieved/target publish rate under which we call it blocked


def add_args(p):
    p.add_argument("--publish-rate", type=float, default=2000, help="messages/s")
    p.add_argument("--duration", type=float, default=60, help="seconds of publishing")
    p.add_argument("--body-size", type=int, default=1024)
    p.add_argument("--slow-mode", choices=("stall", "trickle"), default="stall")
    p.add_argument("--trickle-rate", type=float, default=10,
                   help="trickle mode: messages' worth of bytes read per second")
    p.add_argument("--destination", default=None, help="default /topic/bench.slow.<run-id>")
    p.add_argument("--drain-timeout", type=float, default=20.0,
                   help="after publishing, give up once nothing arrived for this long")


def max_workers(args):
    return 1


def stop_when(args):
    return None


def show(totals):
    return "sent %d  fast %d  slow %d" % (totals.get("sent", 0), totals.get("fast", 0),
                                         totals.get("slow", 0))


async def trickle(conn, bytes_per_tick, stop):
    """Reads at most `bytes_per_tick` from the paused connection's socket every
    tick, through a duplicate of its descriptor (asyncio keeps the original)."""
    fd = conn.transport.get_extra_info("socket").fileno()
    raw = socket.socket(fileno=os.dup(fd))
    raw.setblocking(False)
    try:
        while not stop.is_set() and conn.alive:
            try:
                data = raw.recv(bytes_per_tick)
                if not data:
                    break
                conn.data_received(data)
            except BlockingIOError:
                pass
            await asyncio.sleep(TICK)
    finally:
        os.close(raw.detach())


async def worker(link, args):
    errors = Errors()
    fast_tally, slow_tally, pub_tally = Tally(), Tally(), Tally()
    link.counters = lambda: {"sent": pub_tally.sent, "fast": fast_tally.received,
                             "slow": slow_tally.received}
    fast_conn, slow_conn, pub_conn = [await connect(args) for _ in range(3)]
    fast = Receiver(fast_conn, 0, fast_tally)
    slow = Receiver(slow_conn, 0, slow_tally)
    await fast_conn.subscribe(args.destination, "fast")
    await slow_conn.subscribe(args.destination, "slow")

    t0 = await link.barrier("subscribed")
    fast.rebase(t0)
    slow.rebase(t0)
    slow_conn.transport.pause_reading()
    stop_trickle = asyncio.Event()
    trickler = None
    if args.slow_mode == "trickle":
        per_tick = max(1, int(args.trickle_rate * args.body_size * TICK))
        trickler = asyncio.ensure_future(trickle(slow_conn, per_tick, stop_trickle))

    count = int(args.publish_rate * args.duration)
    publisher = Publisher(pub_conn, args.destination, b"P0", args.body_size, t0, pub_tally)
    await publisher.run(count, args.publish_rate, link.stop)
    slow_ended = time.monotonic_ns()
    slow_while = slow.tracker.distinct
    stop_trickle.set()
    if trickler:
        await trickler

    # Drain: the fast one should have everything; the slow one reads again.
    if slow_conn.alive:
        slow_conn.transport.resume_reading()
    expected = {b"P0": publisher.sent}
    await drain(args, link, publisher.sent, [(fast, fast_conn), (slow, slow_conn)])

    # Read only now: a broker that closed the stalled connection is seen when
    # the slow one reads again (the close waits behind the unread bytes).
    slow_error = slow_conn.error
    for role, c in (("fast subscriber", fast_conn), ("publisher", pub_conn)):
        errors.from_connection(role, c)
    fast_missing, _ = fast.tracker.check(expected)
    slow_missing, _ = slow.tracker.check(expected)
    await close_all([fast_conn, slow_conn, pub_conn])
    return dict(worker_errors(errors), t0_ns=t0, publisher=publisher.stats(),
                slow_ended_ns=slow_ended, fast=summary(fast, fast_missing), slow=summary(slow, slow_missing),
                slow_received_while_slow=slow_while, slow_error=slow_error,
                fast_latency=fast.latency, slow_latency=slow.latency)


async def drain(args, link, sent, receivers):
    """Waits until every live receiver has all `sent` messages, or nothing
    new arrived for --drain-timeout seconds."""
    last, since = None, time.monotonic()
    while not link.stop.is_set():
        pending = [r for r, conn in receivers if conn.alive and r.tracker.distinct < sent]
        if not pending:
            return
        now = time.monotonic()
        got = sum(r.tracker.distinct for r, _ in receivers)
        if got != last:
            last, since = got, now
        elif now - since > args.drain_timeout:
            return
        await asyncio.sleep(0.05)


def summary(r, missing):
    return {"received": r.tracker.distinct, "duplicates": r.tracker.duplicates,
            "missing": missing, "first_ns": r.first_ns, "last_ns": r.last_ns,
            "per_second": r.per_second.counts}


def merge(args, results, failures):
    r = results[0]
    if r is None:
        return {"ok": False, "errors": len(failures), "error_samples": list(failures)}
    pub = r["publisher"]
    target = args.publish_rate
    publish_seconds = span_seconds([pub["first_ns"]], [pub["last_ns"]])
    achieved = rate(pub["sent"], publish_seconds)
    fast, slow = r["fast"], r["slow"]
    fast_seconds = span_seconds([pub["first_ns"]], [fast["last_ns"]])
    disconnected = r["slow_error"] is not None
    actions = []
    if disconnected:
        actions.append("disconnected")
    if achieved is not None and achieved < BLOCKED_BELOW * target:
        actions.append("blocked")
    if not disconnected and slow["missing"] > 0:
        actions.append("dropped")
    if not disconnected and slow["missing"] == 0:
        actions.append("buffered")
    out = {
        "published": pub["sent"],
        "publish_rate_target": target,
        "publish_rate": achieved,
        "publish_seconds": publish_seconds,
        "publish_blocked_seconds": pub["blocked_ns"] / 1e9,
        "fast_received": fast["received"],
        "fast_missing": fast["missing"],
        "fast_duplicates": fast["duplicates"],
        "fast_rate": rate(fast["received"], fast_seconds),
        "fast_latency_ns": r["fast_latency"].summary(),
        "slow_mode": args.slow_mode,
        "slow_received_while_slow": r["slow_received_while_slow"],
        "slow_received": slow["received"],
        "slow_missing": slow["missing"],
        "slow_duplicates": slow["duplicates"],
        "slow_disconnected": disconnected,
        "slow_error": r["slow_error"],
        "slow_ended_ns": r["slow_ended_ns"],
        "broker_action": actions,
        "per_second": {"published": pub["per_second"], "fast": fast["per_second"],
                       "slow": slow["per_second"]},
        "errors": r["errors"] + len(failures),
        "error_samples": r["error_samples"] + list(failures),
    }
    # The verdict is about the fast subscriber: it must get everything.
    out["ok"] = fast["missing"] == 0 and out["errors"] == 0
    return out
