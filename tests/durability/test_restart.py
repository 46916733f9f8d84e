"""Persistent queue messages across restarts (issue 10): what was receipted
comes back, what was acknowledged does not, redeliveries say so."""

import unittest

from durability_support import Broker, DurabilityCase, check_body


class RestartKeepsPersistentMessages(DurabilityCase):

    def test_receipted_messages_survive_a_graceful_restart_in_order(self):
        self.data.start()
        p = self.client()
        self.send_persistent(p, "/queue/orders", range(1, 21))
        self.data.restart()
        c = self.client()
        c.subscribe("/queue/orders", ack="client-individual")
        got = [check_body(f.body) for f in self.receive(c, 20)]
        self.assertEqual(got, list(range(1, 21)))

    def test_receipted_messages_survive_sigkill(self):
        self.data.start()
        p = self.client()
        self.send_persistent(p, "/queue/orders", range(1, 51))
        self.data.restart(crash=True)
        c = self.client()
        c.subscribe("/queue/orders", ack="client-individual")
        got = [check_body(f.body) for f in self.receive(c, 50)]
        self.assertEqual(got, list(range(1, 51)))

    def test_messages_without_persistent_stay_in_memory(self):
        self.data.start()
        p = self.client()
        p.send("/queue/mixed", b"memory only", receipt="m")
        self.send_persistent(p, "/queue/mixed", [1])
        self.data.restart()
        c = self.client()
        c.subscribe("/queue/mixed")
        first = c.await_frame("MESSAGE")
        self.assertEqual(check_body(first.body), 1)  # the memory-only one is gone
        p = self.client()
        self.send_persistent(p, "/queue/mixed", [2])  # a barrier: nothing else was queued
        self.assertEqual(check_body(c.await_frame("MESSAGE").body), 2)

    def test_topics_and_undeclared_queues_are_not_journalled(self):
        self.data.extra = {"journal": {"sync": "always", "segment_bytes": 1 << 20,
                                       "durable_destinations": ["/queue/keep.*"]}}
        self.data.start()
        p = self.client()
        self.send_persistent(p, "/queue/other", [1])
        self.send_persistent(p, "/queue/keep.a", [2])
        self.data.restart()
        c = self.client()
        c.subscribe("/queue/other", id="o")
        c.subscribe("/queue/keep.a", id="k")
        f = c.await_frame("MESSAGE")
        self.assertEqual((f.get("subscription"), check_body(f.body)), ("k", 2))
        p = self.client()
        self.send_persistent(p, "/queue/other", [3])
        f = c.await_frame("MESSAGE")
        self.assertEqual((f.get("subscription"), check_body(f.body)), ("o", 3))

    def test_a_transaction_of_persistent_sends_is_kept_once_committed(self):
        self.data.start()
        p = self.client()
        p.send_frame("BEGIN", {"transaction": "t"})
        for n in range(1, 6):
            p.send_frame("SEND", {"destination": "/queue/tx", "persistent": "true",
                                  "transaction": "t"}, body_of(n))
        p.send_frame("BEGIN", {"transaction": "u"})
        p.send_frame("SEND", {"destination": "/queue/tx", "persistent": "true",
                              "transaction": "u"}, body_of(99))  # never committed
        p.send_frame("COMMIT", {"transaction": "t", "receipt": "c"})
        p.await_frame("RECEIPT", {"receipt-id": "c"})
        self.data.restart(crash=True)
        c = self.client()
        c.subscribe("/queue/tx")
        got = [check_body(f.body) for f in self.receive(c, 5)]
        self.assertEqual(got, [1, 2, 3, 4, 5])


def body_of(n):
    from durability_support import body
    return body(n)


class AcknowledgedMessagesStayGone(DurabilityCase):

    def test_acked_messages_are_not_redelivered_after_sigkill(self):
        self.data.start()
        p = self.client()
        self.send_persistent(p, "/queue/work", range(1, 11))
        c = self.client()
        c.subscribe("/queue/work", ack="client-individual", headers={"prefetch-count": "10"})
        frames = self.receive(c, 10)
        for f in frames[:6]:
            c.send_frame("ACK", {"id": f.get("ack"), "receipt": "a-" + f.get("ack")})
            c.await_frame("RECEIPT", {"receipt-id": "a-" + f.get("ack")})
        self.data.restart(crash=True)
        c = self.client()
        c.subscribe("/queue/work", ack="client-individual")
        back = self.receive(c, 4)
        self.assertEqual([check_body(f.body) for f in back], [7, 8, 9, 10])
        # Unacknowledged and delivered before: flagged.
        self.assertEqual({f.get("redelivered") for f in back}, {"true"})
        self.assertEqual({f.get("message-id") for f in back},
                         {f.get("message-id") for f in frames[6:]})
        p = self.client()
        self.send_persistent(p, "/queue/work", [11])  # barrier: nothing else comes back
        f = c.await_frame("MESSAGE")
        self.assertEqual(check_body(f.body), 11)
        self.assertIsNone(f.get("redelivered"))

    def test_a_cumulative_client_ack_removes_everything_before_it(self):
        self.data.start()
        p = self.client()
        self.send_persistent(p, "/queue/cumulative", range(1, 6))
        c = self.client()
        c.subscribe("/queue/cumulative", ack="client", headers={"prefetch-count": "5"})
        frames = self.receive(c, 5)
        c.send_frame("ACK", {"id": frames[2].get("ack"), "receipt": "a"})
        c.await_frame("RECEIPT", {"receipt-id": "a"})
        self.data.restart(crash=True)
        c = self.client()
        c.subscribe("/queue/cumulative", ack="client")
        self.assertEqual([check_body(f.body) for f in self.receive(c, 2)], [4, 5])

    def test_nacked_messages_stay(self):
        self.data.start()
        p = self.client()
        self.send_persistent(p, "/queue/nack", [1])
        c = self.client()
        c.subscribe("/queue/nack", ack="client-individual")
        f = c.await_frame("MESSAGE")
        c.send_frame("NACK", {"id": f.get("ack"), "receipt": "n"})
        c.await_frame("RECEIPT", {"receipt-id": "n"})
        again = c.await_frame("MESSAGE")
        self.assertEqual(again.get("redelivered"), "true")
        self.data.restart(crash=True)
        c = self.client()
        c.subscribe("/queue/nack")
        f = c.await_frame("MESSAGE")
        self.assertEqual((check_body(f.body), f.get("redelivered")), (1, "true"))


class AcksWaitOnTheJournalOnlyForDurableQueues(DurabilityCase):
    """An ACK takes a journal token (its RECEIPT waits for the sync that
    covers the removal) on a durable queue only. The path taken is read from
    /stats' journal.tokens around each ACK, after its RECEIPT: a count, not a
    time."""

    def tokens(self):
        return self.data.broker.stats()["journal"]["tokens"]

    def ack(self, c, frame, receipt):
        c.send_frame("ACK", {"id": frame.get("ack"), "receipt": receipt})
        c.await_frame("RECEIPT", {"receipt-id": receipt})

    def test_an_ack_takes_a_token_on_a_durable_queue_only(self):
        self.data.extra = {"journal": {"sync": "always", "segment_bytes": 1 << 20,
                                       "durable_destinations": ["/queue/keep.*"]}}
        self.data.start(admin=True)
        c = self.client()
        c.subscribe("/queue/other", id="o", ack="client-individual")
        c.subscribe("/queue/keep.a", id="k", ack="client-individual")
        p = self.client()
        before_sends = self.tokens()
        self.send_persistent(p, "/queue/other", [1])
        self.assertEqual(self.tokens(), before_sends)  # not journalled: no token
        self.send_persistent(p, "/queue/keep.a", [2])
        self.assertEqual(self.tokens(), before_sends + 1)
        got = {f.get("subscription"): f for f in self.receive(c, 2)}

        before = self.tokens()
        self.ack(c, got["o"], "ack-other")
        self.assertEqual(self.tokens(), before, "an ACK on a queue that is not durable "
                         "took a journal token")
        self.ack(c, got["k"], "ack-keep")
        self.assertEqual(self.tokens(), before + 1, "an ACK on a durable queue took no token")

        # The durable ACK is on disk: the message does not come back.
        self.data.restart(crash=True, admin=True)
        c = self.client()
        c.subscribe("/queue/keep.a", id="k", ack="client-individual")
        p = self.client()
        self.send_persistent(p, "/queue/keep.a", [3])  # barrier: nothing else comes back
        self.assertEqual(check_body(c.await_frame("MESSAGE").body), 3)


class SyncModes(DurabilityCase):
    """Every mode keeps receipted messages across a crash of the broker
    (never: after the write; a power loss is another matter)."""

    def check_mode(self, mode):
        self.data.sync = mode
        self.data.start()
        p = self.client()
        self.send_persistent(p, "/queue/mode", range(1, 31))
        self.data.restart(crash=True)
        c = self.client()
        c.subscribe("/queue/mode")
        self.assertEqual([check_body(f.body) for f in self.receive(c, 30)], list(range(1, 31)))

    def test_always(self):
        self.check_mode("always")

    def test_interval(self):
        self.check_mode("interval_ms:5")

    def test_never(self):
        self.check_mode("never")

    def test_a_bad_mode_is_refused_at_start(self):
        self.data.sync = "sometimes"
        with self.assertRaises(RuntimeError) as raised:
            self.data.start()
        self.assertIn("journal.sync", str(raised.exception))


class TheDirectoryIsLocked(DurabilityCase):

    def test_a_second_broker_on_the_directory_refuses_to_start(self):
        self.data.start()
        second = Broker(config=self.data.config(), args=["--data-dir", self.data.path],
                        admin=False)
        with self.assertRaises(RuntimeError) as raised:
            second.start()
        second.stop()
        self.assertIn(self.data.path, str(raised.exception))
        self.assertIn("in use", str(raised.exception))
        # The first one still serves.
        p = self.client()
        self.send_persistent(p, "/queue/locked", [1])
        self.data.stop()
        self.data.start()  # and the directory is free once it has stopped


if __name__ == "__main__":
    unittest.main()
