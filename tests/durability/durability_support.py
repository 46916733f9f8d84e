"""Shared pieces of the durability suite (issue 10): a broker on a data
directory of the test's own, restarted (gracefully or with SIGKILL) on the
same directory, and message bodies that carry their own checksum.
"""

import hashlib
import os
import shutil
import signal
import tempfile
import unittest

from stampede_test import Broker, Client, ConnectionClosed  # noqa: F401

# Small segments: recovery reads whole preallocated segments, and the tests
# restart often.
SEGMENT_BYTES = 1 << 20

LONG = os.environ.get("STAMPEDE_LONG_TESTS") == "1"


def body(n, size=64):
    """Message n's body: its number, filler derived from it, then a digest."""
    head = ("%d:" % n).encode()
    filler = hashlib.sha256(str(n).encode()).hexdigest().encode() * (1 + size // 64)
    payload = head + filler[:max(0, size - len(head))]
    return payload + b"|" + hashlib.sha256(payload).hexdigest()[:16].encode()


def check_body(data):
    """The number a body carries, or raises AssertionError if it is damaged."""
    payload, _, digest = data.rpartition(b"|")
    if hashlib.sha256(payload).hexdigest()[:16].encode() != digest:
        raise AssertionError("damaged body: %r" % data[:80])
    return int(payload.split(b":", 1)[0])


class DataDir:
    """A data directory, and brokers started on it one after another."""

    def __init__(self, sync="always", config=None):
        self.path = tempfile.mkdtemp(prefix="stampede-durability-")
        self.sync = sync
        self.extra = config or {}
        self.broker = None

    def config(self):
        c = {"journal": {"sync": self.sync, "segment_bytes": SEGMENT_BYTES}}
        c.update(self.extra)
        return c

    def start(self, admin=False):
        self.broker = Broker(config=self.config(), args=["--data-dir", self.path],
                             admin=admin).start()
        return self.broker

    def stop(self):
        """SIGTERM: must exit 0."""
        status = self.broker.stop()
        if status != 0:
            raise AssertionError("stampede exited %s:\n%s" % (status, self.broker.log()))

    def kill(self):
        """SIGKILL: no chance to flush anything."""
        self.broker.process.send_signal(signal.SIGKILL)
        self.broker.process.wait()
        self.broker.stop()  # releases the pipe and the config file

    def restart(self, crash=False, admin=False):
        self.kill() if crash else self.stop()
        return self.start(admin)

    def close(self):
        if self.broker is not None and self.broker.process.poll() is None:
            self.kill()
        shutil.rmtree(self.path, ignore_errors=True)

    def segments(self):
        return sorted(os.path.join(self.path, f) for f in os.listdir(self.path)
                      if f.endswith(".seg"))


class DurabilityCase(unittest.TestCase):
    """A fresh data directory per test (self.data), removed after."""

    sync = "always"

    def setUp(self):
        self.data = DataDir(self.sync)
        self.addCleanup(self.data.close)
        self.clients = []

    def client(self, **connect):
        c = Client(self.data.broker.port)
        c.connect(**connect)
        self.clients.append(c)
        self.addCleanup(c.close)
        return c

    def send_persistent(self, c, destination, numbers, headers=None):
        """Sends each numbered body with persistent:true, waiting for each RECEIPT."""
        for n in numbers:
            h = {"persistent": "true"}
            h.update(headers or {})
            c.send(destination, body(n), h, receipt="p-%d" % n)

    def receive(self, c, count, timeout=10):
        """The next `count` MESSAGEs, bodies checked."""
        frames = []
        for _ in range(count):
            f = c.await_frame("MESSAGE", timeout=timeout)
            check_body(f.body)
            frames.append(f)
        return frames
