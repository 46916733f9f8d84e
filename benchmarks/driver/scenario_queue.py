"""queue: competing consumers on one queue with client-individual acks.

Consumers subscribe first (with --prefetch), producers then send M messages;
each consumer ACKs every message as it arrives. The union of what the
consumers got tells loss and duplicates; their shares tell fairness."""

import asyncio

from accounting import (LatencyHistogram, SequenceTracker, fairness, queue_loss,
                        split_evenly)
from clients import Errors, Publisher, Receiver, Tally, close_all
from common import (add_series, connect_limited, done_or_idle, live, merge_errors,
                    merge_latency, rate, span_seconds, worker_errors)

NAME = "queue"
KIND = "queue"


def add_args(p):
    p.add_argument("--consumers", type=int, default=4)
    p.add_argument("--producers", type=int, default=2)
    p.add_argument("--messages", type=int, default=20000, help="in total")
    p.add_argument("--body-size", type=int, default=1024)
    p.add_argument("--prefetch", type=int, default=100,
                   help="unacked messages per consumer (prefetch-count / activemq.prefetchSize)")
    p.add_argument("--ack", choices=("client-individual", "client", "auto"),
                   default="client-individual")
    p.add_argument("--destination", default=None, help="default /queue/bench.queue.<run-id>")
    p.add_argument("--drain-timeout", type=float, default=30.0,
                   help="after publishing, give up once nothing arrived for this long")


def max_workers(args):
    return args.consumers + args.producers


def expected_of(args):
    return {b"P%d" % i: n for i, n in enumerate(split_evenly(args.messages, args.producers))}


def stop_when(args):
    return done_or_idle("published", ["received"], args.messages, args.drain_timeout)


def show(totals):
    return "sent %d  consumed %d" % (totals.get("sent", 0), totals.get("received", 0))


async def subscribe_consumers(link, args, n, tally, latency, errors):
    """Connects this worker's share of `n` consumers; returns {i: Receiver}."""
    receivers = {}
    ack = args.ack != "auto"

    async def subscribe(i, conn):
        receivers[i] = Receiver(conn, 0, tally, latency=latency, ack=ack)
        await conn.subscribe(args.destination, "c%d" % i, ack=args.ack,
                             prefetch=args.prefetch, timeout=args.connect_timeout)

    conns = await connect_limited(args, link.mine(n), args.connect_concurrency,
                                  subscribe, errors, "consumer")
    return {i: r for i, r in receivers.items() if i in conns}


async def publish_share(link, args, conns, t0, tally):
    """Publishes this worker's producers' shares; returns their stats."""
    counts = split_evenly(args.messages, args.producers)
    pubs = [Publisher(c, args.destination, b"P%d" % i, args.body_size, t0, tally)
            for i, c in sorted(conns.items())]
    await asyncio.gather(*(p.run(counts[int(p.stream[1:])], None, link.stop) for p in pubs))
    return [p.stats() for p in pubs]


def consumer_result(receivers):
    return dict(
        consumers=[(i, r.tracker.total) for i, r in receivers.items()],
        tracker=merged_tracker(r.tracker for r in receivers.values()),
        first_arrival=[r.first_ns for r in receivers.values()],
        last_arrival=[r.last_ns for r in receivers.values()],
        consumed_per_second=add_series([r.per_second.counts for r in receivers.values()]),
    )


def merged_tracker(trackers):
    out = SequenceTracker()
    for t in trackers:
        out.merge(t)
    return out


async def worker(link, args):
    tally, errors, latency = Tally(), Errors(), LatencyHistogram()
    link.counters = tally.as_dict
    receivers = await subscribe_consumers(link, args, args.consumers, tally, latency, errors)
    producers = await connect_limited(args, link.mine(args.producers), args.connect_concurrency,
                                      None, errors, "producer")
    t0 = await link.barrier("subscribed")
    pubs = []
    if t0 is not None:
        for r in receivers.values():
            r.rebase(t0)
        pubs = await publish_share(link, args, producers, t0, tally)
        await link.barrier("published")
        await link.wait_stop()
    for i, r in receivers.items():
        errors.from_connection("consumer %d" % i, r.conn)
    await close_all([r.conn for r in receivers.values()] + list(producers.values()))
    return dict(**worker_errors(errors), **consumer_result(receivers), t0_ns=t0,
                latency=latency, publishers=pubs)


def merge_consumed(args, rs):
    """Loss, duplicates and fairness over every worker's consumers."""
    tracker = merged_tracker(r["tracker"] for r in rs)
    out = queue_loss(expected_of(args), tracker)
    # By consumer index (DRIVER.md), whichever worker ran it; a consumer
    # that never connected got nothing.
    counts = [0] * args.consumers
    for r in rs:
        for i, n in r["consumers"]:
            counts[i] = n
    out.update(fairness(counts))
    out["per_consumer"] = counts
    return out


def publish_stats(rs):
    pubs = [p for r in rs for p in r["publishers"]]
    published = sum(p["sent"] for p in pubs)
    seconds = span_seconds([p["first_ns"] for p in pubs],
                           [p["receipt_ns"] or p["last_ns"] for p in pubs])
    return pubs, published, seconds


def merge(args, results, failures):
    rs = live(results)
    out = merge_consumed(args, rs)
    pubs, published, publish_seconds = publish_stats(rs)
    consume_seconds = span_seconds([p["first_ns"] for p in pubs],
                                   sum((r["last_arrival"] for r in rs), []))
    out.update(
        published=published,
        publish_seconds=publish_seconds,
        publish_rate=rate(published, publish_seconds),
        consume_seconds=consume_seconds,
        throughput=rate(out["consumed"], consume_seconds),
        latency_ns=merge_latency(rs).summary(),
        per_second={"published": add_series([p["per_second"] for p in pubs]),
                    "consumed": add_series([r["consumed_per_second"] for r in rs])},
    )
    out.update(merge_errors(results, failures))
    out["ok"] = (out["lost"] == 0 and out["duplicates"] == 0 and out["unexpected"] == 0
                 and published == args.messages and out["errors"] == 0
                 and len(rs) == len(results))
    return out

