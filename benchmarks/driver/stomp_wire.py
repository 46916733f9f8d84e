"""A small asyncio STOMP 1.2 client: just what the load driver needs, fast.

Frames are parsed with bytes.find over one receive buffer; header values are
kept as they arrived (still escaped), which is what an ACK must echo back and
is harmless for the few values the driver reads (numbers and ids).
"""

import asyncio
import base64
import os
import socket
import ssl
import struct

NUL = 0


class ProtocolError(Exception):
    pass


class FrameParser:
    """Turns received bytes into (command, headers, body) tuples.

    feed() returns every frame completed by the new bytes; a partial frame
    stays buffered. EOLs between frames (heart-beats) are skipped.
    """

    def __init__(self):
        self._buf = bytearray()

    def feed(self, data):
        buf = self._buf
        buf += data
        frames = []
        pos = 0
        end = len(buf)
        while pos < end:
            # Heart-beats and the optional EOLs after a frame's NUL.
            c = buf[pos]
            if c == 10 or c == 13:
                pos += 1
                continue
            head_end = buf.find(b"\n\n", pos)
            crlf_end = buf.find(b"\n\r\n", pos)
            if crlf_end != -1 and (head_end == -1 or crlf_end < head_end):
                head_end, body_start = crlf_end, crlf_end + 3
            elif head_end != -1:
                body_start = head_end + 2
            else:
                break
            lines = bytes(buf[pos:head_end]).split(b"\n")
            command = lines[0].rstrip(b"\r")
            headers = {}
            for line in lines[1:]:
                colon = line.find(b":")
                if colon <= 0:
                    continue
                name = line[:colon]
                # Repeated header: the first value wins (STOMP 1.2).
                if name not in headers:
                    headers[name] = line[colon + 1:].rstrip(b"\r")
            length = headers.get(b"content-length")
            if length is not None:
                body_end = body_start + int(length)
                if body_end >= end:
                    break
                if buf[body_end] != NUL:
                    raise ProtocolError("frame body not followed by NUL")
            else:
                body_end = buf.find(b"\0", body_start)
                if body_end == -1:
                    break
            frames.append((command, headers, bytes(buf[body_start:body_end])))
            pos = body_end + 1
        if pos:
            del buf[:pos]
        return frames


def encode_frame(command, headers, body=b""):
    """Serializes one frame; header values must need no escaping."""
    parts = [command.encode() if isinstance(command, str) else command, b"\n"]
    for name, value in headers.items():
        parts.append(b"%s:%s\n" % (_as_bytes(name), _as_bytes(value)))
    if body:
        parts.append(b"content-length:%d\n" % len(body))
    parts.append(b"\n")
    parts.append(body)
    parts.append(b"\0")
    return b"".join(parts)


def _as_bytes(value):
    if isinstance(value, bytes):
        return value
    return str(value).encode()


class StompConnection(asyncio.Protocol):
    """One STOMP connection. Frames other than CONNECTED, RECEIPT and ERROR
    go to on_message(headers, body), set by the owner.

    The connection records its failures instead of raising them: `error` holds
    the first ERROR frame's message or the reason the socket ended, and
    `closed` is set when the socket is gone.
    """

    def __init__(self):
        self.transport = None
        self.parser = FrameParser()
        self.on_message = None
        self.after_frames = None  # called once per read, e.g. to flush batched ACKs
        self.connected_headers = None
        self.error = None
        self.closed = asyncio.Event()
        self.closing = False
        self._connected = asyncio.get_running_loop().create_future()
        self._receipts = {}
        self._next_receipt = 0
        self._can_write = asyncio.Event()
        self._can_write.set()

    @classmethod
    async def open(cls, host, port, login=None, passcode=None, vhost="/",
                   timeout=30.0, rcvbuf=None, transport="tcp", ws_path="/ws"):
        """Connects and completes the STOMP handshake; raises on failure.

        `transport` is "tcp", "ws" (STOMP over WebSocket, upgrade on
        `ws_path`) or "wss" (the same over TLS, certificate not checked:
        the broker is on loopback and only its speed is of interest)."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        protocol = WsStompConnection if transport in ("ws", "wss") else cls
        tls = {}
        if transport == "wss":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            tls = {"ssl": ctx, "server_hostname": host}
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (host, port)), timeout)
            _, conn = await asyncio.wait_for(
                loop.create_connection(protocol, sock=sock, **tls), timeout)
        except BaseException:
            sock.close()
            raise
        headers = {"accept-version": "1.2", "host": vhost, "heart-beat": "0,0"}
        if login is not None:
            headers["login"] = login
            headers["passcode"] = passcode or ""
        try:
            await asyncio.wait_for(conn._upgrade(host, port, ws_path), timeout)
            conn.write(encode_frame("CONNECT", headers))
            await asyncio.wait_for(asyncio.shield(conn._connected), timeout)
        except BaseException:
            conn.abort()
            raise
        return conn

    async def _upgrade(self, host, port, path):
        """The transport's own handshake before CONNECT: none over TCP."""

    # asyncio.Protocol -----------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        try:
            frames = self.parser.feed(data)
        except (ProtocolError, ValueError) as e:
            self._fail("unparsable frame: %s" % e)
            self.transport.abort()
            return
        on_message = self.on_message
        for command, headers, body in frames:
            if command == b"MESSAGE":
                if on_message is not None:
                    on_message(headers, body)
            elif command == b"RECEIPT":
                waiter = self._receipts.pop(headers.get(b"receipt-id"), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(True)
            elif command == b"CONNECTED":
                self.connected_headers = headers
                if not self._connected.done():
                    self._connected.set_result(True)
            elif command == b"ERROR":
                text = headers.get(b"message", b"").decode(errors="replace")
                detail = body[:200].decode(errors="replace").strip()
                self._fail("ERROR frame: %s%s" % (text, " (%s)" % detail if detail else ""))
        if self.after_frames is not None:
            self.after_frames()

    def connection_lost(self, exc):
        if not self.closing:
            self._fail("connection lost: %s" % (exc or "closed by broker"))
        self.closed.set()
        self._can_write.set()

    def pause_writing(self):
        self._can_write.clear()

    @property
    def write_blocked(self):
        return not self._can_write.is_set()

    def resume_writing(self):
        self._can_write.set()

    # Use ------------------------------------------------------------------

    def _fail(self, reason):
        if self.error is None:
            self.error = reason
        if not self._connected.done():
            self._connected.set_exception(ConnectionError(reason))
            self._connected.exception()  # retrieved: open() may have stopped waiting
        for waiter in self._receipts.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError(reason))
        self._receipts.clear()

    @property
    def server(self):
        if not self.connected_headers:
            return None
        return self.connected_headers.get(b"server", b"").decode(errors="replace")

    @property
    def version(self):
        if not self.connected_headers:
            return None
        return self.connected_headers.get(b"version", b"1.0").decode()

    @property
    def alive(self):
        return not self.closed.is_set() and self.error is None

    def write(self, data):
        if not self.closed.is_set():
            self.transport.write(data)

    async def drain(self):
        """Waits while the transport's write buffer is above its high mark."""
        if not self._can_write.is_set():
            await self._can_write.wait()

    def send_frame(self, command, headers, body=b""):
        self.write(encode_frame(command, headers, body))

    async def request_receipt(self, command, headers, timeout=30.0, body=b""):
        """Sends a frame with a receipt header and waits for its RECEIPT."""
        self._next_receipt += 1
        receipt = b"r%d" % self._next_receipt
        waiter = asyncio.get_running_loop().create_future()
        self._receipts[receipt] = waiter
        self.send_frame(command, dict(headers, receipt=receipt), body)
        await asyncio.wait_for(waiter, timeout)

    async def subscribe(self, destination, sub_id, ack="auto", prefetch=None,
                        timeout=30.0):
        """Subscribes and waits for the broker's receipt, so that messages
        sent afterwards reach the subscription."""
        headers = {"destination": destination, "id": sub_id, "ack": ack}
        if prefetch:
            # RabbitMQ reads prefetch-count, ActiveMQ activemq.prefetchSize;
            # each ignores the other's header.
            headers["prefetch-count"] = prefetch
            headers["activemq.prefetchSize"] = prefetch
        await self.request_receipt("SUBSCRIBE", headers, timeout)

    async def close(self, timeout=5.0):
        """DISCONNECTs politely (waiting for the receipt), then closes."""
        if self.closed.is_set():
            return
        self.closing = True
        try:
            await self.request_receipt("DISCONNECT", {}, timeout)
        except (asyncio.TimeoutError, ConnectionError):
            pass
        self.transport.close()

    def abort(self):
        self.closing = True
        if self.transport is not None:
            self.transport.abort()


class WsStompConnection(StompConnection):
    """StompConnection over RFC 6455: an HTTP upgrade offering v12.stomp,
    then each write() is one binary WebSocket message (a batch of whole STOMP
    frames, which the broker accepts, as it accepts a frame split over
    messages), and received messages' payloads go to the STOMP parser.

    Client frames are masked with the all-zero key: the mask bit is set as
    RFC 6455 requires and the server unmasks as usual, but the client need
    not XOR every byte in Python (the key's unpredictability protects
    intermediaries, of which there are none on loopback)."""

    ZERO_MASK = b"\0\0\0\0"

    def __init__(self):
        super().__init__()
        self._head = bytearray()  # the HTTP response until its blank line
        self._upgraded = asyncio.get_running_loop().create_future()
        self._ws = bytearray()
        self._message = []        # payloads of an unfinished fragmented message
        self.subprotocol = None

    async def _upgrade(self, host, port, path):
        key = base64.b64encode(os.urandom(16)).decode()
        request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Protocol: v12.stomp, v11.stomp, v10.stomp\r\n\r\n"
                   % (path, host, port, key))
        self.transport.write(request.encode())
        await asyncio.shield(self._upgraded)

    def write(self, data):
        if self.closed.is_set():
            return
        self.transport.write(_ws_header(0x2, len(data)) + self.ZERO_MASK)
        self.transport.write(data)

    def data_received(self, data):
        if not self._upgraded.done():
            data = self._read_head(data)
            if data is None:
                return
        self._ws += data
        try:
            payload = self._read_messages()
        except ProtocolError as e:
            self._fail("bad WebSocket frame: %s" % e)
            self.transport.abort()
            return
        if payload:
            super().data_received(payload)

    def _read_head(self, data):
        """Collects the upgrade response; returns the bytes after it, or None."""
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end == -1:
            if len(self._head) > 16384:
                self._fail_upgrade("upgrade response too long")
            return None
        head = bytes(self._head[:end]).decode(errors="replace")
        rest = bytes(self._head[end + 4:])
        self._head = bytearray()
        status = head.split("\r\n", 1)[0]
        if " 101 " not in status + " ":
            self._fail_upgrade("WebSocket upgrade refused: %s" % status)
            return None
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "sec-websocket-protocol":
                self.subprotocol = value.strip()
        self._upgraded.set_result(True)
        return rest

    def _fail_upgrade(self, reason):
        if not self._upgraded.done():
            self._upgraded.set_exception(ConnectionError(reason))
            self._upgraded.exception()
        self._fail(reason)
        self.transport.abort()

    def _read_messages(self):
        """Takes every complete WebSocket frame off the buffer; returns the
        joined payloads of the data messages they complete."""
        buf = self._ws
        out = []
        pos = 0
        while True:
            frame = _ws_frame_at(buf, pos)
            if frame is None:
                break
            fin, opcode, start, end = frame
            pos = end
            if opcode in (0x0, 0x1, 0x2):
                self._message.append(bytes(buf[start:end]))
                if fin:
                    out.extend(self._message)
                    self._message = []
            elif opcode == 0x9:  # ping: answer with the same payload
                body = bytes(buf[start:end])
                self.transport.write(_ws_header(0xA, len(body)) + self.ZERO_MASK + body)
            elif opcode == 0x8:
                code = struct.unpack("!H", buf[start:start + 2])[0] if end - start >= 2 else None
                reason = bytes(buf[start + 2:end]).decode(errors="replace")
                if not self.closing:
                    self._fail("WebSocket close %s %s" % (code, reason))
                self.transport.write(_ws_header(0x8, 2) + self.ZERO_MASK + struct.pack("!H", 1000))
                self.transport.close()
                break
        if pos:
            del buf[:pos]
        return b"".join(out)


def _ws_header(opcode, length):
    """A final client frame's header up to the masking key (mask bit set)."""
    if length < 126:
        return bytes((0x80 | opcode, 0x80 | length))
    if length < 65536:
        return struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    return struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)


def _ws_frame_at(buf, pos):
    """(fin, opcode, payload start, payload end) of the server frame at
    `pos`, or None when it is not complete yet. Server frames are unmasked."""
    if len(buf) - pos < 2:
        return None
    b0, b1 = buf[pos], buf[pos + 1]
    length = b1 & 0x7F
    start = pos + 2
    if length == 126:
        if len(buf) - pos < 4:
            return None
        length = struct.unpack_from("!H", buf, pos + 2)[0]
        start = pos + 4
    elif length == 127:
        if len(buf) - pos < 10:
            return None
        length = struct.unpack_from("!Q", buf, pos + 2)[0]
        start = pos + 10
    if b1 & 0x80:
        raise ProtocolError("masked frame from the server")
    if len(buf) < start + length:
        return None
    return bool(b0 & 0x80), b0 & 0x0F, start, start + length
