"""Every error path of the broker (session_frames.cpp, the parser's error
codes, the timers), STOMP12.md item 22 and DESIGN.md "Inputs that are
wrong": each ERROR's `message` says what was wrong, it carries `receipt-id`
when the failing frame asked for a receipt (and only then), the connection
closes, what the connection did before the bad frame stands, and a
bystander connection open alongside notices nothing."""

import unittest

from integ import BrokerCase, frame, unique

MAX_SUBSCRIPTIONS = 3
MAX_TRANSACTIONS = 2
MAX_FRAMES_PER_TRANSACTION = 2


class ErrorTest(BrokerCase):
    config = {
        "limits": {"max_subscriptions": MAX_SUBSCRIPTIONS, "max_transactions": MAX_TRANSACTIONS,
                   "max_frames_per_transaction": MAX_FRAMES_PER_TRANSACTION,
                   "connect_timeout_ms": 300},
        "queues": {"max_length": 2, "overflow": "reject-publish"},
    }

    def open_session(self, version="1.2"):
        """A connected client and its session id."""
        c = self.client()
        c.send_frame("CONNECT", {"accept-version": version, "host": "/"})
        connected = c.expect("CONNECTED")
        c.version = connected.get("version")
        return c, connected.get("session")

    def check_case(self, c, data, texts, receipt_id):
        self.assert_bystander_fine()
        c.send_raw(data)
        error = self.assert_error(c, *texts, receipt_id=receipt_id)
        self.assertEqual(error.get("content-type"), "text/plain")
        self.assertTrue(error.body, "the ERROR explains itself in its body too")
        self.assert_bystander_fine()
        return error

    def frame_cases(self, cases, version="1.2", prepare=None):
        """Each case: (command, headers, body, texts). Run with and without a receipt."""
        for command, headers, body, texts in cases:
            for with_receipt in (True, False):
                with self.subTest(command=command, headers=headers, receipt=with_receipt):
                    c, session = self.open_session(version)
                    extra = prepare(c, session) if prepare else {}
                    h = [(n, v.replace("SESSION", session).format(**extra))
                         for n, v in headers]
                    if with_receipt:
                        h.append(("receipt", "rcpt-" + command))
                    self.check_case(c, frame(command, h, body, version=version), texts,
                                    "rcpt-" + command if with_receipt else None)

    # ---- before and around CONNECT ----

    def test_a_first_frame_other_than_connect(self):
        for command in ("SEND", "SUBSCRIBE", "BEGIN", "ACK", "DISCONNECT", "MESSAGE"):
            with self.subTest(command=command):
                c = self.client()
                h = {"destination": "/queue/x", "id": "1", "receipt": "r"}
                self.check_case(c, frame(command, h), ["first frame", "CONNECT", command], "r")

    def test_a_second_connect(self):
        self.frame_cases([("CONNECT", [("accept-version", "1.2"), ("host", "/")], b"",
                           ["already connected"]),
                          ("STOMP", [("accept-version", "1.2"), ("host", "/")], b"",
                           ["already connected"])])

    def test_frames_only_a_server_sends(self):
        self.frame_cases([
            ("CONNECTED", [("version", "1.2")], b"", ["CONNECTED", "server frame"]),
            ("MESSAGE", [("destination", "/queue/x"), ("message-id", "1")], b"body",
             ["MESSAGE", "server frame"]),
            ("RECEIPT", [("receipt-id", "1")], b"", ["RECEIPT", "server frame"]),
            ("ERROR", [("message", "oops")], b"body", ["ERROR", "server frame"]),
        ])

    def test_connect_refusals(self):
        cases = [
            ([("accept-version", "9.9"), ("host", "/")], ["version"]),
            # An unknown host is refused only with several virtual hosts and no
            # default (test_connect.VirtualHostTest); this broker has one.
            ([("accept-version", "1.2"), ("host", "/"), ("heart-beat", "a,b")], ["heart-beat"]),
        ]
        for headers, texts in cases:
            with self.subTest(headers=headers):
                c = self.client()
                self.check_case(c, frame("CONNECT", headers), texts, None)

    def test_no_connect_within_the_connect_timeout(self):
        import time
        c = self.client()
        start = time.monotonic()
        error = c.expect("ERROR", timeout=5)
        elapsed = time.monotonic() - start
        self.assertIn("CONNECT", error.get("message"))
        self.assertIn("300 ms", error.get("message"))
        self.assertTrue(0.28 <= elapsed <= 1.5, elapsed)
        c.expect_closed()
        self.assert_bystander_fine()

    # ---- SEND ----

    def test_send_errors(self):
        self.frame_cases([
            ("SEND", [], b"b", ["SEND", "destination"]),
            ("SEND", [("destination", "/elsewhere/x")], b"b", ["/elsewhere/x", "/queue/"]),
            ("SEND", [("destination", "/queue/")], b"b", ["'/queue/'", "not supported"]),
            ("SEND", [("destination", "/topic/")], b"b", ["'/topic/'", "not supported"]),
            ("SEND", [("destination", "queue/x")], b"b", ["queue/x", "not supported"]),
            ("SEND", [("destination", "")], b"b", ["destination", "not supported"]),
            ("SEND", [("destination", "/queue/x"), ("transaction", "ghost")], b"b",
             ["ghost", "not open"]),
        ])

    def test_a_send_to_a_full_queue(self):
        destination = "/queue/" + unique("full")
        filler = self.connected()
        filler.send(destination, "1", receipt="1")
        filler.send(destination, "2", receipt="2")
        for with_receipt in (True, False):
            with self.subTest(receipt=with_receipt):
                c, _ = self.open_session()
                h = {"destination": destination}
                if with_receipt:
                    h["receipt"] = "full"
                self.check_case(c, frame("SEND", h, "3"), [destination, "full"],
                                "full" if with_receipt else None)

    def test_too_many_frames_in_a_transaction(self):
        def prepare(c, session):
            c.send_frame("BEGIN", {"transaction": "t"})
            for i in range(MAX_FRAMES_PER_TRANSACTION):
                c.send_frame("SEND", {"destination": "/queue/" + unique("tx"),
                                      "transaction": "t"}, "x")
            return {}
        self.frame_cases([("SEND", [("destination", "/queue/x"), ("transaction", "t")], b"x",
                           ["transaction", "'t'", "limit", str(MAX_FRAMES_PER_TRANSACTION)])],
                         prepare=prepare)

    # ---- SUBSCRIBE / UNSUBSCRIBE ----

    def test_subscribe_errors(self):
        self.frame_cases([
            ("SUBSCRIBE", [("id", "1")], b"", ["SUBSCRIBE", "destination"]),
            ("SUBSCRIBE", [("destination", "/queue/x")], b"", ["SUBSCRIBE", "'id'"]),
            ("SUBSCRIBE", [("destination", "/dev/null"), ("id", "1")], b"",
             ["/dev/null", "not supported"]),
            ("SUBSCRIBE", [("destination", "/queue/x"), ("id", "1"), ("ack", "Auto")], b"",
             ["ack mode", "Auto"]),
            ("SUBSCRIBE", [("destination", "/queue/x"), ("id", "1"), ("ack", "none")], b"",
             ["ack mode", "none"]),
            ("SUBSCRIBE", [("destination", "/queue/x"), ("id", "1"),
                           ("prefetch-count", "lots")], b"", ["prefetch", "lots"]),
            ("SUBSCRIBE", [("destination", "/queue/x"), ("id", "1"),
                           ("prefetch-count", "-1")], b"", ["prefetch", "-1"]),
            ("SUBSCRIBE", [("destination", "/queue/x"), ("id", "1"),
                           ("activemq.prefetchSize", "1.5")], b"", ["prefetch", "1.5"]),
        ])

    def test_a_subscription_id_used_twice(self):
        def prepare(c, session):
            c.subscribe("/queue/" + unique("dup"), id="taken")
            return {}
        self.frame_cases([("SUBSCRIBE", [("destination", "/topic/other"), ("id", "taken")],
                           b"", ["'taken'", "already in use"])], prepare=prepare)

    def test_too_many_subscriptions(self):
        def prepare(c, session):
            for i in range(MAX_SUBSCRIPTIONS):
                c.subscribe("/topic/" + unique("many"), id="s%d" % i)
            return {}
        self.frame_cases([("SUBSCRIBE", [("destination", "/topic/one-more"), ("id", "extra")],
                           b"", ["subscriptions", "limit", str(MAX_SUBSCRIPTIONS)])],
                         prepare=prepare)

    def test_unsubscribe_errors(self):
        self.frame_cases([
            ("UNSUBSCRIBE", [], b"", ["UNSUBSCRIBE", "'id'"]),
            ("UNSUBSCRIBE", [("id", "ghost")], b"", ["ghost", "does not exist"]),
        ])

    def test_1_0_and_1_1_subscription_errors(self):
        self.frame_cases([
            ("SUBSCRIBE", [("destination", "/queue/x"), ("ack", "bogus")], b"",
             ["ack mode", "'bogus'", "auto, client or client-individual"]),
            ("UNSUBSCRIBE", [("destination", "/queue/never")], b"", ["/queue/never"]),
        ], version="1.0")
        self.frame_cases([("SUBSCRIBE", [("destination", "/queue/x")], b"", ["'id'"])],
                         version="1.1")

    # ---- ACK / NACK ----

    def held_message(self, c, session):
        """Gives `c` one unacked client-mode delivery: {ack} and {message_id}."""
        destination = "/queue/" + unique("held")
        c.subscribe(destination, id="h", ack="client")
        c.send(destination, "held", receipt=unique("h"))
        message = c.await_frame("MESSAGE")
        return {"ack": message.get("ack"), "message_id": message.get("message-id")}

    def test_ack_and_nack_errors(self):
        for command in ("ACK", "NACK"):
            self.frame_cases([
                (command, [], b"", [command, "'id'"]),
                (command, [("id", "garbage")], b"", [command, "garbage", "not awaiting"]),
                (command, [("id", "SESSION-77777")], b"",
                 [command, "-77777", "not awaiting"]),
                (command, [("id", "{ack}"), ("transaction", "ghost")], b"",
                 [command, "ghost", "not open"]),
            ], prepare=self.held_message)

    def test_an_ack_of_a_message_already_settled(self):
        def prepare(c, session):
            held = self.held_message(c, session)
            c.send_frame("ACK", {"id": held["ack"], "receipt": "first"})
            c.expect("RECEIPT", {"receipt-id": "first"})
            return held
        self.frame_cases([("ACK", [("id", "{ack}")], b"", ["ACK", "not awaiting"]),
                          ("NACK", [("id", "{ack}")], b"", ["NACK", "not awaiting"])],
                         prepare=prepare)

    def test_1_1_and_1_0_ack_errors(self):
        self.frame_cases([("ACK", [("id", "{ack}")], b"", ["ACK", "'message-id'"])],
                         version="1.1", prepare=self.held_message)
        # NACK is accepted on 1.0 (an extension); naming no pending message is the error.
        self.frame_cases([("NACK", [("message-id", "no-such-id")], b"",
                           ["NACK", "no-such-id", "not awaiting"])],
                         version="1.0", prepare=self.held_message)

    def test_too_many_frames_in_a_transaction_of_acks(self):
        def prepare(c, session):
            held = self.held_message(c, session)
            c.send_frame("BEGIN", {"transaction": "t"})
            for _ in range(MAX_FRAMES_PER_TRANSACTION):
                c.send_frame("NACK", {"id": held["ack"], "transaction": "t"})
            return held
        self.frame_cases([("ACK", [("id", "{ack}"), ("transaction", "t")], b"",
                           ["transaction", "'t'", "limit"])], prepare=prepare)

    # ---- BEGIN / COMMIT / ABORT ----

    def test_transaction_frame_errors(self):
        self.frame_cases([
            ("BEGIN", [], b"", ["BEGIN", "'transaction'"]),
            ("COMMIT", [], b"", ["COMMIT", "'transaction'"]),
            ("ABORT", [], b"", ["ABORT", "'transaction'"]),
            ("COMMIT", [("transaction", "ghost")], b"", ["COMMIT", "ghost", "not open"]),
            ("ABORT", [("transaction", "ghost")], b"", ["ABORT", "ghost", "not open"]),
        ])

    def test_a_transaction_begun_twice(self):
        def prepare(c, session):
            c.send_frame("BEGIN", {"transaction": "twice"})
            return {}
        self.frame_cases([("BEGIN", [("transaction", "twice")], b"",
                           ["'twice'", "already open"])], prepare=prepare)

    def test_too_many_open_transactions(self):
        def prepare(c, session):
            for i in range(MAX_TRANSACTIONS):
                c.send_frame("BEGIN", {"transaction": "t%d" % i})
            return {}
        self.frame_cases([("BEGIN", [("transaction", "extra")], b"",
                           ["transactions", "limit", str(MAX_TRANSACTIONS)])], prepare=prepare)

    def test_a_commit_of_a_stale_ack(self):
        def prepare(c, session):
            held = self.held_message(c, session)
            c.send_frame("BEGIN", {"transaction": "t"})
            c.send_frame("ACK", {"id": held["ack"], "transaction": "t"})
            c.send_frame("ACK", {"id": held["ack"]})
            return held
        self.frame_cases([("COMMIT", [("transaction", "t")], b"",
                           ["COMMIT", "'t'", "ACK", "not awaiting"])], prepare=prepare)

    # ---- what the parser refuses (no receipt can be known) ----

    def test_frames_the_parser_refuses(self):
        cases = [
            (b"X" * 2000 + b"\n\n\0", ["command line"]),
            (b"SNED\ndestination:/queue/x\n\n\0", ["unknown command"]),
            (b"SEND\ndestination/queue/x\nreceipt:r\n\n\0", ["malformed header"]),
            (b"SEND\n:value\nreceipt:r\n\n\0", ["malformed header"]),
            (b"SEND\ndestination:/queue/x\nx:" + b"v" * 11000 + b"\n\n\0", ["header line"]),
            (b"SEND\n" + b"".join(b"h%d:v\n" % i for i in range(1001)) + b"\n\0",
             ["number of headers"]),
            (b"SEND\ndestination:/queue/x\nx:a\\qb\nreceipt:r\n\n\0", ["escape"]),
            (b"SEND\ndestination:/queue/x\ncontent-length:99999999\n\n", ["frame size"]),
            (b"SEND\ndestination:/queue/x\ncontent-length:ten\n\nbody\0", ["content-length"]),
            (b"SEND\ndestination:/queue/x\ncontent-length:2\n\nbody\0", ["NUL"]),
            (b"BEGIN\ntransaction:t\nreceipt:r\n\nbody\0", ["body not allowed"]),
            (b"SEND\rdestination:/queue/x\n\n\0", ["end of line"]),
        ]
        for data, texts in cases:
            with self.subTest(data=data[:60]):
                c, _ = self.open_session()
                self.check_case(c, data, texts, None)

    # ---- what the connection did before the bad frame stands ----

    def test_frames_before_the_bad_one_take_effect_frames_after_do_not(self):
        queue = "/queue/" + unique("before-after")
        sub = self.connected()
        sub.subscribe(queue)
        c, _ = self.open_session()
        c.send_raw(frame("SEND", {"destination": queue}, "before 1") +
                   frame("SEND", {"destination": queue}, "before 2") +
                   frame("SEND", {"destination": "/nowhere", "receipt": "bad"}, "bad") +
                   frame("SEND", {"destination": queue}, "after"))
        self.assert_error(c, "/nowhere", receipt_id="bad")
        self.assertEqual([sub.expect("MESSAGE").body for _ in range(2)],
                         [b"before 1", b"before 2"])
        self.expect_marker(sub, queue, publisher=sub)  # not "after"
        self.assert_bystander_fine()

    def test_an_error_leaves_other_connections_subscriptions_and_messages_alone(self):
        queue = "/queue/" + unique("alone")
        topic = "/topic/" + unique("alone")
        watcher = self.connected()
        watcher.subscribe(queue, id="q", ack="client-individual")
        watcher.subscribe(topic, id="t")
        pub = self.connected()
        pub.send(queue, "held by the watcher", receipt="1")
        held = watcher.expect("MESSAGE")
        for _ in range(5):
            c, _ = self.open_session()
            c.subscribe(queue, id="mine", ack="client")
            c.subscribe(topic, id="mine-t")
            c.send_frame("UNSUBSCRIBE", {"id": "nope", "receipt": "u"})
            self.assert_error(c, "nope", receipt_id="u")
        pub.send(topic, "topic still flows", receipt="2")
        self.assertEqual(watcher.expect("MESSAGE").body, b"topic still flows")
        watcher.send_frame("ACK", {"id": held.get("ack"), "receipt": "a"})
        watcher.expect("RECEIPT", {"receipt-id": "a"})
        pub.send(queue, "queue still flows", receipt="3")
        self.assertEqual(watcher.expect("MESSAGE").body, b"queue still flows")


if __name__ == "__main__":
    unittest.main()
