"""Topics (STOMP12.md items 14, 15, 16, 21): every subscriber gets its own
copy, in order; user headers pass through; MESSAGE carries destination, a
unique message-id, subscription and (for client acks) ack; UNSUBSCRIBE ends
deliveries; a topic message NACKed is redelivered to the same subscription
and dead-lettered after queues.max_deliveries."""

import unittest

from integ import BrokerCase, drain_messages, unique


class TopicTest(BrokerCase):
    config = {"queues": {"max_deliveries": 3}}

    def test_every_subscriber_gets_every_message_in_order(self):
        destination = "/topic/" + unique("fan")
        subs = []
        for i in range(6):  # spread over both schedulers
            c = self.connected()
            c.subscribe(destination, id="s%d" % i)
            subs.append(c)
        pub = self.connected()
        for i in range(50):
            pub.send_frame("SEND", {"destination": destination}, "m%d" % i)
        pub.send(destination, "last", receipt="r")
        for i, c in enumerate(subs):
            bodies = [m.body for m in drain_messages(c, 51)]
            self.assertEqual(bodies, [b"m%d" % n for n in range(50)] + [b"last"])

    def test_two_subscriptions_of_one_connection_each_get_a_copy(self):
        destination = "/topic/" + unique("twice")
        c = self.connected()
        c.subscribe(destination, id="a")
        c.subscribe(destination, id="b")
        c.send(destination, "x", receipt="r")
        messages = [c.await_frame("MESSAGE") for _ in range(2)]
        self.assertEqual(sorted(m.get("subscription") for m in messages), ["a", "b"])
        # One message, so one identity; each delivery is told apart by its subscription.
        self.assertEqual(messages[0].get("message-id"), messages[1].get("message-id"))

    def test_a_message_nobody_is_subscribed_to_is_not_kept(self):
        destination = "/topic/" + unique("nobody")
        pub = self.connected()
        pub.send(destination, "lost", receipt="r1")
        sub = self.connected()
        sub.subscribe(destination)
        pub.send(destination, "seen", receipt="r2")
        self.assertEqual(sub.expect("MESSAGE").body, b"seen")  # not "lost" first
        self.expect_marker(sub, destination, publisher=pub)

    def test_a_send_with_a_receipt_reaches_subscribers_subscribed_before_it(self):
        destination = "/topic/" + unique("race")
        for i in range(20):
            sub = self.connected()
            sub.subscribe(destination, id="s%d" % i)
            pub = self.connected()
            pub.send(destination, "n%d" % i, receipt="r")
            self.assertEqual(sub.expect("MESSAGE", timeout=5).body, b"n%d" % i)
            sub.close()
            pub.close()

    def test_user_headers_pass_through_and_broker_headers_are_the_brokers(self):
        destination = "/topic/" + unique("headers")
        sub = self.connected()
        sub.subscribe(destination, id="mine")
        pub = self.connected()
        pub.send_frame("SEND", [("destination", destination), ("x-user", "kept"),
                                ("content-type", "text/plain"), ("priority", "9"),
                                ("message-id", "forged"), ("subscription", "forged"),
                                ("ack", "forged"), ("redelivered", "true"),
                                ("receipt", "r")], "b")
        pub.expect("RECEIPT", {"receipt-id": "r"})
        message = sub.expect("MESSAGE")
        self.assertEqual(message.get("x-user"), "kept")
        self.assertEqual(message.get("content-type"), "text/plain")
        self.assertEqual(message.get("priority"), "9")
        self.assertEqual(message.get("destination"), destination)
        self.assertEqual(message.get("subscription"), "mine")
        self.assertNotEqual(message.get("message-id"), "forged")
        names = [n for n, _ in message.header_list]
        for owned in ("message-id", "subscription", "destination", "receipt", "ack",
                      "redelivered"):
            self.assertLessEqual(names.count(owned), 1, message)
        self.assertNotIn("receipt", names)
        self.assertNotIn("ack", names)  # auto: no ack header
        self.assertNotIn("redelivered", names)

    def test_a_message_id_names_the_message_and_an_ack_id_the_delivery(self):
        destination = "/topic/" + unique("ids")
        subs = []
        for i in range(3):
            c = self.client()
            c.send_frame("CONNECT", {"accept-version": "1.2", "host": "/"})
            session = c.expect("CONNECTED").get("session")
            c.subscribe(destination, id="s", ack=["auto", "client", "client-individual"][i])
            subs.append((c, session))
        pub = self.connected()
        for i in range(20):
            pub.send_frame("SEND", {"destination": destination}, "m%d" % i)
        ids = []
        acks = []
        for c, session in subs:
            ids.append([m.get("message-id") for m in drain_messages(c, 20)])
        # Every subscriber sees the same 20 identities, in publishing order.
        self.assertEqual(len(set(ids[0])), 20)
        self.assertEqual(ids[0], ids[1])
        self.assertEqual(ids[0], ids[2])
        for c, session in subs[1:]:
            pub.send(destination, "more", receipt="more-%s" % session)
        for c, session in subs[1:]:
            acks.append(c.expect("MESSAGE").get("ack"))
        # The ack ids are per delivery: distinct, and named after the receiving session.
        self.assertEqual(len(set(acks)), 2)
        for ack, (c, session) in zip(acks, subs[1:]):
            self.assertTrue(ack.startswith(session + "-"), ack)

    def test_client_modes_carry_an_ack_header_auto_does_not(self):
        destination = "/topic/" + unique("ackhdr")
        c = self.connected()
        c.subscribe(destination, id="auto", ack="auto")
        c.subscribe(destination, id="client", ack="client")
        c.subscribe(destination, id="individual", ack="client-individual")
        c.send(destination, "x", receipt="r")
        by_sub = {}
        for _ in range(3):
            m = c.await_frame("MESSAGE")
            by_sub[m.get("subscription")] = m
        self.assertIsNone(by_sub["auto"].get("ack"))
        self.assertIsNotNone(by_sub["client"].get("ack"))
        self.assertIsNotNone(by_sub["individual"].get("ack"))

    def test_unsubscribe_ends_deliveries(self):
        destination = "/topic/" + unique("unsub")
        sub = self.connected()
        sub.subscribe(destination, id="s")
        other = self.connected()
        other.subscribe(destination, id="o")
        pub = self.connected()
        pub.send(destination, "before", receipt="r1")
        self.assertEqual(sub.expect("MESSAGE").body, b"before")
        sub.send_frame("UNSUBSCRIBE", {"id": "s", "receipt": "u"})
        sub.expect("RECEIPT", {"receipt-id": "u"})
        pub.send(destination, "after", receipt="r2")
        self.assertEqual([m.body for m in drain_messages(other, 2)], [b"before", b"after"])
        # The id is free again. The topic writes to sub in order, so had
        # "after" reached sub it would be read before "again".
        sub.subscribe(destination, id="s")
        pub.send(destination, "again", receipt="r3")
        self.assertEqual(sub.expect("MESSAGE").body, b"again")

    def test_a_subscription_of_1_0_is_named_by_its_destination(self):
        destination = "/topic/" + unique("v10")
        c = self.client()
        c.send_raw(b"CONNECT\nhost:/\n\n\0")
        c.expect("CONNECTED", {"version": "1.0"})
        c.version = "1.0"
        c.send_frame("SUBSCRIBE", {"destination": destination, "receipt": "s"})
        c.expect("RECEIPT", {"receipt-id": "s"})
        c.send(destination, "ten", receipt="r")
        message = c.await_frame("MESSAGE")
        self.assertEqual(message.body, b"ten")
        self.assertEqual(message.get("subscription"), destination)
        c.send_frame("UNSUBSCRIBE", {"destination": destination, "receipt": "u"})
        c.await_frame("RECEIPT", {"receipt-id": "u"})
        c.send(destination, "gone", receipt="r2")
        # Barrier: subscribe again; "back" must be the next MESSAGE, not "gone".
        c.send_frame("SUBSCRIBE", {"destination": destination, "receipt": "s2"})
        c.await_frame("RECEIPT", {"receipt-id": "s2"})
        c.send(destination, "back", receipt="r3")
        self.assertEqual(c.await_frame("MESSAGE").body, b"back")

    def test_a_nacked_topic_message_is_redelivered_to_the_same_subscription(self):
        destination = "/topic/" + unique("tnack")
        sub = self.connected()
        sub.subscribe(destination, id="s", ack="client-individual")
        other = self.connected()
        other.subscribe(destination, id="o")
        pub = self.connected()
        pub.send(destination, "again", receipt="r")
        first = sub.expect("MESSAGE")
        self.assertIsNone(first.get("redelivered"))
        sub.send_frame("NACK", {"id": first.get("ack"), "receipt": "n"})
        frames = [sub.read_frame(), sub.read_frame()]
        again = next(f for f in frames if f.command == "MESSAGE")
        self.assertIn("RECEIPT", [f.command for f in frames])
        self.assertEqual(again.body, b"again")
        self.assertEqual(again.get("redelivered"), "true")
        self.assertEqual(again.get("subscription"), "s")
        self.assertEqual(again.get("message-id"), first.get("message-id"))  # the same message
        self.assertNotEqual(again.get("ack"), first.get("ack"))  # a new delivery
        self.assertEqual(other.expect("MESSAGE").body, b"again")
        sub.send_frame("ACK", {"id": again.get("ack"), "receipt": "a"})
        sub.expect("RECEIPT", {"receipt-id": "a"})
        # Only the NACKing subscription got it again, and the ACK settled it:
        # a marker is the next frame of both.
        marker = self.expect_marker(other, destination, publisher=pub)
        sub.expect_message(marker.body)

    def test_a_topic_message_nacked_max_deliveries_times_is_dead_lettered(self):
        name = unique("tdlq")
        destination = "/topic/" + name
        dlq = self.connected()
        dlq.subscribe("/queue/DLQ." + name, id="d")
        sub = self.connected()
        sub.subscribe(destination, id="s", ack="client")
        pub = self.connected()
        pub.send_frame("SEND", {"destination": destination, "x-keep": "me"}, "doomed")
        deliveries = []
        for _ in range(3):  # max_deliveries 3: delivered three times, then dead-lettered
            m = sub.await_frame("MESSAGE")
            deliveries.append(m)
            sub.send_frame("NACK", {"id": m.get("ack")})
        self.assertEqual([m.get("redelivered") for m in deliveries], [None, "true", "true"])
        dead = dlq.expect("MESSAGE")
        self.assertEqual(dead.body, b"doomed")
        self.assertEqual(dead.get("original-destination"), destination)
        self.assertEqual(dead.get("destination"), "/queue/DLQ." + name)
        self.assertEqual(dead.get("x-keep"), "me")
        self.expect_marker(sub, destination, publisher=pub)  # no fourth delivery

    def test_client_ack_topic_subscription_holds_back_past_its_prefetch(self):
        destination = "/topic/" + unique("tpre")
        sub = self.connected()
        sub.subscribe(destination, id="s", ack="client-individual",
                      headers={"prefetch-count": "3"})
        # The barrier: an auto-ack subscription of the same connection. Each
        # message is handed to "s" (or held back) before "w" on this
        # connection, so what "s" was given shows up before "w"'s copy.
        sub.subscribe(destination, id="w")
        pub = self.connected()
        for i in range(6):
            pub.send_frame("SEND", {"destination": destination}, "m%d" % i)
        pub.send(destination, "m6", receipt="r")
        held = self.read_until_watcher(sub, b"m6")
        self.assertEqual([m.body for m in held], [b"m0", b"m1", b"m2"])
        sub.send_frame("ACK", {"id": held[0].get("ack"), "receipt": "a0"})
        sub.await_frame("RECEIPT", {"receipt-id": "a0"})  # the ACK has made room for one
        pub.send(destination, "marker", receipt="r2")
        self.assertEqual([m.body for m in self.read_until_watcher(sub, b"marker")], [b"m3"])
        sub.send_frame("ACK", {"id": held[1].get("ack")})
        self.assertEqual(sub.expect("MESSAGE", {"subscription": "s"}).body, b"m4")

    def read_until_watcher(self, c, body):
        """The MESSAGEs of subscription "s" read before "w" gets `body`."""
        got = []
        while True:
            m = c.await_frame("MESSAGE")
            if m.get("subscription") == "w" and m.body == body:
                return got
            if m.get("subscription") == "s":
                got.append(m)


if __name__ == "__main__":
    unittest.main()
