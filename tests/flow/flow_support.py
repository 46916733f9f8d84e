"""Load generators for the flow-control tests: fast raw-socket publishers and
subscribers in threads, and readers of the broker's admin endpoint."""

import json
import os
import socket
import threading
import time
import urllib.request

from stampede_test import Broker, Client

# Seconds a publisher runs at full speed against a stalled subscriber. The
# issue asks for a minute; scripts/test.sh --long sets STAMPEDE_LONG_TESTS=1.
FULL_SPEED_SECONDS = 60 if os.environ.get("STAMPEDE_LONG_TESTS") == "1" else 8


def admin_broker(config=None, **kwargs):
    """A Broker with the admin endpoint on a free port."""
    return Broker(config=config, args=["--admin", "127.0.0.1:0"], **kwargs)


def admin_port(broker):
    for line in broker.log().splitlines():
        if "admin listening on 127.0.0.1:" in line:
            return int(line.split("admin listening on 127.0.0.1:")[1].split()[0])
    raise AssertionError("no admin endpoint in the log:\n" + broker.log())


def stats(broker):
    with urllib.request.urlopen("http://127.0.0.1:%d/stats?limit=100000" % admin_port(broker),
                                timeout=10) as response:
        return json.load(response)


def metrics(broker):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % admin_port(broker),
                                timeout=10) as response:
        return response.read().decode()


def destination(snapshot, name):
    for d in snapshot["destinations"]:
        if d["name"] == name:
            return d
    raise AssertionError("no destination %s in %s" % (name, snapshot["destinations"]))


def raw_connection(port, version="1.2", rcvbuf=None):
    """A connected STOMP socket; `rcvbuf` sets SO_RCVBUF before connecting
    (after, a small one would also shrink the window scale for good)."""
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(b"CONNECT\naccept-version:%s\nhost:/\n\n\0" % version.encode())
    data = b""
    while b"\0" not in data:
        data += sock.recv(4096)
    assert data.startswith(b"CONNECTED"), data
    return sock


def subscribe_raw(sock, destination, sub_id="1", ack="auto"):
    """SUBSCRIBE with a receipt; returns what arrived up to and with the
    RECEIPT (a queue's messages may come before it)."""
    sock.sendall(b"SUBSCRIBE\ndestination:%s\nid:%s\nack:%s\nreceipt:sub\n\n\0"
                 % (destination.encode(), sub_id.encode(), ack.encode()))
    data = b""
    while True:
        at = data.find(b"RECEIPT\nreceipt-id:sub\n")
        if at >= 0 and data.find(b"\0", at) >= 0:
            return data
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("closed while subscribing: %r" % data[-300:])
        data += chunk


class Publisher(threading.Thread):
    """Sends SENDs as fast as the socket takes them; bodies carry
    '<publisher>:<sequence>;' padded to `size`. stop() ends it."""

    def __init__(self, port, destination, size=1024, name="p", batch=64, limit=None):
        super().__init__(daemon=True)
        self.sock = raw_connection(port)
        self.destination = destination.encode()
        self.size = size
        self.tag = name.encode()
        self.batch = batch
        self.limit = limit
        self.sent = 0
        self.stopped = threading.Event()
        self.error = None

    def frame(self, sequence):
        body = b"%s:%d;" % (self.tag, sequence)
        body += b"x" * max(0, self.size - len(body))
        return (b"SEND\ndestination:%s\ncontent-length:%d\n\n" % (self.destination, len(body))
                + body + b"\0")

    def run(self):
        try:
            while not self.stopped.is_set() and (self.limit is None or self.sent < self.limit):
                count = self.batch if self.limit is None else min(self.batch, self.limit - self.sent)
                chunk = b"".join(self.frame(self.sent + i) for i in range(count))
                self.sock.sendall(chunk)
                self.sent += count
        except OSError as e:
            self.error = e

    def stop(self):
        self.stopped.set()
        self.join(30)

    def finish_with_receipt(self, timeout=30):
        """After stop(): a SEND with a receipt; all earlier SENDs were read."""
        self.sock.settimeout(timeout)
        self.sock.sendall(b"SEND\ndestination:%s\nreceipt:end\n\nend\0" % self.destination)
        data = b""
        while b"RECEIPT" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("publisher connection closed: %r" % data[-300:])
            data += chunk
        self.sock.close()


class Subscriber(threading.Thread):
    """Reads MESSAGE frames as fast as it can and records the sequence of
    each publisher's bodies (to check completeness and order)."""

    def __init__(self, port, destination, sub_id="1", sock=None):
        """With `sock`, reads an already subscribed connection instead."""
        super().__init__(daemon=True)
        self.pending = b""
        if sock is None:
            sock = raw_connection(port)
            self.pending = subscribe_raw(sock, destination, sub_id)
        self.sock = sock
        self.sequences = {}
        self.out_of_order = 0
        self.count = 0
        self.closed = False
        self.stopped = threading.Event()

    def run(self):
        buffer = self._consume(self.pending)
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                self.closed = True
                break
            buffer += data
            buffer = self._consume(buffer)

    def _consume(self, buffer):
        while True:
            head_end = buffer.find(b"\n\n")
            if head_end < 0:
                return buffer
            head = buffer[:head_end]
            length = None
            for line in head.split(b"\n")[1:]:
                if line.startswith(b"content-length:"):
                    length = int(line[15:])
            start = head_end + 2
            if length is None:
                end = buffer.find(b"\0", start)
                if end < 0:
                    return buffer
            else:
                end = start + length
                if len(buffer) < end + 1:
                    return buffer
            body = buffer[start:end]
            buffer = buffer[end + 1:].lstrip(b"\n")
            if head.startswith(b"MESSAGE"):
                self._record(body)

    def _record(self, body):
        self.count += 1
        tag, _, rest = body.partition(b":")
        sequence = rest.split(b";")[0]
        if not sequence.isdigit():
            return
        sequence = int(sequence)
        last = self.sequences.get(tag, -1)
        if sequence != last + 1:
            self.out_of_order += 1
        self.sequences[tag] = sequence

    def received_from(self, tag):
        return self.sequences.get(tag.encode(), -1) + 1

    def stop(self):
        self.stopped.set()
        self.join(10)
        self.sock.close()


def wait_until(predicate, timeout=30, interval=0.05):
    """True once predicate() holds. A predicate that raises AssertionError (a
    destination not created yet, say) has not held yet."""
    def holds():
        try:
            return predicate()
        except AssertionError:
            return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if holds():
            return True
        time.sleep(interval)
    return holds()


__all__ = ["Broker", "Client", "Publisher", "Subscriber", "admin_broker", "stats", "metrics",
           "destination", "raw_connection", "subscribe_raw", "wait_until", "FULL_SPEED_SECONDS"]
