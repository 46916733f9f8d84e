"""request-reply: round-trip latency through the broker (Apollo's
stomp-benchmark request/response).

Responders consume a request queue and answer each request at the queue its
`bench-reply-to` header names (a custom header, so that no broker's special
handling of `reply-to` applies). Each requester has its own reply queue and
one request in flight at a time; the round trip is measured from its send."""

import asyncio
import time

from accounting import LatencyHistogram, make_body, parse_body_id, split_evenly
from clients import Errors, Tally, close_all
from common import connect_limited, live, merge_errors, rate, worker_errors
from stomp_wire import encode_frame

NAME = "request-reply"
KIND = "queue"


def add_args(p):
    p.add_argument("--requesters", type=int, default=1)
    p.add_argument("--responders", type=int, default=1)
    p.add_argument("--requests", type=int, default=5000, help="in total")
    p.add_argument("--body-size", type=int, default=64)
    p.add_argument("--reply-timeout", type=float, default=5.0,
                   help="a request not answered in this many seconds counts as lost")
    p.add_argument("--destination", default=None,
                   help="request queue, default /queue/bench.request-reply.<run-id>")


def max_workers(args):
    return args.requesters + args.responders


def stop_when(args):
    return lambda totals, passed: "done" in passed


def show(totals):
    return "requests %d  replies %d" % (totals.get("sent", 0), totals.get("received", 0))


def reply_queue(args, i):
    return "/queue/bench.reply.%s.%d" % (args.run_id, i)


def make_responder(conn):
    def on_message(headers, body):
        reply_to = headers.get(b"bench-reply-to")
        if reply_to is None:
            return
        conn.write(encode_frame("SEND", {"destination": reply_to,
                                         "bench-ts": headers.get(b"bench-ts", b"0")}, body))
    conn.on_message = on_message


class Requester:
    """One request in flight at a time; RTTs go to a shared histogram."""

    def __init__(self, index, conn, args, latency, tally):
        self.index, self.conn, self.args = index, conn, args
        self.latency, self.tally = latency, tally
        self.reply_to = reply_queue(args, index)
        self.waiting = None
        self.current = None  # (stream, seq) of the request in flight
        self.timeouts = 0
        conn.on_message = self.on_message

    def on_message(self, headers, body):
        # A late reply to a request that already timed out is not this one's.
        if (self.waiting is not None and not self.waiting.done()
                and parse_body_id(body) == self.current):
            self.waiting.set_result(time.monotonic_ns())

    async def run(self, count, stop):
        stream = b"R%d" % self.index
        for seq in range(count):
            if stop.is_set() or not self.conn.alive:
                break
            self.waiting = asyncio.get_running_loop().create_future()
            self.current = (stream, seq)
            sent = time.monotonic_ns()
            self.conn.send_frame("SEND", {"destination": self.args.destination,
                                          "bench-ts": sent, "bench-reply-to": self.reply_to},
                                 make_body(stream, seq, self.args.body_size))
            self.tally.sent += 1
            try:
                arrived = await asyncio.wait_for(self.waiting, self.args.reply_timeout)
            except asyncio.TimeoutError:
                self.timeouts += 1
                continue
            self.latency.record(arrived - sent)
            self.tally.received += 1


async def worker(link, args):
    tally, errors, latency = Tally(), Errors(), LatencyHistogram()
    link.counters = tally.as_dict

    async def subscribe_responder(i, conn):
        make_responder(conn)
        await conn.subscribe(args.destination, "q%d" % i, timeout=args.connect_timeout)

    async def subscribe_requester(i, conn):
        await conn.subscribe(reply_queue(args, i), "r%d" % i, timeout=args.connect_timeout)

    responders = await connect_limited(args, link.mine(args.responders), args.connect_concurrency,
                                       subscribe_responder, errors, "responder")
    req_conns = await connect_limited(args, link.mine(args.requesters), args.connect_concurrency,
                                      subscribe_requester, errors, "requester")
    requesters = [Requester(i, c, args, latency, tally) for i, c in sorted(req_conns.items())]
    counts = split_evenly(args.requests, args.requesters)
    t0 = await link.barrier("subscribed")
    start = end = time.monotonic_ns()
    if t0 is not None:
        await asyncio.gather(*(r.run(counts[r.index], link.stop) for r in requesters))
        end = time.monotonic_ns()
        await link.barrier("done")
    for i, c in list(responders.items()) + list(req_conns.items()):
        errors.from_connection("client %d" % i, c)
    await close_all(list(responders.values()) + list(req_conns.values()))
    return dict(worker_errors(errors), t0_ns=t0, latency=latency, start_ns=start,
                end_ns=end if requesters else None, sent=tally.sent, replies=tally.received,
                timeouts=sum(r.timeouts for r in requesters))


def merge(args, results, failures):
    rs = live(results)
    lat = LatencyHistogram()
    for r in rs:
        lat.merge(r["latency"])
    ends = [r["end_ns"] for r in rs if r["end_ns"] is not None]
    seconds = (max(ends) - min(r["start_ns"] for r in rs)) / 1e9 if ends else None
    replies = sum(r["replies"] for r in rs)
    out = {
        "requests": sum(r["sent"] for r in rs),
        "replies": replies,
        "timeouts": sum(r["timeouts"] for r in rs),
        "seconds": seconds,
        "rate": rate(replies, seconds),
        "rtt_ns": lat.summary(),
    }
    out.update(merge_errors(results, failures))
    out["ok"] = replies == args.requests and out["errors"] == 0 and len(rs) == len(results)
    return out
