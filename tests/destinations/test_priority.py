"""Priority on queues: the `priority` header 0-9 (default 4, as JMS), higher
first, FIFO within a priority, a bounded wait for lower priorities
(queues.starvation_limit), and plain FIFO with queues.priorities off."""

import unittest

from dest_support import DestinationCase, unique


def fill(case, c, queue, items):
    """SENDs (body, priority-or-None) pairs in order; the last with a receipt."""
    for i, (body, priority) in enumerate(items):
        headers = {} if priority is None else {"priority": str(priority)}
        case.send(c, queue, body, headers, receipt=(i == len(items) - 1))


class PriorityTest(DestinationCase):
    config = {"queues": {"starvation_limit": 0}}  # strict: orders are exact

    def test_higher_priorities_first_and_fifo_within_one(self):
        queue = "/queue/" + unique("prio")
        pub = self.connected()
        fill(self, pub, queue, [("a1", 1), ("b9", 9), ("c5", 5), ("d9", 9), ("e1", 1), ("f5", 5)])
        sub = self.connected()
        self.subscribe(sub, queue)
        self.assertEqual(self.bodies(sub, 6), ["b9", "d9", "c5", "f5", "a1", "e1"])

    def test_no_priority_header_is_priority_4(self):
        queue = "/queue/" + unique("prio")
        pub = self.connected()
        fill(self, pub, queue, [("three", 3), ("none", None), ("five", 5), ("four", 4)])
        sub = self.connected()
        self.subscribe(sub, queue)
        self.assertEqual(self.bodies(sub, 4), ["five", "none", "four", "three"])

    def test_priorities_above_9_count_as_9_and_below_0_as_0(self):
        queue = "/queue/" + unique("prio")
        pub = self.connected()
        fill(self, pub, queue, [("low", 0), ("minus", -3), ("nine", 9), ("huge", 200)])
        sub = self.connected()
        self.subscribe(sub, queue)
        self.assertEqual(self.bodies(sub, 4), ["nine", "huge", "low", "minus"])

    def test_a_priority_message_passes_a_held_consumers_backlog(self):
        # The consumer's window is full (prefetch 1, unacknowledged): what
        # arrives meanwhile waits in the queue, where priority still orders it.
        queue = "/queue/" + unique("held")
        sub = self.connected()
        self.subscribe(sub, queue, ack="client-individual", headers={"prefetch-count": "1"})
        pub = self.connected()
        self.send(pub, queue, "first", {"priority": "1"})
        held = sub.expect("MESSAGE")
        self.assertEqual(held.body, b"first")
        fill(self, pub, queue, [("low-a", 1), ("low-b", 1), ("urgent", 9), ("low-c", 1)])
        self.ack(sub, held)
        got = []
        for _ in range(4):
            m = sub.expect("MESSAGE")
            got.append(m.body.decode())
            self.ack(sub, m)
        self.assertEqual(got, ["urgent", "low-a", "low-b", "low-c"])

    def test_a_redelivered_message_goes_back_before_later_ones_of_its_priority(self):
        queue = "/queue/" + unique("nack")
        pub = self.connected()
        fill(self, pub, queue, [("m1", 5), ("m2", 5), ("m3", 5)])
        sub = self.connected()
        self.subscribe(sub, queue, ack="client-individual", headers={"prefetch-count": "1"})
        first = sub.expect("MESSAGE")
        self.assertEqual(first.body, b"m1")
        self.nack(sub, first)
        again = sub.expect("MESSAGE")
        self.assertEqual((again.body, again.get("redelivered")), (b"m1", "true"))

    def test_a_malformed_priority_is_an_error_naming_the_header(self):
        c = self.connected()
        c.send_frame("SEND", {"destination": "/queue/" + unique("bad"), "priority": "high"}, "x")
        self.assert_error(c, "priority", "high")

    def test_stats_count_what_is_held(self):
        queue = "/queue/" + unique("depth")
        pub = self.connected()
        fill(self, pub, queue, [("a", 0), ("b", 9), ("c", 4)])
        entry = self.stats_of(queue)
        self.assertEqual((entry["depth"], entry["messages_in"]), (3, 3))


class StarvationTest(DestinationCase):
    config = {"queues": {"starvation_limit": 2}}

    def test_a_lower_priority_waits_at_most_starvation_limit_deliveries(self):
        # The low message is passed over twice, then gets the next delivery.
        queue = "/queue/" + unique("starve")
        pub = self.connected()
        fill(self, pub, queue, [("low", 1)] + [("high%d" % i, 9) for i in range(6)])
        sub = self.connected()
        self.subscribe(sub, queue)
        self.assertEqual(self.bodies(sub, 7),
                         ["high0", "high1", "low", "high2", "high3", "high4", "high5"])


class FifoTest(DestinationCase):
    config = {"queues": {"priorities": False}}

    def test_with_priorities_off_a_queue_is_fifo(self):
        queue = "/queue/" + unique("fifo")
        pub = self.connected()
        fill(self, pub, queue, [("a", 1), ("b", 9), ("c", 5)])
        sub = self.connected()
        self.subscribe(sub, queue)
        self.assertEqual(self.bodies(sub, 3), ["a", "b", "c"])


if __name__ == "__main__":
    unittest.main()
