"""Shared pieces of the destination-feature suite (issue 13): a broker per
test class, clients closed after each test, barriers that cannot race the
clock, and /stats polling.

Barriers used throughout, never "nothing arrived within N seconds":
  - a later frame on the same path (a MESSAGE sent after the ones under test,
    by the same publisher to the same destination, arrives after them);
  - a RECEIPT (the broker has handled the frame);
  - a /stats counter the broker sets when it has done something (an expiry,
    a deletion), polled until it shows the value.
"""

import itertools
import time
import unittest

from stampede_test import Broker, Client  # noqa: F401

_unique = itertools.count(1)


def unique(prefix="x"):
    """A name no other test of this process uses."""
    return "%s-%d" % (prefix, next(_unique))


def now_ms():
    return int(time.time() * 1000)


def wait_until_past(deadline_ms):
    """Sleeps until the wall clock is past `deadline_ms` (epoch ms): a wait
    for a known moment, not a guess about how long something takes."""
    while now_ms() <= deadline_ms:
        time.sleep(max(0.001, (deadline_ms - now_ms() + 1) / 1000))


class DestinationCase(unittest.TestCase):
    """One broker (with the admin endpoint) per test class; clients closed
    after each test."""

    config = None
    schedulers = 2

    @classmethod
    def setUpClass(cls):
        cls.broker = Broker(config=cls.config, admin=True, schedulers=cls.schedulers)
        cls.broker.start()
        cls.port = cls.broker.port

    @classmethod
    def tearDownClass(cls):
        status = cls.broker.stop()
        if status != 0:
            raise AssertionError("stampede exited with status %s:\n%s"
                                 % (status, cls.broker.log()[-4000:]))

    def setUp(self):
        self._clients = []

    def tearDown(self):
        for c in self._clients:
            c.close()

    def connected(self, version="1.2"):
        c = Client(self.port)
        self._clients.append(c)
        c.connect(version)
        return c

    # ---- frames ----

    def send(self, c, destination, body, headers=None, receipt=True):
        """SEND; with `receipt`, waits for its RECEIPT (the broker has the message)."""
        h = {"destination": destination}
        h.update(headers or {})
        if receipt:
            h["receipt"] = unique("r")
        c.send_frame("SEND", h, body)
        if receipt:
            c.await_frame("RECEIPT", {"receipt-id": h["receipt"]})

    def subscribe(self, c, destination, id=None, ack="auto", headers=None):
        """SUBSCRIBE with a receipt; returns the id."""
        id = id or unique("s")
        h = {"destination": destination, "id": id, "ack": ack, "receipt": unique("sub")}
        h.update(headers or {})
        c.send_frame("SUBSCRIBE", h)
        c.await_frame("RECEIPT", {"receipt-id": h["receipt"]})
        return id

    def unsubscribe(self, c, id):
        r = unique("unsub")
        c.send_frame("UNSUBSCRIBE", {"id": id, "receipt": r})
        c.await_frame("RECEIPT", {"receipt-id": r})

    def messages(self, c, count, timeout=10):
        """The next `count` frames, each required to be a MESSAGE."""
        return [c.expect("MESSAGE", timeout=timeout) for _ in range(count)]

    def bodies(self, c, count, timeout=10):
        return [m.body.decode() for m in self.messages(c, count, timeout)]

    def ack(self, c, message):
        r = unique("ack")
        c.send_frame("ACK", {"id": message.get("ack"), "receipt": r})
        c.await_frame("RECEIPT", {"receipt-id": r})

    def nack(self, c, message):
        r = unique("nack")
        c.send_frame("NACK", {"id": message.get("ack"), "receipt": r})
        c.await_frame("RECEIPT", {"receipt-id": r})

    def assert_error(self, c, *texts, timeout=10):
        """Reads an ERROR naming every one of `texts`, then the close."""
        error = c.expect("ERROR", timeout=timeout)
        message = error.get("message", "")
        for text in texts:
            self.assertIn(text.lower(), message.lower(),
                          "ERROR message %r should name %r" % (message, text))
        c.expect_closed(timeout)
        return error

    # ---- /stats ----

    def stats_of(self, name):
        return self.broker.destination_stats(name)

    def wait_for_stats(self, name, predicate, timeout=10, what="the expected counters"):
        """Polls /stats until destination `name`'s entry satisfies
        `predicate` (None: it is absent); returns the entry."""
        deadline = time.monotonic() + timeout
        while True:
            entry = self.stats_of(name)
            if predicate(entry):
                return entry
            if time.monotonic() > deadline:
                raise AssertionError("%s never showed %s; last: %r" % (name, what, entry))
            time.sleep(0.02)

    def wait_for_broker_stat(self, key, predicate, timeout=10):
        """Polls /stats until its broker section's `key` satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.broker.stats()["broker"].get(key)
            if predicate(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError("broker.%s never satisfied the test; last %r" % (key, value))
            time.sleep(0.02)
