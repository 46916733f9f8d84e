"""stomp.py 8.0 against stampede, once per protocol version (1.0, 1.1, 1.2):
connecting, topics and queues, receipts, bodies, header values, ERRORs, and
(stomp.py 1.2 only) virtual hosts, logins and shutdown.

Everything goes through the library's own API (Connection10/11/12 and its
listener callbacks). Acknowledgement, NACK, prefetch and transactions are in
test_stomppy_acks.py, heart-beats in test_stomppy_heartbeat.py.
"""

import os
import random
import time
import unittest

import stomp
import stomp.exception

from stampede_test import FAST_AUTH, hashed
from conformance_support import (BrokerCase, Recorder, StompPyCase, ack, close_quietly, nack,
                                 open_stomppy, start_broker, unique, wait_total)


class MessagingCases(StompPyCase):
    """The cases for every version; subclasses set VERSION."""

    def test_connected_frame_names_version_server_and_session(self):
        _, recorder = self.open()
        frame = recorder.connected[0]
        self.assertEqual(frame.headers.get("version"), self.VERSION)
        self.assertTrue(frame.headers.get("server", "").startswith("stampede/"), frame.headers)
        self.assertTrue(frame.headers.get("session"), frame.headers)

    def test_queue_message_carries_destination_subscription_and_user_headers(self):
        queue = unique("queue", "basic")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "s1")
        self.send(conn, recorder, queue, "hello queue", headers={"x-trace": "abc-123"},
                  content_type="text/plain")
        message = recorder.wait_messages(1)[0]
        self.assertEqual(message.body, "hello queue")
        self.assertEqual(message.headers["destination"], queue)
        self.assertEqual(message.headers["subscription"], "s1")
        self.assertTrue(message.headers["message-id"])
        self.assertEqual(message.headers["x-trace"], "abc-123")
        self.assertEqual(message.headers["content-type"], "text/plain")
        self.assertEqual(message.headers["content-length"], str(len("hello queue")))
        self.assertNotIn("ack", message.headers)  # auto mode: nothing to acknowledge

    def test_queue_delivers_each_message_to_exactly_one_consumer(self):
        queue = unique("queue", "p2p")
        consumers = []
        for n in range(2):
            conn, recorder = self.open()
            self.subscribe(conn, recorder, queue, "c%d" % n)
            consumers.append(recorder)
        producer, precorder = self.open()
        sent = ["m%02d" % i for i in range(20)]
        for body in sent[:-1]:
            producer.send(queue, body)
        self.send(producer, precorder, queue, sent[-1])
        wait_total(consumers, len(sent))
        got = consumers[0].bodies() + consumers[1].bodies()
        self.assertEqual(sorted(got), sent)  # all delivered, none twice
        self.assertTrue(all(r.bodies() for r in consumers),
                        "both consumers should share the queue: %s"
                        % [r.bodies() for r in consumers])
        for recorder in consumers:
            bodies = recorder.bodies()
            self.assertEqual(bodies, sorted(bodies), "each consumer sees queue order")

    def test_topic_fans_out_to_every_subscriber_in_order(self):
        topic = unique("topic", "fanout")
        subscribers = []
        for n in range(3):
            conn, recorder = self.open()
            self.subscribe(conn, recorder, topic, "t%d" % n)
            subscribers.append((n, recorder))
        producer, precorder = self.open()
        sent = ["news %d" % i for i in range(5)]
        for body in sent:
            self.send(producer, precorder, topic, body, headers={"x-seq": body[-1]})
        for n, recorder in subscribers:
            messages = recorder.wait_messages(len(sent))
            self.assertEqual([m.body for m in messages], sent)
            for message in messages:
                self.assertEqual(message.headers["destination"], topic)
                self.assertEqual(message.headers["subscription"], "t%d" % n)
                self.assertEqual(message.headers["x-seq"], message.body[-1])
            ids = [m.headers["message-id"] for m in messages]
            self.assertEqual(len(set(ids)), len(ids), "message-ids are unique: %s" % ids)

    def test_unsubscribed_topic_subscription_receives_nothing(self):
        topic = unique("topic", "unsub")
        conn, recorder = self.open()
        producer, precorder = self.open()
        self.subscribe(conn, recorder, topic, "first")
        conn.unsubscribe(id="first", receipt="unsub")
        recorder.wait_receipt("unsub")
        self.send(producer, precorder, topic, "while unsubscribed")
        self.subscribe(conn, recorder, topic, "second")
        self.send(producer, precorder, topic, "marker")
        marker = recorder.wait_body("marker")
        self.assertEqual(marker.headers["subscription"], "second")
        self.assertEqual(recorder.bodies(), ["marker"])

    def test_a_burst_of_binary_messages_arrives_complete_and_in_order(self):
        queue = unique("queue", "burst")
        randoms = random.Random(20240601)
        bodies = [randoms.randbytes(randoms.randrange(0, 8192)) for _ in range(300)]
        consumer, crecorder = self.open(auto_decode=False)
        self.subscribe(consumer, crecorder, queue, "burst")
        producer, _ = self.open(auto_decode=False)
        for number, body in enumerate(bodies):
            producer.send(queue, body, headers={"x-number": str(number)})
        messages = crecorder.wait_messages(len(bodies), timeout=30)
        self.assertEqual([m.headers["x-number"] for m in messages],
                         [str(n) for n in range(len(bodies))])
        self.assertTrue([m.body for m in messages] == bodies, "bodies differ")

    def test_every_client_frame_gets_its_receipt_in_order(self):
        queue = unique("queue", "receipts")
        conn, recorder = self.open()
        conn.subscribe(queue, id="r", ack=self.individual, receipt="r-subscribe")
        conn.send(queue, "one", receipt="r-send")
        message = recorder.wait_messages(1)[0]
        conn.begin("tx", receipt="r-begin")
        ack(conn, self.VERSION, message, transaction="tx", receipt="r-ack-in-tx")
        conn.commit("tx", receipt="r-commit")
        conn.begin("tx2", receipt="r-begin-2")
        conn.abort("tx2", receipt="r-abort")
        expected = ["r-subscribe", "r-send", "r-begin", "r-ack-in-tx", "r-commit",
                    "r-begin-2", "r-abort"]
        conn.send(queue, "two", receipt="r-send-2")
        expected.append("r-send-2")
        second = recorder.wait_messages(2)[1]
        if self.VERSION == "1.0":
            ack(conn, self.VERSION, second, receipt="r-ack")
            expected.append("r-ack")
        else:
            nack(conn, self.VERSION, second, receipt="r-nack")
            third = recorder.wait_messages(3)[2]
            ack(conn, self.VERSION, third, receipt="r-ack")
            expected += ["r-nack", "r-ack"]
        conn.unsubscribe(id="r", receipt="r-unsubscribe")
        conn.disconnect(receipt="r-disconnect")
        expected += ["r-unsubscribe", "r-disconnect"]
        recorder.wait_receipt("r-disconnect")
        self.assertEqual(recorder.receipts, expected)
        self.assertEqual(recorder.errors, [])

    def test_disconnect_with_receipt_closes_after_the_receipt(self):
        conn, recorder = self.open()
        conn.disconnect(receipt="goodbye")
        recorder.wait_receipt("goodbye")
        recorder.wait_disconnected()
        self.assertFalse(conn.is_connected())
        self.assertEqual(recorder.receipts, ["goodbye"])
        self.assertEqual(recorder.errors, [])

    def test_unicode_body_and_header_round_trip(self):
        queue = unique("queue", "unicode")
        body = "Grüße, 世界! ☃ 🎉 — ünïcödé"
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "u")
        self.send(conn, recorder, queue, body, headers={"x-greeting": "héllo wörld ☃"})
        message = recorder.wait_messages(1)[0]
        self.assertEqual(message.body, body)
        self.assertEqual(message.headers["x-greeting"], "héllo wörld ☃")
        self.assertEqual(message.headers["content-length"], str(len(body.encode("utf-8"))))

    def test_binary_body_with_nuls_round_trips_by_content_length(self):
        queue = unique("queue", "binary")
        body = b"\x00" + bytes(range(256)) * 8 + b"\x00\x00tail\x00"
        conn, recorder = self.open(auto_decode=False)  # keep bodies as bytes
        self.subscribe(conn, recorder, queue, "b")
        self.send(conn, recorder, queue, body, content_type="application/octet-stream")
        message = recorder.wait_messages(1)[0]
        self.assertEqual(message.headers["content-length"], str(len(body)))
        self.assertEqual(message.headers["content-type"], "application/octet-stream")
        self.assertEqual(message.body, body)

    def test_large_random_body_round_trips(self):
        queue = unique("queue", "large")
        body = os.urandom(256 * 1024)
        conn, recorder = self.open(auto_decode=False)
        self.subscribe(conn, recorder, queue, "l")
        self.send(conn, recorder, queue, body)
        message = recorder.wait_messages(1)[0]
        self.assertEqual(len(message.body), len(body))
        self.assertEqual(message.body, body)

    def test_empty_body_round_trips(self):
        queue = unique("queue", "empty")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "e")
        self.send(conn, recorder, queue, "", headers={"x-empty": "body"})
        message = recorder.wait_messages(1)[0]
        self.assertEqual(message.body, "")
        self.assertEqual(message.headers["x-empty"], "body")
        self.assertIn(message.headers.get("content-length"), (None, "0"))

    def test_header_values_with_special_characters_round_trip(self):
        queue = unique("queue", "escape")
        if self.VERSION == "1.0":
            # 1.0 has no escaping: only a colon can travel in a value.
            values = {"x-colon": "a:b:c", "x-url": "http://example.com:8080/x"}
        else:
            values = {"x-colon": "a:b:c",
                      "x-newline": "line 1\nline 2",
                      "x-backslash": "C:\\temp\\new",
                      "x-all": "k:v\\n\n\\c:\\\\",
                      "x-trailing-backslash": "end\\"}
            if self.VERSION == "1.2":
                values["x-cr"] = "carriage\rreturn"
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "e")
        self.send(conn, recorder, queue, "escaped", headers=dict(values))
        message = recorder.wait_messages(1)[0]
        for name, value in values.items():
            self.assertEqual(message.headers.get(name), value, name)

    def test_header_values_are_not_trimmed(self):
        queue = unique("queue", "spaces")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "w")
        self.send(conn, recorder, queue, "spaces", headers={"x-pad": "  padded  ", "x-tab": "\tt"})
        message = recorder.wait_messages(1)[0]
        self.assertEqual(message.headers.get("x-pad"), "  padded  ")
        self.assertEqual(message.headers.get("x-tab"), "\tt")

    def test_error_for_an_unsupported_destination_reaches_the_listener(self):
        conn, recorder = self.open()
        conn.send("/nowhere/special", "lost", receipt="bad-send")
        error = recorder.wait_error()
        self.assertIn("/nowhere/special", error.headers.get("message", ""))
        self.assertEqual(error.headers.get("receipt-id"), "bad-send")
        self.assertTrue(error.body)
        recorder.wait_disconnected()
        self.assertNotIn("bad-send", recorder.receipts)

    def test_error_for_acking_an_unknown_message_reaches_the_listener(self):
        conn, recorder = self.open()
        if self.VERSION == "1.2":
            conn.ack("no-such-ack", receipt="bad-ack")
        elif self.VERSION == "1.1":
            conn.ack("no-such-ack", "no-such-sub", receipt="bad-ack")
        else:
            conn.ack("no-such-ack", receipt="bad-ack")
        error = recorder.wait_error()
        self.assertIn("no-such-ack", error.headers.get("message", ""))
        self.assertEqual(error.headers.get("receipt-id"), "bad-ack")
        recorder.wait_disconnected()

    def test_an_error_on_one_connection_leaves_others_working(self):
        queue = unique("queue", "isolated")
        good, grecorder = self.open()
        self.subscribe(good, grecorder, queue, "g")
        bad, brecorder = self.open()
        bad.send("/bogus", "x")
        brecorder.wait_error()
        brecorder.wait_disconnected()
        self.send(good, grecorder, queue, "still here")
        self.assertEqual(grecorder.wait_messages(1)[0].body, "still here")
        self.assertEqual(grecorder.errors, [])


class Messaging11PlusCases:
    """Cases for what STOMP 1.1 added."""

    def test_ids_receipts_and_destinations_with_special_characters_round_trip(self):
        queue = "/queue/odd:name ünï-%d" % time.monotonic_ns()
        conn, recorder = self.open()
        conn.subscribe(queue, id="sub:with\nnewline", ack="auto", receipt="receipt:1\nx")
        recorder.wait_receipt("receipt:1\nx")
        conn.send(queue, "odd", receipt="send\\back")
        recorder.wait_receipt("send\\back")
        message = recorder.wait_messages(1)[0]
        self.assertEqual(message.headers["destination"], queue)
        self.assertEqual(message.headers["subscription"], "sub:with\nnewline")
        self.assertEqual(recorder.receipts, ["receipt:1\nx", "send\\back"])

    def test_connect_frame_works_as_well_as_stomp(self):
        # stomp.py opens 1.1/1.2 connections with STOMP; ask it for CONNECT.
        queue = unique("queue", "connectcmd")
        conn, recorder = self.open(connect_command=True)
        self.assertEqual(recorder.connected[0].headers.get("version"), self.VERSION)
        self.subscribe(conn, recorder, queue, "c")
        self.send(conn, recorder, queue, "via CONNECT")
        self.assertEqual(recorder.wait_messages(1)[0].body, "via CONNECT")

    def test_an_unknown_host_connects_to_the_only_virtual_host(self):
        # One virtual host: the spec lets a server pick its default.
        conn, recorder = self.unconnected(vhost="no-such-vhost")
        conn.connect(wait=True)
        self.assertTrue(conn.is_connected())
        conn.disconnect()


class StompPy10Test(MessagingCases, unittest.TestCase):
    VERSION = "1.0"

    def test_subscription_without_id_is_named_by_its_destination(self):
        # STOMP 1.0 makes the id optional; stomp.py's Connection10 omits it.
        queue = unique("queue", "noid")
        conn, recorder = self.open()
        conn.subscribe(queue, ack="client", receipt="sub")
        recorder.wait_receipt("sub")
        self.send(conn, recorder, queue, "no id")
        message = recorder.wait_messages(1)[0]
        self.assertEqual(message.headers["subscription"], queue)
        ack(conn, self.VERSION, message, receipt="ack")
        conn.unsubscribe(destination=queue, receipt="unsub")
        recorder.wait_receipt("unsub")
        self.assertEqual(recorder.errors, [])
        self.assertEqual(recorder.receipts[-2:], ["ack", "unsub"])


class StompPy11Test(MessagingCases, Messaging11PlusCases, unittest.TestCase):
    VERSION = "1.1"


class StompPy12Test(MessagingCases, Messaging11PlusCases, unittest.TestCase):
    VERSION = "1.2"

    def test_connection12_with_its_defaults_connects(self):
        """Connection12 without a vhost puts the TCP host it dialled into
        `host` (127.0.0.1 here): that connects to the default virtual host."""
        conn, recorder = self.unconnected(vhost=None)
        conn.connect(wait=True)
        self.assertTrue(conn.is_connected())
        conn.disconnect()


class VirtualHostsAndLoginTest(BrokerCase, unittest.TestCase):
    """stomp.py 1.2 against a broker with two virtual hosts and a user."""

    CONFIG = {"virtual_hosts": ["/", "other"], "users": {"alice": hashed("s3cret")},
              "auth": FAST_AUTH}

    def open(self, vhost="/", login="alice", passcode="s3cret", **kwargs):
        return BrokerCase.open(self, "1.2", vhost=vhost, login=login, passcode=passcode, **kwargs)

    def refused(self, login, passcode):
        conn = stomp.Connection12([("127.0.0.1", self.broker.port)], vhost="/",
                                  reconnect_attempts_max=1)
        self.conns.append(conn)
        recorder = Recorder()
        conn.set_listener("recorder", recorder)
        with self.assertRaises(stomp.exception.ConnectFailedException):
            conn.connect(login, passcode, wait=True)
        error = recorder.wait_error()
        recorder.wait_disconnected()
        return error.headers.get("message", "")

    def test_the_right_login_connects(self):
        _, recorder = self.open()
        self.assertEqual(recorder.connected[0].headers.get("version"), "1.2")

    def test_a_wrong_login_or_passcode_fails_alike(self):
        wrong_passcode = self.refused("alice", "guess")
        wrong_login = self.refused("mallory", "s3cret")
        self.assertIn("authentication failed", wrong_passcode)
        self.assertEqual(wrong_passcode, wrong_login)  # never says which half

    def test_virtual_hosts_have_separate_destinations(self):
        queue = unique("queue", "vhost")
        other, orecorder = self.open(vhost="other")
        other.subscribe(queue, id="o", receipt="sub")
        orecorder.wait_receipt("sub")
        root, rrecorder = self.open(vhost="/")
        root.send(queue, "for the root host", receipt="root-send")
        rrecorder.wait_receipt("root-send")
        other.send(queue, "marker", receipt="other-send")
        orecorder.wait_body("marker")
        self.assertEqual(orecorder.bodies(), ["marker"])


class ShutdownTest(unittest.TestCase):
    """SIGTERM with stomp.py clients of every version connected."""

    def test_every_client_hears_an_error_and_the_broker_exits_cleanly(self):
        broker = start_broker()
        try:
            clients = [open_stomppy(broker.port, version) for version in ("1.0", "1.1", "1.2")]
        finally:
            status = broker.stop()
        self.assertEqual(status, 0, broker.log())
        for conn, recorder in clients:
            recorder.wait_disconnected()
            self.assertEqual(len(recorder.errors), 1)
            self.assertIn("shutting down", recorder.errors[0].headers.get("message", ""))
            close_quietly(conn)


if __name__ == "__main__":
    unittest.main()
