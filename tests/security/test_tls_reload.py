"""SIGHUP reloads the TLS listeners' certificates (issue 11).

A certificate rotated in place (new files at the same paths) is used for
every handshake after the SIGHUP; connections already open keep theirs and
are not dropped, even while they are busy; files that cannot be used keep
the old certificate and the log says why. The barrier after each SIGHUP is
the tls.reloads / tls.reload_failures counter in /stats, never a sleep.
"""

import hashlib
import signal
import threading
import time
import unittest

from stampede_test import Broker, wait_until
from stampede_transports import Pki, TlsClient, listener_port


def fingerprint(client):
    return hashlib.sha256(client.sock.getpeercert(binary_form=True)).hexdigest()


class TlsReloadTest(unittest.TestCase):
    def setUp(self):
        self.pki = Pki()
        self.addCleanup(self.pki.close)
        config = {"listeners": [{"name": "tls", "port": 0, "tls": self.pki.tls_block()}]}
        self.broker = Broker(config=config, admin=True).__enter__()
        self.addCleanup(self.broker.__exit__, None, None, None)
        self.port = listener_port(self.broker, "tls")

    def tls_client(self):
        c = TlsClient(self.port, ca=self.pki.ca)
        self.addCleanup(c.close)
        c.connect()
        return c

    def sighup(self, field):
        before = self.broker.stats()["tls"][field]
        self.broker.process.send_signal(signal.SIGHUP)
        wait_until(lambda: self.broker.stats()["tls"][field] != before,
                   "tls.%s counts the SIGHUP:\n%s" % (field, self.broker.log()))

    def test_a_rotated_certificate_serves_new_handshakes_and_busy_connections_stay(self):
        destination = "/queue/rotate-%d" % time.monotonic_ns()
        subscriber = self.tls_client()
        subscriber.subscribe(destination)
        publisher = self.tls_client()
        old = fingerprint(publisher)

        # The publisher keeps sending, each SEND with a receipt, across the
        # reload: its connection must survive and lose nothing.
        sent = []
        failure = []
        stop = threading.Event()

        def publish():
            try:
                i = 0
                while not stop.is_set() or i < 50:
                    publisher.send(destination, "m%d" % i, receipt="r%d" % i)  # waits for it
                    sent.append(i)
                    i += 1
            except Exception as e:  # reported by the main thread
                failure.append(e)

        thread = threading.Thread(target=publish)
        thread.start()
        try:
            self.pki.issue("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1")
            self.sighup("reloads")
            newcomer = self.tls_client()
            self.assertNotEqual(fingerprint(newcomer), old,
                                "a handshake after the reload got the old certificate")
        finally:
            stop.set()
            thread.join(timeout=120)
        self.assertFalse(thread.is_alive(), "the publisher is stuck")
        self.assertEqual(failure, [], "after %d receipted SENDs" % len(sent))
        self.assertEqual(fingerprint(publisher), old)  # the same session throughout
        bodies = [subscriber.expect("MESSAGE").body for _ in sent]
        self.assertEqual(bodies, [b"m%d" % i for i in sent])
        self.assertIn("reload: listener 'tls'", self.broker.log())

    def test_files_that_cannot_be_used_keep_the_old_certificate(self):
        before = fingerprint(self.tls_client())
        with open(self.pki.cert, "w") as out:
            out.write("not a certificate\n")
        self.sighup("reload_failures")
        self.assertEqual(fingerprint(self.tls_client()), before)
        self.assertIn("kept its old certificate", self.broker.log())
        # Good files again: the next SIGHUP takes them.
        self.pki.issue("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1")
        self.sighup("reloads")
        self.assertNotEqual(fingerprint(self.tls_client()), before)


if __name__ == "__main__":
    unittest.main()
