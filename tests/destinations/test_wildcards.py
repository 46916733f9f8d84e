"""Wildcard topic subscriptions: segments separated by '.', '*' one segment,
'#' zero or more (RabbitMQ), '>' read as '#' (ActiveMQ). Each wildcard
subscription gets its own copy, beside exact subscribers. With
topics.wildcards off the same names are literal.

Barrier: a final message published to a name every subscription under test
matches (or to its own exact topic) arrives after the earlier ones."""

import unittest

from dest_support import DestinationCase, unique


class WildcardTest(DestinationCase):

    def received(self, pattern, names, barrier):
        """What a subscription to /topic/<base>.<pattern> receives of the
        names published (each with a receipt: messages to different topics
        are ordered only by their publisher's receipts), up to the
        `barrier` name, which it must match."""
        base = unique("w")
        sub = self.connected()
        self.subscribe(sub, "/topic/%s.%s" % (base, pattern))
        pub = self.connected()
        for name in names + [barrier]:
            self.send(pub, "/topic/%s.%s" % (base, name) if name else "/topic/" + base, name)
        got = []
        while True:
            m = sub.expect("MESSAGE")
            body = m.body.decode()
            self.assertEqual(m.get("destination"), "/topic/%s.%s" % (base, body))
            if body == barrier:
                return got
            got.append(body)

    def test_star_matches_exactly_one_segment(self):
        self.assertEqual(self.received("*.price", ["eu.price", "us.price", "eu.vol",
                                                   "eu.x.price"], "zz.price"),
                         ["eu.price", "us.price"])

    def test_hash_matches_zero_or_more_segments(self):
        self.assertEqual(self.received("orders.#", ["orders", "orders.eu", "orders.eu.new",
                                                    "refunds.eu"], "orders.zz"),
                         ["orders", "orders.eu", "orders.eu.new"])

    def test_hash_in_the_middle(self):
        self.assertEqual(self.received("a.#.z", ["a.z", "a.b.z", "a.b.c.z", "a.b", "b.z"],
                                       "a.q.z"),
                         ["a.z", "a.b.z", "a.b.c.z"])

    def test_activemq_greater_than_is_hash(self):
        self.assertEqual(self.received("orders.>", ["orders.eu", "orders.eu.new", "other"],
                                       "orders.zz"),
                         ["orders.eu", "orders.eu.new"])

    def test_wildcard_and_exact_subscribers_each_get_a_copy(self):
        base = unique("both")
        exact = self.connected()
        self.subscribe(exact, "/topic/%s.a" % base)
        wild = self.connected()
        self.subscribe(wild, "/topic/%s.*" % base)
        pub = self.connected()
        self.send(pub, "/topic/%s.a" % base, "one")
        self.assertEqual(self.bodies(exact, 1), ["one"])
        self.assertEqual(self.bodies(wild, 1), ["one"])

    def test_two_matching_subscriptions_on_one_connection_get_two_copies(self):
        base = unique("two")
        c = self.connected()
        s1 = self.subscribe(c, "/topic/%s.*" % base)
        s2 = self.subscribe(c, "/topic/%s.#" % base)
        pub = self.connected()
        self.send(pub, "/topic/%s.x" % base, "hello")
        subs = sorted(m.get("subscription") for m in self.messages(c, 2))
        self.assertEqual(subs, sorted([s1, s2]))

    def test_unsubscribing_stops_deliveries(self):
        base = unique("unsub")
        c = self.connected()
        wild = self.subscribe(c, "/topic/%s.*" % base)
        exact = self.subscribe(c, "/topic/%s.barrier" % base)
        pub = self.connected()
        self.send(pub, "/topic/%s.a" % base, "before")
        self.assertEqual(self.bodies(c, 1), ["before"])
        self.unsubscribe(c, wild)
        self.send(pub, "/topic/%s.a" % base, "after")
        self.send(pub, "/topic/%s.barrier" % base, "barrier")
        m = c.expect("MESSAGE")
        self.assertEqual((m.body, m.get("subscription")), (b"barrier", exact))

    def test_subscribers_on_every_scheduler_are_reached(self):
        # Connections are spread over the broker's two schedulers: with six
        # subscribers, both relays hold wildcard subscriptions.
        base = unique("spread")
        subs = []
        for _ in range(6):
            c = self.connected()
            self.subscribe(c, "/topic/%s.#" % base)
            subs.append(c)
        pub = self.connected()
        for i in range(3):
            self.send(pub, "/topic/%s.n%d" % (base, i), "m%d" % i)  # receipts order them
        for c in subs:
            self.assertEqual(self.bodies(c, 3), ["m0", "m1", "m2"])

    def test_stats_list_the_pattern_with_its_subscribers(self):
        base = unique("stats")
        c = self.connected()
        self.subscribe(c, "/topic/%s.*" % base)
        self.subscribe(c, "/topic/%s.*" % base)
        pub = self.connected()
        self.send(pub, "/topic/%s.x" % base, "counted")
        self.messages(c, 2)
        entry = self.wait_for_stats("/topic/%s.*" % base,
                                    lambda e: e and e["messages_out"] == 2)
        self.assertEqual(entry["subscribers"], 2)


class LiteralTest(DestinationCase):
    config = {"topics": {"wildcards": False}}

    def test_with_wildcards_off_a_star_is_a_literal_name(self):
        base = unique("lit")
        c = self.connected()
        self.subscribe(c, "/topic/%s.*" % base)
        pub = self.connected()
        self.send(pub, "/topic/%s.a" % base, "not for the star")
        self.send(pub, "/topic/%s.*" % base, "literal")
        self.assertEqual(self.bodies(c, 1), ["literal"])


if __name__ == "__main__":
    unittest.main()
