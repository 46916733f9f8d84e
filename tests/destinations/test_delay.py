"""Delayed delivery: ActiveMQ's `AMQ_SCHEDULED_DELAY` (ms) on SEND makes a
message visible only after the delay, on queues and topics. Delayed messages
count against the queue's limits.

Timing is checked only in the direction that cannot race: a delayed message
never arrives before its delay (a lower bound), and a message sent after it
without a delay arrives first (the delayed one is then awaited)."""

import time
import unittest

from dest_support import DestinationCase, unique


class DelayTest(DestinationCase):

    def test_a_delayed_queue_message_comes_after_its_delay(self):
        queue = "/queue/" + unique("later")
        sub = self.connected()
        self.subscribe(sub, queue)
        pub = self.connected()
        sent = time.monotonic()
        self.send(pub, queue, "later", {"AMQ_SCHEDULED_DELAY": "300"})
        self.send(pub, queue, "now")
        self.assertEqual(self.bodies(sub, 1), ["now"])
        self.assertEqual(self.bodies(sub, 1), ["later"])
        self.assertGreaterEqual(time.monotonic() - sent, 0.3)

    def test_a_delayed_message_waits_counted_as_delayed(self):
        queue = "/queue/" + unique("held")
        pub = self.connected()
        self.send(pub, queue, "in a minute", {"AMQ_SCHEDULED_DELAY": "60000"})
        entry = self.stats_of(queue)
        self.assertEqual((entry["delayed"], entry["depth"]), (1, 1))

    def test_a_delayed_topic_message_comes_after_its_delay(self):
        topic = "/topic/" + unique("later")
        sub = self.connected()
        self.subscribe(sub, topic)
        pub = self.connected()
        sent = time.monotonic()
        self.send(pub, topic, "later", {"AMQ_SCHEDULED_DELAY": "300"})
        self.send(pub, topic, "now")
        self.assertEqual(self.bodies(sub, 1), ["now"])
        self.assertEqual(self.bodies(sub, 1), ["later"])
        self.assertGreaterEqual(time.monotonic() - sent, 0.3)

    def test_delayed_messages_keep_their_order_by_due_time(self):
        queue = "/queue/" + unique("order")
        pub = self.connected()
        self.send(pub, queue, "third", {"AMQ_SCHEDULED_DELAY": "300"})
        self.send(pub, queue, "second", {"AMQ_SCHEDULED_DELAY": "150"})
        self.send(pub, queue, "first")
        sub = self.connected()
        self.subscribe(sub, queue)
        self.assertEqual(self.bodies(sub, 3), ["first", "second", "third"])

    def test_a_delay_of_0_is_no_delay(self):
        queue = "/queue/" + unique("zero")
        pub = self.connected()
        self.send(pub, queue, "a", {"AMQ_SCHEDULED_DELAY": "0"})
        self.assertEqual(self.stats_of(queue)["delayed"], 0)

    def test_a_malformed_delay_is_an_error(self):
        c = self.connected()
        c.send_frame("SEND", {"destination": "/queue/" + unique("bad"),
                              "AMQ_SCHEDULED_DELAY": "soon"}, "x")
        self.assert_error(c, "AMQ_SCHEDULED_DELAY", "soon")

    def test_a_delay_past_the_maximum_is_an_error(self):
        c = self.connected()
        c.send_frame("SEND", {"destination": "/queue/" + unique("bad"),
                              "AMQ_SCHEDULED_DELAY": str(10**12)}, "x")
        self.assert_error(c, "AMQ_SCHEDULED_DELAY", "queues.max_delay_ms")


class DelayBoundsTest(DestinationCase):
    config = {"queues": {"max_length": 2, "overflow": "reject-publish", "max_delay_ms": 120000},
              "topics": {"max_delayed_bytes": 4096}}

    def test_delayed_messages_count_against_the_queue_length(self):
        queue = "/queue/" + unique("full")
        pub = self.connected()
        self.send(pub, queue, "a", {"AMQ_SCHEDULED_DELAY": "60000"})
        self.send(pub, queue, "b", {"AMQ_SCHEDULED_DELAY": "60000"})
        pub.send_frame("SEND", {"destination": queue, "receipt": "r3"}, "c")
        self.assert_error(pub, "full")

    def test_a_topic_bounds_the_bytes_of_its_delayed_messages(self):
        topic = "/topic/" + unique("full")
        pub = self.connected()
        body = "x" * 1500
        self.send(pub, topic, body, {"AMQ_SCHEDULED_DELAY": "60000"})
        self.send(pub, topic, body, {"AMQ_SCHEDULED_DELAY": "60000"})
        pub.send_frame("SEND", {"destination": topic, "AMQ_SCHEDULED_DELAY": "60000",
                                "receipt": "r3"}, body)
        self.assert_error(pub, "delayed", "topics.max_delayed_bytes")
        self.assertEqual(self.stats_of(topic)["delayed"], 2)

    def test_the_configured_maximum_delay_is_the_limit(self):
        c = self.connected()
        c.send_frame("SEND", {"destination": "/queue/" + unique("bad"),
                              "AMQ_SCHEDULED_DELAY": "120001"}, "x")
        self.assert_error(c, "120000")


if __name__ == "__main__":
    unittest.main()
