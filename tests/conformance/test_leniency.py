"""Leniency where the spec only binds the client (issue 15), against the real
broker in both modes:

- lenient (the default, `strict: false`): a frame that carries no body may
  end with EOLs before its NUL (`CONNECT ... \\n\\n\\n\\0`, as some raw
  clients and test tools write it), and NULs between frames are skipped like
  heart-beat EOLs. Both are counted per connection in /stats and as totals in
  /stats and /metrics.
- strict (`strict: true`): both are the errors the spec makes them, and the
  connection closes after an ERROR that says so.

No client library writes these frames, so the bytes are written by hand
(tests/support/stampede_test.Client); the frames are otherwise valid.
"""

import re
import time
import unittest

from conformance_support import broker_config, unique
from stampede_test import Broker, Client

VERSIONS = ("1.0", "1.1", "1.2")


def connect_bytes(version, eol="\n", body="\n", nuls=""):
    """A CONNECT (host omitted: the default virtual host) whose body is `body`."""
    lines = ["CONNECT", "accept-version:" + version, "login:guest", "passcode:guest"]
    return (nuls + eol.join(lines) + eol + eol + body + "\0").encode()


class Case(unittest.TestCase):
    STRICT = None

    @classmethod
    def setUpClass(cls):
        cls.broker = Broker(config=broker_config(strict=cls.STRICT), admin=True).start()

    @classmethod
    def tearDownClass(cls):
        status = cls.broker.stop()
        if status != 0:
            raise AssertionError("stampede exited with status %s:\n%s"
                                 % (status, cls.broker.log()))

    def client(self):
        c = Client(self.broker.port)
        self.addCleanup(c.close)
        return c

    def connection_stats(self, session):
        for c in self.broker.stats()["connections"]:
            if str(c["id"]) == session:
                return c
        raise AssertionError("no connection %s in /stats" % session)

    def metric(self, name):
        status, text = self.broker.get("/metrics")
        self.assertEqual(status, 200)
        match = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
        self.assertIsNotNone(match, "%s not in /metrics" % name)
        return int(match.group(1))


class LenientTest(Case):
    STRICT = False

    def test_a_connect_with_an_eol_only_body_connects_on_every_version(self):
        for version in VERSIONS:
            for eol in ("\n", "\r\n") if version == "1.2" else ("\n",):
                with self.subTest(version=version, eol=repr(eol)):
                    c = self.client()
                    c.send_raw(connect_bytes(version, eol, body=eol * 2))
                    connected = c.expect("CONNECTED")
                    self.assertEqual(connected.get("version"), version)
                    stats = self.connection_stats(connected.get("session"))
                    self.assertEqual(stats["eol_bodies"], 1)
                    self.assertEqual(stats["vhost"], "/")
                    c.disconnect()

    def test_frames_without_a_body_may_end_with_eols(self):
        queue = unique("queue", "eolbody")
        c = self.client()
        c.send_raw(connect_bytes("1.2"))
        session = c.expect("CONNECTED").get("session")
        c.version = "1.2"
        frames = [
            b"SUBSCRIBE\nid:s\ndestination:" + queue.encode() + b"\nack:client-individual\n"
            b"receipt:sub\n\n\n\0",
            b"SEND\ndestination:" + queue.encode() + b"\nreceipt:sent\n\nhello\0",
            b"BEGIN\ntransaction:t\nreceipt:begun\n\n\r\n\n\0",
        ]
        c.send_raw(b"".join(frames))
        c.await_frame("RECEIPT", {"receipt-id": "sub"})
        c.await_frame("RECEIPT", {"receipt-id": "sent"})
        c.await_frame("RECEIPT", {"receipt-id": "begun"})
        message = c.await_frame("MESSAGE")
        self.assertEqual(message.body, b"hello")  # a SEND's body is its own
        ack = message.get("ack").encode()
        c.send_raw(b"ACK\nid:" + ack + b"\ntransaction:t\n\n\n\0"
                   b"COMMIT\ntransaction:t\nreceipt:committed\n\n\n\n\0")
        c.await_frame("RECEIPT", {"receipt-id": "committed"})
        self.assertEqual(self.connection_stats(session)["eol_bodies"], 5)  # CONNECT .. COMMIT
        c.send_raw(b"DISCONNECT\nreceipt:bye\n\n\n\0")
        c.await_frame("RECEIPT", {"receipt-id": "bye"})
        c.expect_closed()

    def test_nuls_between_frames_are_skipped(self):
        queue = unique("queue", "nuls")
        c = self.client()
        c.send_raw(connect_bytes("1.1", body="", nuls="\0\0"))
        session = c.expect("CONNECTED").get("session")
        c.version = "1.1"
        c.send_raw(b"\0\nSUBSCRIBE\nid:s\ndestination:" + queue.encode()
                   + b"\nreceipt:sub\n\n\0\0\0\nSEND\ndestination:" + queue.encode()
                   + b"\n\nbody\0\0")
        c.await_frame("RECEIPT", {"receipt-id": "sub"})
        self.assertEqual(c.await_frame("MESSAGE").body, b"body")
        c.send_raw(b"\0SEND\ndestination:" + queue.encode() + b"\nreceipt:last\n\n\0")
        c.await_frame("RECEIPT", {"receipt-id": "last"})
        self.assertEqual(c.await_frame("MESSAGE").body, b"")
        stats = self.connection_stats(session)
        self.assertEqual(stats["stray_nuls"], 2 + 1 + 2 + 1 + 1)
        self.assertEqual(stats["eol_bodies"], 0)
        c.disconnect()

    def test_nuls_count_as_heart_beats(self):
        # heart-beat 1000,0: the broker expects traffic every second and
        # closes after two seconds without any. NULs alone keep it open.
        c = self.client()
        c.send_raw(b"CONNECT\naccept-version:1.2\nheart-beat:1000,0\n\n\0")
        c.expect("CONNECTED")
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            c.send_raw(b"\0")
            time.sleep(0.05)
        c.send_frame("SUBSCRIBE", {"id": "1", "destination": unique("topic", "beat"),
                                   "receipt": "alive"})
        c.await_frame("RECEIPT", {"receipt-id": "alive"})
        c.disconnect()

    def test_totals_in_stats_and_metrics_keep_closed_connections(self):
        before = self.broker.stats()["leniency"]
        metric_before = (self.metric("stampede_lenient_eol_bodies_total"),
                         self.metric("stampede_lenient_stray_nuls_total"))
        c = self.client()
        c.send_raw(connect_bytes("1.2", body="\n", nuls="\0\0\0"))
        session = c.expect("CONNECTED").get("session")
        c.send_raw(b"DISCONNECT\nreceipt:bye\n\n\n\0")
        c.await_frame("RECEIPT", {"receipt-id": "bye"})
        c.expect_closed()
        # The session leaves /stats once it has finished: wait for that.
        deadline = time.monotonic() + 10
        while any(str(x["id"]) == session for x in self.broker.stats()["connections"]):
            self.assertLess(time.monotonic(), deadline, "the session never left /stats")
            time.sleep(0.01)
        after = self.broker.stats()["leniency"]
        self.assertEqual(after["eol_bodies"] - before["eol_bodies"], 2)
        self.assertEqual(after["stray_nuls"] - before["stray_nuls"], 3)
        self.assertEqual(self.metric("stampede_lenient_eol_bodies_total") - metric_before[0], 2)
        self.assertEqual(self.metric("stampede_lenient_stray_nuls_total") - metric_before[1], 3)

    def test_a_body_of_anything_but_eols_is_still_refused(self):
        c = self.client()
        c.send_raw(connect_bytes("1.2"))
        c.expect("CONNECTED")
        c.send_raw(b"BEGIN\ntransaction:t\nreceipt:r\n\n\nx\0")
        error = c.expect_error("body not allowed")
        self.assertIn("only SEND, MESSAGE and ERROR", error.get("message"))


class StrictTest(Case):
    STRICT = True

    def test_a_connect_with_an_eol_only_body_is_refused(self):
        for version in VERSIONS:
            with self.subTest(version=version):
                c = self.client()
                c.send_raw(connect_bytes(version))
                error = c.expect_error("body not allowed")
                self.assertIn("only SEND, MESSAGE and ERROR", error.get("message"))

    def test_an_eol_only_body_after_connect_is_refused(self):
        c = self.client()
        c.connect(host="127.0.0.1")
        c.send_raw(b"SUBSCRIBE\nid:s\ndestination:/queue/strict\nreceipt:sub\n\n\n\0")
        c.expect_error("body not allowed")

    def test_a_nul_before_connect_is_refused(self):
        c = self.client()
        c.send_raw(connect_bytes("1.2", body="", nuls="\0"))
        c.expect_error("unknown command")

    def test_a_nul_between_frames_is_refused(self):
        c = self.client()
        c.connect(host="127.0.0.1")
        c.send_raw(b"SUBSCRIBE\nid:s\ndestination:/queue/strict\nreceipt:sub\n\n\0\0")
        c.await_frame("RECEIPT", {"receipt-id": "sub"})
        c.send_raw(b"SEND\ndestination:/queue/strict\n\n\0")
        c.expect_error("unknown command")

    def test_well_formed_frames_pass_and_nothing_is_counted(self):
        c = self.client()
        session = c.connect(host="127.0.0.1").get("session")
        c.send_raw(b"\n\r\nSUBSCRIBE\nid:s\ndestination:/queue/fine\nreceipt:sub\n\n\0\n")
        c.await_frame("RECEIPT", {"receipt-id": "sub"})
        stats = self.connection_stats(session)
        self.assertEqual((stats["eol_bodies"], stats["stray_nuls"]), (0, 0))
        c.disconnect()
        self.assertEqual(self.metric("stampede_lenient_eol_bodies_total"), 0)
        self.assertEqual(self.metric("stampede_lenient_stray_nuls_total"), 0)


if __name__ == "__main__":
    unittest.main()
