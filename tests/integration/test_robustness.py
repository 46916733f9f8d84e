"""Robustness: frames split across writes at every offset and byte by byte,
hundreds of frames pipelined in one write, large frames trickled in, rapid
connect/disconnect (clean, abrupt, mid-frame, reset), clients sending
garbage or half-closing; and through all of it a second client that notices
nothing."""

import random
import socket
import struct
import time
import unittest

from integ import BrokerCase, Client, drain_messages, frame, unique


def split_send(c, data, at, pause=0.002):
    """Writes `data` in two writes split at `at`, with a pause between, so
    the broker receives the halves separately."""
    if at > 0:
        c.send_raw(data[:at])
        time.sleep(pause)
    c.send_raw(data[at:])


class SplitFramesTest(BrokerCase):

    def test_a_connect_frame_split_at_every_offset(self):
        data = b"CONNECT\r\naccept-version:1.0,1.2\r\nhost:/\r\nheart-beat:0,0\r\n\r\n\0"
        for at in range(len(data) + 1):
            with self.subTest(at=at):
                c = Client(self.port)
                try:
                    split_send(c, data, at)
                    self.assertEqual(c.expect("CONNECTED").get("version"), "1.2")
                    c.send_frame("BEGIN", {"transaction": "t", "receipt": "r"})
                    c.expect("RECEIPT", {"receipt-id": "r"})
                finally:
                    c.close()
        self.assert_bystander_fine()

    def check_split_frames(self, build, count_messages):
        """Sends build(n) split at every offset on one connection; each must
        give its receipt and its messages, intact."""
        destination = "/queue/" + unique("split")
        sub = self.connected()
        sub.subscribe(destination, headers={"prefetch-count": "10000"})
        c = self.connected()
        sample, expected = build(destination, 0)
        for at in range(len(sample) + 1):
            data, expected = build(destination, at)
            split_send(c, data, at)
            c.expect("RECEIPT", {"receipt-id": "r%d" % at})
            for want in expected:
                message = sub.expect("MESSAGE")
                self.assertEqual(message.body, want["body"], "split at %d" % at)
                for name, value in want["headers"].items():
                    self.assertEqual(message.get(name), value, "split at %d" % at)
        self.expect_marker(sub, destination, publisher=c)  # no extra or duplicate message
        self.assert_bystander_fine()

    def test_a_send_with_content_length_split_at_every_offset(self):
        body = b"nul\0in\0the\0body\r\n"

        def build(destination, n):
            headers = [("destination", destination), ("x-esc", "a:b\\c\nd"),
                       ("receipt", "r%d" % n)]
            return frame("SEND", headers, body), [{"body": body,
                                                    "headers": {"x-esc": "a:b\\c\nd"}}]
        self.check_split_frames(build, 1)

    def test_a_send_without_content_length_split_at_every_offset(self):
        def build(destination, n):
            data = ("SEND\r\ndestination:%s\r\nx-n:%d\r\nreceipt:r%d\r\n\r\nplain body\0"
                    % (destination, n, n)).encode()
            return data, [{"body": b"plain body", "headers": {"x-n": str(n)}}]
        self.check_split_frames(build, 1)

    def test_two_frames_and_heart_beats_split_at_every_offset(self):
        def build(destination, n):
            data = (frame("SEND", {"destination": destination}, "first") + b"\n\r\n" +
                    frame("SEND", {"destination": destination, "receipt": "r%d" % n},
                          "second", content_length=False) + b"\n")
            return data, [{"body": b"first", "headers": {}}, {"body": b"second", "headers": {}}]
        self.check_split_frames(build, 2)

    def test_a_whole_session_byte_by_byte(self):
        destination = "/queue/" + unique("bytewise")
        c = self.client()
        script = (b"CONNECT\naccept-version:1.2\nhost:/\n\n\0\n" +
                  frame("SUBSCRIBE", {"destination": destination, "id": "s",
                                      "ack": "client-individual", "receipt": "sub"}) +
                  frame("SEND", {"destination": destination, "x-h": "v\\w"}, b"a\0b") +
                  b"\r\n" +
                  frame("SEND", {"destination": destination, "receipt": "sent"}, "c",
                        content_length=False))
        for i in range(len(script)):
            c.send_raw(script[i:i + 1])
            time.sleep(0.0005)
        c.expect("CONNECTED")
        frames = [c.read_frame() for _ in range(4)]
        receipts = [f.get("receipt-id") for f in frames if f.command == "RECEIPT"]
        messages = [f for f in frames if f.command == "MESSAGE"]
        self.assertEqual(receipts, ["sub", "sent"])
        self.assertEqual([m.body for m in messages], [b"a\0b", b"c"])
        self.assertEqual(messages[0].get("x-h"), "v\\w")
        tail = frame("ACK", {"id": messages[0].get("ack")}) + frame("DISCONNECT",
                                                                     {"receipt": "bye"})
        for i in range(len(tail)):
            c.send_raw(tail[i:i + 1])
            time.sleep(0.0005)
        c.expect("RECEIPT", {"receipt-id": "bye"})
        c.expect_closed()
        self.assert_bystander_fine()

    def test_a_large_frame_trickled_in_uneven_chunks(self):
        destination = "/topic/" + unique("trickle")
        sub = self.connected()
        sub.subscribe(destination)
        c = self.connected()
        rng = random.Random(7)
        body = bytes(rng.getrandbits(8) for _ in range(1 << 20))
        data = frame("SEND", {"destination": destination, "receipt": "big"}, body)
        at = 0
        while at < len(data):
            step = rng.choice([1, 7, 100, 4095, 4096, 4097, 65536, 200000])
            c.send_raw(data[at:at + step])
            at += step
            if rng.random() < 0.3:
                time.sleep(0.001)
        c.expect("RECEIPT", {"receipt-id": "big"}, timeout=20)
        self.assertEqual(sub.expect("MESSAGE", timeout=10).body, body)
        self.round_trip(c)


class PipelineTest(BrokerCase):

    def test_hundreds_of_frames_in_one_write(self):
        destination = "/queue/" + unique("pipe")
        sub = self.connected()
        sub.subscribe(destination, headers={"prefetch-count": "1000"})
        c = self.connected()
        data = b"".join(frame("SEND", {"destination": destination, "receipt": "r%d" % i,
                                       "x-i": str(i)}, "body %d" % i) for i in range(500))
        c.send_raw(data)
        for i in range(500):
            c.expect("RECEIPT", {"receipt-id": "r%d" % i})
        messages = drain_messages(sub, 500)
        self.assertEqual([m.body for m in messages], [b"body %d" % i for i in range(500)])
        self.assertEqual([m.get("x-i") for m in messages], [str(i) for i in range(500)])

    def test_a_whole_session_in_one_write(self):
        destination = "/queue/" + unique("oneshot")
        c = self.client()
        data = (frame("CONNECT", {"accept-version": "1.2", "host": "/"}) +
                frame("SUBSCRIBE", {"destination": destination, "id": "s"}) +
                b"".join(frame("SEND", {"destination": destination}, "m%d" % i)
                         for i in range(300)) +
                frame("DISCONNECT", {"receipt": "bye"}))
        c.send_raw(data)
        c.expect("CONNECTED")
        frames = []
        while True:
            f = c.read_frame()
            frames.append(f)
            if f.command == "RECEIPT":
                break
        c.expect_closed()
        self.assertEqual(frames[-1].get("receipt-id"), "bye")
        # Whatever reached the subscription before DISCONNECT came out in order,
        # and what did not is still in the queue: together, all 300.
        bodies = [f.body for f in frames[:-1]]
        self.assertTrue(all(f.command == "MESSAGE" for f in frames[:-1]))
        rest = self.connected()
        rest.subscribe(destination, headers={"prefetch-count": "1000"})
        bodies += [m.body for m in drain_messages(rest, 300 - len(bodies))]
        self.assertEqual(sorted(bodies), sorted(b"m%d" % i for i in range(300)))
        self.expect_marker(rest, destination)

    def test_a_thousand_small_frames_in_many_small_writes(self):
        destination = "/topic/" + unique("many")
        sub = self.connected()
        sub.subscribe(destination)
        c = self.connected()
        blob = b"".join(frame("SEND", {"destination": destination}, "%d" % i)
                        for i in range(1000))
        blob += frame("SEND", {"destination": destination, "receipt": "end"}, "end")
        for at in range(0, len(blob), 333):  # boundaries fall anywhere
            c.send_raw(blob[at:at + 333])
        c.expect("RECEIPT", {"receipt-id": "end"})
        bodies = [m.body for m in drain_messages(sub, 1001)]
        self.assertEqual(bodies, [b"%d" % i for i in range(1000)] + [b"end"])


class ChurnTest(BrokerCase):
    admin = True

    def connections_open(self):
        return len(self.broker.stats()["connections"])

    def wait_for_connections(self, count, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connections_open() == count:
                return
            time.sleep(0.05)
        self.assertEqual(self.connections_open(), count)

    def test_hundreds_of_connections_opening_and_closing(self):
        baseline = self.connections_open()
        watch_queue = "/queue/" + unique("churn")
        watcher = self.connected()
        watcher.subscribe(watch_queue, id="w")
        rng = random.Random(11)
        kinds = ["disconnect", "close", "mid-frame", "before-connect", "reset", "subscribed"]
        for i in range(360):
            kind = kinds[i % len(kinds)]
            s = socket.create_connection(("127.0.0.1", self.port))
            try:
                if kind == "before-connect":
                    s.sendall(b"CONNECT\naccept-version:1.2\nho"[:rng.randrange(1, 30)])
                    continue
                s.sendall(frame("CONNECT", {"accept-version": "1.2", "host": "/"}))
                if kind == "disconnect":
                    s.sendall(frame("DISCONNECT", {"receipt": "bye"}))
                elif kind == "mid-frame":
                    whole = frame("SEND", {"destination": watch_queue}, "must not arrive")
                    s.sendall(whole[:rng.randrange(1, len(whole) - 1)])
                elif kind == "reset":
                    s.sendall(frame("SUBSCRIBE", {"destination": watch_queue, "id": "x",
                                                  "ack": "client"}))
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                elif kind == "subscribed":
                    s.sendall(frame("SUBSCRIBE", {"destination": "/topic/" + unique("c"),
                                                  "id": "x"}))
            finally:
                s.close()
            if i % 60 == 0:
                self.assert_bystander_fine()
        self.assert_bystander_fine()
        # No partial frame was taken for a whole one. Once every churned
        # connection is gone (their partial frames dropped with them), a
        # marker must be the watcher's next frame.
        deadline = time.monotonic() + 30
        while self.connections_open() > baseline + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertLessEqual(self.connections_open(), baseline + 1)
        pub = self.connected()
        pub.send(watch_queue, "only this", receipt="r")
        self.assertEqual(watcher.expect("MESSAGE").body, b"only this")
        pub.close()
        watcher.close()
        self.wait_for_connections(baseline)

    def test_hundreds_of_connections_open_at_once_then_gone(self):
        baseline = self.connections_open()
        socks = []
        for i in range(200):
            s = socket.create_connection(("127.0.0.1", self.port))
            s.sendall(frame("CONNECT", {"accept-version": "1.2", "host": "/"}) +
                      frame("SUBSCRIBE", {"destination": "/topic/herd", "id": "h",
                                          "receipt": "r"}))
            socks.append(s)
        for s in socks:
            s.settimeout(10)
            got = b""
            while got.count(b"\0") < 2:
                got += s.recv(4096)
            self.assertTrue(got.startswith(b"CONNECTED"), got)
        self.wait_for_connections(baseline + 200)
        pub = self.connected()
        pub.send("/topic/herd", "to all", receipt="r")
        for s in socks[:20]:
            got = b""
            while b"to all" not in got:
                got += s.recv(4096)
        for i, s in enumerate(socks):
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
        pub.close()
        self.assert_bystander_fine()
        self.wait_for_connections(baseline)


class GarbageTest(BrokerCase):
    # A handshake of another protocol may hold no line end at all: the broker
    # may wait for one until the CONNECT deadline, which is short here.
    config = {"limits": {"connect_timeout_ms": 1000}}

    def garbage_case(self, data, connect_first):
        c = self.connected() if connect_first else self.client()
        c.send_raw(data)
        error = c.expect("ERROR", timeout=3)
        self.assertTrue(error.get("message"), error)
        c.expect_closed()
        return error

    def test_random_garbage_gets_an_error_and_the_close(self):
        rng = random.Random(5)
        for n in range(20):
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 3000)))
            data = data.lstrip(b"\r\n") or b"\xff"
            for connect_first in (False, True):
                with self.subTest(n=n, connected=connect_first):
                    self.garbage_case(data + b"\n\n\0", connect_first)
        self.assert_bystander_fine()

    def test_other_protocols_get_an_error_and_the_close(self):
        cases = {
            "http": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
            "tls": bytes.fromhex("16030100a5010000a10303") + bytes(32) + b"\0\0",
            "amqp": b"AMQP\x00\x00\x09\x01",
            "redis": b"*1\r\n$4\r\nPING\r\n",
        }
        for name, data in cases.items():
            with self.subTest(protocol=name):
                self.garbage_case(data, False)
        self.assert_bystander_fine()

    def test_a_megabyte_without_a_line_end_is_refused_early(self):
        c = self.client()
        try:
            c.send_raw(b"A" * (1 << 20))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the broker may close while we are still writing: fine
        error = c.expect("ERROR")
        self.assertIn("command line", error.get("message"))
        self.assert_bystander_fine()

    def test_nul_bytes_alone_are_skipped_not_frames(self):
        # Lenient by default (strict: false): NULs between frames are skipped
        # like heart-beat EOLs; test_leniency covers the strict refusal.
        c = self.connected()
        c.send_raw(b"\0\0\0\n")
        c.send_raw(frame("BEGIN", {"transaction": "t", "receipt": "after-nuls"}))
        c.expect("RECEIPT", {"receipt-id": "after-nuls"})
        self.assert_bystander_fine()

    def test_a_half_closed_client_still_gets_its_receipts(self):
        destination = "/queue/" + unique("halfclose")
        c = self.connected()
        c.send_raw(frame("SEND", {"destination": destination, "receipt": "r1"}, "one") +
                   frame("SEND", {"destination": destination, "receipt": "r2"}, "two"))
        c.sock.shutdown(socket.SHUT_WR)
        c.expect("RECEIPT", {"receipt-id": "r1"})
        c.expect("RECEIPT", {"receipt-id": "r2"})
        c.expect_closed()
        sub = self.connected()
        sub.subscribe(destination)
        self.assertEqual([m.body for m in drain_messages(sub, 2)], [b"one", b"two"])


if __name__ == "__main__":
    unittest.main()
