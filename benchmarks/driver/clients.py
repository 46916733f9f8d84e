"""The roles a scenario is built from: publishers, subscribers and queue
consumers, each one STOMP connection that counts what it does."""

import asyncio
import time

from accounting import (LatencyHistogram, PerSecond, SequenceTracker,
                        make_body, parse_body_id)
from stomp_wire import StompConnection

BATCH_FRAMES = 64       # SENDs joined into one write
BATCH_BYTES = 64 * 1024
now_ns = time.monotonic_ns


async def connect(args):
    """Opens one connection with the command line's broker settings."""
    return await StompConnection.open(
        args.host, args.port, login=args.login, passcode=args.passcode,
        vhost=args.vhost, timeout=args.connect_timeout,
        transport=args.transport, ws_path=args.ws_path)


class Errors:
    """Error texts of one worker: a count and the first few."""

    KEEP = 10

    def __init__(self):
        self.count = 0
        self.samples = []

    def add(self, text):
        self.count += 1
        if len(self.samples) < self.KEEP:
            self.samples.append(text)

    def from_connection(self, role, conn):
        if conn is not None and conn.error is not None:
            self.add("%s: %s" % (role, conn.error))


class Receiver:
    """Counts the MESSAGEs of one subscription: ids, latency, rate.

    `tally` is shared by a worker's receivers so its progress counter is one
    attribute, not a sum over thousands of objects.
    """

    def __init__(self, conn, t0_ns, tally, latency=None, ack=False):
        self.conn = conn
        self.tracker = SequenceTracker()
        self.latency = latency if latency is not None else LatencyHistogram()
        self.per_second = PerSecond(t0_ns)
        self.tally = tally
        self.first_latency_ns = None
        self.first_ns = None
        self.last_ns = None
        self.stalled = False
        self._acks = [] if ack else None
        conn.on_message = self.on_message
        if ack:
            conn.after_frames = self.flush_acks

    def rebase(self, t0_ns):
        self.per_second.rebase(t0_ns)

    def on_message(self, headers, body):
        t = now_ns()
        ts = headers.get(b"bench-ts")
        if ts is not None:
            lat = t - int(ts)
            self.latency.record(lat)
            if self.first_latency_ns is None:
                self.first_latency_ns = lat
        if self.first_ns is None:
            self.first_ns = t
        self.last_ns = t
        self.per_second.add(t)
        ident = parse_body_id(body)
        # Progress counts distinct messages, so a stop condition "all arrived"
        # is not fooled by a duplicate.
        if ident is not None and self.tracker.record(ident[0], ident[1]):
            self.tally.received += 1
        if self._acks is not None:
            ack_id = headers.get(b"ack")
            if ack_id is not None:
                self._acks.append(b"ACK\nid:%s\n\n\0" % ack_id)

    def flush_acks(self):
        if self._acks:
            self.conn.write(b"".join(self._acks))
            self._acks.clear()


class Tally:
    """Per-worker counters the parent sees as progress."""

    def __init__(self):
        self.received = 0
        self.sent = 0

    def as_dict(self, **extra):
        return dict(received=self.received, sent=self.sent, **extra)


class Publisher:
    """Sends `count` messages of stream `stream` to `destination`, as fast as
    the socket allows or at `rate` messages/s, the last one with a receipt.

    Afterwards: sent, first_ns / last_ns (send times), receipt_ns (when the
    broker confirmed the last one), per_second (sends per second since t0).
    """

    def __init__(self, conn, destination, stream, body_size, t0_ns, tally,
                 extra_headers=b""):
        self.conn = conn
        self.destination = destination.encode()
        self.stream = stream
        self.body_size = body_size
        self.tally = tally
        self.per_second = PerSecond(t0_ns)
        self.extra = extra_headers
        self.sent = 0
        self.first_ns = None
        self.last_ns = None
        self.receipt_ns = None
        self.blocked_ns = 0  # time spent waiting for the socket to drain

    def stats(self):
        """What the parent process needs, as plain data."""
        return {"sent": self.sent, "first_ns": self.first_ns, "last_ns": self.last_ns,
                "receipt_ns": self.receipt_ns, "blocked_ns": self.blocked_ns,
                "per_second": self.per_second.counts}

    def frame(self, seq, ts):
        body = make_body(self.stream, seq, self.body_size)
        return b"SEND\ndestination:%s\nbench-ts:%d\n%scontent-length:%d\n\n%s\0" % (
            self.destination, ts, self.extra, len(body), body)

    async def run(self, count, rate=None, stop=None, receipt_timeout=60.0):
        """Publishes; returns early (without the receipt) when `stop` is set."""
        conn = self.conn
        start = now_ns()
        interval = 1e9 / rate if rate else 0.0
        seq = 0
        while seq < count - 1 and conn.alive and not (stop and stop.is_set()):
            if interval:
                due = min(count - 1, int((now_ns() - start) / interval) + 1)
                if due <= seq:
                    await asyncio.sleep(max(0.0005, (start + seq * interval - now_ns()) / 1e9))
                    continue
            else:
                due = count - 1
            seq = self._write_batch(seq, due)
            if conn.write_blocked:
                t = now_ns()
                await conn.drain()
                self.blocked_ns += now_ns() - t
            else:
                await asyncio.sleep(0)
        if count and seq == count - 1 and conn.alive and not (stop and stop.is_set()):
            if interval:
                await asyncio.sleep(max(0.0, (start + seq * interval - now_ns()) / 1e9))
            await self._send_last(seq, receipt_timeout)

    def _write_batch(self, seq, due):
        frames = []
        size = 0
        t = now_ns()
        if self.first_ns is None:
            self.first_ns = t
        while seq < due and len(frames) < BATCH_FRAMES and size < BATCH_BYTES:
            f = self.frame(seq, t)
            frames.append(f)
            size += len(f)
            seq += 1
        self.conn.write(b"".join(frames))
        self.sent += len(frames)
        self.tally.sent += len(frames)
        self.per_second.add(t, len(frames))
        self.last_ns = t
        return seq

    async def _send_last(self, seq, timeout):
        t = now_ns()
        if self.first_ns is None:
            self.first_ns = t
        body = make_body(self.stream, seq, self.body_size)
        headers = {"destination": self.destination, "bench-ts": t}
        if self.extra:
            for line in self.extra.strip().split(b"\n"):
                k, _, v = line.partition(b":")
                headers[k] = v
        self.sent += 1
        self.tally.sent += 1
        self.per_second.add(t)
        self.last_ns = t
        try:
            await self.conn.request_receipt("SEND", headers, timeout, body=body)
            self.receipt_ns = now_ns()
        except (asyncio.TimeoutError, ConnectionError):
            pass


async def close_all(conns, timeout=5.0):
    """DISCONNECTs every live connection, concurrently."""
    live = [c for c in conns if c is not None and not c.closed.is_set()]
    if live:
        await asyncio.gather(*(c.close(timeout) for c in live), return_exceptions=True)

