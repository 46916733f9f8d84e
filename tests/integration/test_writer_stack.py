"""The 175-frame cliff, as a regression test (DESIGN.md "Runtime model": no
unbounded recursion on a fiber).

The broker this project learns from died after exactly 175 frames per
connection: its writer loop was mutual recursion on a 256 KiB stack. Here one
connection receives 1,000,000 MESSAGE frames (one publisher pipelines
1,000,000 small SENDs to a topic with one subscriber reading as fast as it
can); the admin endpoint's /stats `stacks` entry for "session.writer" gives
the writer fibers' stack high-water mark after the first thousand frames and
after the million: it must not have grown. The reader, which parsed the
million SENDs, is held to the same rule.
"""

import socket
import threading
import time
import unittest

from integ import Broker, frame, unique

TOTAL = 1_000_000
FIRST = 1_000
WINDOW = 200_000  # frames the publisher may run ahead of the subscriber
CHUNK = 10_000


def stack_entry(broker, kind):
    entries = [s for s in broker.stats()["stacks"] if s["kind"] == kind]
    if len(entries) != 1:
        raise AssertionError("/stats has no single %r stacks entry: %r"
                             % (kind, broker.stats()["stacks"]))
    return entries[0]


class Counter(threading.Thread):
    """Reads the subscriber's socket as fast as it can, counting frames."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock = sock
        self.frames = 0
        self.bytes = 0
        self.error = None
        self.tail = b""

    def run(self):
        try:
            while self.frames < TOTAL:
                data = self.sock.recv(1 << 20)
                if not data:
                    raise AssertionError("the broker closed the subscriber after %d frames"
                                         % self.frames)
                self.frames += data.count(b"\0")
                self.bytes += len(data)
                self.tail = (self.tail + data)[-200:]
        except Exception as e:
            self.error = e


class WriterStackTest(unittest.TestCase):

    def wait_for(self, counter, frames, timeout=60):
        deadline = time.monotonic() + timeout
        while counter.frames < frames:
            if counter.error:
                raise counter.error
            if time.monotonic() > deadline:
                self.fail("the subscriber has %d of %d frames after %d s"
                          % (counter.frames, frames, timeout))
            time.sleep(0.01)

    def test_a_million_frames_leave_the_writer_stack_where_a_thousand_did(self):
        destination = "/topic/" + unique("cliff")
        with Broker(admin=True) as broker:
            sub = socket.create_connection(("127.0.0.1", broker.port))
            sub.sendall(frame("CONNECT", {"accept-version": "1.2", "host": "/"}) +
                        frame("SUBSCRIBE", {"destination": destination, "id": "s",
                                            "receipt": "sub"}))
            got = b""
            while got.count(b"\0") < 2:  # CONNECTED, RECEIPT
                got += sub.recv(4096)
            self.assertTrue(got.startswith(b"CONNECTED") and b"receipt-id:sub" in got, got)
            counter = Counter(sub)
            counter.start()

            pub = socket.create_connection(("127.0.0.1", broker.port))
            pub.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pub.sendall(frame("CONNECT", {"accept-version": "1.2", "host": "/"}))
            got = b""
            while b"\0" not in got:
                got += pub.recv(4096)
            one = frame("SEND", {"destination": destination}, "x", content_length=False)
            chunk = one * CHUNK

            pub.sendall(one * FIRST)
            self.wait_for(counter, FIRST)
            early = {kind: stack_entry(broker, kind) for kind in ("session.writer",
                                                                 "session.reader")}
            sent = FIRST
            start = time.monotonic()
            while sent < TOTAL:
                self.wait_for(counter, sent - WINDOW)
                n = min(CHUNK, TOTAL - sent)
                pub.sendall(chunk if n == CHUNK else one * n)
                sent += n
            self.wait_for(counter, TOTAL, timeout=120)
            elapsed = time.monotonic() - start
            late = {kind: stack_entry(broker, kind) for kind in ("session.writer",
                                                                "session.reader")}
            self.assertEqual(counter.frames, TOTAL)
            self.assertTrue(counter.tail.endswith(b"\n\nx\0"), counter.tail)
            pub.close()
            sub.close()

        writer_early, writer_late = early["session.writer"], late["session.writer"]
        self.assertGreater(writer_early["max_high_water"], 0, writer_early)
        self.assertGreaterEqual(writer_early["fibers"], 2, writer_early)
        self.assertEqual(writer_late["max_high_water"], writer_early["max_high_water"],
                         "the writer's stack high-water mark grew from %d bytes after %d frames "
                         "to %d after %d (%.1f s)" % (writer_early["max_high_water"], FIRST,
                                                      writer_late["max_high_water"], TOTAL,
                                                      elapsed))
        self.assertLess(writer_late["max_high_water"], writer_late["stack_size"])
        reader_early, reader_late = early["session.reader"], late["session.reader"]
        self.assertEqual(reader_late["max_high_water"], reader_early["max_high_water"],
                         "the reader's stack high-water mark grew from %d to %d bytes"
                         % (reader_early["max_high_water"], reader_late["max_high_water"]))


if __name__ == "__main__":
    unittest.main()
