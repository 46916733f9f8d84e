"""The Ruby `stomp` gem (ruby-stomp 1.4.10) against stampede, STOMP 1.0,
1.1 and 1.2.

Each test runs one scenario of stomp_client.rb (which does the STOMP work
with the gem and reports what it saw as JSON) and asserts on the report;
where a scenario leaves a queue behind, a stomp.py consumer checks what is
left in it.
"""

import unittest

from conformance_support import BackgroundScript, BrokerCase, run_script, unhex, unique

RUBY_CONTENT_TYPE = "text/plain; charset=UTF-8"  # the gem adds it to every SEND


class RubyCases(BrokerCase):
    VERSION = None

    def ruby(self, scenario, spec=None):
        return run_script("ruby", self.broker.port, self.VERSION, scenario, spec or {})

    def remaining(self, queue):
        """What a stomp.py consumer finds left on the queue, up to a marker."""
        conn, recorder = self.open()
        conn.subscribe(queue, id="left", receipt="left")
        recorder.wait_receipt("left")
        conn.send(queue, "marker", receipt="marker")
        recorder.wait_body("marker")
        return recorder.bodies()[:-1]

    def test_connect_subscribe_send_receive_on_a_queue_and_a_topic(self):
        queue, topic = unique("queue", "rb"), unique("topic", "rb")
        report = self.ruby("basic", {"queue": queue, "topic": topic})
        self.assertEqual(report["protocol"], self.VERSION)
        self.assertEqual(report["connected"]["command"], "CONNECTED")
        self.assertEqual(report["connected"]["headers"]["version"], self.VERSION)
        q = report["queue_message"]
        self.assertEqual(unhex(q["body_hex"]), b"queue body from ruby")
        self.assertEqual(q["headers"]["destination"], queue)
        self.assertEqual(q["headers"]["subscription"], "rq")
        self.assertEqual(q["headers"]["x-lang"], "ruby")
        self.assertEqual(q["headers"]["content-type"], RUBY_CONTENT_TYPE)
        self.assertEqual(q["headers"]["content-length"], "20")
        for name, sub in (("topic_message", "rt"), ("topic_message_b", "rt2")):
            t = report[name]
            self.assertEqual(unhex(t["body_hex"]), b"topic body from ruby")
            self.assertEqual(t["headers"]["destination"], topic)
            self.assertEqual(t["headers"]["subscription"], sub)
            self.assertEqual(t["headers"]["x-lang"], "ruby")
        self.assertEqual(report["receipts"], ["sub-rq", "sub-rt", "pub-1", "pub-2"])
        self.assertEqual(report["disconnect_receipts"], ["bye-a", "bye-b"])

    def test_client_ack_is_cumulative(self):
        queue = unique("queue", "rbclient")
        report = self.ruby("client_ack", {"queue": queue, "mode": "client",
                                          "expect_redelivered": 1})
        self.assertEqual(report["first"], ["m1", "m2", "m3"])
        self.assertTrue(all(report["ack_headers"]), report["ack_headers"])
        self.assertEqual(report["after"], ["m3", "marker"])
        self.assertEqual(report["redelivered"], ["true", None])
        self.assertEqual(self.remaining(queue), [])

    def test_transaction_commit_and_abort(self):
        queue = unique("queue", "rbtx")
        report = self.ruby("transaction", {"queue": queue})
        self.assertEqual(report["before_commit"], ["marker-1"])
        self.assertEqual(report["bodies"], ["marker-1", "committed", "marker-2"])
        self.assertEqual(report["receipts"],
                         ["begin-1", "pub-1", "commit-1", "begin-2", "abort-2", "pub-2"])
        self.assertEqual(self.remaining(queue), [])

    def test_error_reaches_the_gem_and_the_connection_closes(self):
        report = self.ruby("error")
        error = report["error"]
        self.assertEqual(error["command"], "ERROR")
        self.assertIn("/nowhere/ruby", error["headers"]["message"])
        self.assertEqual(error["headers"]["receipt-id"], "bad")
        self.assertTrue(unhex(error["body_hex"]))
        self.assertTrue(report["closed"])
        self.assertEqual(report["receipts"], [])

    def test_callback_client_with_receipts_and_a_transactional_ack(self):
        queue = unique("queue", "rbcb")
        report = self.ruby("client_api", {"queue": queue})
        self.assertEqual(report["protocol"], self.VERSION)
        self.assertEqual(report["bodies"], ["via client one", "via client two", "after commit"])
        self.assertEqual(len(report["receipts"]), 3)
        self.assertEqual(len(set(report["receipts"])), 3)
        self.assertEqual(report["disconnect_receipt"], "client-bye")
        self.assertEqual(self.remaining(queue), [])  # every message was acknowledged


class Ruby11PlusCases:
    def test_client_individual_ack_settles_only_that_message(self):
        queue = unique("queue", "rbind")
        report = self.ruby("client_ack", {"queue": queue, "mode": "client-individual",
                                          "expect_redelivered": 2})
        self.assertEqual(report["first"], ["m1", "m2", "m3"])
        self.assertEqual(report["after"], ["m1", "m3", "marker"])
        self.assertEqual(report["redelivered"], ["true", "true", None])

    def test_nack_redelivers(self):
        queue = unique("queue", "rbnack")
        report = self.ruby("nack", {"queue": queue})
        first, second = report["deliveries"]
        for delivery in (first, second):
            self.assertEqual(unhex(delivery["body_hex"]), b"refused once")
            self.assertEqual(delivery["headers"]["x-keep"], "yes")
        self.assertNotIn("redelivered", first["headers"])
        self.assertEqual(second["headers"]["redelivered"], "true")
        self.assertEqual(report["receipts"], ["sub-n", "pub-1", "nack-1", "ack-2"])
        self.assertEqual(self.remaining(queue), [])

    def test_an_unknown_host_connects_to_the_only_virtual_host(self):
        report = self.ruby("connect", {"headers": {"host": "no-such-vhost"}})
        self.assertEqual(report["connected"]["command"], "CONNECTED")

    def test_the_gems_heart_beats_keep_a_quiet_connection_alive(self):
        topic = unique("topic", "rbbeat")
        observer, orecorder = self.open()
        observer.subscribe(topic, id="watch", receipt="watching")
        orecorder.wait_receipt("watching")
        # heart-beat:200,0 -> the broker expects a beat every 200 ms and
        # closes after 400 ms of silence; the gem's ticker must keep it open.
        report = self.ruby("heartbeat", {"heart_beat": "200,0", "quiet_seconds": 1.2,
                                         "topic": topic})
        self.assertEqual(report["connected"]["headers"]["heart-beat"], "100,100")
        self.assertGreaterEqual(report["beats_sent"], 3)
        self.assertEqual(report["receipts"], ["pub-1"])
        self.assertEqual(orecorder.wait_messages(1)[0].body, "ruby still alive")


class Ruby10Test(RubyCases, unittest.TestCase):
    VERSION = "1.0"


class Ruby11Test(RubyCases, Ruby11PlusCases, unittest.TestCase):
    VERSION = "1.1"


class Ruby12Test(RubyCases, Ruby11PlusCases, unittest.TestCase):
    VERSION = "1.2"

    def test_topic_message_reaches_a_waiting_gem_subscriber(self):
        topic = unique("topic", "rbwait")
        receiver = BackgroundScript("ruby", self.broker.port, "1.2", "receive",
                                    {"destination": topic})
        try:
            receiver.wait_ready()
            producer, precorder = self.open()
            producer.send(topic, "to the gem", headers={"x-from": "stomp.py"}, receipt="s")
            precorder.wait_receipt("s")
            report = receiver.report()
        finally:
            receiver.kill()
        self.assertEqual(unhex(report["message"]["body_hex"]), b"to the gem")
        self.assertEqual(report["message"]["headers"]["x-from"], "stomp.py")
        self.assertEqual(report["message"]["headers"]["destination"], topic)


if __name__ == "__main__":
    unittest.main()
