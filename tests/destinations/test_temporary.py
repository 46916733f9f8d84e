"""Temporary destinations and reply-to.

RabbitMQ's form: a SEND with reply-to:/temp-queue/NAME has its reply-to
rewritten to a broker-generated name; replies sent there reach the
connection without a SUBSCRIBE (on a subscription named /temp-queue/NAME).
ActiveMQ's form: SUBSCRIBE to /temp-queue/NAME (or /temp-topic/NAME) first;
replies arrive on that subscription. Only the owner may consume; the
destination dies with the connection; what is sent to it afterwards is
dropped and counted (temp.send_to_missing drop) or refused (error)."""

import unittest

from dest_support import DestinationCase, unique


class TemporaryTest(DestinationCase):

    def request(self, requester, responder_sub, responder, reply_to, body="ping"):
        """A request with reply-to from `requester` to a queue the responder
        consumes; returns the request as the responder saw it."""
        self.send(requester, responder_sub, body, {"reply-to": reply_to})
        return responder.expect("MESSAGE")

    def responder(self):
        queue = "/queue/" + unique("service")
        c = self.connected()
        self.subscribe(c, queue)
        return queue, c

    def test_rabbitmq_form_replies_arrive_without_a_subscribe(self):
        service, responder = self.responder()
        requester = self.connected()
        req = self.request(requester, service, responder, "/temp-queue/replies")
        reply_to = req.get("reply-to")
        self.assertTrue(reply_to.startswith("/reply-queue/"), reply_to)
        self.send(responder, reply_to, "pong", {"correlation-id": "1"})
        reply = requester.expect("MESSAGE")
        self.assertEqual((reply.body, reply.get("subscription"), reply.get("correlation-id")),
                         (b"pong", "/temp-queue/replies", "1"))
        self.assertEqual(reply.get("destination"), reply_to)

    def test_the_same_alias_keeps_its_name_on_one_connection(self):
        service, responder = self.responder()
        requester = self.connected()
        first = self.request(requester, service, responder, "/temp-queue/r").get("reply-to")
        second = self.request(requester, service, responder, "/temp-queue/r").get("reply-to")
        other = self.request(requester, service, responder, "/temp-queue/s").get("reply-to")
        self.assertEqual(first, second)
        self.assertNotEqual(first, other)
        stranger = self.connected()
        theirs = self.request(stranger, service, responder, "/temp-queue/r").get("reply-to")
        self.assertNotEqual(first, theirs)

    def test_activemq_form_replies_arrive_on_the_subscription(self):
        service, responder = self.responder()
        requester = self.connected()
        sub = self.subscribe(requester, "/temp-queue/answers")
        req = self.request(requester, service, responder, "/temp-queue/answers")
        self.send(responder, req.get("reply-to"), "pong")
        reply = requester.expect("MESSAGE")
        self.assertEqual((reply.body, reply.get("subscription")), (b"pong", sub))

    def test_a_temporary_topic(self):
        service, responder = self.responder()
        requester = self.connected()
        sub = self.subscribe(requester, "/temp-topic/events")
        req = self.request(requester, service, responder, "/temp-topic/events")
        reply_to = req.get("reply-to")
        self.assertTrue(reply_to.startswith("/remote-temp-topic/"), reply_to)
        self.send(responder, reply_to, "event")
        reply = requester.expect("MESSAGE")
        self.assertEqual((reply.body, reply.get("subscription")), (b"event", sub))

    def test_the_owner_may_send_to_its_own_alias(self):
        c = self.connected()
        sub = self.subscribe(c, "/temp-queue/self")
        self.send(c, "/temp-queue/self", "to myself")
        m = c.expect("MESSAGE")
        self.assertEqual((m.body, m.get("subscription")), (b"to myself", sub))

    def test_another_connection_may_not_consume_it(self):
        service, responder = self.responder()
        requester = self.connected()
        reply_to = self.request(requester, service, responder, "/temp-queue/mine").get("reply-to")
        thief = self.connected()
        thief.send_frame("SUBSCRIBE", {"destination": reply_to, "id": "1"})
        self.assert_error(thief, "another connection")

    def test_a_temporary_queue_dies_with_its_connection(self):
        service, responder = self.responder()
        requester = self.connected()
        reply_to = self.request(requester, service, responder, "/temp-queue/gone").get("reply-to")
        self.assertIsNotNone(self.stats_of(reply_to))
        requester.send_frame("DISCONNECT", {"receipt": "bye"})
        requester.await_frame("RECEIPT", {"receipt-id": "bye"})
        self.wait_for_stats(reply_to, lambda e: e is None, what="the queue gone")
        before = self.broker.stats()["broker"]["temporary_dropped"]
        self.send(responder, reply_to, "too late")  # dropped, with a receipt
        self.wait_for_broker_stat("temporary_dropped", lambda v: v == before + 1)

    def test_an_owner_leaving_while_a_reply_is_in_flight(self):
        # The reply is sent as the owner goes: whichever comes first, the
        # responder gets its receipt and keeps working; nothing is delivered.
        service, responder = self.responder()
        requester = self.connected()
        reply_to = self.request(requester, service, responder, "/temp-queue/inflight").get(
            "reply-to")
        responder.send_frame("SEND", {"destination": reply_to, "receipt": "reply"}, "reply")
        requester.close()
        responder.await_frame("RECEIPT", {"receipt-id": "reply"})
        self.wait_for_stats(reply_to, lambda e: e is None, what="the queue gone")
        # The responder is fine: another request is answered.
        requester2 = self.connected()
        again = self.request(requester2, service, responder, "/temp-queue/inflight")
        self.send(responder, again.get("reply-to"), "answer")
        self.assertEqual(requester2.expect("MESSAGE").body, b"answer")

    def test_a_stranger_may_not_make_a_temporary_name(self):
        c = self.connected()
        self.send(c, "/reply-queue/made-up", "nobody home")  # dropped and counted
        self.assertIsNone(self.stats_of("/reply-queue/made-up"))


class TemporaryLimitsTest(DestinationCase):
    config = {"temp": {"max_per_connection": 2, "send_to_missing": "error",
                       "reply_prefix": "/remote-temp-queue/"}}

    def test_a_connection_has_at_most_max_per_connection(self):
        c = self.connected()
        self.subscribe(c, "/temp-queue/a")
        self.subscribe(c, "/temp-queue/b")
        c.send_frame("SUBSCRIBE", {"destination": "/temp-queue/c", "id": "3"})
        self.assert_error(c, "temporary")

    def test_activemqs_names_and_an_error_for_a_gone_destination(self):
        service = "/queue/" + unique("service")
        responder = self.connected()
        self.subscribe(responder, service)
        requester = self.connected()
        self.send(requester, service, "ping", {"reply-to": "/temp-queue/r"})
        reply_to = responder.expect("MESSAGE").get("reply-to")
        self.assertTrue(reply_to.startswith("/remote-temp-queue/"), reply_to)
        requester.send_frame("DISCONNECT", {"receipt": "bye"})
        requester.await_frame("RECEIPT", {"receipt-id": "bye"})
        self.wait_for_stats(reply_to, lambda e: e is None, what="the queue gone")
        responder.send_frame("SEND", {"destination": reply_to, "receipt": "late"}, "late")
        self.assert_error(responder, "no longer exists")


if __name__ == "__main__":
    unittest.main()
