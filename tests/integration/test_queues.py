"""Queues: messages wait for a consumer, go round-robin to competing
consumers, respect each consumer's prefetch, overflow by the configured
policy (drop-head, or reject-publish with an ERROR naming the full queue),
and idle queues are reclaimed only when empty and unused, then recreated on
next use without loss."""

import time
import unittest

from integ import BrokerCase, drain_messages, unique


def publish(c, destination, count, prefix="m", receipt_last=True):
    for i in range(count):
        last = receipt_last and i == count - 1
        headers = {"destination": destination}
        if last:
            headers["receipt"] = unique("pub")
        c.send_frame("SEND", headers, "%s%d" % (prefix, i))
        if last:
            c.await_frame("RECEIPT", {"receipt-id": headers["receipt"]})


class QueueTest(BrokerCase):
    admin = True
    config = {"queues": {"prefetch": 4}}

    def test_messages_wait_in_a_queue_for_a_consumer(self):
        destination = "/queue/" + unique("wait")
        pub = self.connected()
        publish(pub, destination, 5)
        stats = self.broker.destination_stats(destination)
        self.assertEqual((stats["kind"], stats["depth"], stats["messages_in"]), ("queue", 5, 5))
        sub = self.connected()
        sub.subscribe(destination)
        self.assertEqual([m.body for m in drain_messages(sub, 5)],
                         [b"m0", b"m1", b"m2", b"m3", b"m4"])
        self.expect_marker(sub, destination)

    def test_each_message_goes_to_one_consumer_round_robin(self):
        destination = "/queue/" + unique("rr")
        consumers = []
        for i in range(3):
            c = self.connected()
            c.subscribe(destination, id="c%d" % i, ack="client-individual",
                        headers={"prefetch-count": "100"})
            consumers.append(c)
        pub = self.connected()
        publish(pub, destination, 30)
        shares = []
        for c in consumers:
            messages = drain_messages(c, 10)
            for m in messages:
                c.send_frame("ACK", {"id": m.get("ack")})
            shares.append([int(m.body[1:]) for m in messages])
        # Three markers, one each: a consumer given an extra message reads it
        # instead of its marker.
        markers = ["marker%d" % i for i in range(3)]
        for marker in markers:
            pub.send(destination, marker, receipt=unique("marker"))
        self.assertEqual(sorted(c.expect("MESSAGE").body.decode() for c in consumers), markers)
        # Round-robin: each consumer takes every third message, in order.
        self.assertEqual(sorted(s[0] for s in shares), [0, 1, 2])
        for share in shares:
            self.assertEqual(share, list(range(share[0], 30, 3)))

    def test_a_consumer_with_prefetch_n_holds_at_most_n_unacked(self):
        for header in ("prefetch-count", "activemq.prefetchSize"):
            with self.subTest(header=header):
                destination = "/queue/" + unique("prefetch")
                sub = self.connected()
                sub.subscribe(destination, ack="client-individual", headers={header: "3"})
                pub = self.connected()
                publish(pub, destination, 10)
                held = drain_messages(sub, 3)
                # The queue counts a delivery as it hands it out: a fourth
                # would show as unacked 4 (the publisher's RECEIPT came after
                # all ten were queued).
                self.wait_stats(destination, unacked=3, depth=10, messages_out=3)
                sub.send_frame("ACK", {"id": held[1].get("ack")})
                self.assertEqual(sub.expect("MESSAGE").body, b"m3")
                self.wait_stats(destination, unacked=3, depth=9, messages_out=4)
                sub.send_frame("ACK", {"id": held[0].get("ack")})
                sub.send_frame("ACK", {"id": held[2].get("ack")})
                self.assertEqual([m.body for m in drain_messages(sub, 2)], [b"m4", b"m5"])
                self.wait_stats(destination, unacked=3, depth=7, messages_out=6)

    def test_without_a_prefetch_header_the_configured_prefetch_applies(self):
        destination = "/queue/" + unique("default-prefetch")
        sub = self.connected()
        sub.subscribe(destination, ack="client")
        pub = self.connected()
        publish(pub, destination, 10)
        held = drain_messages(sub, 4)  # queues.prefetch is 4 here
        self.wait_stats(destination, unacked=4, depth=10, messages_out=4)
        sub.send_frame("ACK", {"id": held[-1].get("ack")})  # cumulative: all four
        self.assertEqual([m.body for m in drain_messages(sub, 4)], [b"m4", b"m5", b"m6", b"m7"])

    def test_a_consumer_at_its_prefetch_leaves_the_rest_to_others(self):
        destination = "/queue/" + unique("slow-fast")
        slow = self.connected()
        slow.subscribe(destination, id="slow", ack="client-individual",
                       headers={"prefetch-count": "2"})
        fast = self.connected()
        fast.subscribe(destination, id="fast", ack="auto", headers={"prefetch-count": "1"})
        pub = self.connected()
        publish(pub, destination, 20)
        self.assertEqual(len(drain_messages(slow, 2)), 2)
        self.assertEqual(len(drain_messages(fast, 18)), 18)
        # slow is full, so a marker goes to fast and must be its next frame;
        # slow still holds just its two.
        self.expect_marker(fast, destination, publisher=pub)
        self.wait_stats(destination, unacked=2, depth=2, messages_out=21)

    def test_auto_ack_consumers_are_settled_as_their_messages_are_written(self):
        destination = "/queue/" + unique("auto")
        sub = self.connected()
        sub.subscribe(destination, headers={"prefetch-count": "1"})
        pub = self.connected()
        publish(pub, destination, 50)
        messages = drain_messages(sub, 50)
        self.assertEqual([m.body for m in messages], [b"m%d" % i for i in range(50)])
        self.assertTrue(all(m.get("ack") is None for m in messages))
        sub.send_frame("DISCONNECT", {"receipt": "bye"})
        sub.expect("RECEIPT", {"receipt-id": "bye"})
        again = self.connected()
        again.subscribe(destination)
        stats = self.broker.destination_stats(destination)
        self.assertEqual((stats["depth"], stats["messages_out"], stats["redelivered"]),
                         (0, 50, 0))
        self.expect_marker(again, destination)  # nothing came back: auto-ack settled them

    def test_queue_order_is_kept_per_publisher(self):
        destination = "/queue/" + unique("order")
        pubs = [self.connected() for _ in range(3)]
        for i in range(100):
            for n, p in enumerate(pubs):
                p.send_frame("SEND", {"destination": destination}, "p%d-%d" % (n, i))
        for p in pubs:
            p.send(destination, "end", receipt="r")
        sub = self.connected()
        sub.subscribe(destination, headers={"prefetch-count": "1000"})
        seen = {0: [], 1: [], 2: []}
        for m in drain_messages(sub, 303):
            if m.body != b"end":
                n, i = m.body[1:].split(b"-")
                seen[int(n)].append(int(i))
        for n in range(3):
            self.assertEqual(seen[n], list(range(100)))


class DropHeadTest(BrokerCase):
    admin = True
    config = {"queues": {"max_length": 3, "overflow": "drop-head"}}

    def test_a_full_queue_drops_its_oldest_message(self):
        destination = "/queue/" + unique("drop")
        pub = self.connected()
        for i in range(5):
            pub.send(destination, "m%d" % i, receipt="r%d" % i)  # every one accepted
        stats = self.broker.destination_stats(destination)
        self.assertEqual((stats["messages_in"], stats["dropped"], stats["depth"]), (5, 2, 3))
        sub = self.connected()
        sub.subscribe(destination)
        self.assertEqual([m.body for m in drain_messages(sub, 3)], [b"m2", b"m3", b"m4"])
        self.expect_marker(sub, destination)
        self.assert_bystander_fine()

    def test_only_messages_waiting_for_a_consumer_count_against_the_length(self):
        destination = "/queue/" + unique("drop-unacked")
        sub = self.connected()
        sub.subscribe(destination, ack="client-individual", headers={"prefetch-count": "3"})
        pub = self.connected()
        for i in range(6):
            pub.send(destination, "m%d" % i, receipt="r%d" % i)
        held = drain_messages(sub, 3)
        stats = self.broker.destination_stats(destination)
        self.assertEqual((stats["dropped"], stats["depth"], stats["unacked"]), (0, 6, 3))
        for m in held:
            sub.send_frame("ACK", {"id": m.get("ack")})
        self.assertEqual([m.body for m in drain_messages(sub, 3)], [b"m3", b"m4", b"m5"])


class RejectPublishTest(BrokerCase):
    admin = True
    config = {"queues": {"max_length": 3, "overflow": "reject-publish"}}

    def test_a_full_queue_refuses_a_send_with_an_error_naming_it(self):
        destination = "/queue/" + unique("reject")
        pub = self.connected()
        for i in range(3):
            pub.send(destination, "m%d" % i, receipt="r%d" % i)
        self.assert_bystander_fine()
        pub.send_frame("SEND", {"destination": destination, "receipt": "r3"}, "m3")
        error = self.assert_error(pub, destination, "full", receipt_id="r3")
        self.assertIn("max_length 3", error.body.decode() + error.get("message"))
        self.assert_bystander_fine()
        stats = self.broker.destination_stats(destination)
        self.assertEqual((stats["messages_in"], stats["rejected"], stats["depth"]), (3, 1, 3))
        # Nothing already accepted is lost, and the queue takes messages again once drained.
        sub = self.connected()
        sub.subscribe(destination)
        self.assertEqual([m.body for m in drain_messages(sub, 3)], [b"m0", b"m1", b"m2"])
        again = self.connected()
        again.send(destination, "m4", receipt="r4")
        self.assertEqual(sub.expect("MESSAGE").body, b"m4")

    def test_a_send_without_receipt_to_a_full_queue_gets_the_error_too(self):
        destination = "/queue/" + unique("reject-async")
        pub = self.connected()
        for i in range(3):
            pub.send(destination, "m%d" % i, receipt="r%d" % i)
        pub.send_frame("SEND", {"destination": destination}, "m3")
        self.assert_error(pub, destination, "full")
        self.assert_bystander_fine()
        sub = self.connected()
        sub.subscribe(destination)
        self.assertEqual([m.body for m in drain_messages(sub, 3)], [b"m0", b"m1", b"m2"])
        self.expect_marker(sub, destination)

    def test_a_full_queue_does_not_affect_other_queues_or_their_publishers(self):
        full = "/queue/" + unique("full")
        fine = "/queue/" + unique("fine")
        pub = self.connected()
        for i in range(3):
            pub.send(full, "m%d" % i, receipt="r%d" % i)
        other = self.connected()
        for i in range(2):
            other.send(fine, "f%d" % i, receipt="f%d" % i)
        pub.send_frame("SEND", {"destination": full, "receipt": "x"}, "too many")
        self.assert_error(pub, "full", receipt_id="x")
        other.send(fine, "f2", receipt="f2")  # a different queue has its own room
        other.send_frame("SEND", {"destination": fine, "receipt": "f3"}, "f3")
        self.assert_error(other, fine, "full", receipt_id="f3")


class MaxBytesTest(BrokerCase):
    admin = True
    config = {"queues": {"max_bytes": 5000, "overflow": "reject-publish"}}
    with_bystander = False

    def test_max_bytes_bounds_the_bytes_waiting(self):
        destination = "/queue/" + unique("bytes")
        pub = self.connected()
        pub.send(destination, "a" * 2000, receipt="r0")
        pub.send(destination, "b" * 2000, receipt="r1")
        pub.send_frame("SEND", {"destination": destination, "receipt": "r2"}, "c" * 2000)
        error = self.assert_error(pub, destination, "full", receipt_id="r2")
        self.assertIn("max_bytes 5000", error.body.decode() + error.get("message"))
        sub = self.connected()
        sub.subscribe(destination)
        self.assertEqual([m.body[:1] for m in drain_messages(sub, 2)], [b"a", b"b"])



class DropHeadBytesTest(BrokerCase):
    admin = True
    config = {"queues": {"max_bytes": 5000, "overflow": "drop-head"}}
    with_bystander = False

    def test_drop_head_drops_the_oldest_to_stay_within_max_bytes(self):
        destination = "/queue/" + unique("bytes-drop")
        pub = self.connected()
        for i in range(4):
            pub.send(destination, str(i) * 2000, receipt="r%d" % i)
        self.assertEqual(self.broker.destination_stats(destination)["dropped"], 2)
        sub = self.connected()
        sub.subscribe(destination)
        self.assertEqual([m.body[:1] for m in drain_messages(sub, 2)], [b"2", b"3"])

    def test_a_message_larger_than_max_bytes_is_refused_and_costs_no_other(self):
        # No amount of dropping makes room for a message bigger than the whole
        # bound: it is refused, and the messages already held are not dropped
        # in a vain attempt.
        destination = "/queue/" + unique("huge")
        pub = self.connected()
        pub.send(destination, "kept 1", receipt="k1")
        pub.send(destination, "kept 2", receipt="k2")
        pub.send_frame("SEND", {"destination": destination, "receipt": "r"}, "h" * 6000)
        self.assert_error(pub, destination, "full", receipt_id="r")
        sub = self.connected()
        sub.subscribe(destination)
        self.assertEqual([m.body for m in drain_messages(sub, 2)], [b"kept 1", b"kept 2"])
        stats = self.broker.destination_stats(destination)
        self.assertEqual((stats["dropped"], stats["rejected"]), (0, 1))


class ReclaimTest(BrokerCase):
    admin = True
    config = {"idle_destination_ms": 150}

    def wait_for(self, predicate, what, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        self.fail("timed out waiting until " + what)

    def present(self, destination):
        return self.broker.destination_stats(destination) is not None

    def test_an_empty_unused_queue_is_reclaimed_and_recreated_on_next_use(self):
        destination = "/queue/" + unique("reclaim")
        c = self.connected()
        c.subscribe(destination)
        self.assertTrue(self.present(destination))
        c.disconnect()
        self.wait_for(lambda: not self.present(destination), destination + " is reclaimed")
        pub = self.connected()
        pub.send(destination, "after", receipt="r")
        self.assertEqual(self.broker.destination_stats(destination)["depth"], 1)
        sub = self.connected()
        sub.subscribe(destination)
        self.assertEqual(sub.expect("MESSAGE").body, b"after")

    def test_an_unused_topic_is_reclaimed_and_recreated_on_next_use(self):
        destination = "/topic/" + unique("reclaim")
        c = self.connected()
        c.subscribe(destination)
        c.disconnect()
        self.wait_for(lambda: not self.present(destination), destination + " is reclaimed")
        sub = self.connected()
        sub.subscribe(destination)
        pub = self.connected()
        pub.send(destination, "after", receipt="r")
        self.assertEqual(sub.expect("MESSAGE").body, b"after")

    def test_a_queue_without_consumers_keeps_its_messages_while_idle(self):
        destination = "/queue/" + unique("keep")
        pub = self.connected()
        publish(pub, destination, 3)
        pub.disconnect()
        # Ten idle periods, counted by the queue itself, with nobody attached:
        # the messages hold it.
        def ten_idle_periods():
            stats = self.broker.destination_stats(destination)
            self.assertIsNotNone(stats, "a queue holding messages was reclaimed")
            self.assertEqual(stats["depth"], 3)
            return stats["idle_checks"] >= 10
        self.wait_for(ten_idle_periods, "the queue has seen ten idle periods", timeout=30)
        sub = self.connected()
        sub.subscribe(destination)
        self.assertEqual([m.body for m in drain_messages(sub, 3)], [b"m0", b"m1", b"m2"])

    def test_an_empty_queue_is_kept_while_a_connection_holds_it(self):
        destination = "/queue/" + unique("held")
        holder = self.connected()
        holder.send(destination, "x", receipt="r")  # resolves the queue and holds it
        sub = self.connected()
        sub.subscribe(destination)
        sub.expect("MESSAGE")
        sub.disconnect()
        # The queue reports itself idle; the registry refuses while the holder
        # holds it, and tells the queue so (counted: the barrier).
        def refused_twice():
            stats = self.broker.destination_stats(destination)
            self.assertIsNotNone(stats, "reclaimed while a connection holds it")
            return stats["reclaim_refusals"] >= 2
        self.wait_for(refused_twice, "the registry has refused to reclaim it twice", timeout=30)
        holder.disconnect()
        self.wait_for(lambda: not self.present(destination), "it is reclaimed once let go")

    def test_messages_sent_around_the_moment_of_reclaiming_are_not_lost(self):
        destination = "/queue/" + unique("race")
        for i in range(12):
            c = self.connected()
            c.send(destination, "warm", receipt="w")
            c.subscribe(destination)
            self.assertEqual(c.expect("MESSAGE").body, b"warm")
            c.disconnect()
            time.sleep(0.12 + 0.01 * i)  # before, at and after the 150 ms idle deadline
            pub = self.connected()
            pub.send(destination, "n%d" % i, receipt="r")
            pub.disconnect()
            sub = self.connected()
            sub.subscribe(destination)
            self.assertEqual(sub.expect("MESSAGE", timeout=5).body, b"n%d" % i)
            sub.disconnect()


if __name__ == "__main__":
    unittest.main()
