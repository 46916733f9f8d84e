"""Expiry: `expires` (absolute ms since the epoch, ActiveMQ), `expiration`
(time to live in ms, RabbitMQ) and a per-destination default time to live.
An expired message is never delivered; a queue drops it or dead-letters it
(queues.dead_letter_expired), and counts it either way.

Expiry is observed without racing the clock: a message sent already expired
(an `expires` in the past), or a /stats counter polled until the broker's
timer has expired the message."""

import unittest

from dest_support import DestinationCase, now_ms, unique, wait_until_past


class ExpiryTest(DestinationCase):

    def test_a_message_sent_already_expired_is_never_delivered(self):
        queue = "/queue/" + unique("past")
        pub = self.connected()
        self.send(pub, queue, "stale", {"expires": str(now_ms() - 60_000)})
        self.send(pub, queue, "fresh", {"expires": str(now_ms() + 600_000)})
        sub = self.connected()
        self.subscribe(sub, queue)
        self.assertEqual(self.bodies(sub, 1), ["fresh"])
        # Depth 0 once the auto-ack delivery is written (then settled).
        entry = self.wait_for_stats(queue, lambda e: e and e["expired"] == 1 and e["depth"] == 0)
        self.assertEqual(entry["messages_out"], 1)

    def test_expires_0_means_never(self):
        queue = "/queue/" + unique("zero")
        pub = self.connected()
        self.send(pub, queue, "keep", {"expires": "0"})
        sub = self.connected()
        self.subscribe(sub, queue)
        self.assertEqual(self.bodies(sub, 1), ["keep"])

    def test_a_ttl_expires_a_waiting_message(self):
        queue = "/queue/" + unique("ttl")
        pub = self.connected()
        self.send(pub, queue, "short", {"expiration": "30"})
        self.send(pub, queue, "long", {"expiration": "600000"})
        # The broker's expiry timer takes it out: the counter says so.
        entry = self.wait_for_stats(queue, lambda e: e and e["expired"] == 1)
        self.assertEqual(entry["depth"], 1)
        sub = self.connected()
        self.subscribe(sub, queue)
        self.assertEqual(self.bodies(sub, 1), ["long"])

    def test_the_earliest_of_expires_and_expiration_wins(self):
        queue = "/queue/" + unique("both")
        pub = self.connected()
        self.send(pub, queue, "gone", {"expires": str(now_ms() + 600_000), "expiration": "20"})
        self.wait_for_stats(queue, lambda e: e and e["expired"] == 1)

    def test_expired_while_waiting_behind_a_full_window(self):
        # The consumer holds one unacknowledged message (prefetch 1); what
        # expires while it waits is never delivered, what follows is.
        queue = "/queue/" + unique("window")
        sub = self.connected()
        self.subscribe(sub, queue, ack="client-individual", headers={"prefetch-count": "1"})
        pub = self.connected()
        self.send(pub, queue, "m0")
        held = sub.expect("MESSAGE")
        self.send(pub, queue, "m1", {"expiration": "20"})
        self.send(pub, queue, "m2")
        self.wait_for_stats(queue, lambda e: e and e["expired"] == 1)
        self.ack(sub, held)
        self.assertEqual(self.bodies(sub, 1), ["m2"])

    def test_a_refused_delivery_that_expired_meanwhile_is_not_redelivered(self):
        queue = "/queue/" + unique("nack")
        sub = self.connected()
        self.subscribe(sub, queue, ack="client-individual", headers={"prefetch-count": "1"})
        pub = self.connected()
        deadline = now_ms() + 300
        self.send(pub, queue, "m1", {"expires": str(deadline)})
        self.send(pub, queue, "m2")
        first = sub.expect("MESSAGE")
        self.assertEqual(first.body, b"m1")
        wait_until_past(deadline)  # a known moment, not a guess
        self.nack(sub, first)
        m2 = sub.expect("MESSAGE")
        self.assertEqual(m2.body, b"m2")
        self.wait_for_stats(queue, lambda e: e and e["expired"] == 1)

    def test_a_topic_does_not_deliver_an_expired_message(self):
        topic = "/topic/" + unique("t")
        sub = self.connected()
        self.subscribe(sub, topic)
        pub = self.connected()
        self.send(pub, topic, "stale", {"expires": str(now_ms() - 1000)})
        self.send(pub, topic, "fresh")
        self.assertEqual(self.bodies(sub, 1), ["fresh"])
        self.wait_for_stats(topic, lambda e: e and e["expired"] == 1)

    def test_a_malformed_expires_is_an_error(self):
        c = self.connected()
        c.send_frame("SEND", {"destination": "/queue/" + unique("bad"), "expires": "tomorrow"},
                     "x")
        self.assert_error(c, "expires", "tomorrow")

    def test_a_malformed_expiration_is_an_error(self):
        c = self.connected()
        c.send_frame("SEND", {"destination": "/queue/" + unique("bad"), "expiration": "-5"}, "x")
        self.assert_error(c, "expiration")


class DefaultTtlTest(DestinationCase):
    config = {
        "queues": {"default_ttl_ms": 600000},
        "destination_policies": [
            {"destination": "/queue/short.*", "default_ttl_ms": 20, "dead_letter_expired": True},
        ],
    }

    def test_a_destination_policy_gives_messages_a_ttl_and_dead_letters_them(self):
        name = unique("short.q")
        queue = "/queue/" + name
        pub = self.connected()
        self.send(pub, queue, "soon gone", {"colour": "red"})
        self.wait_for_stats(queue, lambda e: e and e["expired"] == 1 and e["dead_lettered"] == 1)
        dlq = self.connected()
        self.subscribe(dlq, "/queue/DLQ." + name)
        m = dlq.expect("MESSAGE")
        self.assertEqual(m.body, b"soon gone")
        self.assertEqual(m.get("original-destination"), queue)
        self.assertEqual(m.get("dead-letter-reason"), "expired")
        self.assertEqual(m.get("colour"), "red")

    def test_a_shorter_ttl_of_its_own_still_wins_over_the_default(self):
        queue = "/queue/" + unique("long")
        pub = self.connected()
        self.send(pub, queue, "own ttl", {"expiration": "20"})
        self.wait_for_stats(queue, lambda e: e and e["expired"] == 1)

    def test_the_queues_default_applies_elsewhere(self):
        queue = "/queue/" + unique("plain")
        pub = self.connected()
        self.send(pub, queue, "lives")
        sub = self.connected()
        self.subscribe(sub, queue)
        m = sub.expect("MESSAGE")
        self.assertEqual(m.body, b"lives")
        self.assertEqual(self.stats_of(queue)["expired"], 0)


if __name__ == "__main__":
    unittest.main()
