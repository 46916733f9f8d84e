"""load-unload: fill a queue nobody consumes, then drain it (Apollo's
stomp-benchmark "queue load/unload").

Producers send M messages to an unconsumed queue (each producer's last SEND
asks for a receipt): the enqueue rate. Then consumers subscribe and take
everything: the dequeue rate, and loss and duplicates over the union."""

from accounting import LatencyHistogram
from clients import Errors, Tally, close_all
from common import (add_series, connect_limited, done_or_idle, live, merge_errors, rate,
                    span_seconds, worker_errors)
from scenario_queue import (consumer_result, merge_consumed, publish_share,
                            publish_stats, subscribe_consumers)

NAME = "load-unload"
KIND = "queue"


def add_args(p):
    p.add_argument("--producers", type=int, default=1)
    p.add_argument("--consumers", type=int, default=1)
    p.add_argument("--messages", type=int, default=50000, help="in total")
    p.add_argument("--body-size", type=int, default=1024)
    p.add_argument("--prefetch", type=int, default=100)
    p.add_argument("--ack", choices=("auto", "client-individual", "client"), default="auto")
    p.add_argument("--destination", default=None,
                   help="default /queue/bench.load-unload.<run-id>")
    p.add_argument("--drain-timeout", type=float, default=30.0,
                   help="give up once nothing arrived for this long")


def max_workers(args):
    return max(args.producers, args.consumers)


def stop_when(args):
    return done_or_idle("loaded", ["received"], args.messages, args.drain_timeout)


def show(totals):
    return "enqueued %d  dequeued %d" % (totals.get("sent", 0), totals.get("received", 0))


async def worker(link, args):
    tally, errors, latency = Tally(), Errors(), LatencyHistogram()
    link.counters = tally.as_dict
    producers = await connect_limited(args, link.mine(args.producers), args.connect_concurrency,
                                      None, errors, "producer")
    t0 = await link.barrier("connected")
    pubs, receivers, unload_start = [], {}, None
    if t0 is not None:
        pubs = await publish_share(link, args, producers, t0, tally)
        unload_start = await link.barrier("loaded")
    if unload_start is not None:
        receivers = await subscribe_consumers(link, args, args.consumers, tally, latency, errors)
        for r in receivers.values():
            r.rebase(t0)
        await link.wait_stop()
    for i, r in receivers.items():
        errors.from_connection("consumer %d" % i, r.conn)
    await close_all([r.conn for r in receivers.values()] + list(producers.values()))
    return dict(**worker_errors(errors), **consumer_result(receivers), t0_ns=t0,
                unload_start_ns=unload_start, publishers=pubs)


def merge(args, results, failures):
    rs = live(results)
    out = merge_consumed(args, rs)
    pubs, published, enqueue_seconds = publish_stats(rs)
    starts = [r["unload_start_ns"] for r in rs]
    dequeue_seconds = span_seconds(starts, sum((r["last_arrival"] for r in rs), []))
    out.update(
        published=published,
        enqueue_seconds=enqueue_seconds,
        enqueue_rate=rate(published, enqueue_seconds),
        dequeue_seconds=dequeue_seconds,
        dequeue_rate=rate(out["consumed"], dequeue_seconds),
        per_second={"published": add_series([p["per_second"] for p in pubs]),
                    "consumed": add_series([r["consumed_per_second"] for r in rs])},
    )
    for k in ("fairness", "share_min", "share_max"):
        out.pop(k, None)
    out.update(merge_errors(results, failures))
    out["ok"] = (out["lost"] == 0 and out["duplicates"] == 0 and out["unexpected"] == 0
                 and published == args.messages and out["errors"] == 0
                 and len(rs) == len(results))
    return out
