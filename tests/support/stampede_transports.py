"""TLS and WebSocket clients for the broker's listeners, and test certificates.

Standard library (and the openssl command) only. Each client is a
stampede_test.Client (same send_frame/expect/connect helpers) over another
transport:

    with Broker(config={"listeners": [{"name": "tls", "port": 0, "tls": {...}}]}) as b:
        port = listener_port(b, "tls")
        with TlsClient(port, ca=pki.ca) as c:
            c.connect()

    WebSocketClient(port, path="/ws")           # ws://
    WebSocketClient(port, ssl_context=context)  # wss://
"""

import base64
import hashlib
import os
import re
import select
import socket
import ssl
import struct
import subprocess
import tempfile
import time

from stampede_test import Client, ConnectionClosed


def listener_port(broker, name, timeout=10):
    """The port of listener `name` from the broker's log ("listener 'NAME' (...) on HOST:PORT")."""
    pattern = re.compile(r"listener '" + re.escape(name) + r"' \([^)]*\) on \S*?:(\d+)")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = pattern.search(broker.log())
        if match:
            return int(match.group(1))
        time.sleep(0.01)
    raise AssertionError("listener %r not in the log:\n%s" % (name, broker.log()))


class Pki:
    """A throw-away CA, a server certificate for localhost/127.0.0.1 and a
    client certificate (CN `client_name`), EC P-256, made with openssl."""

    def __init__(self, client_name="alice"):
        self.dir = tempfile.TemporaryDirectory(prefix="stampede-pki-")
        d = self.dir.name
        self.ca = os.path.join(d, "ca.pem")
        self.ca_key = os.path.join(d, "ca.key")
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-days", "2",
                      "-subj", "/CN=stampede test CA")
        self.cert, self.key = self.issue("server", "localhost",
                                         "subjectAltName=DNS:localhost,IP:127.0.0.1")
        self.client_cert, self.client_key = self.issue("client", client_name)

    def issue(self, stem, common_name, extension=None, ca=None, ca_key=None):
        d = self.dir.name
        key = os.path.join(d, stem + ".key")
        csr = os.path.join(d, stem + ".csr")
        cert = os.path.join(d, stem + ".pem")
        self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                      "-keyout", key, "-out", csr, "-subj", "/CN=" + common_name)
        args = ["x509", "-req", "-in", csr, "-CA", ca or self.ca, "-CAkey", ca_key or self.ca_key,
                "-CAcreateserial", "-out", cert, "-days", "2"]
        if extension:
            ext = os.path.join(d, stem + ".ext")
            with open(ext, "w") as out:
                out.write(extension + "\n")
            args += ["-extfile", ext]
        self._openssl(*args)
        return cert, key

    def tls_block(self, verify_client=None):
        block = {"certificate": self.cert, "private_key": self.key}
        if verify_client:
            block.update({"ca": self.ca, "verify_client": verify_client})
        return block

    def client_context(self, with_certificate=False):
        context = ssl.create_default_context(cafile=self.ca)
        if with_certificate:
            context.load_cert_chain(self.client_cert, self.client_key)
        return context

    @staticmethod
    def _openssl(*args):
        subprocess.run(["openssl"] + list(args), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def close(self):
        self.dir.cleanup()


class _Base(Client):
    def _init_state(self):
        self.buffer = b""
        self.version = "1.2"
        self.heartbeats_received = 0
        self.closed = False
        self.stash = []

    def _readable(self, deadline):
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        ready, _, _ = select.select([self.sock], [], [], remaining)
        return bool(ready)

    def _recv(self):
        try:
            return self.sock.recv(1 << 16)
        except (ConnectionResetError, ssl.SSLError):
            return b""


class TlsClient(_Base):
    """STOMP over TLS. `context` defaults to one trusting `ca`."""

    def __init__(self, port, ca=None, context=None, host="127.0.0.1", server_name="localhost",
                 timeout=10):
        self._init_state()
        context = context or ssl.create_default_context(cafile=ca)
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = context.wrap_socket(raw, server_hostname=server_name)

    def _fill(self, deadline):
        if not self._readable(deadline):
            raise TimeoutError("no complete frame within the timeout; have %r" % self.buffer[:200])
        data = self._recv()
        if not data:
            self.closed = True
            raise ConnectionClosed("the broker closed the connection; unparsed: %r"
                                   % self.buffer[:200])
        self.buffer += data


class WebSocketRefused(AssertionError):
    def __init__(self, status, response):
        super().__init__("WebSocket upgrade refused: %s\n%s" % (status, response))
        self.status = status


class WebSocketClient(_Base):
    """STOMP over WebSocket (RFC 6455): each send_raw() is one masked message;
    received messages' payloads are concatenated into the STOMP byte stream."""

    def __init__(self, port, path="/ws", protocols=("v12.stomp", "v11.stomp", "v10.stomp"),
                 origin=None, ssl_context=None, host="127.0.0.1", server_name="localhost",
                 timeout=10):
        self._init_state()
        self.raw = b""  # WebSocket bytes not yet decoded
        self.close_code = None
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ssl_context.wrap_socket(raw, server_hostname=server_name) if ssl_context \
            else raw
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET %s HTTP/1.1" % path, "Host: localhost", "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: " + key,
                 "Sec-WebSocket-Version: 13"]
        if protocols:
            lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
        if origin:
            lines.append("Origin: " + origin)
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.raw:
            if not self._readable(deadline):
                raise TimeoutError("no WebSocket handshake response")
            data = self._recv()
            if not data:
                raise WebSocketRefused(None, self.raw.decode("latin-1"))
            self.raw += data
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        response = head.decode("latin-1")
        status = int(response.split(" ", 2)[1])
        if status != 101:
            raise WebSocketRefused(status, response)
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        headers = {}
        for line in response.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("sec-websocket-accept") != accept:
            raise AssertionError("wrong Sec-WebSocket-Accept in %r" % response)
        self.subprotocol = headers.get("sec-websocket-protocol")

    def _send_message(self, opcode, payload):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send_raw(self, data):
        try:
            data.decode("utf-8")
            self._send_message(0x1, data)
        except UnicodeDecodeError:
            self._send_message(0x2, data)

    def _decode(self):
        """Decodes whole messages in self.raw into self.buffer; False once closed."""
        while len(self.raw) >= 2:
            b0, b1 = self.raw[0], self.raw[1]
            if b1 & 0x80:
                raise AssertionError("the server masked a frame")
            n, at = b1 & 0x7F, 2
            if n == 126:
                if len(self.raw) < 4:
                    return True
                n, at = struct.unpack("!H", self.raw[2:4])[0], 4
            elif n == 127:
                if len(self.raw) < 10:
                    return True
                n, at = struct.unpack("!Q", self.raw[2:10])[0], 10
            if len(self.raw) < at + n:
                return True
            payload, self.raw = self.raw[at:at + n], self.raw[at + n:]
            opcode = b0 & 0x0F
            if opcode in (0x0, 0x1, 0x2):
                self.buffer += payload
            elif opcode == 0x8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 \
                    else 1005
                return False
            elif opcode == 0x9:
                self._send_message(0xA, payload)
        return True

    def _fill(self, deadline):
        before = len(self.buffer)
        while len(self.buffer) == before:
            if self.closed:
                raise ConnectionClosed("the broker closed the connection (WebSocket close %s); "
                                       "unparsed: %r" % (self.close_code, self.buffer[:200]))
            if not self._readable(deadline):
                raise TimeoutError("no complete frame within the timeout; have %r"
                                   % self.buffer[:200])
            data = self._recv()
            self.raw += data
            if not data or not self._decode():
                self.closed = True
