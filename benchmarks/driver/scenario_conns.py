"""conns: N idle connections with one subscription each.

Every connection CONNECTs and SUBSCRIBEs (with a receipt) to one topic; then
all of them sit idle for --hold seconds (the harness reads the broker's RSS
in that window: hold_start_ns..hold_end_ns), and finally one probe message
on the topic shows how many are still alive and subscribed."""

import asyncio
import time

from clients import Errors, Publisher, Receiver, Tally, close_all, connect
from common import connect_limited, live, merge_errors, rate, worker_errors

NAME = "conns"
KIND = "topic"


def add_args(p):
    p.add_argument("--connections", type=int, default=10000)
    p.add_argument("--hold", type=float, default=10.0,
                   help="seconds all connections sit idle before the probe")
    p.add_argument("--probe-timeout", type=float, default=30.0)
    p.add_argument("--destination", default=None, help="default /topic/bench.conns.<run-id>")


def max_workers(args):
    return max(1, args.connections // 1000)


def stop_when(args):
    return lambda totals, passed: ("probed" in passed
                                   and totals.get("received", 0) >= totals.get("connected", 0))


def show(totals):
    return "connected %d  failed %d  probe %d" % (
        totals.get("connected", 0), totals.get("failed", 0), totals.get("received", 0))


async def worker(link, args):
    tally, errors = Tally(), Errors()
    receivers = []
    link.counters = lambda: tally.as_dict(connected=len(receivers), failed=errors.count)

    async def subscribe(i, conn):
        receivers.append(Receiver(conn, 0, tally))
        await conn.subscribe(args.destination, "s%d" % i, timeout=args.connect_timeout)

    start = await link.barrier("start")
    conns = await connect_limited(args, link.mine(args.connections), args.connect_concurrency,
                                  subscribe, errors, "connection")
    alive = {id(c) for c in conns.values()}
    receivers[:] = [r for r in receivers if id(r.conn) in alive]
    connected_ns = time.monotonic_ns()
    hold_start = await link.barrier("connected")
    hold_end = None
    if hold_start is not None:
        await asyncio.sleep(args.hold)
        hold_end = time.monotonic_ns()
        await link.barrier("held")
        if link.index == 0:
            await send_probe(args, errors)
        if await link.barrier("probed") is not None:
            await link.wait_stop(args.probe_timeout)
    dropped = sum(1 for r in receivers if not r.conn.alive)
    await close_all(list(conns.values()), timeout=10.0)
    return dict(worker_errors(errors), t0_ns=start, start_ns=start, connected_ns=connected_ns,
                connected=len(receivers), hold_start_ns=hold_start, hold_end_ns=hold_end,
                probe_delivered=tally.received, dropped_while_idle=dropped)


async def send_probe(args, errors):
    conn = await connect(args)
    await Publisher(conn, args.destination, b"P0", 16, 0, Tally()).run(1)
    errors.from_connection("probe publisher", conn)
    await conn.close()


def merge(args, results, failures):
    rs = live(results)
    connected = sum(r["connected"] for r in rs)
    start = min((r["start_ns"] for r in rs if r["start_ns"]), default=None)
    ends = [r["connected_ns"] for r in rs]
    seconds = (max(ends) - start) / 1e9 if start and ends else None
    holds = [r["hold_start_ns"] for r in rs if r["hold_start_ns"]]
    hold_ends = [r["hold_end_ns"] for r in rs if r["hold_end_ns"]]
    out = {
        "connections": args.connections,
        "connected": connected,
        "failures": args.connections - connected,
        "connect_seconds": seconds,
        "connect_rate": rate(connected, seconds),
        "hold_start_ns": max(holds) if holds else None,
        "hold_end_ns": min(hold_ends) if hold_ends else None,
        "dropped_while_idle": sum(r["dropped_while_idle"] for r in rs),
        "probe_delivered": sum(r["probe_delivered"] for r in rs),
    }
    out["probe_missing"] = connected - out["probe_delivered"]
    out.update(merge_errors(results, failures))
    out["ok"] = out["failures"] == 0 and out["probe_missing"] == 0 and out["errors"] == 0
    return out
