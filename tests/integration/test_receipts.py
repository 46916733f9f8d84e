"""Receipts (STOMP12.md item 20): any frame but CONNECT may ask for one; the
RECEIPT comes once the frame has been processed (a SEND's destination has
it), in the order the frames were sent; DISCONNECT's RECEIPT comes last,
then the close."""

import unittest

from integ import BrokerCase, drain_messages, unique


class ReceiptTest(BrokerCase):
    admin = True

    def test_every_client_frame_can_ask_for_a_receipt(self):
        queue = "/queue/" + unique("rcpt")
        c = self.connected()
        pub = self.connected()
        pub.send(queue, "one", receipt="p1")
        pub.send(queue, "two", receipt="p2")
        steps = [
            ("SUBSCRIBE", {"destination": queue, "id": "s", "ack": "client-individual"}),
            ("BEGIN", {"transaction": "t"}),
            ("SEND", {"destination": "/queue/" + unique("elsewhere"), "transaction": "t"}),
            ("ABORT", {"transaction": "t"}),
            ("BEGIN", {"transaction": "t2"}),
            ("COMMIT", {"transaction": "t2"}),
            ("SEND", {"destination": "/topic/" + unique("nowhere")}),
        ]
        for n, (command, headers) in enumerate(steps):
            with self.subTest(command=command):
                c.send_frame(command, dict(headers, receipt="r-%d" % n))
                c.await_frame("RECEIPT", {"receipt-id": "r-%d" % n})
        first, second = drain_messages(c, 2)
        c.send_frame("ACK", {"id": first.get("ack"), "receipt": "ack"})
        c.expect("RECEIPT", {"receipt-id": "ack"})
        c.send_frame("NACK", {"id": second.get("ack"), "receipt": "nack"})
        c.await_frame("RECEIPT", {"receipt-id": "nack"})
        self.assertEqual(c.await_frame("MESSAGE").body, b"two")  # the NACKed, again
        c.send_frame("UNSUBSCRIBE", {"id": "s", "receipt": "unsub"})
        c.await_frame("RECEIPT", {"receipt-id": "unsub"})
        c.send_frame("DISCONNECT", {"receipt": "bye"})
        c.await_frame("RECEIPT", {"receipt-id": "bye"})
        c.expect_closed()

    def test_receipts_come_in_the_order_of_the_frames(self):
        c = self.connected()
        queue = "/queue/" + unique("order")
        topic = "/topic/" + unique("order")
        data = b""
        for i in range(300):
            kind = i % 3
            if kind == 0:
                data += self.frame("SEND", {"destination": queue, "receipt": "r%d" % i}, "x")
            elif kind == 1:
                data += self.frame("SEND", {"destination": topic, "receipt": "r%d" % i}, "y")
            else:
                data += self.frame("BEGIN", {"transaction": "t%d" % i, "receipt": "r%d" % i})
                data += self.frame("ABORT", {"transaction": "t%d" % i})
        c.send_raw(data)
        for i in range(300):
            c.expect("RECEIPT", {"receipt-id": "r%d" % i})

    @staticmethod
    def frame(command, headers, body=b""):
        from integ import frame
        return frame(command, headers, body)

    def test_a_send_is_stored_by_its_queue_before_its_receipt(self):
        queue = "/queue/" + unique("stored")
        pub = self.connected()
        for i in range(20):
            pub.send(queue, "m%d" % i, receipt="r%d" % i)
            self.assertEqual(self.broker.destination_stats(queue)["depth"], i + 1)

    def test_a_send_to_a_topic_reaches_subscribers_before_its_receipt_is_acted_on(self):
        topic = "/topic/" + unique("passed")
        subs = []
        for i in range(4):
            s = self.connected()
            s.subscribe(topic, id="s%d" % i)
            subs.append(s)
        pub = self.connected()
        pub.send(topic, "hello", receipt="r")
        for s in subs:
            self.assertEqual(s.expect("MESSAGE").body, b"hello")

    def test_receipt_ids_are_escaped_per_version(self):
        for version in ("1.1", "1.2"):
            with self.subTest(version=version):
                c = self.connected(version)
                receipt = "odd:receipt\\with\nspecials"
                c.send_frame("BEGIN", {"transaction": "t", "receipt": receipt})
                c.expect("RECEIPT", {"receipt-id": receipt})
        c = self.connected("1.0")
        c.send_frame("BEGIN", {"transaction": "t", "receipt": "plain\\raw"})
        c.expect("RECEIPT", {"receipt-id": "plain\\raw"})

    def test_disconnect_receipt_comes_after_everything_queued_then_the_close(self):
        queue = "/queue/" + unique("last")
        pub = self.connected()
        for i in range(50):
            pub.send_frame("SEND", {"destination": queue}, "m%d" % i)
        pub.send(queue, "m50", receipt="p")
        c = self.connected()
        c.send_frame("SUBSCRIBE", {"destination": queue, "id": "s", "ack": "auto"})
        c.send_frame("DISCONNECT", {"receipt": "bye"})
        frames = []
        while True:
            f = c.read_frame()
            frames.append(f)
            if f.command == "RECEIPT":
                break
        c.expect_closed()
        self.assertEqual(frames[-1].get("receipt-id"), "bye")
        self.assertTrue(all(f.command == "MESSAGE" for f in frames[:-1]))

    def test_frames_after_disconnect_are_not_processed(self):
        queue = "/queue/" + unique("after")
        c = self.connected()
        c.send_raw(self.frame("DISCONNECT", {"receipt": "bye"}) +
                   self.frame("SEND", {"destination": queue}, "too late"))
        c.expect("RECEIPT", {"receipt-id": "bye"})
        c.expect_closed()
        sub = self.connected()
        sub.subscribe(queue)
        self.expect_marker(sub, queue, publisher=sub)  # "too late" was never queued

    def test_a_disconnect_without_receipt_closes_quietly(self):
        c = self.connected()
        c.send_frame("DISCONNECT")
        c.expect_closed()
        self.assert_bystander_fine()


if __name__ == "__main__":
    unittest.main()
