"""Shared pieces of the integration suite: a broker per test class, clients
that close themselves, a bystander connection that must notice nothing, and
ERROR checks.

Every test here talks to the real broker (tests/support/stampede_test.py
starts it) over loopback with raw STOMP.
"""

import itertools
import socket
import time
import unittest

from stampede_test import Broker, Client, ConnectionClosed, encode_frame  # noqa: F401

_unique = itertools.count(1)


def unique(prefix="x"):
    """A name no other test of this process uses (destinations, receipts)."""
    return "%s-%d" % (prefix, next(_unique))


def frame(command, headers=(), body=b"", version="1.2", content_length=True):
    """The bytes of one frame (escaped for `version`)."""
    return encode_frame(command, list(headers.items()) if isinstance(headers, dict) else headers,
                        body, version, content_length)


def connect_frame(version="1.2", host="/", extra=()):
    return frame("CONNECT", [("accept-version", version), ("host", host)] + list(extra))


class Bystander:
    """A second connection, open alongside whatever a test does to another.

    It holds a queue subscription and a topic subscription of its own; check()
    publishes one message to each with a receipt and requires exactly the
    RECEIPTs and the two MESSAGEs back, in a second: an ERROR, a close, a
    lost or foreign frame all fail the test. Call check() before and after
    the misbehaviour.
    """

    def __init__(self, port, version="1.2"):
        self.client = Client(port)
        self.client.connect(version)
        self.queue = "/queue/" + unique("bystander")
        self.topic = "/topic/" + unique("bystander")
        self.client.subscribe(self.queue, id="q")
        self.client.subscribe(self.topic, id="t")
        self.checks = 0

    def check(self):
        self.checks += 1
        body = "probe %d" % self.checks
        for dest in (self.queue, self.topic):
            receipt = unique("probe")
            self.client.send_frame("SEND", {"destination": dest, "receipt": receipt}, body)
            # The RECEIPT and the MESSAGE come by different paths: either order.
            frames = [self.client.read_frame(5), self.client.read_frame(5)]
            receipts = [f for f in frames if f.command == "RECEIPT"]
            messages = [f for f in frames if f.command == "MESSAGE"]
            if (len(receipts) != 1 or receipts[0].get("receipt-id") != receipt
                    or len(messages) != 1 or messages[0].get("destination") != dest
                    or messages[0].body != body.encode()):
                raise AssertionError("bystander expected RECEIPT %s and MESSAGE %r on %s, got %r"
                                     % (receipt, body, dest, frames))
        self.client.sync()  # no ERROR, close or stray frame behind them

    def close(self):
        try:
            self.client.disconnect(receipt=unique("bystander-bye"))
        finally:
            self.client.close()


class BrokerCase(unittest.TestCase):
    """One broker for the whole class (config, admin from class attributes),
    a bystander open throughout, and clients closed after each test."""

    config = None
    admin = False
    schedulers = 2
    with_bystander = True

    @classmethod
    def setUpClass(cls):
        cls.broker = Broker(config=cls.config, admin=cls.admin, schedulers=cls.schedulers)
        cls.broker.start()
        cls.port = cls.broker.port
        cls.bystander = Bystander(cls.port) if cls.with_bystander else None

    @classmethod
    def tearDownClass(cls):
        if cls.bystander is not None:
            cls.bystander.close()
        status = cls.broker.stop()
        if status != 0:
            raise AssertionError("stampede exited with status %s:\n%s"
                                 % (status, cls.broker.log()[-4000:]))

    def setUp(self):
        self._clients = []

    def tearDown(self):
        for c in self._clients:
            c.close()

    def client(self, port=None):
        """A raw connection, closed after the test."""
        c = Client(port or self.port)
        self._clients.append(c)
        return c

    def connected(self, version="1.2", port=None, **kwargs):
        """A connection that has completed CONNECT."""
        c = self.client(port)
        c.connect(version, **kwargs)
        return c

    def assert_error(self, c, *texts, receipt_id=None, timeout=10):
        """Reads an ERROR whose message names every one of `texts`
        (case-insensitive), carrying receipt-id exactly when `receipt_id` is
        given; then requires the close. Returns the ERROR."""
        error = c.expect("ERROR", timeout=timeout)
        message = error.get("message", "")
        for text in texts:
            self.assertIn(text.lower(), message.lower(),
                          "ERROR message %r should name %r" % (message, text))
        if receipt_id is None:
            self.assertIsNone(error.get("receipt-id"), "ERROR %r has a receipt-id" % error)
        else:
            self.assertEqual(error.get("receipt-id"), receipt_id, "ERROR %r" % error)
        if error.body:
            self.assertEqual(error.get("content-length"), str(len(error.body)),
                             "an ERROR with a body carries content-length: %r" % error)
        c.expect_closed(timeout)
        return error

    def expect_marker(self, sub, destination, publisher=None, headers=None):
        """Barrier for "nothing more reaches `sub` on `destination`": a
        marker published there (by `publisher`, else a new connection) must
        be `sub`'s next frame. Returns that MESSAGE."""
        publisher = publisher or self.connected()
        marker = unique("marker")
        publisher.send(destination, marker, headers=headers, receipt=marker)
        return sub.expect_message(marker)

    def wait_stats(self, destination, timeout=10, **expected):
        """Polls /stats (admin = True) until `destination`'s entry has the
        `expected` fields; fails with the last entry seen. For what MUST
        happen, so the generous deadline only delays a failure."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.broker.destination_stats(destination)
            got = {k: (stats or {}).get(k) for k in expected}
            if got == expected:
                return stats
            if time.monotonic() > deadline:
                self.fail("%s: expected %r in /stats, have %r" % (destination, expected, stats))
            time.sleep(0.02)

    def close_and_wait(self, c, timeout=10):
        """Closes `c` and polls /stats (admin = True) until the broker has
        let the connection go: what its end does (transactions discarded,
        unacked messages returned) has happened by then."""
        peer = "%s:%d" % c.sock.getsockname()[:2]
        c.close()
        deadline = time.monotonic() + timeout
        while any(conn.get("peer") == peer for conn in self.broker.stats()["connections"]):
            if time.monotonic() > deadline:
                self.fail("the broker still lists connection %s" % peer)
            time.sleep(0.02)

    def assert_bystander_fine(self):
        if self.bystander is not None:
            self.bystander.check()

    def round_trip(self, c, destination=None):
        """Shows that connection `c` still works: a message to itself."""
        destination = destination or "/queue/" + unique("self")
        sub = unique("rt")
        c.subscribe(destination, id=sub)
        c.send(destination, "ping", receipt=unique("rt"))
        message = c.await_frame("MESSAGE", {"subscription": sub})
        self.assertEqual(message.body, b"ping")
        c.send_frame("UNSUBSCRIBE", {"id": sub, "receipt": sub + "-u"})
        c.await_frame("RECEIPT", {"receipt-id": sub + "-u"})


def drain_messages(c, count, timeout=10):
    """Reads `count` MESSAGE frames (other frames fail)."""
    out = []
    for _ in range(count):
        out.append(c.expect("MESSAGE", timeout=timeout))
    return out


def read_all(sock, deadline):
    """Bytes from `sock` until the peer closes or the deadline passes."""
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock.settimeout(remaining)
        try:
            data = sock.recv(1 << 16)
        except (socket.timeout, ConnectionResetError):
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)
