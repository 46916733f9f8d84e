"""stomp.py 8.0 against stampede, once per protocol version (1.0, 1.1, 1.2):
ack modes (auto, client, client-individual), NACK and dead-lettering,
redelivery, prefetch and transactions.

ACK and NACK go through stomp.py's per-version signatures (see
conformance_support.ack); frames are only hand-made where the library has
no API for them (NACK on 1.0). Whether something was settled is checked by
a later consumer and a marker message, not by waiting; the prefetch cases
by a second consumer that must get what the first may not hold.
"""

import unittest

from conformance_support import StompPyCase, ack, nack, unique


class AckCases(StompPyCase):
    """The cases for every version; subclasses set VERSION."""

    def test_auto_ack_consumes_the_message(self):
        queue = unique("queue", "auto")
        producer, precorder = self.open()
        self.send(producer, precorder, queue, "once")
        first, frecorder = self.open()
        self.subscribe(first, frecorder, queue, "a")
        self.assertEqual(frecorder.wait_messages(1)[0].body, "once")
        self.disconnect(first, frecorder)
        second, srecorder = self.open()
        self.subscribe(second, srecorder, queue, "b")
        self.send(producer, precorder, queue, "marker")
        srecorder.wait_body("marker")
        self.assertEqual(srecorder.bodies(), ["marker"])

    def test_client_ack_is_cumulative(self):
        queue = unique("queue", "client")
        producer, precorder = self.open()
        for body in ("m1", "m2", "m3"):
            self.send(producer, precorder, queue, body)
        consumer, crecorder = self.open()
        self.subscribe(consumer, crecorder, queue, "c", ack_mode="client")
        messages = crecorder.wait_messages(3)
        self.assertEqual([m.body for m in messages], ["m1", "m2", "m3"])
        if self.VERSION == "1.2":
            for message in messages:
                self.assertTrue(message.headers.get("ack"), message.headers)
        ack(consumer, self.VERSION, messages[1], receipt="ack-m2")  # covers m1 too
        crecorder.wait_receipt("ack-m2")
        self.disconnect(consumer, crecorder)  # m3 was never acknowledged
        other, orecorder = self.open()
        self.subscribe(other, orecorder, queue, "o")
        again = orecorder.wait_body("m3")
        self.assertEqual(again.headers.get("redelivered"), "true")
        self.send(producer, precorder, queue, "marker")
        orecorder.wait_body("marker")
        self.assertEqual(orecorder.bodies(), ["m3", "marker"])

    def test_client_ack_is_cumulative_within_its_own_subscription_only(self):
        first_queue, second_queue = unique("queue", "cumA"), unique("queue", "cumB")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, first_queue, "A", ack_mode="client")
        self.subscribe(conn, recorder, second_queue, "B", ack_mode="client")
        self.send(conn, recorder, first_queue, "for A")
        recorder.wait_messages(1)
        self.send(conn, recorder, second_queue, "for B")
        for_b = recorder.wait_messages(2)[1]
        ack(conn, self.VERSION, for_b, receipt="ack-b")  # later than "for A", other subscription
        recorder.wait_receipt("ack-b")
        self.disconnect(conn, recorder)
        other, orecorder = self.open()
        self.subscribe(other, orecorder, first_queue, "a")
        self.subscribe(other, orecorder, second_queue, "b")
        self.send(other, orecorder, first_queue, "marker A")
        self.send(other, orecorder, second_queue, "marker B")
        orecorder.wait_body("marker A")
        orecorder.wait_body("marker B")
        self.assertEqual(sorted(orecorder.bodies()), ["for A", "marker A", "marker B"])

    def test_unacked_messages_go_to_another_consumer_when_a_connection_drops(self):
        queue = unique("queue", "drop")
        producer, precorder = self.open()
        self.send(producer, precorder, queue, "orphan", headers={"x-keep": "me"})
        consumer, crecorder = self.open()
        self.subscribe(consumer, crecorder, queue, "c", ack_mode="client")
        self.assertEqual(crecorder.wait_messages(1)[0].body, "orphan")
        other, orecorder = self.open()
        self.subscribe(other, orecorder, queue, "o")
        consumer.transport.disconnect_socket()  # no DISCONNECT: the socket just goes
        again = orecorder.wait_body("orphan")
        self.assertEqual(again.headers.get("redelivered"), "true")
        self.assertEqual(again.headers.get("x-keep"), "me")

    def test_unsubscribe_returns_unacknowledged_queue_messages(self):
        queue = unique("queue", "unsubq")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "first", ack_mode="client")
        self.send(conn, recorder, queue, "held")
        recorder.wait_messages(1)
        conn.unsubscribe(id="first", receipt="unsub")
        recorder.wait_receipt("unsub")
        other, orecorder = self.open()
        self.subscribe(other, orecorder, queue, "other")
        again = orecorder.wait_body("held")
        self.assertEqual(again.headers.get("redelivered"), "true")

    def check_prefetch(self, header):
        queue = unique("queue", "prefetch")
        producer, precorder = self.open()
        for i in range(5):
            self.send(producer, precorder, queue, "p%d" % i)
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "pf", ack_mode=self.individual, **{header: "2"})
        recorder.wait_messages(2)
        # Barrier: a second consumer gets the three the first may not hold.
        # (Had the queue handed them to the first on its SUBSCRIBE, before
        # the second's, none would be left for it.)
        other, orecorder = self.open()
        self.subscribe(other, orecorder, queue, "other")
        orecorder.wait_messages(3)
        self.assertEqual(orecorder.bodies(), ["p2", "p3", "p4"])
        self.disconnect(other, orecorder)
        self.assertEqual(recorder.bodies(), ["p0", "p1"])
        # Each ACK makes room for exactly one more.
        for i in range(5, 8):
            self.send(producer, precorder, queue, "p%d" % i)
        for have in range(2, 5):
            message = recorder.messages[have - 2]
            ack(conn, self.VERSION, message, receipt="ack-%d" % have)
            recorder.wait_receipt("ack-%d" % have)
            recorder.wait_messages(have + 1)
        self.assertEqual(recorder.bodies(), ["p0", "p1", "p5", "p6", "p7"])

    def test_prefetch_count_limits_unacknowledged_deliveries(self):
        self.check_prefetch("prefetch-count")

    def test_activemq_prefetch_size_limits_unacknowledged_deliveries(self):
        self.check_prefetch("activemq.prefetchSize")

    def test_transaction_commit_delivers_sends_at_commit(self):
        queue = unique("queue", "commit")
        consumer, crecorder = self.open()
        self.subscribe(consumer, crecorder, queue, "c")
        producer, precorder = self.open()
        producer.begin("tx-1", receipt="begin")
        precorder.wait_receipt("begin")
        producer.send(queue, "t1", transaction="tx-1")
        producer.send(queue, "t2", transaction="tx-1")
        self.send(producer, precorder, queue, "marker")  # outside the transaction
        crecorder.wait_body("marker")
        self.assertEqual(crecorder.bodies(), ["marker"])
        producer.commit("tx-1", receipt="commit")
        precorder.wait_receipt("commit")
        crecorder.wait_messages(3)
        self.assertEqual(crecorder.bodies(), ["marker", "t1", "t2"])
        for message in crecorder.messages:
            self.assertNotIn("transaction", message.headers)

    def test_transaction_abort_discards_sends(self):
        queue = unique("queue", "abort")
        consumer, crecorder = self.open()
        self.subscribe(consumer, crecorder, queue, "c")
        producer, precorder = self.open()
        producer.begin("tx-a", receipt="begin")
        producer.send(queue, "discarded", transaction="tx-a")
        producer.abort("tx-a", receipt="abort")
        precorder.wait_receipt("abort")
        self.send(producer, precorder, queue, "marker-1")
        self.send(producer, precorder, queue, "marker-2")
        crecorder.wait_body("marker-2")
        self.assertEqual(crecorder.bodies(), ["marker-1", "marker-2"])

    def test_transactional_ack_applies_at_commit_and_not_after_abort(self):
        queue = unique("queue", "txack")
        producer, precorder = self.open()
        self.send(producer, precorder, queue, "work")
        first, frecorder = self.open()
        self.subscribe(first, frecorder, queue, "f", ack_mode=self.individual)
        message = frecorder.wait_messages(1)[0]
        first.begin("tx-ack-1", receipt="begin-1")
        ack(first, self.VERSION, message, transaction="tx-ack-1")
        first.abort("tx-ack-1", receipt="abort-1")
        frecorder.wait_receipt("abort-1")
        self.disconnect(first, frecorder)  # the aborted ACK left it unacknowledged
        second, srecorder = self.open()
        self.subscribe(second, srecorder, queue, "s", ack_mode=self.individual)
        again = srecorder.wait_body("work")
        self.assertEqual(again.headers.get("redelivered"), "true")
        second.begin("tx-ack-2")
        ack(second, self.VERSION, again, transaction="tx-ack-2")
        second.commit("tx-ack-2", receipt="commit-2")
        srecorder.wait_receipt("commit-2")
        self.disconnect(second, srecorder)
        third, trecorder = self.open()
        self.subscribe(third, trecorder, queue, "t")
        self.send(producer, precorder, queue, "marker")
        trecorder.wait_body("marker")
        self.assertEqual(trecorder.bodies(), ["marker"])
        self.assertEqual(frecorder.errors + srecorder.errors, [])

    def test_transaction_open_at_disconnect_is_discarded(self):
        queue = unique("queue", "txlost")
        producer, precorder = self.open()
        producer.begin("left-open", receipt="begin")
        producer.send(queue, "never", transaction="left-open", receipt="buffered")
        precorder.wait_receipt("buffered")  # a SEND in a transaction is receipted at once
        self.disconnect(producer, precorder)
        consumer, crecorder = self.open()
        self.subscribe(consumer, crecorder, queue, "c")
        self.send(consumer, crecorder, queue, "marker")
        crecorder.wait_body("marker")
        self.assertEqual(crecorder.bodies(), ["marker"])


class Ack11PlusCases:
    """Cases for what STOMP 1.1 added."""

    def test_client_individual_ack_settles_only_that_message(self):
        queue = unique("queue", "individual")
        producer, precorder = self.open()
        for body in ("m1", "m2", "m3"):
            self.send(producer, precorder, queue, body)
        consumer, crecorder = self.open()
        self.subscribe(consumer, crecorder, queue, "c", ack_mode="client-individual")
        messages = crecorder.wait_messages(3)
        ack(consumer, self.VERSION, messages[1], receipt="ack-m2")
        crecorder.wait_receipt("ack-m2")
        self.disconnect(consumer, crecorder)
        other, orecorder = self.open()
        self.subscribe(other, orecorder, queue, "o")
        orecorder.wait_messages(2)
        self.send(producer, precorder, queue, "marker")
        orecorder.wait_body("marker")
        self.assertEqual(orecorder.bodies(), ["m1", "m3", "marker"])
        for message in orecorder.messages[:2]:
            self.assertEqual(message.headers.get("redelivered"), "true", message.headers)

    def test_nack_redelivers_with_redelivered_header(self):
        queue = unique("queue", "nack")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "n", ack_mode="client-individual")
        self.send(conn, recorder, queue, "try again", headers={"x-attempt": "kept"})
        first = recorder.wait_messages(1)[0]
        self.assertNotIn("redelivered", first.headers)
        nack(conn, self.VERSION, first, receipt="nack-1")
        recorder.wait_receipt("nack-1")
        second = recorder.wait_messages(2)[1]
        self.assertEqual(second.body, "try again")
        self.assertEqual(second.headers.get("redelivered"), "true")
        self.assertEqual(second.headers.get("x-attempt"), "kept")
        # The same message: the same message-id (idempotent consumers rely on it).
        self.assertEqual(second.headers["message-id"], first.headers["message-id"])
        ack(conn, self.VERSION, second, receipt="ack-2")
        recorder.wait_receipt("ack-2")
        self.disconnect(conn, recorder)
        other, orecorder = self.open()
        self.subscribe(other, orecorder, queue, "o")
        self.send(other, orecorder, queue, "marker")
        orecorder.wait_body("marker")
        self.assertEqual(orecorder.bodies(), ["marker"])

    def test_nack_in_client_mode_is_cumulative(self):
        queue = unique("queue", "nackc")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "n", ack_mode="client")
        self.send(conn, recorder, queue, "m1")
        self.send(conn, recorder, queue, "m2")
        first_two = recorder.wait_messages(2)
        nack(conn, self.VERSION, first_two[1], receipt="nack")
        recorder.wait_receipt("nack")
        again = recorder.wait_messages(4)[2:]
        self.assertEqual([m.body for m in again], ["m1", "m2"])
        self.assertEqual([m.headers.get("redelivered") for m in again], ["true", "true"])

    def test_nack_past_max_deliveries_moves_the_message_to_the_dead_letter_queue(self):
        queue = unique("queue", "poison")
        dlq = "/queue/DLQ." + queue[len("/queue/"):]
        watcher, wrecorder = self.open()
        self.subscribe(watcher, wrecorder, dlq, "dlq")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "p", ack_mode="client-individual")
        self.send(conn, recorder, queue, "poison", headers={"x-origin": "stomp.py"})
        for delivery in range(1, 4):  # queues.max_deliveries is 3
            message = recorder.wait_messages(delivery)[-1]
            self.assertEqual(message.body, "poison")
            nack(conn, self.VERSION, message, receipt="nack-%d" % delivery)
            recorder.wait_receipt("nack-%d" % delivery)
        dead = wrecorder.wait_body("poison")
        self.assertEqual(dead.headers["destination"], dlq)
        self.assertEqual(dead.headers.get("original-destination"), queue)
        self.assertEqual(dead.headers.get("x-origin"), "stomp.py")
        self.send(conn, recorder, queue, "marker")
        recorder.wait_body("marker")
        self.assertEqual(recorder.bodies(), ["poison"] * 3 + ["marker"])

    def test_topic_client_individual_nack_redelivers_then_dead_letters(self):
        topic = unique("topic", "tnack")
        dlq = "/queue/DLQ." + topic[len("/topic/"):]
        watcher, wrecorder = self.open()
        self.subscribe(watcher, wrecorder, dlq, "dlq")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, topic, "t", ack_mode="client-individual")
        self.send(conn, recorder, topic, "topic poison")
        for delivery in range(1, 4):  # queues.max_deliveries applies to topics too
            message = recorder.wait_messages(delivery)[-1]
            self.assertEqual(message.body, "topic poison")
            self.assertEqual(message.headers.get("redelivered"),
                             None if delivery == 1 else "true")
            nack(conn, self.VERSION, message, receipt="tn-%d" % delivery)
            recorder.wait_receipt("tn-%d" % delivery)
        dead = wrecorder.wait_body("topic poison")
        self.assertEqual(dead.headers.get("original-destination"), topic)
        self.send(conn, recorder, topic, "marker")
        recorder.wait_body("marker")
        self.assertEqual(recorder.bodies(), ["topic poison"] * 3 + ["marker"])

    def test_nack_in_a_transaction_applies_at_commit_only(self):
        queue = unique("queue", "nacktx")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "n", ack_mode="client-individual")
        self.send(conn, recorder, queue, "refuse later")
        first = recorder.wait_messages(1)[0]
        conn.begin("nack-abort")
        nack(conn, self.VERSION, first, transaction="nack-abort")
        conn.abort("nack-abort", receipt="aborted")
        recorder.wait_receipt("aborted")
        # Still awaiting acknowledgement: a NACK of the same delivery commits.
        conn.begin("nack-commit")
        nack(conn, self.VERSION, first, transaction="nack-commit")
        conn.commit("nack-commit", receipt="committed")
        recorder.wait_receipt("committed")
        second = recorder.wait_messages(2)[1]
        self.assertEqual(second.body, "refuse later")
        self.assertEqual(second.headers.get("redelivered"), "true")
        ack(conn, self.VERSION, second)
        self.send(conn, recorder, queue, "marker")
        recorder.wait_body("marker")
        self.assertEqual(recorder.bodies(), ["refuse later", "refuse later", "marker"])
        self.assertEqual(recorder.errors, [])


class StompPy10Test(AckCases, unittest.TestCase):
    VERSION = "1.0"

    def test_client_individual_is_accepted_on_stomp_1_0(self):
        # Not STOMP 1.0: an extension, as RabbitMQ has it (README: Clients).
        queue = unique("queue", "ci10")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "x", ack_mode="client-individual")
        self.send(conn, recorder, queue, "one")
        self.send(conn, recorder, queue, "two")
        messages = recorder.wait_messages(2)
        conn.ack(messages[1].headers["message-id"], receipt="ack-two")
        recorder.wait_receipt("ack-two")
        self.assertEqual(recorder.errors, [])

    def test_nack_is_accepted_on_stomp_1_0(self):
        queue = unique("queue", "nack10")
        conn, recorder = self.open()
        self.subscribe(conn, recorder, queue, "n", ack_mode="client")
        self.send(conn, recorder, queue, "m")
        message = recorder.wait_messages(1)[0]
        # Connection10 has no nack(): send the frame through the library.
        conn.send_frame("NACK", {"message-id": message.headers["message-id"],
                                 "receipt": "nack"})
        recorder.wait_receipt("nack")
        again = recorder.wait_messages(2)[1]
        self.assertEqual(again.headers.get("redelivered"), "true")
        self.assertEqual(again.headers["message-id"], message.headers["message-id"])


class StompPy11Test(AckCases, Ack11PlusCases, unittest.TestCase):
    VERSION = "1.1"


class StompPy12Test(AckCases, Ack11PlusCases, unittest.TestCase):
    VERSION = "1.2"


if __name__ == "__main__":
    unittest.main()
