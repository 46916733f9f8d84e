"""Transactions (STOMP12.md items 8 and 19): SEND, ACK and NACK inside a
transaction take effect at COMMIT, in order; ABORT and a lost connection
discard them; the limits on open transactions and on frames per transaction
are ERRORs naming them."""

import unittest

from integ import BrokerCase, drain_messages, unique


class TransactionTest(BrokerCase):
    config = {"limits": {"max_transactions": 3, "max_frames_per_transaction": 5}}
    admin = True

    def setUp(self):
        super().setUp()
        self.queue = "/queue/" + unique("tx")
        self.topic = "/topic/" + unique("tx")
        self.sub = self.connected()
        self.sub.subscribe(self.queue, id="q")
        self.sub.subscribe(self.topic, id="t")

    def expect_markers(self, publisher=None):
        """Barrier: a marker sent to the queue and one to the topic must be
        self.sub's next two frames (in either order: two destinations)."""
        publisher = publisher or self.connected()
        marker = unique("marker")
        for destination in (self.queue, self.topic):
            publisher.send(destination, marker, receipt=unique("m"))
        got = [self.sub.expect("MESSAGE") for _ in range(2)]
        self.assertEqual(sorted((m.get("subscription"), m.body) for m in got),
                         [("q", marker.encode()), ("t", marker.encode())])

    def test_sends_take_effect_at_commit_only(self):
        c = self.connected()
        c.send_frame("BEGIN", {"transaction": "t1", "receipt": "b"})
        c.expect("RECEIPT", {"receipt-id": "b"})
        for i in range(3):
            c.send_frame("SEND", {"destination": self.queue, "transaction": "t1",
                                  "receipt": "s%d" % i}, "q%d" % i)
            c.expect("RECEIPT", {"receipt-id": "s%d" % i})
        c.send_frame("SEND", {"destination": self.topic, "transaction": "t1"}, "t")
        c.send(self.queue, "outside", receipt="o")  # not in the transaction: at once
        self.assertEqual(self.sub.expect("MESSAGE").body, b"outside")
        self.expect_markers(c)
        c.send_frame("COMMIT", {"transaction": "t1", "receipt": "c"})
        c.expect("RECEIPT", {"receipt-id": "c"})
        got = drain_messages(self.sub, 4)
        self.assertEqual(sorted(m.body for m in got), [b"q0", b"q1", b"q2", b"t"])
        self.assertEqual([m.body for m in got if m.get("subscription") == "q"],
                         [b"q0", b"q1", b"q2"])  # in order
        self.assertTrue(all(m.get("transaction") is None for m in got))

    def test_abort_discards_the_sends(self):
        c = self.connected()
        c.send_frame("BEGIN", {"transaction": "t1"})
        c.send_frame("SEND", {"destination": self.queue, "transaction": "t1"}, "never")
        c.send_frame("SEND", {"destination": self.topic, "transaction": "t1"}, "never")
        c.send_frame("ABORT", {"transaction": "t1", "receipt": "a"})
        c.expect("RECEIPT", {"receipt-id": "a"})
        self.expect_markers(c)
        # The name is free again, and a COMMIT of the aborted one is an error.
        c.send_frame("BEGIN", {"transaction": "t1"})
        c.send_frame("SEND", {"destination": self.queue, "transaction": "t1"}, "second")
        c.send_frame("COMMIT", {"transaction": "t1", "receipt": "c"})
        c.expect("RECEIPT", {"receipt-id": "c"})
        self.assertEqual(self.sub.expect("MESSAGE").body, b"second")
        c.send_frame("COMMIT", {"transaction": "t1", "receipt": "again"})
        self.assert_error(c, "transaction", "t1", "not open", receipt_id="again")

    def test_a_lost_connection_discards_its_transactions(self):
        for how in ("close", "disconnect"):
            with self.subTest(how=how):
                c = self.connected()
                c.send_frame("BEGIN", {"transaction": "t1"})
                c.send_frame("SEND", {"destination": self.queue, "transaction": "t1",
                                      "receipt": "s"}, "never")
                c.expect("RECEIPT", {"receipt-id": "s"})
                if how == "disconnect":
                    c.disconnect()
                self.close_and_wait(c)
                self.expect_markers()
        self.round_trip(self.sub)

    def test_acks_take_effect_at_commit_only(self):
        queue = "/queue/" + unique("txack")
        pub = self.connected()
        for i in range(3):
            pub.send(queue, "m%d" % i, receipt="r%d" % i)
        c = self.connected()
        c.subscribe(queue, id="s", ack="client-individual")
        messages = drain_messages(c, 3)
        c.send_frame("BEGIN", {"transaction": "t"})
        c.send_frame("ACK", {"id": messages[0].get("ack"), "transaction": "t"})
        c.send_frame("NACK", {"id": messages[1].get("ack"), "transaction": "t",
                              "receipt": "n"})
        c.expect("RECEIPT", {"receipt-id": "n"})
        # The NACK has not happened: a redelivered m1 would come before a marker.
        marker = self.expect_marker(c, queue, publisher=pub)
        c.send_frame("ACK", {"id": marker.get("ack"), "receipt": "am"})
        c.expect("RECEIPT", {"receipt-id": "am"})
        c.send_frame("COMMIT", {"transaction": "t", "receipt": "c"})
        frames = [c.read_frame(), c.read_frame()]
        again = next(f for f in frames if f.command == "MESSAGE")
        self.assertIn("RECEIPT", [f.command for f in frames])
        self.assertEqual((again.body, again.get("redelivered")), (b"m1", "true"))
        c.close()  # m0 was acked at COMMIT; m1 (again) and m2 come back
        other = self.connected()
        other.subscribe(queue, id="o")
        self.assertEqual(sorted(m.body for m in drain_messages(other, 2)), [b"m1", b"m2"])
        self.expect_marker(other, queue, publisher=pub)

    def test_aborted_acks_leave_the_messages_unacked(self):
        queue = "/queue/" + unique("txabort")
        pub = self.connected()
        pub.send(queue, "m0", receipt="r")
        c = self.connected()
        c.subscribe(queue, id="s", ack="client")
        message = c.expect("MESSAGE")
        c.send_frame("BEGIN", {"transaction": "t"})
        c.send_frame("ACK", {"id": message.get("ack"), "transaction": "t"})
        c.send_frame("ABORT", {"transaction": "t", "receipt": "a"})
        c.expect("RECEIPT", {"receipt-id": "a"})
        # Still unacked: it can be acked outside the transaction now.
        c.send_frame("ACK", {"id": message.get("ack"), "receipt": "ack"})
        c.expect("RECEIPT", {"receipt-id": "ack"})

    def test_a_lost_connection_discards_transactional_acks(self):
        queue = "/queue/" + unique("txlost")
        pub = self.connected()
        pub.send(queue, "m0", receipt="r")
        c = self.connected()
        c.subscribe(queue, id="s", ack="client")
        message = c.expect("MESSAGE")
        c.send_frame("BEGIN", {"transaction": "t"})
        c.send_frame("ACK", {"id": message.get("ack"), "transaction": "t", "receipt": "a"})
        c.expect("RECEIPT", {"receipt-id": "a"})
        c.close()
        other = self.connected()
        other.subscribe(queue, id="o")
        again = other.expect("MESSAGE")
        self.assertEqual((again.body, again.get("redelivered")), (b"m0", "true"))

    def test_transactions_are_independent(self):
        c = self.connected()
        c.send_frame("BEGIN", {"transaction": "a"})
        c.send_frame("BEGIN", {"transaction": "b"})
        c.send_frame("SEND", {"destination": self.queue, "transaction": "a"}, "from a")
        c.send_frame("SEND", {"destination": self.queue, "transaction": "b"}, "from b")
        c.send_frame("ABORT", {"transaction": "a"})
        c.send_frame("COMMIT", {"transaction": "b", "receipt": "c"})
        c.expect("RECEIPT", {"receipt-id": "c"})
        self.assertEqual(self.sub.expect("MESSAGE").body, b"from b")
        self.expect_markers(c)

    def test_transaction_names_belong_to_their_connection(self):
        one = self.connected()
        one.send_frame("BEGIN", {"transaction": "shared"})
        two = self.connected()
        two.send_frame("BEGIN", {"transaction": "shared", "receipt": "b"})
        two.expect("RECEIPT", {"receipt-id": "b"})
        two.send_frame("SEND", {"destination": self.queue, "transaction": "shared"}, "two")
        two.send_frame("COMMIT", {"transaction": "shared", "receipt": "c"})
        two.expect("RECEIPT", {"receipt-id": "c"})
        self.assertEqual(self.sub.expect("MESSAGE").body, b"two")
        one.send_frame("ABORT", {"transaction": "shared", "receipt": "a"})
        one.expect("RECEIPT", {"receipt-id": "a"})

    def test_commit_with_a_receipt_confirms_every_send(self):
        queue = "/queue/" + unique("txconfirm")
        c = self.connected()
        c.send_frame("BEGIN", {"transaction": "t"})
        for i in range(4):
            c.send_frame("SEND", {"destination": queue, "transaction": "t"}, "m%d" % i)
        c.send_frame("COMMIT", {"transaction": "t", "receipt": "c"})
        c.expect("RECEIPT", {"receipt-id": "c"})
        other = self.connected()  # subscribes only after the RECEIPT: all are stored
        other.subscribe(queue, id="o")
        self.assertEqual([m.body for m in drain_messages(other, 4)],
                         [b"m0", b"m1", b"m2", b"m3"])

    # ---- limits and errors ----

    def test_too_many_open_transactions_is_an_error_naming_the_limit(self):
        c = self.connected()
        for i in range(3):
            c.send_frame("BEGIN", {"transaction": "t%d" % i})
        c.send_frame("BEGIN", {"transaction": "t3", "receipt": "b"})
        error = self.assert_error(c, "transactions", receipt_id="b")
        self.assertIn("3", error.get("message"))
        self.assert_bystander_fine()

    def test_committed_transactions_no_longer_count_against_the_limit(self):
        c = self.connected()
        for i in range(10):
            c.send_frame("BEGIN", {"transaction": "t%d" % i})
            c.send_frame("COMMIT" if i % 2 else "ABORT", {"transaction": "t%d" % i})
        c.send_frame("BEGIN", {"transaction": "last", "receipt": "b"})
        c.expect("RECEIPT", {"receipt-id": "b"})

    def test_too_many_frames_in_a_transaction_is_an_error_naming_the_limit(self):
        c = self.connected()
        c.send_frame("BEGIN", {"transaction": "big"})
        for i in range(5):
            c.send_frame("SEND", {"destination": self.queue, "transaction": "big"}, "m%d" % i)
        c.send_frame("SEND", {"destination": self.queue, "transaction": "big",
                              "receipt": "six"}, "m5")
        error = self.assert_error(c, "transaction", "big", "limit", receipt_id="six")
        self.assertIn("5", error.get("message"))
        self.expect_markers()  # nothing of it happened
        self.assert_bystander_fine()

    def test_acks_count_as_frames_of_the_transaction(self):
        queue = "/queue/" + unique("txackcount")
        pub = self.connected()
        for i in range(6):
            pub.send(queue, "m%d" % i, receipt="r%d" % i)
        c = self.connected()
        c.subscribe(queue, id="s", ack="client-individual")
        messages = drain_messages(c, 6)
        c.send_frame("BEGIN", {"transaction": "t"})
        for m in messages[:5]:
            c.send_frame("ACK", {"id": m.get("ack"), "transaction": "t"})
        c.send_frame("ACK", {"id": messages[5].get("ack"), "transaction": "t", "receipt": "x"})
        self.assert_error(c, "transaction", "limit", receipt_id="x")

    def test_transaction_errors_name_the_transaction(self):
        cases = [
            ("BEGIN", {}, ["BEGIN", "transaction"]),
            ("COMMIT", {}, ["COMMIT", "transaction"]),
            ("ABORT", {}, ["ABORT", "transaction"]),
            ("COMMIT", {"transaction": "nope"}, ["nope", "not open"]),
            ("ABORT", {"transaction": "nope"}, ["nope", "not open"]),
            ("SEND", {"transaction": "nope", "destination": "/queue/x"}, ["nope", "not open"]),
            ("ACK", {"transaction": "nope", "id": "SESSION-1"}, ["nope", "not open"]),
            ("NACK", {"transaction": "nope", "id": "SESSION-1"}, ["nope", "not open"]),
        ]
        for command, headers, texts in cases:
            with self.subTest(command=command, headers=headers):
                c = self.client()
                c.send_frame("CONNECT", {"accept-version": "1.2", "host": "/"})
                session = c.expect("CONNECTED").get("session")
                if "id" in headers:  # a well-formed id of this connection
                    headers = dict(headers, id=headers["id"].replace("SESSION", session))
                c.send_frame(command, dict(headers, receipt="r"))
                self.assert_error(c, *texts, receipt_id="r")
        c = self.connected()
        c.send_frame("BEGIN", {"transaction": "dup"})
        c.send_frame("BEGIN", {"transaction": "dup", "receipt": "r"})
        self.assert_error(c, "dup", "already open", receipt_id="r")
        self.assert_bystander_fine()

    def test_a_commit_whose_ack_is_stale_is_an_error(self):
        queue = "/queue/" + unique("txstale")
        pub = self.connected()
        pub.send(queue, "m0", receipt="r")
        c = self.connected()
        c.subscribe(queue, id="s", ack="client-individual")
        message = c.expect("MESSAGE")
        c.send_frame("BEGIN", {"transaction": "t"})
        c.send_frame("ACK", {"id": message.get("ack"), "transaction": "t"})
        c.send_frame("ACK", {"id": message.get("ack"), "receipt": "direct"})
        c.expect("RECEIPT", {"receipt-id": "direct"})
        c.send_frame("COMMIT", {"transaction": "t", "receipt": "c"})
        self.assert_error(c, "COMMIT", "t", "not awaiting", receipt_id="c")


if __name__ == "__main__":
    unittest.main()
