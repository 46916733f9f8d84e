"""A subscriber that never reads, a publisher at full speed: the broker's
memory stays under a bound derived from its limits, under each slow-consumer
policy, and a fast subscriber on the same topic gets what the policy
promises."""

import os
import socket
import threading
import time
import unittest

from flow_support import (FULL_SPEED_SECONDS, Publisher, Subscriber, admin_broker, destination,
                          raw_connection, stats, subscribe_raw, wait_until)

MAX_BYTES = 256 * 1024
# A publisher's window within the outbound safety cap (4 x MAX_BYTES): what a
# publisher has on its way when the gates close must fit in a fast
# subscriber's queue, or even a fast subscriber would count as slow.
WINDOW_BYTES = 256 * 1024
RING_BYTES = 256 * 32 * 1024  # the default receive-buffer ring of one scheduler
SCHEDULERS = 2


def config(policy):
    return {"outbound": {"max_bytes": MAX_BYTES, "slow_consumer": policy, "grace_ms": 500},
            "publishers": {"window_bytes": WINDOW_BYTES}}


def rss_bound(baseline):
    """What the limits allow beyond the idle broker: each scheduler's receive
    ring, two connections at the 4x safety cap of their outbound queues, the
    publisher's window (counted three times over: message, copy, template),
    and 32 MiB of allocator slack."""
    return (baseline + SCHEDULERS * RING_BYTES + 2 * 4 * MAX_BYTES + 3 * WINDOW_BYTES
            + 32 * 1024 * 1024)


class RssSampler(threading.Thread):
    def __init__(self, broker):
        super().__init__(daemon=True)
        self.broker = broker
        self.samples = []
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(0.25):
            self.samples.append(self.broker.rss_bytes())

    def stop(self):
        self.stopped.set()
        self.join()


class SlowConsumerTest(unittest.TestCase):
    def run_full_speed(self, broker, seconds):
        """A stalled subscriber, a fast one, a publisher at full speed for
        `seconds`; returns (fast subscriber, publisher, stalled socket, rss samples, baseline)."""
        stalled = raw_connection(broker.port, rcvbuf=65536)
        subscribe_raw(stalled, "/topic/flow", "stalled")
        fast = Subscriber(broker.port, "/topic/flow", "fast")
        fast.start()
        baseline = broker.rss_bytes()
        sampler = RssSampler(broker)
        sampler.start()
        publisher = Publisher(broker.port, "/topic/flow", size=1024)
        publisher.start()
        time.sleep(seconds)
        publisher.stop()
        sampler.stop()
        return fast, publisher, stalled, sampler.samples, baseline

    def assert_bounded(self, samples, baseline):
        self.assertTrue(samples)
        if os.environ.get("STAMPEDE_SANITIZE"):
            # ASan's quarantine and shadow memory are most of the RSS then:
            # the bound holds for the broker, not for the sanitizer.
            print("RSS bound not checked in a %s sanitizer build (peak %d MiB)"
                  % (os.environ["STAMPEDE_SANITIZE"], max(samples) >> 20))
            return
        bound = rss_bound(baseline)
        self.assertLess(max(samples), bound,
                        "peak RSS %d MiB over the bound %d MiB derived from the limits"
                        % (max(samples) >> 20, bound >> 20))
        half = len(samples) // 2
        # Not creeping up: the second half peaks within 8 MiB of the first.
        self.assertLess(max(samples[half:]), max(samples[:half]) + 8 * 1024 * 1024)

    def test_drop_keeps_memory_bounded_and_the_fast_subscriber_misses_nothing(self):
        with admin_broker(config("drop")) as broker:
            fast, publisher, stalled, samples, baseline = self.run_full_speed(
                broker, FULL_SPEED_SECONDS)
            self.assertIsNone(publisher.error)
            publisher.finish_with_receipt()
            self.assertTrue(wait_until(lambda: fast.received_from("p") >= publisher.sent, 60),
                            "fast subscriber got %d of %d" % (fast.received_from("p"), publisher.sent))
            fast.stop()
            self.assertEqual(fast.out_of_order, 0)
            self.assertGreater(publisher.sent, 10000)  # it really ran at speed
            self.assert_bounded(samples, baseline)
            snapshot = stats(broker)
            topic = destination(snapshot, "/topic/flow")
            self.assertGreater(topic["dropped"], 0)
            slow_connections = [c for c in snapshot["connections"] if c["dropped"] > 0]
            self.assertEqual(len(slow_connections), 1, "the stalled subscriber keeps its connection")
            stalled.close()

    def test_disconnect_closes_the_stalled_subscriber_with_an_error(self):
        with admin_broker(config("disconnect")) as broker:
            fast, publisher, stalled, samples, baseline = self.run_full_speed(broker, 5)
            publisher.finish_with_receipt()
            self.assertTrue(wait_until(lambda: fast.received_from("p") >= publisher.sent, 60))
            fast.stop()
            self.assertEqual(fast.out_of_order, 0)
            self.assert_bounded(samples, baseline)
            # Whatever was queued for it, then the ERROR, then the close.
            stalled.settimeout(30)
            data = b""
            while True:
                chunk = stalled.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
            error_at = data.rfind(b"ERROR\n")
            self.assertGreaterEqual(error_at, 0, "no ERROR before the close")
            self.assertIn(b"message:slow consumer", data[error_at:])
            # The fast subscriber and the publisher have closed too: none is left.
            self.assertTrue(wait_until(lambda: not stats(broker)["connections"], 10),
                            stats(broker)["connections"])

    def test_block_holds_the_publisher_until_the_subscriber_drains(self):
        with admin_broker(config("block")) as broker:
            stalled = raw_connection(broker.port)
            subscribe_raw(stalled, "/topic/flow", "stalled")
            fast = Subscriber(broker.port, "/topic/flow", "fast")
            fast.start()
            publisher = Publisher(broker.port, "/topic/flow", size=1024)
            publisher.sock.settimeout(None)
            publisher.start()
            # Held: the broker says so in /stats, and then takes only what
            # was already on its way. The barrier is work, not time: once
            # the fast subscriber has every message accepted at the hold,
            # few more may have been accepted meanwhile.
            def flow():
                return destination(stats(broker), "/topic/flow")
            self.assertTrue(wait_until(lambda: flow()["held_publishers"] >= 1, 60),
                            "the publisher was never held: %r" % flow())
            held_in = flow()["messages_in"]
            self.assertTrue(wait_until(lambda: fast.count >= held_in, 60),
                            "fast got %d of %d" % (fast.count, held_in))
            self.assertLess(flow()["messages_in"] - held_in, 2000, "the publisher was not held")
            self.assertGreaterEqual(flow()["held_publishers"], 1)
            held_at = publisher.sent
            # The stalled subscriber starts reading: the publisher resumes.
            drain = Subscriber(broker.port, "/topic/flow", sock=stalled)
            drain.start()
            self.assertTrue(wait_until(lambda: publisher.sent > held_at + 20000, 60),
                            "the publisher did not resume")
            publisher.stop()
            publisher.finish_with_receipt()
            for sub in (fast, drain):
                self.assertTrue(wait_until(lambda: sub.received_from("p") >= publisher.sent, 60))
                sub.stop()
                self.assertEqual(sub.out_of_order, 0, "block loses nothing and keeps order")
            self.assertEqual(destination(stats(broker), "/topic/flow")["dropped"], 0)


if __name__ == "__main__":
    unittest.main()
