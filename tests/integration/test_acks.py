"""Acknowledgement (STOMP12.md items 15, 17, 18, 23): ack modes on queues,
ACK/NACK by `id` in 1.2, by `message-id` (and `subscription`) in 1.1 and
1.0, cumulative client mode, NACK -> redelivered:true at the head of the
queue -> dead-letter queue after queues.max_deliveries, and redelivery of
whatever a consumer had not acked when it unsubscribes, disconnects or its
connection fails."""

import socket
import struct
import unittest

from integ import BrokerCase, drain_messages, unique


class AckTest(BrokerCase):
    admin = True
    config = {"queues": {"max_deliveries": 3}}

    def queue_with(self, count, prefix="m"):
        destination = "/queue/" + unique("acks")
        pub = self.connected()
        for i in range(count):
            pub.send_frame("SEND", {"destination": destination}, "%s%d" % (prefix, i))
        pub.send_frame("DISCONNECT", {"receipt": "done"})
        pub.expect("RECEIPT", {"receipt-id": "done"})
        return destination

    def consumer(self, destination, ack, prefetch=None, version="1.2", id="s"):
        c = self.connected(version)
        headers = {"prefetch-count": str(prefetch)} if prefetch else None
        c.subscribe(destination, id=id, ack=ack, headers=headers)
        return c

    def redelivered_to_next(self, destination, count, timeout=10):
        """What a fresh consumer gets: (bodies, redelivered flags)."""
        c = self.consumer(destination, "auto")
        messages = drain_messages(c, count, timeout)
        self.expect_marker(c, destination)
        return [m.body for m in messages], [m.get("redelivered") for m in messages]

    # ---- modes ----

    def test_client_individual_acks_only_the_message_named(self):
        destination = self.queue_with(5)
        c = self.consumer(destination, "client-individual")
        messages = drain_messages(c, 5)
        c.send_frame("ACK", {"id": messages[1].get("ack"), "receipt": "a1"})
        c.send_frame("ACK", {"id": messages[3].get("ack"), "receipt": "a3"})
        c.expect("RECEIPT", {"receipt-id": "a1"})
        c.expect("RECEIPT", {"receipt-id": "a3"})
        c.disconnect()
        bodies, flags = self.redelivered_to_next(destination, 3)
        self.assertEqual(bodies, [b"m0", b"m2", b"m4"])
        self.assertEqual(flags, ["true"] * 3)

    def test_client_acks_are_cumulative(self):
        destination = self.queue_with(5)
        c = self.consumer(destination, "client")
        messages = drain_messages(c, 5)
        c.send_frame("ACK", {"id": messages[2].get("ack"), "receipt": "a"})
        c.expect("RECEIPT", {"receipt-id": "a"})
        # m0 and m1 went with m2: acking them again is acking nothing.
        c.send_frame("ACK", {"id": messages[0].get("ack"), "receipt": "again"})
        self.assert_error(c, "not awaiting", receipt_id="again")
        bodies, flags = self.redelivered_to_next(destination, 2)
        self.assertEqual(bodies, [b"m3", b"m4"])

    def test_client_ack_covers_only_its_own_subscription(self):
        one = self.queue_with(3, "a")
        two = self.queue_with(3, "b")
        c = self.connected()
        c.subscribe(one, id="one", ack="client")
        first = drain_messages(c, 3)
        c.subscribe(two, id="two", ack="client")
        second = drain_messages(c, 3)
        c.send_frame("ACK", {"id": second[2].get("ack"), "receipt": "a"})
        c.expect("RECEIPT", {"receipt-id": "a"})
        c.disconnect()
        self.assertEqual(self.redelivered_to_next(one, 3)[0], [m.body for m in first])
        self.assertEqual(self.redelivered_to_next(two, 0)[0], [])

    def test_auto_messages_are_never_redelivered(self):
        destination = self.queue_with(3)
        c = self.consumer(destination, "auto")
        self.assertEqual(len(drain_messages(c, 3)), 3)
        c.disconnect()
        self.assertEqual(self.redelivered_to_next(destination, 0)[0], [])

    # ---- versions ----

    def test_1_1_acks_by_message_id_and_subscription(self):
        destination = self.queue_with(2)
        c = self.consumer(destination, "client-individual", version="1.1")
        messages = drain_messages(c, 2)
        self.assertIsNotNone(messages[0].get("message-id"))
        c.send_frame("ACK", {"message-id": messages[0].get("message-id"), "subscription": "s",
                             "receipt": "a"})
        c.expect("RECEIPT", {"receipt-id": "a"})
        c.send_frame("NACK", {"message-id": messages[1].get("message-id"), "subscription": "s"})
        again = c.expect("MESSAGE")
        self.assertEqual((again.body, again.get("redelivered")), (b"m1", "true"))

    def test_1_1_ack_without_message_id_is_an_error(self):
        destination = self.queue_with(1)
        c = self.consumer(destination, "client", version="1.1")
        message = c.expect("MESSAGE")
        c.send_frame("ACK", {"id": message.get("ack"), "subscription": "s", "receipt": "a"})
        self.assert_error(c, "message-id", receipt_id="a")

    def test_1_0_acks_by_message_id_and_takes_nack_as_an_extension(self):
        destination = self.queue_with(2)
        c = self.consumer(destination, "client-individual", version="1.0")
        self.assertEqual(c.version, "1.0")
        messages = drain_messages(c, 2)
        c.send_frame("ACK", {"message-id": messages[0].get("message-id"), "receipt": "a"})
        c.expect("RECEIPT", {"receipt-id": "a"})
        # NACK is not STOMP 1.0; as RabbitMQ does, we accept it (README: Clients).
        c.send_frame("NACK", {"message-id": messages[1].get("message-id"), "receipt": "n"})
        c.expect("RECEIPT", {"receipt-id": "n"})
        again = c.expect("MESSAGE")
        self.assertEqual((again.body, again.get("redelivered")), (b"m1", "true"))
        self.assertEqual(again.get("message-id"), messages[1].get("message-id"))
        c.send_frame("ACK", {"message-id": again.get("message-id"), "receipt": "a2"})
        c.expect("RECEIPT", {"receipt-id": "a2"})

    def test_1_0_takes_client_individual_as_an_extension(self):
        destination = self.queue_with(2)
        c = self.consumer(destination, "client-individual", version="1.0")
        messages = drain_messages(c, 2)
        # Individual, not cumulative: acknowledging the second leaves the first pending.
        c.send_frame("ACK", {"message-id": messages[1].get("message-id"), "receipt": "a"})
        c.expect("RECEIPT", {"receipt-id": "a"})
        c.close()
        bodies, _ = self.redelivered_to_next(destination, 1)
        self.assertEqual(bodies, [b"m0"])

    def test_1_2_ack_needs_id_not_message_id(self):
        destination = self.queue_with(1)
        c = self.consumer(destination, "client")
        message = c.expect("MESSAGE")
        c.send_frame("ACK", {"message-id": message.get("message-id"), "receipt": "a"})
        self.assert_error(c, "'id'", receipt_id="a")

    # ---- NACK ----

    def test_a_nacked_message_comes_back_first_flagged_redelivered(self):
        destination = self.queue_with(3)
        c = self.consumer(destination, "client-individual", prefetch=1)
        first = c.expect("MESSAGE")
        self.assertEqual(first.body, b"m0")
        self.assertIsNone(first.get("redelivered"))
        c.send_frame("NACK", {"id": first.get("ack")})
        again = c.expect("MESSAGE")
        self.assertEqual((again.body, again.get("redelivered")), (b"m0", "true"))
        self.assertNotEqual(again.get("ack"), first.get("ack"))
        c.send_frame("ACK", {"id": again.get("ack")})
        nxt = c.expect("MESSAGE")
        self.assertEqual((nxt.body, nxt.get("redelivered")), (b"m1", None))

    def test_a_nack_in_client_mode_is_cumulative(self):
        destination = self.queue_with(4)
        c = self.consumer(destination, "client", prefetch=3)
        messages = drain_messages(c, 3)
        c.send_frame("NACK", {"id": messages[1].get("ack"), "receipt": "n"})
        c.await_frame("RECEIPT", {"receipt-id": "n"})
        again = drain_messages(c, 2)
        # m0 and m1 come back, flagged, ahead of m3; m2 is still held, so with
        # the prefetch of 3 full m3 waits.
        self.assertEqual([(m.body, m.get("redelivered")) for m in again],
                         [(b"m0", "true"), (b"m1", "true")])
        # m3 is not handed out: the queue holds three out (m0, m1, m2).
        self.wait_stats(destination, unacked=3, depth=4, messages_out=5)
        c.send_frame("ACK", {"id": again[-1].get("ack")})  # m2, m0 and m1: all of them
        last = c.expect("MESSAGE")
        self.assertEqual((last.body, last.get("redelivered")), (b"m3", None))

    def test_a_message_nacked_max_deliveries_times_goes_to_the_dead_letter_queue(self):
        destination = self.queue_with(2)
        name = destination[len("/queue/"):]
        dead = self.connected()
        dead.subscribe("/queue/DLQ." + name, id="d")
        c = self.consumer(destination, "client-individual", prefetch=1)
        flags = []
        for _ in range(3):  # max_deliveries 3
            m = c.expect("MESSAGE")
            self.assertEqual(m.body, b"m0")
            flags.append(m.get("redelivered"))
            c.send_frame("NACK", {"id": m.get("ack")})
        self.assertEqual(flags, [None, "true", "true"])
        self.assertEqual(c.expect("MESSAGE").body, b"m1")  # m0 is gone from the queue
        letter = dead.expect("MESSAGE")
        self.assertEqual(letter.body, b"m0")
        self.assertEqual(letter.get("original-destination"), destination)
        self.assertEqual(letter.get("destination"), "/queue/DLQ." + name)
        stats = self.broker.destination_stats(destination)
        self.assertEqual((stats["dead_lettered"], stats["redelivered"]), (1, 2))

    def test_redeliveries_after_failed_connections_count_towards_max_deliveries(self):
        destination = self.queue_with(1)
        name = destination[len("/queue/"):]
        for _ in range(3):
            c = self.consumer(destination, "client-individual")
            self.assertEqual(c.expect("MESSAGE").body, b"m0")
            c.close()
        dead = self.connected()
        dead.subscribe("/queue/DLQ." + name, id="d")
        self.assertEqual(dead.expect("MESSAGE").get("original-destination"), destination)

    # ---- redelivery when a consumer goes away (item 23) ----

    def test_unsubscribing_redelivers_what_was_not_acked(self):
        destination = self.queue_with(4)
        c = self.consumer(destination, "client-individual")
        messages = drain_messages(c, 4)
        c.send_frame("ACK", {"id": messages[0].get("ack")})
        c.send_frame("UNSUBSCRIBE", {"id": "s", "receipt": "u"})
        c.expect("RECEIPT", {"receipt-id": "u"})
        bodies, flags = self.redelivered_to_next(destination, 3)
        self.assertEqual(bodies, [b"m1", b"m2", b"m3"])
        self.assertEqual(flags, ["true"] * 3)
        # The old delivery cannot be acked once the subscription is gone.
        c.send_frame("ACK", {"id": messages[1].get("ack"), "receipt": "late"})
        self.assert_error(c, "not awaiting", receipt_id="late")

    def test_a_failed_connection_has_its_unacked_messages_redelivered(self):
        for how in ("close", "reset", "mid-frame"):
            with self.subTest(how=how):
                destination = self.queue_with(4)
                c = self.consumer(destination, "client")
                messages = drain_messages(c, 4)
                c.send_frame("ACK", {"id": messages[1].get("ack"), "receipt": "a"})
                c.expect("RECEIPT", {"receipt-id": "a"})
                if how == "reset":
                    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif how == "mid-frame":
                    c.send_raw(b"ACK\nid:" + messages[3].get("ack").encode())
                c.close()
                bodies, flags = self.redelivered_to_next(destination, 2)
                self.assertEqual(bodies, [b"m2", b"m3"])
                self.assertEqual(flags, ["true", "true"])

    def test_redelivery_goes_to_the_consumers_still_there(self):
        destination = "/queue/" + unique("failover")
        a = self.consumer(destination, "client-individual", prefetch=5, id="a")
        b = self.consumer(destination, "client-individual", prefetch=5, id="b")
        pub = self.connected()
        for i in range(6):
            pub.send_frame("SEND", {"destination": destination}, "m%d" % i)
        pub.send(destination, "m6", receipt="r")
        got_a = drain_messages(a, 4)
        got_b = drain_messages(b, 3)
        for m in got_b:
            b.send_frame("ACK", {"id": m.get("ack")})
        a.close()  # dies holding four
        again = drain_messages(b, 4)
        self.assertEqual(sorted(m.body for m in again), sorted(m.body for m in got_a))
        self.assertTrue(all(m.get("redelivered") == "true" for m in again))
        self.expect_marker(b, destination, publisher=pub)  # no fifth, no duplicate

    def test_a_disconnect_redelivers_what_was_not_acked(self):
        destination = self.queue_with(3)
        c = self.consumer(destination, "client-individual")
        drain_messages(c, 3)
        c.disconnect()
        bodies, flags = self.redelivered_to_next(destination, 3)
        self.assertEqual(bodies, [b"m0", b"m1", b"m2"])

    # ---- errors ----

    def test_acking_a_message_never_sent_is_an_error(self):
        destination = self.queue_with(1)
        c = self.consumer(destination, "client")
        message = c.expect("MESSAGE")
        session_prefix = message.get("ack").rsplit("-", 1)[0]
        for bad in ("nonsense", session_prefix + "-999999", "0-1", session_prefix + "-x"):
            with self.subTest(id=bad):
                other = self.consumer("/queue/" + unique("empty"), "client")
                other.send_frame("ACK", {"id": bad, "receipt": "a"})
                error = self.assert_error(other, "ACK", receipt_id="a")
                self.assertIn(bad, error.get("message"))

    def test_acking_another_connections_message_is_an_error(self):
        destination = self.queue_with(1)
        owner = self.consumer(destination, "client")
        message = owner.expect("MESSAGE")
        thief = self.connected()
        thief.send_frame("ACK", {"id": message.get("ack"), "receipt": "a"})
        self.assert_error(thief, "ACK", receipt_id="a")
        owner.send_frame("ACK", {"id": message.get("ack"), "receipt": "mine"})
        owner.expect("RECEIPT", {"receipt-id": "mine"})

    def test_acking_twice_is_an_error(self):
        destination = self.queue_with(1)
        c = self.consumer(destination, "client-individual")
        message = c.expect("MESSAGE")
        c.send_frame("ACK", {"id": message.get("ack"), "receipt": "1"})
        c.expect("RECEIPT", {"receipt-id": "1"})
        c.send_frame("NACK", {"id": message.get("ack"), "receipt": "2"})
        self.assert_error(c, "not awaiting", receipt_id="2")
        self.assert_bystander_fine()


if __name__ == "__main__":
    unittest.main()
