"""Per-publisher order across schedulers, and /stats and /metrics agreeing
with what was sent."""

import unittest

from flow_support import (Client, Publisher, Subscriber, admin_broker, destination, metrics,
                          stats, wait_until)


class OrderAcrossSchedulersTest(unittest.TestCase):
    def test_every_subscriber_gets_each_publishers_messages_in_order(self):
        # Connections are spread round-robin over the schedulers, so these
        # publishers and subscribers sit on both, as does the topic.
        with admin_broker(schedulers=2) as broker:
            subscribers = [Subscriber(broker.port, "/topic/order", str(i)) for i in range(4)]
            for s in subscribers:
                s.start()
            publishers = [Publisher(broker.port, "/topic/order", size=32, name="p%d" % i,
                                    limit=20000) for i in range(4)]
            for p in publishers:
                p.start()
            for p in publishers:
                p.join(60)
                p.finish_with_receipt()
            for s in subscribers:
                for p in range(4):
                    self.assertTrue(wait_until(lambda: s.received_from("p%d" % p) >= 20000, 60),
                                    "subscriber got %d of p%d" % (s.received_from("p%d" % p), p))
                s.stop()
                self.assertEqual(s.out_of_order, 0)

    def test_a_queue_consumer_gets_each_publishers_messages_in_order(self):
        with admin_broker(schedulers=2) as broker:
            publishers = [Publisher(broker.port, "/queue/order", size=32, name="p%d" % i,
                                    limit=10000) for i in range(3)]
            for p in publishers:
                p.start()
            consumer = Subscriber(broker.port, "/queue/order", "c")
            consumer.start()
            for p in publishers:
                p.join(60)
                p.sock.close()
            for i in range(3):
                self.assertTrue(wait_until(lambda: consumer.received_from("p%d" % i) >= 10000, 60))
            consumer.stop()
            self.assertEqual(consumer.out_of_order, 0)


class StatsTest(unittest.TestCase):
    def test_stats_and_metrics_agree_with_what_was_sent(self):
        with admin_broker() as broker:
            with Client(broker.port) as sub_a, Client(broker.port) as sub_b, \
                    Client(broker.port) as pub:
                for c in (sub_a, sub_b, pub):
                    c.connect()
                sub_a.subscribe("/topic/counted", "a")
                sub_b.subscribe("/topic/counted", "b")
                for i in range(25):
                    pub.send("/topic/counted", "x" * 10)
                for i in range(7):
                    pub.send("/topic/nobody", "y")
                for i in range(5):
                    pub.send("/queue/kept", "z")
                pub.send("/queue/kept", "z", receipt="done")
                pub.send("/topic/counted", "last", receipt="done2")
                for c in (sub_a, sub_b):
                    for _ in range(26):
                        c.expect("MESSAGE")
                snapshot = stats(broker)
                counted = destination(snapshot, "/topic/counted")
                self.assertEqual(counted["messages_in"], 26)
                self.assertEqual(counted["messages_out"], 52)
                self.assertEqual(counted["subscribers"], 2)
                self.assertEqual(destination(snapshot, "/topic/nobody")["dropped"], 7)
                kept = destination(snapshot, "/queue/kept")
                self.assertEqual((kept["messages_in"], kept["depth"]), (6, 6))
                self.assertEqual(snapshot["broker"]["connections"], 3)
                sends = [c["messages_in"] for c in snapshot["connections"]]
                self.assertEqual(sorted(sends), [0, 0, 39])
                text = metrics(broker)
                self.assertIn('stampede_destination_messages_in_total{vhost="/",kind="topic",'
                              'name="/topic/counted"} 26', text)
                self.assertIn('stampede_destination_depth{vhost="/",kind="queue",'
                              'name="/queue/kept"} 6', text)
                self.assertIn("stampede_connections 3", text)

    def test_listings_are_paged_with_totals_never_silently_cut(self):
        with admin_broker() as broker:
            with Client(broker.port) as c:
                c.connect()
                for i in range(30):
                    c.send("/queue/page%02d" % i, "x", receipt="r%d" % i)
                import json
                import urllib.request
                from flow_support import admin_port
                seen = []
                offset = 0
                while offset is not None:
                    url = "http://127.0.0.1:%d/stats?limit=7&offset=%d" % (admin_port(broker), offset)
                    page = json.load(urllib.request.urlopen(url))
                    self.assertLessEqual(len(page["destinations"]), 7)
                    self.assertEqual(page["pages"]["destinations"]["total"], 30)
                    seen += [d["name"] for d in page["destinations"]]
                    offset = page["pages"]["destinations"]["next_offset"]
                self.assertEqual(sorted(seen), ["/queue/page%02d" % i for i in range(30)])


if __name__ == "__main__":
    unittest.main()
