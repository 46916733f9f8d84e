"""Destination features on durable queues across a SIGKILL (issues 10 and 13):
a persistent message keeps its priority, its expiry and its delivery delay
through the journal. Barriers are a marker message (queues are FIFO within a
priority) and the wall clock only as a lower bound (a delayed message must
never come early; an expired one must never come at all)."""

import time
import unittest

from durability_support import DurabilityCase, body, check_body


def now_ms():
    return int(time.time() * 1000)


class FeaturesAcrossARestart(DurabilityCase):

    def test_priorities_are_kept(self):
        self.data.start()
        p = self.client()
        for n, priority in ((1, 1), (2, 9), (3, 4), (4, 9), (5, 0)):
            self.send_persistent(p, "/queue/prio", [n], {"priority": str(priority)})
        self.data.restart(crash=True)
        c = self.client()
        c.subscribe("/queue/prio", id="p", ack="auto")
        got = [(check_body(f.body), f.get("priority")) for f in self.receive(c, 5)]
        # Higher first, FIFO within a priority; each keeps its header.
        self.assertEqual(got, [(2, "9"), (4, "9"), (3, "4"), (1, "1"), (5, "0")])

    def test_an_expiry_is_kept(self):
        self.data.start()
        p = self.client()
        expires = now_ms() + 1500
        later = now_ms() + 600_000
        self.send_persistent(p, "/queue/ttl", [1], {"expires": str(expires)})
        self.send_persistent(p, "/queue/ttl", [2], {"expires": str(later)})
        self.send_persistent(p, "/queue/ttl", [3])  # no expiry
        self.data.restart(crash=True)
        # Past the first expiry by the wall clock: message 1 must never be
        # delivered; message 2 still carries its own.
        while now_ms() <= expires + 50:
            time.sleep(0.05)
        c = self.client()
        c.subscribe("/queue/ttl", id="t", ack="auto")
        second, third = self.receive(c, 2)
        self.assertEqual((check_body(second.body), second.get("expires")), (2, str(later)))
        self.assertEqual(check_body(third.body), 3)

    def test_a_delay_is_kept(self):
        self.data.start()
        p = self.client()
        sent_at = now_ms()
        self.send_persistent(p, "/queue/later", [1], {"AMQ_SCHEDULED_DELAY": "3000"})
        self.data.restart(crash=True)
        c = self.client()
        c.subscribe("/queue/later", id="l", ack="auto")
        # A marker sent after the restart overtakes the delayed message
        # unless the restart took the whole delay.
        p = self.client()
        self.send_persistent(p, "/queue/later", [2])
        first = c.await_frame("MESSAGE", timeout=30)
        if check_body(first.body) == 2:
            first = c.await_frame("MESSAGE", timeout=30)
        self.assertEqual(check_body(first.body), 1)
        # Never early, restart or not.
        self.assertGreaterEqual(now_ms(), sent_at + 3000)


if __name__ == "__main__":
    unittest.main()
