"""A full queue under each overflow policy, and the memory alarm."""

import os
import time
import unittest

from flow_support import (Client, Publisher, Subscriber, admin_broker, destination, stats,
                          wait_until)


def queue_config(overflow, max_length=100):
    return {"queues": {"max_length": max_length, "overflow": overflow}}


class QueueOverflowTest(unittest.TestCase):
    def fill(self, broker, count, receipt_last=True):
        with Client(broker.port) as c:
            c.connect()
            for i in range(count):
                last = receipt_last and i == count - 1
                c.send("/queue/full", "m%d" % i, receipt="r" if last else None)

    def drain(self, broker, expected):
        with Client(broker.port) as c:
            c.connect()
            c.subscribe("/queue/full", "1")
            return [c.expect("MESSAGE").body.decode() for _ in range(expected)]

    def test_drop_head_keeps_the_newest_and_counts_the_dropped(self):
        with admin_broker(queue_config("drop-head")) as broker:
            self.fill(broker, 150)
            self.assertEqual(destination(stats(broker), "/queue/full")["dropped"], 50)
            self.assertEqual(self.drain(broker, 100), ["m%d" % i for i in range(50, 150)])

    def test_reject_publish_refuses_with_an_error_naming_the_queue(self):
        with admin_broker(queue_config("reject-publish")) as broker:
            with Client(broker.port) as bystander:
                bystander.connect()
                self.fill(broker, 100)
                with Client(broker.port) as c:
                    c.connect()
                    c.send_frame("SEND", {"destination": "/queue/full", "receipt": "over"}, "x")
                    error = c.expect_error("/queue/full is full")
                    self.assertEqual(error.get("receipt-id"), "over")
                self.assertEqual(destination(stats(broker), "/queue/full")["rejected"], 1)
                # Nothing accepted was lost, and nobody else noticed.
                bystander.send("/queue/other", "still fine", receipt="ok")
            self.assertEqual(self.drain(broker, 100), ["m%d" % i for i in range(100)])

    def test_block_holds_the_publisher_until_a_consumer_drains_the_queue(self):
        with admin_broker(queue_config("block")) as broker:
            publisher = Publisher(broker.port, "/queue/full", size=64, limit=5000)
            publisher.start()
            self.assertTrue(wait_until(
                lambda: destination(stats(broker), "/queue/full")["depth"] >= 100, 30))
            # The barrier: the broker reports its publisher held.
            self.assertTrue(wait_until(
                lambda: destination(stats(broker), "/queue/full")["held_publishers"] >= 1, 30),
                destination(stats(broker), "/queue/full"))
            depth = destination(stats(broker), "/queue/full")["depth"]
            # Held at the limit (plus what was already on its way), not growing to 5000.
            self.assertLess(depth, 2000)
            self.assertFalse(publisher.sent >= 5000 and depth >= 5000)
            consumer = Subscriber(broker.port, "/queue/full", "c")
            consumer.start()
            publisher.join(60)
            publisher.sock.close()
            self.assertEqual(publisher.sent, 5000)
            self.assertTrue(wait_until(lambda: consumer.received_from("p") >= 5000, 60),
                            "consumer got %d" % consumer.received_from("p"))
            consumer.stop()
            self.assertEqual(consumer.out_of_order, 0)
            snapshot = destination(stats(broker), "/queue/full")
            self.assertEqual(snapshot["dropped"] + snapshot["rejected"], 0)


@unittest.skipIf(os.environ.get("STAMPEDE_SANITIZE"),
                 "the memory alarm reads RSS, which a sanitizer's shadow memory and "
                 "quarantine dominate: the mark would never clear")
class MemoryAlarmTest(unittest.TestCase):
    def test_publishers_are_held_above_the_high_water_mark_and_resume_below_it(self):
        # Find the idle footprint first, then set the mark 48 MiB above it.
        with admin_broker() as probe:
            idle = probe.rss_bytes()
        mark = idle + 48 * 1024 * 1024
        config = {"memory": {"high_water": mark, "check_interval_ms": 20},
                  "queues": {"max_length": 10000000, "max_bytes": 4 << 30}}
        with admin_broker(config) as broker:
            publisher = Publisher(broker.port, "/queue/heap", size=4096, limit=60000)
            publisher.start()
            self.assertTrue(wait_until(lambda: "memory alarm:" in broker.log(), 60),
                            "the alarm never rose:\n" + broker.log()[-2000:])
            time.sleep(1.0)
            held = destination(stats(broker), "/queue/heap")["depth"]
            time.sleep(1.0)
            self.assertLess(destination(stats(broker), "/queue/heap")["depth"] - held, 2000,
                            "publishing went on above the mark")
            self.assertLess(publisher.sent, 60000)
            consumer = Subscriber(broker.port, "/queue/heap", "c")
            consumer.start()
            publisher.join(120)
            publisher.sock.close()
            self.assertEqual(publisher.sent, 60000)
            self.assertTrue(wait_until(lambda: consumer.received_from("p") >= 60000, 120))
            consumer.stop()
            self.assertEqual(consumer.out_of_order, 0)
            self.assertIn("memory alarm cleared", broker.log())


if __name__ == "__main__":
    unittest.main()
