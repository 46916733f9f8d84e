"""Where the journal lives when nothing says (issue 10): data/ under the
broker's working directory, locked against a second broker, said in the log;
and the two ways to run memory only (--data-dir none, "data_dir": null).

Each test runs its brokers in a temporary working directory of its own, so
the default data/ is never the one of the directory ctest runs in.
"""

import os
import shutil
import tempfile
import unittest

from stampede_test import Broker, Client

SMALL = {"journal": {"segment_bytes": 1 << 20}}


class DefaultDataDirectory(unittest.TestCase):

    def setUp(self):
        self.cwd = tempfile.mkdtemp(prefix="stampede-cwd-")
        self.addCleanup(shutil.rmtree, self.cwd, True)
        self.default = os.path.join(os.path.realpath(self.cwd), "data")

    def broker(self, **kwargs):
        kwargs.setdefault("config", SMALL)
        kwargs.setdefault("data_dir", None)  # no flag: the broker's own default
        b = Broker(cwd=self.cwd, admin=False, **kwargs)
        self.addCleanup(b.stop)
        return b

    def client(self, broker):
        c = Client(broker.port)
        self.addCleanup(c.close)
        c.connect()
        return c

    def test_without_a_flag_the_journal_is_data_under_the_working_directory(self):
        first = self.broker().start()
        self.assertIn("data directory %s (journal.sync always)" % self.default, first.log())
        self.assertTrue(os.path.exists(os.path.join(self.default, "LOCK")))
        c = self.client(first)
        c.send("/queue/default-dir", "kept", {"persistent": "true"}, receipt="r")
        c.close()
        self.assertEqual(first.stop(), 0)
        # Started again from the same directory, it finds the message there.
        again = self.broker().start()
        c = self.client(again)
        c.subscribe("/queue/default-dir")
        c.expect_message("kept")

    def test_a_second_broker_in_the_same_directory_refuses_naming_data(self):
        first = self.broker().start()
        second = self.broker()
        with self.assertRaises(RuntimeError) as raised:
            second.start()
        self.assertNotEqual(second.stop(), 0)
        self.assertIn("data directory %s is in use" % self.default, str(raised.exception))
        # The first one still serves, with its journal.
        c = self.client(first)
        c.send("/queue/locked-default", "still", {"persistent": "true"}, receipt="r")
        c.subscribe("/queue/locked-default")
        c.expect_message("still")

    def test_only_acks_of_persistent_messages_wait_for_the_journal(self):
        broker = Broker(cwd=self.cwd, config=SMALL, data_dir=None, admin=True).start()
        self.addCleanup(broker.stop)
        c = self.client(broker)
        c.subscribe("/queue/acks", ack="client-individual")
        tokens = lambda: broker.stats()["journal"]["tokens"]  # noqa: E731
        c.send("/queue/acks", "plain", receipt="s1")
        m = c.await_frame("MESSAGE")
        c.send_frame("ACK", {"id": m.get("ack"), "receipt": "a1"})
        c.await_frame("RECEIPT", {"receipt-id": "a1"})
        self.assertEqual(tokens(), 0)  # neither the SEND nor its ACK touched the journal
        c.send("/queue/acks", "kept", {"persistent": "true"}, receipt="s2")
        m = c.await_frame("MESSAGE")
        c.send_frame("ACK", {"id": m.get("ack"), "receipt": "a2"})
        c.await_frame("RECEIPT", {"receipt-id": "a2"})
        self.assertEqual(tokens(), 2)  # the persistent SEND and its ACK

    def check_memory_only(self, **kwargs):
        first = self.broker(**kwargs).start()
        self.assertIn("no data directory (--data-dir none): memory only", first.log())
        c = self.client(first)
        c.send("/queue/memory-only", "lost", {"persistent": "true"}, receipt="r")
        c.close()
        self.assertEqual(first.stop(), 0)
        self.assertEqual(os.listdir(self.cwd), [])  # no data/ made
        again = self.broker(**kwargs).start()
        c = self.client(again)
        c.subscribe("/queue/memory-only")
        # The marker is the first message on the queue: nothing came back.
        c.send("/queue/memory-only", "marker", receipt="m")
        c.expect_message("marker")

    def test_data_dir_none_is_memory_only_and_makes_no_directory(self):
        self.check_memory_only(data_dir="none")

    def test_data_dir_null_in_the_configuration_is_memory_only(self):
        self.check_memory_only(config=dict(SMALL, data_dir=None))

    def test_an_empty_data_dir_is_refused_naming_the_choice(self):
        b = self.broker(data_dir="")
        with self.assertRaises(RuntimeError) as raised:
            b.start()
        self.assertIn("--data-dir", str(raised.exception))
        self.assertIn("none (memory only)", str(raised.exception))


if __name__ == "__main__":
    unittest.main()
