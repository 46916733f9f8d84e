"""Exclusive consumers (activemq.exclusive:true, and RabbitMQ's
x-single-active-consumer:true) and queue browsing (browser:true, then a
MESSAGE with browser:end)."""

import unittest

from dest_support import DestinationCase, unique


class ExclusiveTest(DestinationCase):

    def publish(self, c, queue, bodies):
        for i, body in enumerate(bodies):
            self.send(c, queue, body, receipt=(i == len(bodies) - 1))

    def test_the_first_exclusive_consumer_gets_everything(self):
        queue = "/queue/" + unique("excl")
        first = self.connected()
        second = self.connected()
        self.subscribe(first, queue, headers={"activemq.exclusive": "true"})
        self.subscribe(second, queue, headers={"activemq.exclusive": "true"})
        pub = self.connected()
        self.publish(pub, queue, ["m%d" % i for i in range(6)])
        self.assertEqual(self.bodies(first, 6), ["m%d" % i for i in range(6)])
        self.wait_for_stats(queue, lambda e: e["depth"] == 0)  # settled as written

    def test_the_next_takes_over_without_loss_when_it_leaves(self):
        queue = "/queue/" + unique("takeover")
        first = self.connected()
        second = self.connected()
        self.subscribe(first, queue, ack="client-individual",
                       headers={"activemq.exclusive": "true", "prefetch-count": "2"})
        standby = self.subscribe(second, queue, ack="client-individual",
                                 headers={"activemq.exclusive": "true"})
        pub = self.connected()
        self.publish(pub, queue, ["m%d" % i for i in range(5)])
        held = self.messages(first, 2)
        self.ack(first, held[0])
        self.assertEqual(self.bodies(first, 1), ["m2"])
        # It leaves with m1 and m2 unacknowledged: the standby gets them, then the rest.
        first.send_frame("DISCONNECT", {"receipt": "bye"})
        first.await_frame("RECEIPT", {"receipt-id": "bye"})
        got = []
        for _ in range(4):
            m = second.expect("MESSAGE")
            self.assertEqual(m.get("subscription"), standby)
            got.append(m.body.decode())
            self.ack(second, m)
        self.assertEqual(got, ["m1", "m2", "m3", "m4"])

    def test_a_plain_consumer_waits_while_an_exclusive_one_is_there(self):
        queue = "/queue/" + unique("mixed")
        plain = self.connected()
        self.subscribe(plain, queue)
        excl = self.connected()
        excl_id = self.subscribe(excl, queue, headers={"activemq.exclusive": "true"})
        pub = self.connected()
        self.publish(pub, queue, ["a", "b", "c"])
        self.assertEqual(self.bodies(excl, 3), ["a", "b", "c"])
        self.unsubscribe(excl, excl_id)
        self.publish(pub, queue, ["d"])
        self.assertEqual(self.bodies(plain, 1), ["d"])

    def test_rabbitmqs_single_active_consumer_header_means_the_same(self):
        queue = "/queue/" + unique("sac")
        first = self.connected()
        second = self.connected()
        self.subscribe(first, queue, headers={"x-single-active-consumer": "true"})
        self.subscribe(second, queue, headers={"x-single-active-consumer": "true"})
        pub = self.connected()
        self.publish(pub, queue, ["m%d" % i for i in range(4)])
        self.assertEqual(self.bodies(first, 4), ["m%d" % i for i in range(4)])


class BrowseTest(DestinationCase):

    def fill(self, queue, items):
        pub = self.connected()
        for i, (body, headers) in enumerate(items):
            self.send(pub, queue, body, headers, receipt=(i == len(items) - 1))

    def browse(self, c, queue, headers=None):
        """Browses `queue`: the bodies before the end marker."""
        h = {"browser": "true"}
        h.update(headers or {})
        sub = self.subscribe(c, queue, headers=h)
        bodies = []
        while True:
            m = c.expect("MESSAGE")
            self.assertEqual(m.get("subscription"), sub)
            if m.get("browser") == "end":
                self.assertEqual(m.body, b"")
                return bodies
            bodies.append(m.body.decode())

    def test_a_browser_sees_the_messages_without_taking_them(self):
        queue = "/queue/" + unique("browse")
        self.fill(queue, [("a", {}), ("b", {}), ("c", {})])
        b = self.connected()
        self.assertEqual(self.browse(b, queue), ["a", "b", "c"])
        entry = self.stats_of(queue)
        self.assertEqual((entry["depth"], entry["unacked"]), (3, 0))
        consumer = self.connected()
        self.subscribe(consumer, queue)
        self.assertEqual(self.bodies(consumer, 3), ["a", "b", "c"])

    def test_a_browser_sees_priority_order_and_its_selector(self):
        queue = "/queue/" + unique("browse")
        self.fill(queue, [("lo", {"priority": "1", "k": "x"}), ("hi", {"priority": "9", "k": "x"}),
                          ("other", {"priority": "5", "k": "y"})])
        b = self.connected()
        self.assertEqual(self.browse(b, queue), ["hi", "other", "lo"])
        b2 = self.connected()
        self.assertEqual(self.browse(b2, queue, {"selector": "k = 'x'"}), ["hi", "lo"])

    def test_an_empty_queue_browses_to_the_end_marker_at_once(self):
        b = self.connected()
        self.assertEqual(self.browse(b, "/queue/" + unique("empty")), [])

    def test_a_large_queue_is_browsed_in_pages_of_the_prefetch(self):
        queue = "/queue/" + unique("big")
        pub = self.connected()
        for i in range(500):
            self.send(pub, queue, "m%03d" % i, receipt=(i == 499))
        b = self.connected()
        got = self.browse(b, queue, {"prefetch-count": "7"})
        self.assertEqual(got, ["m%03d" % i for i in range(500)])
        self.assertEqual(self.stats_of(queue)["depth"], 500)

    def test_messages_sent_during_a_browse_are_not_part_of_it(self):
        queue = "/queue/" + unique("snapshot")
        self.fill(queue, [("m%d" % i, {}) for i in range(20)])
        b = self.connected()
        sub = self.subscribe(b, queue, headers={"browser": "true", "prefetch-count": "1"})
        first = b.expect("MESSAGE")
        pub = self.connected()
        self.send(pub, queue, "late")
        rest = []
        while True:
            m = b.expect("MESSAGE")
            if m.get("browser") == "end":
                break
            rest.append(m.body.decode())
        self.assertEqual([first.body.decode()] + rest, ["m%d" % i for i in range(20)])
        self.assertIsNotNone(sub)

    def test_browsing_a_topic_is_an_error(self):
        c = self.connected()
        c.send_frame("SUBSCRIBE", {"destination": "/topic/" + unique("t"), "id": "1",
                                   "browser": "true"})
        self.assert_error(c, "browser", "queue")


if __name__ == "__main__":
    unittest.main()
