"""soak: sustained mixed topic and queue load for a set time.

Topic publishers fan out to topic subscribers at --topic-rate while queue
producers feed competing consumers (client-individual acks) at --queue-rate,
for --duration seconds. Reported per --interval: what was sent, delivered and
consumed, and latency; at the end: loss over the whole run (none allowed)."""

import asyncio
import time

from accounting import (LatencyHistogram, completeness, queue_loss, split_evenly,
                        tracker_counts)
from clients import Errors, Publisher, Receiver, Tally, close_all
from common import (add_series, connect_limited, done_or_idle, live, merge_errors, rate,
                    worker_errors)
from scenario_queue import merged_tracker

NAME = "soak"
KIND = "topic"


def add_args(p):
    p.add_argument("--duration", type=float, default=600)
    p.add_argument("--interval", type=float, default=60, help="seconds per reported interval")
    p.add_argument("--topic-publishers", type=int, default=2)
    p.add_argument("--topic-subscribers", type=int, default=20)
    p.add_argument("--topic-rate", type=float, default=500, help="messages/s, all publishers")
    p.add_argument("--queue-producers", type=int, default=2)
    p.add_argument("--queue-consumers", type=int, default=4)
    p.add_argument("--queue-rate", type=float, default=2000, help="messages/s, all producers")
    p.add_argument("--body-size", type=int, default=512)
    p.add_argument("--prefetch", type=int, default=100)
    p.add_argument("--destination", default=None, help="topic, default /topic/bench.soak.<run-id>")
    p.add_argument("--queue", default=None, help="default /queue/bench.soak.<run-id>")
    p.add_argument("--drain-timeout", type=float, default=30.0,
                   help="after publishing, give up once nothing arrived for this long")


def max_workers(args):
    return args.topic_subscribers + args.queue_consumers


def plan(args):
    """Messages per topic publisher and per queue producer."""
    return (split_evenly(int(args.topic_rate * args.duration), args.topic_publishers),
            split_evenly(int(args.queue_rate * args.duration), args.queue_producers))


def stop_when(args):
    topic, queue = plan(args)
    want_topic = sum(topic) * args.topic_subscribers
    want_queue = sum(queue)
    return done_or_idle("published", ["topic", "queue"], want_topic + want_queue,
                        args.drain_timeout)


def show(totals):
    return "sent %d  topic deliveries %d  queue consumed %d" % (
        totals.get("sent", 0), totals.get("topic", 0), totals.get("queue", 0))


class IntervalLatency:
    """A latency histogram per interval since t0 (the soak's drift view)."""

    def __init__(self, interval_s):
        self.t0_ns = 0
        self.interval_ns = int(interval_s * 1e9)
        self.parts = []

    def record(self, value):
        # Before the start is known (t0 unset) everything is interval 0.
        i = max(0, (time.monotonic_ns() - self.t0_ns) // self.interval_ns) if self.t0_ns else 0
        while len(self.parts) <= i:
            self.parts.append(LatencyHistogram())
        self.parts[i].record(value)


async def worker(link, args):
    topic_tally, queue_tally, sent = Tally(), Tally(), Tally()
    errors = Errors()
    link.counters = lambda: {"sent": sent.sent, "topic": topic_tally.received,
                             "queue": queue_tally.received}
    topic_lat, queue_lat = IntervalLatency(args.interval), IntervalLatency(args.interval)
    subs, consumers = {}, {}

    async def subscribe(i, conn):
        subs[i] = Receiver(conn, 0, topic_tally, latency=topic_lat)
        await conn.subscribe(args.destination, "s%d" % i, timeout=args.connect_timeout)

    async def consume(i, conn):
        consumers[i] = Receiver(conn, 0, queue_tally, latency=queue_lat, ack=True)
        await conn.subscribe(args.queue, "c%d" % i, ack="client-individual",
                             prefetch=args.prefetch, timeout=args.connect_timeout)

    sub_conns = await connect_limited(args, link.mine(args.topic_subscribers),
                                      args.connect_concurrency, subscribe, errors, "subscriber")
    con_conns = await connect_limited(args, link.mine(args.queue_consumers),
                                      args.connect_concurrency, consume, errors, "consumer")
    tpub = await connect_limited(args, link.mine(args.topic_publishers), 50, None, errors,
                                 "topic publisher")
    qpub = await connect_limited(args, link.mine(args.queue_producers), 50, None, errors,
                                 "queue producer")
    subs = {i: r for i, r in subs.items() if i in sub_conns}
    consumers = {i: r for i, r in consumers.items() if i in con_conns}

    t0 = await link.barrier("subscribed")
    topic_counts, queue_counts = plan(args)
    pubs, prods = [], []
    if t0 is not None:
        for r in list(subs.values()) + list(consumers.values()):
            r.rebase(t0)
        topic_lat.t0_ns = queue_lat.t0_ns = t0
        pubs = [Publisher(c, args.destination, b"P%d" % i, args.body_size, t0, sent)
                for i, c in sorted(tpub.items())]
        prods = [Publisher(c, args.queue, b"Q%d" % i, args.body_size, t0, sent)
                 for i, c in sorted(qpub.items())]
        runs = [p.run(topic_counts[int(p.stream[1:])], args.topic_rate / args.topic_publishers,
                      link.stop) for p in pubs]
        runs += [p.run(queue_counts[int(p.stream[1:])], args.queue_rate / args.queue_producers,
                       link.stop) for p in prods]
        await asyncio.gather(*runs)
        await link.barrier("published")
        await link.wait_stop()

    for i, r in list(subs.items()) + list(consumers.items()):
        errors.from_connection("client %d" % i, r.conn)
    await close_all([r.conn for r in subs.values()] + [r.conn for r in consumers.values()]
                    + list(tpub.values()) + list(qpub.values()))
    topic_expected = {b"P%d" % i: n for i, n in enumerate(topic_counts)}
    return dict(
        worker_errors(errors), t0_ns=t0,
        subscribers=[(i, tracker_counts(r.tracker, topic_expected)) for i, r in subs.items()],
        queue_tracker=merged_tracker(r.tracker for r in consumers.values()),
        topic_latency=topic_lat.parts, queue_latency=queue_lat.parts,
        topic_published=add_series([p.per_second.counts for p in pubs]),
        queue_published=add_series([p.per_second.counts for p in prods]),
        topic_delivered=add_series([r.per_second.counts for r in subs.values()]),
        queue_consumed=add_series([r.per_second.counts for r in consumers.values()]),
    )


def merged_parts(rs, key):
    out = []
    for r in rs:
        for i, h in enumerate(r[key]):
            while len(out) <= i:
                out.append(LatencyHistogram())
            out[i].merge(h)
    return out


def per_interval(series, seconds):
    step = max(1, int(round(seconds)))
    return [sum(series[i:i + step]) for i in range(0, len(series), step)]


def intervals_of(args, per_second, topic_lat, queue_lat):
    """One row per interval: counts, rates and p99 latencies."""
    cols = {k: per_interval(v, args.interval) for k, v in per_second.items()}
    n = max((len(v) for v in cols.values()), default=0)
    rows = []
    for i in range(n):
        row = {"index": i, "start_s": i * args.interval}
        for k, v in cols.items():
            row[k] = v[i] if i < len(v) else 0
        for name, parts in (("topic", topic_lat), ("queue", queue_lat)):
            h = parts[i] if i < len(parts) else LatencyHistogram()
            row[name + "_latency_p50_ns"] = h.percentile(0.5)
            row[name + "_latency_p99_ns"] = h.percentile(0.99)
        rows.append(row)
    return rows


def drift(rows, key):
    """Relative change of `key` from the first to the last full interval."""
    vals = [r[key] for r in rows if r[key] is not None]
    full = vals[:-1] if len(vals) > 2 else vals  # the last interval is the drain
    if len(full) < 2 or not full[0]:
        return None
    return (full[-1] - full[0]) / full[0]


def merge(args, results, failures):
    rs = live(results)
    topic_counts, queue_counts = plan(args)
    topic_expected = {b"P%d" % i: n for i, n in enumerate(topic_counts)}
    queue_expected = {b"Q%d" % i: n for i, n in enumerate(queue_counts)}
    subs = [s for r in rs for s in r["subscribers"]]
    topic = completeness(topic_expected, subs)
    queue = queue_loss(queue_expected, merged_tracker(r["queue_tracker"] for r in rs))
    per_second = {k: add_series([r[k] for r in rs]) for k in
                  ("topic_published", "topic_delivered", "queue_published", "queue_consumed")}
    topic_lat, queue_lat = merged_parts(rs, "topic_latency"), merged_parts(rs, "queue_latency")
    rows = intervals_of(args, per_second, topic_lat, queue_lat)
    all_topic = LatencyHistogram()
    for h in topic_lat:
        all_topic.merge(h)
    all_queue = LatencyHistogram()
    for h in queue_lat:
        all_queue.merge(h)
    topic_published = sum(per_second["topic_published"])
    queue_published = sum(per_second["queue_published"])
    out = {
        "topic": dict(topic, published=topic_published,
                      delivery_rate=rate(topic["delivered"], args.duration)),
        "queue": dict(queue, published=queue_published,
                      throughput=rate(queue["consumed"], args.duration)),
        "intervals": rows,
        "drift": {"topic_delivered": drift(rows, "topic_delivered"),
                  "queue_consumed": drift(rows, "queue_consumed"),
                  "topic_latency_p99": drift(rows, "topic_latency_p99_ns"),
                  "queue_latency_p99": drift(rows, "queue_latency_p99_ns")},
        "topic_latency_ns": all_topic.summary(),
        "queue_latency_ns": all_queue.summary(),
        "per_second": per_second,
        "lost": topic["missing"] + queue["lost"],
        "duplicates": topic["duplicates"] + queue["duplicates"],
    }
    out.update(merge_errors(results, failures))
    out["ok"] = (out["lost"] == 0 and out["duplicates"] == 0 and out["errors"] == 0
                 and topic_published == sum(topic_counts)
                 and queue_published == sum(queue_counts) and len(rs) == len(results))
    return out
