"""fanout: S subscribers on one topic, P publishers, M messages of B bytes.

Every subscriber subscribes (with a receipt) before anyone publishes; then
the publishers send their share as fast as they can (or at --rate), and the
subscribers count what arrives until all of it has or --drain-timeout passes
after the last send. S may be 0 (a topic nobody listens to: publish rate)."""

import asyncio
import time

from accounting import LatencyHistogram, completeness, split_evenly, tracker_counts
from clients import Errors, Publisher, Receiver, Tally, close_all
from common import (add_series, connect_limited, done_or_idle, live, merge_errors,
                    merge_latency, rate, span_seconds, summary_of, worker_errors)

NAME = "fanout"
KIND = "topic"


def add_args(p):
    p.add_argument("--subscribers", type=int, default=100)
    p.add_argument("--publishers", type=int, default=1)
    p.add_argument("--messages", type=int, default=10000,
                   help="messages in total, split evenly over the publishers")
    p.add_argument("--body-size", type=int, default=1024)
    p.add_argument("--rate", type=float, default=0,
                   help="total publish rate in messages/s (0: as fast as possible)")
    p.add_argument("--destination", default=None, help="default /topic/bench.fanout.<run-id>")
    p.add_argument("--drain-timeout", type=float, default=30.0,
                   help="after publishing, give up once nothing arrived for this long")


def max_workers(args):
    return args.subscribers + args.publishers


def expected_of(args):
    counts = split_evenly(args.messages, args.publishers)
    return {b"P%d" % i: n for i, n in enumerate(counts)}


def stop_when(args):
    return done_or_idle("published", ["received"], args.messages * args.subscribers,
                        args.drain_timeout)


def show(totals):
    return "sent %d  received %d" % (totals.get("sent", 0), totals.get("received", 0))


async def worker(link, args):
    tally, errors, latency = Tally(), Errors(), LatencyHistogram()
    link.counters = tally.as_dict
    expected = expected_of(args)
    counts = split_evenly(args.messages, args.publishers)
    receivers = {}

    async def subscribe(i, conn):
        receivers[i] = Receiver(conn, 0, tally, latency=latency)
        await conn.subscribe(args.destination, "s%d" % i, timeout=args.connect_timeout)

    t = time.monotonic_ns()
    subs = await connect_limited(args, link.mine(args.subscribers), args.connect_concurrency,
                                 subscribe, errors, "subscriber")
    receivers = {i: r for i, r in receivers.items() if i in subs}
    pubs = await connect_limited(args, link.mine(args.publishers), args.connect_concurrency,
                                 None, errors, "publisher")
    connect_seconds = (time.monotonic_ns() - t) / 1e9

    t0 = await link.barrier("subscribed")
    publishers = []
    if t0 is not None:
        for r in receivers.values():
            r.rebase(t0)
        publishers = [Publisher(conn, args.destination, b"P%d" % i, args.body_size, t0, tally)
                      for i, conn in sorted(pubs.items())]
        per_publisher_rate = args.rate / args.publishers if args.rate else None
        await asyncio.gather(*(p.run(counts[int(p.stream[1:])], per_publisher_rate, link.stop)
                       for p in publishers))
        await link.barrier("published")
        await link.wait_stop()

    for i, r in receivers.items():
        errors.from_connection("subscriber %d" % i, r.conn)
    for i, c in pubs.items():
        errors.from_connection("publisher %d" % i, c)
    await close_all(list(subs.values()) + list(pubs.values()))
    return dict(
        worker_errors(errors), t0_ns=t0, connect_seconds=connect_seconds,
        subscribers=[(i, tracker_counts(r.tracker, expected)) for i, r in receivers.items()]
        + [(i, None) for i in link.mine(args.subscribers) if i not in receivers],
        latency=latency,
        first_latencies=[r.first_latency_ns for r in receivers.values()],
        first_arrival=[r.first_ns for r in receivers.values()],
        last_arrival=[r.last_ns for r in receivers.values()],
        delivered_per_second=add_series([r.per_second.counts for r in receivers.values()]),
        published=sum(p.sent for p in publishers),
        publish_first=[p.first_ns for p in publishers],
        publish_end=[p.receipt_ns or p.last_ns for p in publishers],
        published_per_second=add_series([p.per_second.counts for p in publishers]),
    )


def merge(args, results, failures):
    """The fanout JSON fields (DRIVER.md) from the workers' raw results."""
    rs = live(results)
    expected = expected_of(args)
    want = sum(expected.values())
    subs = []
    for r in rs:
        for i, c in r["subscribers"]:
            # A subscriber that never connected got nothing.
            subs.append((i, c if c is not None else
                         {"distinct": 0, "duplicates": 0, "missing": want, "unexpected": 0}))
    missing_workers = len(results) - len(rs)
    out = completeness(expected, subs)
    if missing_workers:
        out["complete"] = False
    published = sum(r["published"] for r in rs)
    publish_seconds = span_seconds(sum((r["publish_first"] for r in rs), []),
                                   sum((r["publish_end"] for r in rs), []))
    delivery_seconds = span_seconds(sum((r["publish_first"] for r in rs), []),
                                    sum((r["last_arrival"] for r in rs), []))
    out.update(
        published=published,
        publish_seconds=publish_seconds,
        publish_rate=rate(published, publish_seconds),
        delivery_seconds=delivery_seconds,
        delivery_rate=rate(out["delivered"], delivery_seconds),
        latency_ns=merge_latency(rs).summary(),
        first_message_latency_ns=summary_of(sum((r["first_latencies"] for r in rs), [])),
        connect_seconds=max((r["connect_seconds"] for r in rs), default=None),
        per_second={
            "published": add_series([r["published_per_second"] for r in rs]),
            "delivered": add_series([r["delivered_per_second"] for r in rs]),
        },
    )
    out.update(merge_errors(results, failures))
    out["ok"] = out["complete"] and out["errors"] == 0 and published == args.messages
    return out

