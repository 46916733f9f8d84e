"""Selectors on SUBSCRIBE (the SQL-92 subset ActiveMQ accepts, over message
headers), on topics and on queues: compiled once per subscription; a header
that reads as a number compares numerically with a number; an absent header
is NULL (three-valued logic); a malformed selector is an ERROR that points at
the position.

The barrier for "not delivered": a later message that the subscription does
select, from the same publisher to the same destination, arrives first."""

import unittest

from dest_support import DestinationCase, unique


class TopicSelectorTest(DestinationCase):

    def check(self, selector, messages, expected):
        """Publishes (body, headers) pairs then a final message every selector
        takes; the subscription must get exactly `expected`, in order."""
        topic = "/topic/" + unique("sel")
        sub = self.connected()
        self.subscribe(sub, topic, headers={"selector": selector + " OR final = 'yes'"})
        pub = self.connected()
        for body, headers in messages:
            self.send(pub, topic, body, headers, receipt=False)
        self.send(pub, topic, "final", {"final": "yes"})
        got = []
        while True:
            m = sub.expect("MESSAGE")
            if m.body == b"final":
                break
            got.append(m.body.decode())
        self.assertEqual(got, expected, "selector %r" % selector)

    def test_string_equality(self):
        self.check("type = 'order'", [("a", {"type": "order"}), ("b", {"type": "refund"}),
                                      ("c", {"type": "order"})], ["a", "c"])

    def test_a_numeric_header_compares_as_a_number(self):
        self.check("size > 3", [("ten", {"size": "10"}), ("two", {"size": "2"}),
                                ("text", {"size": "big"}), ("float", {"size": "3.5"})],
                   ["ten", "float"])

    def test_an_absent_header_is_null(self):
        self.check("colour = 'red'", [("red", {"colour": "red"}), ("none", {})], ["red"])
        self.check("colour <> 'red'", [("blue", {"colour": "blue"}), ("none", {})], ["blue"])
        self.check("colour IS NULL", [("red", {"colour": "red"}), ("none", {})], ["none"])
        self.check("NOT (colour = 'red')", [("blue", {"colour": "blue"}), ("none", {})],
                   ["blue"])

    def test_like_in_between_and_arithmetic(self):
        self.check("name LIKE 'ord%' AND region IN ('eu', 'us') AND qty * 2 BETWEEN 4 AND 10",
                   [("yes", {"name": "order-1", "region": "eu", "qty": "3"}),
                    ("wrong-name", {"name": "refund", "region": "eu", "qty": "3"}),
                    ("wrong-region", {"name": "order-2", "region": "asia", "qty": "3"}),
                    ("too-many", {"name": "order-3", "region": "us", "qty": "6"})],
                   ["yes"])

    def test_jms_names_reach_stomp_headers(self):
        self.check("JMSPriority > 6 AND JMSType = 'alert'",
                   [("urgent", {"priority": "9", "type": "alert"}),
                    ("calm", {"priority": "1", "type": "alert"})], ["urgent"])

    def test_a_quoted_identifier_reaches_a_header_with_a_dash(self):
        self.check("\"content-kind\" = 'json'", [("j", {"content-kind": "json"}),
                                                  ("x", {"content-kind": "xml"})], ["j"])

    def test_two_subscribers_each_get_what_they_select(self):
        topic = "/topic/" + unique("two")
        reds = self.connected()
        blues = self.connected()
        self.subscribe(reds, topic, headers={"selector": "colour = 'red' OR final = 'yes'"})
        self.subscribe(blues, topic, headers={"selector": "colour = 'blue' OR final = 'yes'"})
        pub = self.connected()
        for colour in ("red", "blue", "red", "green"):
            self.send(pub, topic, colour, {"colour": colour}, receipt=False)
        self.send(pub, topic, "final", {"final": "yes"})
        self.assertEqual(self.bodies(reds, 3), ["red", "red", "final"])
        self.assertEqual(self.bodies(blues, 2), ["blue", "final"])

    def test_a_malformed_selector_is_an_error_pointing_at_the_position(self):
        c = self.connected()
        c.send_frame("SUBSCRIBE", {"destination": "/topic/" + unique("bad"), "id": "1",
                                   "selector": "a = 1 AND AND b = 2"})
        error = self.assert_error(c, "selector", "column")
        self.assertIn("11", error.get("message"))

    def test_a_type_error_is_refused(self):
        c = self.connected()
        c.send_frame("SUBSCRIBE", {"destination": "/topic/" + unique("bad"), "id": "1",
                                   "selector": "NOT 3"})
        self.assert_error(c, "selector")


class QueueSelectorTest(DestinationCase):

    def test_competing_consumers_take_what_they_select(self):
        queue = "/queue/" + unique("sel")
        evens = self.connected()
        odds = self.connected()
        self.subscribe(evens, queue, headers={"selector": "n % 2 = 0"})
        self.subscribe(odds, queue, headers={"selector": "n % 2 = 1"})
        pub = self.connected()
        for n in range(10):
            self.send(pub, queue, str(n), {"n": str(n)}, receipt=(n == 9))
        self.assertEqual(self.bodies(evens, 5), ["0", "2", "4", "6", "8"])
        self.assertEqual(self.bodies(odds, 5), ["1", "3", "5", "7", "9"])

    def test_what_no_consumer_selects_stays_in_the_queue(self):
        queue = "/queue/" + unique("stay")
        sub = self.connected()
        self.subscribe(sub, queue, headers={"selector": "wanted = 'yes'"})
        pub = self.connected()
        self.send(pub, queue, "unwanted", {"wanted": "no"})
        self.send(pub, queue, "wanted", {"wanted": "yes"})
        self.assertEqual(self.bodies(sub, 1), ["wanted"])
        self.wait_for_stats(queue, lambda e: e["depth"] == 1)  # "wanted" settled as written
        other = self.connected()
        self.subscribe(other, queue)
        self.assertEqual(self.bodies(other, 1), ["unwanted"])

    def test_a_waiting_selector_consumer_wakes_for_a_message_it_selects(self):
        queue = "/queue/" + unique("park")
        sub = self.connected()
        self.subscribe(sub, queue, headers={"selector": "kind = 'b'"})
        pub = self.connected()
        for i in range(5):
            self.send(pub, queue, "a%d" % i, {"kind": "a"})
        self.send(pub, queue, "b0", {"kind": "b"})
        self.assertEqual(self.bodies(sub, 1), ["b0"])

    def test_selected_messages_keep_priority_order(self):
        queue = "/queue/" + unique("prio")
        pub = self.connected()
        for body, priority, kind in (("lo", 1, "x"), ("skip", 9, "y"), ("hi", 8, "x")):
            self.send(pub, queue, body, {"priority": str(priority), "kind": kind})
        sub = self.connected()
        self.subscribe(sub, queue, headers={"selector": "kind = 'x'"})
        self.assertEqual(self.bodies(sub, 2), ["hi", "lo"])


class ScanLimitTest(DestinationCase):
    config = {"queues": {"selector_scan": 3}}

    def test_a_message_past_the_scan_limit_is_reached_once_the_queue_drains(self):
        queue = "/queue/" + unique("scan")
        pub = self.connected()
        for i in range(5):
            self.send(pub, queue, "other%d" % i, {"kind": "other"})
        self.send(pub, queue, "mine", {"kind": "mine"})
        picky = self.connected()
        self.subscribe(picky, queue, headers={"selector": "kind = 'mine'"})
        # Nothing within its first three: it waits; a plain consumer drains the rest.
        plain = self.connected()
        self.subscribe(plain, queue, headers={"selector": "kind = 'other'"})
        self.assertEqual(self.bodies(plain, 5), ["other%d" % i for i in range(5)])
        self.assertEqual(self.bodies(picky, 1), ["mine"])


if __name__ == "__main__":
    unittest.main()
