"""Durable topic subscriptions (issue 10) in ActiveMQ's form (client-id on
CONNECT, activemq.subscriptionName on SUBSCRIBE) and RabbitMQ's (durable:true,
auto-delete:false, the id as the name): what is published while the
subscriber is away waits for it, across restarts; UNSUBSCRIBE with the name
removes it."""

import unittest

from durability_support import DurabilityCase, check_body

ACTIVEMQ = {"activemq.subscriptionName": "audit"}
RABBITMQ = {"durable": "true", "auto-delete": "false"}

class DurableSubscriptions(DurabilityCase):

    def subscribe(self, form, ack="client-individual"):
        if form == "activemq":
            c = self.client(headers={"client-id": "auditor"})
            c.subscribe("/topic/events", id="s", ack=ack, headers=ACTIVEMQ)
        else:
            c = self.client()
            c.subscribe("/topic/events", id="audit", ack=ack, headers=RABBITMQ)
        return c

    def unsubscribe(self, form, c):
        if form == "activemq":
            c.send_frame("UNSUBSCRIBE", dict(ACTIVEMQ, id="s", receipt="u"))
        else:
            c.send_frame("UNSUBSCRIBE", {"id": "audit", "durable": "true", "receipt": "u"})
        c.await_frame("RECEIPT", {"receipt-id": "u"})

    def check_kept_across_restart(self, form, crash):
        self.data.start()
        self.subscribe(form).disconnect()
        p = self.client()
        self.send_persistent(p, "/topic/events", range(1, 11))
        self.data.restart(crash=crash)
        c = self.subscribe(form)
        frames = self.receive(c, 10)
        self.assertEqual([check_body(f.body) for f in frames], list(range(1, 11)))
        self.assertEqual({f.get("destination") for f in frames}, {"/topic/events"})
        for f in frames:
            c.send_frame("ACK", {"id": f.get("ack")})
        c.send_frame("DISCONNECT", {"receipt": "bye"})
        c.await_frame("RECEIPT", {"receipt-id": "bye"})
        # Acknowledged: gone after another restart; the subscription stays.
        self.data.restart(crash=True)
        c = self.subscribe(form)
        p = self.client()
        self.send_persistent(p, "/topic/events", [11])
        self.assertEqual(check_body(c.await_frame("MESSAGE").body), 11)

    def test_activemq_form_across_a_graceful_restart(self):
        self.check_kept_across_restart("activemq", crash=False)

    def test_activemq_form_across_sigkill(self):
        self.check_kept_across_restart("activemq", crash=True)

    def test_rabbitmq_form_across_a_graceful_restart(self):
        self.check_kept_across_restart("rabbitmq", crash=False)

    def test_rabbitmq_form_across_sigkill(self):
        self.check_kept_across_restart("rabbitmq", crash=True)

    def check_unsubscribe_removes_it(self, form):
        self.data.start()
        c = self.subscribe(form)
        p = self.client()
        self.send_persistent(p, "/topic/events", [1])
        self.assertEqual(check_body(c.await_frame("MESSAGE").body), 1)  # not acknowledged
        self.unsubscribe(form, c)
        self.send_persistent(p, "/topic/events", [2])  # nobody keeps this one
        self.data.restart(crash=True)
        c = self.subscribe(form)
        p = self.client()
        self.send_persistent(p, "/topic/events", [3])
        # A fresh subscription: neither 1 (removed with it) nor 2 (sent while none existed).
        self.assertEqual(check_body(c.await_frame("MESSAGE").body), 3)

    def test_activemq_unsubscribe_with_the_name_removes_it(self):
        self.check_unsubscribe_removes_it("activemq")

    def test_rabbitmq_unsubscribe_with_durable_removes_it(self):
        self.check_unsubscribe_removes_it("rabbitmq")

    def test_a_plain_unsubscribe_keeps_it(self):
        self.data.start()
        c = self.subscribe("rabbitmq")
        c.send_frame("UNSUBSCRIBE", {"id": "audit", "receipt": "u"})
        c.await_frame("RECEIPT", {"receipt-id": "u"})
        p = self.client()
        self.send_persistent(p, "/topic/events", [1])
        self.data.restart(crash=True)
        c = self.subscribe("rabbitmq")
        self.assertEqual(check_body(c.await_frame("MESSAGE").body), 1)

    def test_activemq_form_needs_a_client_id(self):
        self.data.start()
        c = self.client()
        c.send_frame("SUBSCRIBE", dict(ACTIVEMQ, destination="/topic/events", id="s"))
        c.expect_error("client-id")

    def test_a_selector_is_kept(self):
        self.data.start()
        c = self.client()
        c.subscribe("/topic/events", id="audit", ack="auto",
                    headers=dict(RABBITMQ, selector="kind = 'keep'"))
        c.disconnect()
        p = self.client()
        self.send_persistent(p, "/topic/events", [1], {"kind": "drop"})
        self.send_persistent(p, "/topic/events", [2], {"kind": "keep"})
        self.data.restart(crash=True)
        p = self.client()
        self.send_persistent(p, "/topic/events", [3], {"kind": "drop"})
        self.send_persistent(p, "/topic/events", [4], {"kind": "keep"})
        c = self.client()
        c.subscribe("/topic/events", id="audit", headers=dict(RABBITMQ, selector="kind = 'keep'"))
        self.assertEqual([check_body(f.body) for f in self.receive(c, 2)], [2, 4])


if __name__ == "__main__":
    unittest.main()
