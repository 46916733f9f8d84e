"""Flow control (DESIGN.md "Slow consumers"): a subscriber that stops reading
never makes the broker's memory grow without bound. Per destination policy:
`drop` loses its oldest topic messages (counted) while a fast subscriber on
the same topic gets everything; `disconnect` closes it with ERROR "slow
consumer"; `block` holds the topic's publishers until it drains, losing
nothing. A `block` queue holds its publishers while full."""

import socket
import threading
import time
import unittest

from integ import BrokerCase, Client, drain_messages, frame, unique

BODY = "b" * 1000
COUNT = 8000  # 8 MB: far past outbound.max_bytes and what the kernel buffers hold


class Reader(threading.Thread):
    """Reads a subscriber's frames as they come: MESSAGE bodies, then how it ended."""

    def __init__(self, client):
        super().__init__(daemon=True)
        self.client = client
        self.bodies = []
        self.ended = None
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                f = self.client.read_frame(0.2)
            except TimeoutError:
                continue
            except (AssertionError, OSError) as closed:
                self.ended = closed
                return
            if f.command == "MESSAGE":
                self.bodies.append(f.body)
            else:
                self.ended = f
                return


def slow_subscriber(port, destination):
    """A subscriber with a small receive buffer that does not read (yet)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    s.connect(("127.0.0.1", port))
    c = Client.__new__(Client)  # a Client around this socket
    c.sock, c.buffer, c.version, c.heartbeats_received = s, b"", "1.2", 0
    c.closed, c.stash = False, []
    c.connect()
    c.subscribe(destination, id="slow")
    return c


class FlowTest(BrokerCase):
    admin = True
    # A publisher has at most 20 messages (20 KB) on their way: well inside
    # the headroom between the 75% mark, where publishers are held, and
    # max_bytes, so only a subscriber that does not drain is a slow consumer.
    config = {
        "publishers": {"window_messages": 20},
        "outbound": {
            "max_bytes": 262144, "grace_ms": 200, "slow_consumer": "drop",
            "policies": [{"destination": "/topic/cut.*", "slow_consumer": "disconnect"},
                         {"destination": "/topic/hold.*", "slow_consumer": "block"}],
        },
    }

    def flood(self, destination, receipt="end"):
        """COUNT numbered messages and a last one with a receipt, from a thread:
        returns (thread, publisher)."""
        pub = self.connected()

        def run():
            data = b"".join(frame("SEND", {"destination": destination}, "%06d%s" % (i, BODY))
                            for i in range(COUNT))
            try:
                pub.send_raw(data)
                pub.send_frame("SEND", {"destination": destination, "receipt": receipt}, "last")
            except OSError:
                pass  # held past the socket's timeout: the test's expect() reports it
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t, pub

    def fast_subscriber(self, destination):
        fast = self.connected()
        fast.subscribe(destination, id="fast")
        reader = Reader(fast)
        reader.start()
        self.addCleanup(reader.stop.set)
        return reader

    def wait_for(self, condition, what, timeout=15):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                self.fail("timed out waiting until " + what)
            time.sleep(0.02)

    def test_drop_a_slow_subscriber_loses_its_oldest_messages_a_fast_one_nothing(self):
        destination = "/topic/drop." + unique("t")
        slow = slow_subscriber(self.port, destination)
        self._clients.append(slow)
        fast = self.fast_subscriber(destination)
        thread, pub = self.flood(destination)
        pub.expect("RECEIPT", {"receipt-id": "end"}, timeout=15)  # never held for long
        self.wait_for(lambda: len(fast.bodies) == COUNT + 1, "the fast subscriber has all")
        self.assertEqual([b[:6] for b in fast.bodies[:-1]],
                         [b"%06d" % i for i in range(COUNT)])
        stats = self.broker.destination_stats(destination)
        self.assertGreater(stats["dropped"], 0, stats)
        # The slow one keeps its connection; what it gets is in order, with gaps.
        reader = Reader(slow)
        reader.start()
        self.addCleanup(reader.stop.set)
        pub.send(destination, "after", receipt="after")
        self.wait_for(lambda: reader.bodies and reader.bodies[-1] == b"after",
                      "the slow subscriber catches up")
        numbers = [int(b[:6]) for b in reader.bodies if b[:6].isdigit()]
        self.assertEqual(numbers, sorted(set(numbers)))
        self.assertLess(len(numbers), COUNT)
        self.assertIsNone(reader.ended)
        self.assert_bystander_fine()

    def test_disconnect_a_slow_subscriber_gets_an_error_naming_it(self):
        destination = "/topic/cut." + unique("t")
        slow = slow_subscriber(self.port, destination)
        self._clients.append(slow)
        fast = self.fast_subscriber(destination)
        thread, pub = self.flood(destination)
        pub.expect("RECEIPT", {"receipt-id": "end"}, timeout=8)
        self.wait_for(lambda: len(fast.bodies) == COUNT + 1, "the fast subscriber has all")
        reader = Reader(slow)
        reader.start()
        self.wait_for(lambda: reader.ended is not None, "the slow subscriber is cut off")
        self.assertEqual(getattr(reader.ended, "command", None), "ERROR", reader.ended)
        self.assertIn("slow consumer", reader.ended.get("message"))
        slow.expect_closed()
        self.assert_bystander_fine()

    def test_block_holds_the_publisher_until_the_slow_subscriber_drains(self):
        destination = "/topic/hold." + unique("t")
        slow = slow_subscriber(self.port, destination)
        self._clients.append(slow)
        fast = self.fast_subscriber(destination)
        thread, pub = self.flood(destination)
        with self.assertRaises(TimeoutError):  # held: the slow one has not read a byte
            pub.expect("RECEIPT", timeout=1.0)
        self.assertLess(len(fast.bodies), COUNT + 1)
        reader = Reader(slow)
        reader.start()
        self.addCleanup(reader.stop.set)
        pub.expect("RECEIPT", {"receipt-id": "end"}, timeout=15)
        self.wait_for(lambda: len(reader.bodies) == COUNT + 1, "the slow subscriber has all")
        self.wait_for(lambda: len(fast.bodies) == COUNT + 1, "the fast subscriber has all")
        expected = [b"%06d" % i for i in range(COUNT)]
        self.assertEqual([b[:6] for b in reader.bodies[:-1]], expected)
        self.assertEqual([b[:6] for b in fast.bodies[:-1]], expected)
        self.assertEqual(self.broker.destination_stats(destination)["dropped"], 0)


class DrainingSubscriberTest(BrokerCase):
    """With the default flow-control settings."""
    admin = True

    def test_a_subscriber_that_drains_is_only_ever_throttled_never_dropped(self):
        # config.hpp: "a subscriber that drains is only ever throttled". One
        # publisher pipelines 20,000 messages of 1 KB; one subscriber reads all
        # the while, as fast as it can.
        destination = "/topic/" + unique("draining")
        reader = self.fast_subscriber(destination)
        pub = self.connected()
        data = b"".join(frame("SEND", {"destination": destination}, "%06d%s" % (i, BODY))
                        for i in range(20000))
        threading.Thread(target=pub.send_raw, args=(data + frame(
            "SEND", {"destination": destination, "receipt": "end"}, "last"),),
            daemon=True).start()
        pub.expect("RECEIPT", {"receipt-id": "end"}, timeout=60)
        deadline = time.monotonic() + 30
        while len(reader.bodies) < 20001 and time.monotonic() < deadline:
            time.sleep(0.05)
            if self.broker.destination_stats(destination)["dropped"]:
                break
        stats = self.broker.destination_stats(destination)
        self.assertEqual(stats["dropped"], 0, "a subscriber reading all the while lost %d of "
                         "20,001 messages" % stats["dropped"])
        self.assertEqual([b[:6] for b in reader.bodies[:-1]], [b"%06d" % i for i in range(20000)])

    fast_subscriber = FlowTest.fast_subscriber


class BlockingQueueTest(BrokerCase):
    admin = True
    config = {"queues": {"max_length": 50, "overflow": "block"},
              "publishers": {"window_messages": 10}}

    def test_a_full_block_queue_holds_its_publisher_and_loses_nothing(self):
        destination = "/queue/" + unique("block")
        pub = self.connected()
        data = b"".join(frame("SEND", {"destination": destination}, "m%d" % i)
                        for i in range(500))
        threading.Thread(target=pub.send_raw, args=(data + frame(
            "SEND", {"destination": destination, "receipt": "end"}, "last"),),
            daemon=True).start()
        with self.assertRaises(TimeoutError):
            pub.expect("RECEIPT", timeout=1.0)
        stats = self.broker.destination_stats(destination)
        self.assertLessEqual(stats["depth"], 50 + 10 + 1, stats)
        self.assertEqual((stats["dropped"], stats["rejected"]), (0, 0))
        sub = self.connected()
        sub.subscribe(destination, headers={"prefetch-count": "1000"})
        bodies = [m.body for m in drain_messages(sub, 501)]
        self.assertEqual(bodies, [b"m%d" % i for i in range(500)] + [b"last"])
        pub.expect("RECEIPT", {"receipt-id": "end"})
        self.assert_bystander_fine()


if __name__ == "__main__":
    unittest.main()
