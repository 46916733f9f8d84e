"""The broker's life: SIGTERM (and SIGINT) with connections open closes each
with ERROR "the broker is shutting down", after whatever was queued for it,
and the broker exits 0 promptly, even when a client has stopped reading;
the command line's flags and a bad configuration."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from integ import Broker, Client, frame, unique
from stampede_test import STAMPEDE_BIN, STAMPEDE_IO


class ShutdownTest(unittest.TestCase):

    def start(self, config=None):
        broker = Broker(config=config, admin=False)
        broker.start()
        self.addCleanup(self.cleanup, broker)
        return broker

    @staticmethod
    def cleanup(broker):
        if broker.process.poll() is None:
            broker.process.kill()
            broker.process.wait()
        broker.stop()  # releases its config file and log pipe

    def stop_timed(self, broker, sig=signal.SIGTERM, timeout=15):
        start = time.monotonic()
        broker.process.send_signal(sig)
        status = broker.process.wait(timeout)
        return status, time.monotonic() - start

    def test_sigterm_closes_every_connection_with_an_error_and_exits_0_promptly(self):
        broker = self.start()
        clients = []
        for i in range(10):  # connected, idle
            c = Client(broker.port)
            c.connect()
            clients.append(("idle", c))
        for i in range(5):  # subscribed to a topic
            c = Client(broker.port)
            c.connect()
            c.subscribe("/topic/shutdown", id="t")
            clients.append(("topic", c))
        queue = "/queue/" + unique("shutdown")
        pub = Client(broker.port)
        pub.connect()
        for i in range(5):
            pub.send(queue, "m%d" % i, receipt="r%d" % i)
        for i in range(5):  # holding an unacked queue message
            c = Client(broker.port)
            c.connect()
            c.subscribe(queue, id="q", ack="client", headers={"prefetch-count": "1"})
            c.expect("MESSAGE")
            clients.append(("unacked", c))
        for i in range(5):  # in the middle of a frame
            c = Client(broker.port)
            c.connect("1.1")
            c.send_raw(b"SEND\ndestination:/queue/x\n")
            clients.append(("mid-frame", c))
        clients.append(("publisher", pub))
        before_connect = [socket.create_connection(("127.0.0.1", broker.port)) for _ in range(3)]
        time.sleep(0.1)  # let the broker accept the last sockets
        status, elapsed = self.stop_timed(broker)
        self.assertEqual(status, 0, broker.log()[-3000:])
        self.assertLess(elapsed, 3.0, "exit took %.2f s with every client responsive" % elapsed)
        for kind, c in clients:
            with self.subTest(kind=kind):
                error = c.expect("ERROR", timeout=2)
                self.assertIn("shutting down", error.get("message"))
                c.expect_closed(2)
                c.close()
        for s in before_connect:
            s.settimeout(2)
            data = b""
            while True:  # an ERROR or nothing, then the close
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.assertTrue(data == b"" or data.startswith(b"ERROR"), data)
            s.close()
        with self.assertRaises(OSError):  # nothing listens any more
            socket.create_connection(("127.0.0.1", broker.port), timeout=1).close()

    def test_what_was_queued_for_a_client_comes_before_the_shutdown_error(self):
        broker = self.start()
        sub = Client(broker.port)
        sub.connect()
        sub.subscribe("/topic/backlog", id="s")
        pub = Client(broker.port)
        pub.connect()
        # 500 KB: under the 75% of outbound.max_bytes (1 MiB) where flow control
        # would begin, so nothing is held back or dropped.
        body = "x" * 1000
        blob = frame("SEND", {"destination": "/topic/backlog"}, body) * 500
        pub.send_raw(blob)
        pub.send("/topic/backlog", "last", receipt="r")  # all 501 handed to the subscriber
        # The subscriber reads while the broker stops: 500 KB is more than the
        # kernel holds (outbound.socket_send_buffer is 256 KiB), so the broker
        # must go on writing the backlog during shutdown, then the ERROR.
        broker.process.send_signal(signal.SIGTERM)
        count = 0
        while True:
            f = sub.read_frame(5)
            if f.command == "ERROR":
                self.assertIn("shutting down", f.get("message"))
                break
            self.assertEqual(f.command, "MESSAGE")
            count += 1
        self.assertEqual(count, 501)
        sub.expect_closed()
        self.assertEqual(broker.process.wait(15), 0)
        sub.close()
        pub.close()

    def test_a_client_that_stopped_reading_does_not_hold_up_the_exit(self):
        broker = self.start({"shutdown_timeout_ms": 500})
        stuck = socket.create_connection(("127.0.0.1", broker.port))
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.sendall(frame("CONNECT", {"accept-version": "1.2", "host": "/"}) +
                      frame("SUBSCRIBE", {"destination": "/topic/flood", "id": "s",
                                          "receipt": "r"}))
        time.sleep(0.1)
        pub = Client(broker.port)
        pub.connect()
        chunk = frame("SEND", {"destination": "/topic/flood"}, "f" * 60000) * 20
        for _ in range(20):  # 24 MB the stuck client never reads
            pub.send_raw(chunk)
        pub.send("/topic/flood", "end", receipt="e")
        healthy = Client(broker.port)
        healthy.connect()
        status, elapsed = self.stop_timed(broker)
        self.assertEqual(status, 0, broker.log()[-3000:])
        self.assertLess(elapsed, 4.0, "a stuck client held the exit up for %.2f s" % elapsed)
        error = healthy.expect("ERROR", timeout=2)
        self.assertIn("shutting down", error.get("message"))
        for c in (pub, healthy):
            c.close()
        stuck.close()

    def test_sigint_stops_the_broker_like_sigterm(self):
        broker = self.start()
        c = Client(broker.port)
        c.connect()
        status, elapsed = self.stop_timed(broker, signal.SIGINT)
        self.assertEqual(status, 0)
        self.assertIn("shutting down", c.expect("ERROR", timeout=2).get("message"))
        c.close()

    def test_an_idle_broker_exits_0_at_once(self):
        broker = self.start()
        status, elapsed = self.stop_timed(broker)
        self.assertEqual(status, 0)
        self.assertLess(elapsed, 1.5)


class CommandLineTest(unittest.TestCase):

    def run_broker(self, *args, timeout=10):
        # Memory only: a start that gets as far as the journal must not lock
        # the default data/ of the working directory other suites share.
        return subprocess.run([STAMPEDE_BIN] + list(args) + ["--data-dir", "none"],
                              capture_output=True, text=True, timeout=timeout)

    def test_version_prints_the_version_and_exits_0(self):
        result = self.run_broker("--version")
        self.assertEqual(result.returncode, 0)
        self.assertRegex(result.stdout, r"^stampede \S+")

    def test_help_lists_every_flag_and_exits_0(self):
        result = self.run_broker("--help")
        self.assertEqual(result.returncode, 0)
        for flag in ("--config", "--listen", "--schedulers", "--io", "--stack-size",
                     "--log-level", "--admin", "--help", "--version"):
            self.assertIn(flag, result.stdout)

    def test_an_unknown_flag_is_named_and_exits_2(self):
        result = self.run_broker("--frobnicate")
        self.assertEqual(result.returncode, 2)
        self.assertIn("--frobnicate", result.stderr)

    def test_bad_flag_values_are_named(self):
        for args, named in ((["--io", "carrier-pigeon"], "--io"),
                            (["--stack-size", "1K"], "--stack-size"),
                            (["--schedulers", "many"], "--schedulers"),
                            (["--listen", "nowhere"], "listen"),
                            (["--log-level", "loud"], "log_level")):
            with self.subTest(args=args):
                result = self.run_broker(*args)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(named, result.stderr)

    def test_a_bad_configuration_names_the_key(self):
        cases = [({"limits": {"max_frame": "big"}}, "limits.max_frame"),
                 ({"queues": {"overflow": "explode"}}, "queues.overflow"),
                 ({"no_such_key": 1}, "no_such_key"),
                 ({"virtual_hosts": []}, "virtual_hosts")]
        for config, named in cases:
            with self.subTest(config=config):
                handle, path = tempfile.mkstemp(suffix=".json")
                with os.fdopen(handle, "w") as out:
                    json.dump(config, out)
                try:
                    result = self.run_broker("--config", path, "--listen", "127.0.0.1:0")
                finally:
                    os.unlink(path)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(named, result.stderr)

    def test_a_port_in_use_stops_start_up(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = self.run_broker("--listen", "127.0.0.1:%d" % port, "--admin", "off",
                                     "--io", STAMPEDE_IO)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(str(port), result.stderr)

    def test_a_small_stack_size_flag_serves(self):
        with Broker(args=["--stack-size", "32K"], admin=False) as broker:
            c = Client(broker.port)
            c.connect()
            c.subscribe("/queue/small-stack")
            c.send("/queue/small-stack", "fits", receipt="r")
            self.assertEqual(c.await_frame("MESSAGE").body, b"fits")
            c.close()


if __name__ == "__main__":
    unittest.main()
