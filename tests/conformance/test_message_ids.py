"""message-id is a message's identity (issue 15): every delivery of a message
carries the same `message-id`, whatever brought it back (NACK, a consumer
that reconnected, unsubscribed, or whose process died) and whoever receives
it; on STOMP 1.2 the `ack` header is new on every delivery. Idempotent
consumers deduplicate on message-id, as ActiveMQ and JMS let them.

Once per protocol version (1.0, 1.1, 1.2) with every library's defaults:
stomp.py in this process, and consumer processes of stomp.py, the Ruby gem
and Net::Stomp that are killed (SIGKILL) while holding messages and then
started afresh.
"""

import json
import unittest

from conformance_support import (BackgroundScript, BrokerCase, StompPyCase, ack, run_script,
                                 unique)


def ids(messages):
    return [m.headers["message-id"] for m in messages]


class IdCases(StompPyCase):
    """stomp.py in this process; subclasses set VERSION."""

    CONFIG = {"queues": {"max_deliveries": 3}}

    def nack(self, conn, message, **headers):
        if self.VERSION == "1.0":
            # An extension on 1.0 (README: Clients); Connection10 has no nack().
            headers["message-id"] = message.headers["message-id"]
            conn.send_frame("NACK", headers)
        elif self.VERSION == "1.1":
            conn.nack(message.headers["message-id"], message.headers["subscription"], **headers)
        else:
            conn.nack(message.headers["ack"], **headers)

    def check_redelivery(self, first, again):
        """`again` delivers the messages of `first` anew: same ids and bodies."""
        self.assertEqual(ids(again), ids(first))
        self.assertEqual([m.body for m in again], [m.body for m in first])
        for message in again:
            self.assertEqual(message.headers.get("redelivered"), "true", message.headers)
        if self.VERSION == "1.2":
            acks = [m.headers.get("ack") for m in first + again]
            if all(acks):
                self.assertEqual(len(set(acks)), len(acks), "ack ids are per delivery: %s" % acks)

    def remaining(self, queue):
        """What a fresh consumer finds left on the queue, up to a marker."""
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "left")
        self.send(conn, recorder, queue, "marker")
        recorder.wait_body("marker")
        return recorder.bodies()[:-1]

    def test_ids_differ_between_messages(self):
        queue = unique("queue", "ids")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "u")
        for n in range(20):
            conn.send(queue, "m%d" % n)
        self.assertEqual(len(set(ids(recorder.wait_messages(20)))), 20)

    def test_nack_redelivers_the_same_message_id_on_a_queue(self):
        for mode in ("client-individual", "client"):
            with self.subTest(mode=mode):
                queue = unique("queue", "nackid")
                conn, recorder = self.open()
                self.subscribe(conn, recorder, queue, "n", ack_mode=mode)
                self.send(conn, recorder, queue, "one")
                self.send(conn, recorder, queue, "two")
                first = recorder.wait_messages(2)
                # client: cumulative, both come back; client-individual: the one.
                nacked = first if mode == "client" else first[1:]
                self.nack(conn, first[1], receipt="nack")
                recorder.wait_receipt("nack")
                again = recorder.wait_messages(2 + len(nacked))[2:]
                self.check_redelivery(nacked, again)
                ack(conn, self.VERSION, again[-1], receipt="ack")
                recorder.wait_receipt("ack")
                if mode == "client-individual":
                    ack(conn, self.VERSION, first[0], receipt="ack-first")
                    recorder.wait_receipt("ack-first")
                self.disconnect(conn, recorder)
                self.assertEqual(self.remaining(queue), [])

    def test_nack_redelivers_the_same_message_id_on_a_topic(self):
        topic = unique("topic", "nackid")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, topic, "t", ack_mode="client-individual")
        self.send(conn, recorder, topic, "news")
        first = recorder.wait_messages(1)
        self.nack(conn, first[0], receipt="nack")
        recorder.wait_receipt("nack")
        again = recorder.wait_messages(2)[1:]
        self.check_redelivery(first, again)

    def test_a_consumer_that_reconnects_gets_the_same_message_ids(self):
        # client (socket dropped) -> client-individual (DISCONNECT, no ACK) -> auto.
        queue = unique("queue", "reconnect")
        producer, precorder = self.open()
        for body in ("r1", "r2"):
            self.send(producer, precorder, queue, body)
        first, frecorder = self.open()
        self.subscribe(first, frecorder, queue, "a", ack_mode="client")
        held = frecorder.wait_messages(2)
        first.transport.disconnect_socket()
        second, srecorder = self.open()
        self.subscribe(second, srecorder, queue, "b", ack_mode="client-individual")
        again = srecorder.wait_messages(2)
        self.check_redelivery(held, again)
        self.disconnect(second, srecorder)
        third, trecorder = self.open()
        self.subscribe(third, trecorder, queue, "c", ack_mode="auto")
        last = trecorder.wait_messages(2)
        self.assertEqual(ids(last), ids(held))
        self.assertEqual([m.headers.get("redelivered") for m in last], ["true", "true"])
        self.assertNotIn("ack", last[0].headers)  # auto: nothing to acknowledge
        self.disconnect(third, trecorder)
        self.assertEqual(self.remaining(queue), [])

    def test_messages_returned_by_unsubscribe_keep_their_ids(self):
        queue = unique("queue", "unsubid")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "first", ack_mode="client")
        self.send(conn, recorder, queue, "kept")
        held = recorder.wait_messages(1)
        conn.unsubscribe(id="first", receipt="unsub")
        recorder.wait_receipt("unsub")
        self.subscribe(conn, recorder, queue, "second", ack_mode="client")
        self.check_redelivery(held, recorder.wait_messages(2)[1:])

    def test_a_dead_lettered_queue_message_keeps_its_id(self):
        queue = unique("queue", "dlqid")
        dlq = "/queue/DLQ." + queue[len("/queue/"):]
        watcher, wrecorder = self.open()
        self.subscribe(watcher, wrecorder, dlq, "dlq")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "p", ack_mode="client-individual")
        self.send(conn, recorder, queue, "poison")
        for delivery in range(1, 4):  # max_deliveries is 3
            message = recorder.wait_messages(delivery)[-1]
            self.nack(conn, message, receipt="nack-%d" % delivery)
            recorder.wait_receipt("nack-%d" % delivery)
        self.assertEqual(len(set(ids(recorder.messages))), 1)
        dead = wrecorder.wait_body("poison")
        self.assertEqual(dead.headers["message-id"], recorder.messages[0].headers["message-id"])
        self.assertEqual(dead.headers.get("original-destination"), queue)

    def test_a_dead_lettered_topic_message_is_a_copy_that_names_the_original(self):
        # Several subscriptions may dead-letter one topic message: each copy
        # is a message of its own, with original-message-id.
        topic = unique("topic", "dlqid")
        dlq = "/queue/DLQ." + topic[len("/topic/"):]
        watcher, wrecorder = self.open()
        self.subscribe(watcher, wrecorder, dlq, "dlq")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, topic, "t", ack_mode="client-individual")
        self.send(conn, recorder, topic, "topic poison")
        for delivery in range(1, 4):
            message = recorder.wait_messages(delivery)[-1]
            self.nack(conn, message, receipt="nack-%d" % delivery)
            recorder.wait_receipt("nack-%d" % delivery)
        original = recorder.messages[0].headers["message-id"]
        self.assertEqual(set(ids(recorder.messages)), {original})
        dead = wrecorder.wait_body("topic poison")
        self.assertNotEqual(dead.headers["message-id"], original)
        self.assertEqual(dead.headers.get("original-message-id"), original)


class ProcessRestartCases(BrokerCase):
    """A consumer process of each library killed while it holds messages;
    a fresh process (of the same library, then of another) gets them with
    the same ids. Subclasses set VERSION."""

    VERSION = None
    LIBRARIES = ("stomp.py", "ruby", "perl")

    def publish(self, queue, bodies):
        conn, recorder = self.open(self.VERSION)
        for number, body in enumerate(bodies):
            conn.send(queue, body, receipt="p-%d" % number)
            recorder.wait_receipt("p-%d" % number)

    def hold_and_die(self, library, queue, mode, count):
        """Starts a consumer process that takes `count` messages unacknowledged,
        kills it (SIGKILL) and returns what it had received."""
        holder = BackgroundScript(library, self.broker.port, self.VERSION, "hold",
                                  {"queue": queue, "mode": mode, "count": count})
        self.addCleanup(holder.kill)
        holder.wait_ready()
        held = json.loads(holder.lines[-1])["messages"]
        holder.kill()
        return held

    def take(self, library, queue, mode, count):
        return run_script(library, self.broker.port, self.VERSION, "take",
                          {"queue": queue, "mode": mode, "count": count})["messages"]

    def remaining(self, queue):
        conn, recorder = self.open(self.VERSION)
        conn.subscribe(queue, id="left", receipt="left")
        recorder.wait_receipt("left")
        conn.send(queue, "marker", receipt="marker")
        recorder.wait_body("marker")
        return recorder.bodies()[:-1]

    def check_taken_over(self, held, taken):
        self.assertEqual([m["message-id"] for m in taken], [m["message-id"] for m in held])
        self.assertEqual([m["body"] for m in taken], [m["body"] for m in held])
        self.assertEqual([m["redelivered"] for m in held], [None] * len(held))
        self.assertEqual([m["redelivered"] for m in taken], ["true"] * len(taken))
        if self.VERSION == "1.2":
            self.assertTrue(set(m["ack"] for m in taken).isdisjoint(m["ack"] for m in held))

    def test_a_restarted_consumer_process_gets_the_same_message_ids(self):
        for library in self.LIBRARIES:
            for mode in ("client", "client-individual"):
                with self.subTest(library=library, mode=mode):
                    queue = unique("queue", "restart")
                    self.publish(queue, ["%s %s %d" % (library, mode, n) for n in range(3)])
                    held = self.hold_and_die(library, queue, mode, 3)
                    self.check_taken_over(held, self.take(library, queue, mode, 3))
                    self.assertEqual(self.remaining(queue), [])

    def test_another_librarys_process_gets_the_same_message_ids(self):
        for holder, taker in (("ruby", "perl"), ("perl", "stomp.py"), ("stomp.py", "ruby")):
            with self.subTest(holder=holder, taker=taker):
                queue = unique("queue", "handover")
                self.publish(queue, ["from %s" % holder, "to %s" % taker])
                held = self.hold_and_die(holder, queue, "client", 2)
                self.check_taken_over(held, self.take(taker, queue, "auto", 2))
                self.assertEqual(self.remaining(queue), [])


class Ids10Test(IdCases, unittest.TestCase):
    VERSION = "1.0"


class Ids11Test(IdCases, unittest.TestCase):
    VERSION = "1.1"


class Ids12Test(IdCases, unittest.TestCase):
    VERSION = "1.2"


class Restart10Test(ProcessRestartCases, unittest.TestCase):
    VERSION = "1.0"


class Restart11Test(ProcessRestartCases, unittest.TestCase):
    VERSION = "1.1"


class Restart12Test(ProcessRestartCases, unittest.TestCase):
    VERSION = "1.2"


if __name__ == "__main__":
    unittest.main()
