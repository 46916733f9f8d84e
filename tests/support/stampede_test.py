"""Start a real stampede broker for a test and speak raw STOMP to it.

Standard library only. The broker binary and I/O backend come from the
environment, so ctest can run the same tests against each backend and each
build (plain, sanitizer):

    STAMPEDE_BIN  path of the stampede executable (default: build/stampede)
    STAMPEDE_IO   auto, uring or asio (default: auto)

Typical use:

    with Broker() as broker:
        with Client(broker.port) as c:
            c.connect()
            c.send_frame("SUBSCRIBE", {"destination": "/queue/a", "id": "1", "receipt": "r"})
            c.expect("RECEIPT", {"receipt-id": "r"})
"""

import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STAMPEDE_BIN = os.environ.get("STAMPEDE_BIN", os.path.join(ROOT, "build", "stampede"))
STAMPEDE_IO = os.environ.get("STAMPEDE_IO", "auto")

_LISTENING = re.compile(r"stampede \S+ listening on 127\.0\.0\.1:(\d+)")
_ADMIN_LISTENING = re.compile(r"admin listening on 127\.0\.0\.1:(\d+)")


_HASHES = {}


def hashed(passcode):
    """The argon2id string `stampede --hash-password` makes of `passcode`
    (cached per process): what a "users" entry holds."""
    if passcode not in _HASHES:
        done = subprocess.run([STAMPEDE_BIN, "--hash-password"], input=passcode + "\n",
                              capture_output=True, text=True, check=True, timeout=30)
        _HASHES[passcode] = done.stdout.strip()
    return _HASHES[passcode]


# Authentication settings for tests: a short failed-login delay, no lockout
# (every test client comes from 127.0.0.1).
FAST_AUTH = {"failure_delay_ms": 20, "max_failures": 100000}


def wait_until(condition, what, timeout=30, interval=0.02):
    """Polls `condition` until it holds: a barrier on state the broker
    reports (a /stats counter, a connection closing), never a wait for
    silence. Fails with `what` only if the state never comes within
    `timeout`, which bounds a failure, not a timing."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0f s waiting until %s" % (timeout, what))
        time.sleep(interval)


def data_dir_args(data_dir, args=(), config=None):
    """`--data-dir DATA_DIR` unless `args` or the `config` dict already name a
    data directory, or `data_dir` is None. Every helper that starts a broker
    passes this (or its own directory): the broker's default is `data/` under
    its working directory, which parallel tests would share."""
    named = any(a == "--data-dir" or a.startswith("--data-dir=") for a in args)
    if data_dir is None or named or (config and "data_dir" in config):
        return []
    return ["--data-dir", data_dir]


class Broker:
    """A stampede process on 127.0.0.1 and a kernel-chosen port.

    `config` is a dict written as the JSON configuration file. stop() sends
    SIGTERM and returns the exit status; leaving the `with` block stops it and
    fails if it did not exit cleanly (status 0).

    `admin`: None leaves the admin endpoint to the configuration (enabled on
    its default port unless configured otherwise); False passes `--admin off`;
    True passes `--admin 127.0.0.1:0` and sets `admin_port` from the log, so
    that stats() can read GET /stats.

    `data_dir`: the `--data-dir` value, "none" (memory only) unless `args` or
    `config` name a data directory themselves: tests run many brokers at once
    from one working directory, so none may fall back on the broker's default
    `data/` there. None passes no flag (the broker's default, in `cwd`).
    """

    def __init__(self, config=None, schedulers=2, io=None, args=(), start_timeout=10,
                 admin=None, data_dir="none", cwd=None):
        self.config = config
        self.schedulers = schedulers
        self.io = io or STAMPEDE_IO
        self.args = list(args)
        self.start_timeout = start_timeout
        self.process = None
        self.port = None
        self.admin = admin
        self.admin_port = None
        self.data_dir = data_dir
        self.cwd = cwd
        self._lines = []
        self._lock = threading.Lock()
        self._config_file = None

    def start(self):
        cmd = [STAMPEDE_BIN, "--listen", "127.0.0.1:0", "--io", self.io,
               "--schedulers", str(self.schedulers)]
        if self.config is not None:
            handle, path = tempfile.mkstemp(prefix="stampede-", suffix=".json")
            with os.fdopen(handle, "w") as out:
                json.dump(self.config, out)
            self._config_file = path
            cmd += ["--config", path]
        if self.admin is True:
            cmd += ["--admin", "127.0.0.1:0"]
        elif self.admin is False:
            cmd += ["--admin", "off"]
        cmd += data_dir_args(self.data_dir, self.args, self.config)
        cmd += self.args
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        text=True, errors="replace", cwd=self.cwd)
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            with self._lock:
                for line in self._lines:
                    match = _ADMIN_LISTENING.search(line)
                    if match:
                        self.admin_port = int(match.group(1))
                    match = _LISTENING.search(line)
                    if match:
                        self.port = int(match.group(1))
                if self.port is not None and (self.admin is not True or self.admin_port):
                    return self
            if self.process.poll() is not None:
                raise RuntimeError("stampede exited during start-up:\n" + self.log())
            time.sleep(0.01)
        raise RuntimeError("stampede did not report its port in time:\n" + self.log())

    def _drain(self):
        for line in self.process.stderr:
            with self._lock:
                self._lines.append(line)

    def log(self):
        """Everything the broker has written to stderr so far."""
        with self._lock:
            return "".join(self._lines)

    def pid(self):
        return self.process.pid

    def rss_bytes(self):
        """The broker process's resident set size, from /proc."""
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def get(self, path, timeout=10):
        """GET `path` from the admin endpoint (needs admin=True): (status, body text)."""
        if not self.admin_port:
            raise AssertionError("the admin endpoint is not enabled (Broker(admin=True))")
        connection = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    def stats(self, timeout=10):
        """GET /stats from the admin endpoint, parsed (needs admin=True)."""
        status, body = self.get("/stats", timeout)
        if status != 200:
            raise AssertionError("GET /stats answered %s: %s" % (status, body))
        return json.loads(body)

    def destination_stats(self, name, vhost="/"):
        """The /stats entry of one destination, or None when the broker has none."""
        for d in self.stats()["destinations"]:
            if d["name"] == name and d["vhost"] == vhost:
                return d
        return None

    def stop(self, timeout=15):
        """SIGTERM, then wait; returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is not None:
            self._release()
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("stampede did not stop within %ss of SIGTERM:\n%s"
                                 % (timeout, self.log()))
        finally:
            self._release()

    def _release(self):
        """Once the process has ended: its config file and its stderr pipe."""
        if self._config_file:
            os.unlink(self._config_file)
            self._config_file = None
        if self.process.poll() is not None and not self.process.stderr.closed:
            self._drainer.join(5)  # the log to its end, then the pipe is done with
            if not self._drainer.is_alive():
                self.process.stderr.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, kind, value, trace):
        status = self.stop()
        if kind is None and status != 0:
            raise AssertionError("stampede exited with status %s:\n%s" % (status, self.log()))


class Frame:
    """A STOMP frame as read from the wire: headers in order (first wins)."""

    def __init__(self, command, headers, body):
        self.command = command
        self.header_list = headers
        self.body = body

    @property
    def headers(self):
        first = {}
        for name, value in self.header_list:
            first.setdefault(name, value)
        return first

    def get(self, name, default=None):
        return self.headers.get(name, default)

    def __repr__(self):
        return "Frame(%s, %r, %r)" % (self.command, self.header_list, self.body[:200])


def _escape(text, version):
    if version == "1.0":
        return text
    text = text.replace("\\", "\\\\").replace("\n", "\\n").replace(":", "\\c")
    if version == "1.2":
        text = text.replace("\r", "\\r")
    return text


def _unescape(text, version="1.2"):
    """Undoes the escaping of `version`: none in 1.0, no `\\r` in 1.1."""
    if version == "1.0":
        return text
    out, i = [], 0
    table = {"n": "\n", "r": "\r", "c": ":", "\\": "\\"}
    if version == "1.1":
        del table["r"]
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in table:
            out.append(table[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def encode_frame(command, headers=None, body=b"", version="1.2", content_length=True):
    """The bytes of a frame; escaping per `version` (none for CONNECT/STOMP)."""
    if isinstance(body, str):
        body = body.encode()
    items = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    raw = command in ("CONNECT", "STOMP")
    lines = [command]
    for name, value in items:
        name, value = str(name), str(value)
        if not raw:
            name, value = _escape(name, version), _escape(value, version)
        lines.append(name + ":" + value)
    if body and content_length and not any(n == "content-length" for n, _ in items):
        lines.append("content-length:%d" % len(body))
    return ("\n".join(lines) + "\n\n").encode() + body + b"\0"


class ConnectionClosed(AssertionError):
    pass


class Client:
    """A raw STOMP connection with small send/expect helpers."""

    _syncs = 0

    def __init__(self, port, host="127.0.0.1", timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.version = "1.2"
        self.heartbeats_received = 0
        self.closed = False
        self.stash = []  # frames read while waiting for another, returned first

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, command, headers=None, body=b"", **kwargs):
        self.send_raw(encode_frame(command, headers, body, kwargs.pop("version", self.version),
                                   **kwargs))

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no complete frame within the timeout; have %r" % self.buffer[:200])
        ready, _, _ = select.select([self.sock], [], [], remaining)
        if not ready:
            raise TimeoutError("no complete frame within the timeout; have %r" % self.buffer[:200])
        try:
            data = self.sock.recv(1 << 16)
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            raise ConnectionClosed("the broker closed the connection; unparsed: %r"
                                   % self.buffer[:200])
        self.buffer += data

    def read_frame(self, timeout=10):
        """The next frame; heart-beat EOLs before it are counted and skipped."""
        if self.stash:
            return self.stash.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            while self.buffer[:1] in (b"\n", b"\r"):
                if self.buffer.startswith(b"\r\n"):
                    self.buffer = self.buffer[2:]
                elif self.buffer.startswith(b"\n"):
                    self.buffer = self.buffer[1:]
                else:
                    break  # a lone CR: wait for its LF
                self.heartbeats_received += 1
            frame = self._parse()
            if frame is not None:
                return frame
            self._fill(deadline)

    def _parse(self):
        end = self.buffer.find(b"\n\n")
        if end < 0:
            return None
        head = self.buffer[:end].decode("utf-8", "replace").replace("\r", "")
        lines = head.split("\n")
        command, headers = lines[0], []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if command not in ("CONNECTED",):
                name, value = _unescape(name, self.version), _unescape(value, self.version)
            headers.append((name, value))
        length = next((int(v) for n, v in headers if n == "content-length"), None)
        start = end + 2
        if length is not None:
            if len(self.buffer) < start + length + 1:
                return None
            body = self.buffer[start:start + length]
            if self.buffer[start + length:start + length + 1] != b"\0":
                raise AssertionError("frame body not followed by NUL: %r" % self.buffer[:200])
            self.buffer = self.buffer[start + length + 1:]
        else:
            nul = self.buffer.find(b"\0", start)
            if nul < 0:
                return None
            body = self.buffer[start:nul]
            self.buffer = self.buffer[nul + 1:]
        return Frame(command, headers, body)

    def expect(self, command, headers=None, timeout=10):
        """Reads the next frame and checks its command and the given headers."""
        frame = self.read_frame(timeout)
        if frame.command != command:
            raise AssertionError("expected %s, got %r" % (command, frame))
        for name, value in (headers or {}).items():
            if frame.get(name) != value:
                raise AssertionError("expected %s:%s in %r" % (name, value, frame))
        return frame

    def await_frame(self, command, headers=None, timeout=10):
        """Reads until a frame with this command and headers arrives; frames
        read on the way are kept, in order, for the next read_frame()."""
        deadline = time.monotonic() + timeout
        skipped = []
        try:
            while True:
                frame = self.read_frame(max(0.001, deadline - time.monotonic()))
                if frame.command == command and all(frame.get(n) == v
                                                     for n, v in (headers or {}).items()):
                    return frame
                skipped.append(frame)
        finally:
            self.stash = skipped + self.stash

    def expect_error(self, message_contains, timeout=10):
        """Reads an ERROR whose message header contains the text, then the close."""
        frame = self.expect("ERROR", timeout=timeout)
        message = frame.get("message", "")
        if message_contains.lower() not in message.lower():
            raise AssertionError("ERROR message %r does not contain %r" % (message,
                                                                            message_contains))
        self.expect_closed(timeout)
        return frame

    def expect_closed(self, timeout=10):
        """Waits for the broker to close the connection (after any frames)."""
        if self.stash:
            raise AssertionError("expected the connection to close, have %r" % self.stash)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._fill(deadline)
            except ConnectionClosed:
                return
            # Anything else arriving must be heart-beats.
            if self.buffer.strip(b"\r\n"):
                raise AssertionError("expected the connection to close, got %r" % self.buffer)
            self.buffer = b""

    # There is deliberately no "expect nothing within N seconds": on a loaded
    # machine it passes because the broker is slow. Silence is shown with a
    # barrier instead: a later frame that must come first (expect_message
    # after a marker, or sync()).

    def expect_message(self, body, headers=None, timeout=10):
        """The next frame must be a MESSAGE with `body` (and `headers`): after
        a marker sent behind something that must not arrive, anything that
        did arrive is read here instead and fails the test."""
        frame = self.expect("MESSAGE", headers, timeout)
        wanted = body.encode() if isinstance(body, str) else body
        if frame.body != wanted:
            raise AssertionError("expected the MESSAGE %r next, got %r" % (wanted, frame))
        return frame

    def sync(self, timeout=10):
        """A barrier on this connection: BEGIN and ABORT a transaction of its
        own with receipts; the two RECEIPTs must be the next frames. The
        session answers frames in order, so whatever it made of the frames
        sent before (an ERROR, a close, a RECEIPT) would be read first.
        Deliveries from destinations take another path: use a marker
        (expect_message) for those."""
        Client._syncs += 1
        tx = "sync-%d-%d" % (os.getpid(), Client._syncs)
        self.send_frame("BEGIN", {"transaction": tx, "receipt": tx + "-b"})
        self.send_frame("ABORT", {"transaction": tx, "receipt": tx + "-a"})
        self.expect("RECEIPT", {"receipt-id": tx + "-b"}, timeout)
        self.expect("RECEIPT", {"receipt-id": tx + "-a"}, timeout)

    def connect(self, version="1.2", host="/", login=None, passcode=None, heart_beat=None,
                headers=None, command="CONNECT"):
        """CONNECT (or STOMP) and expect CONNECTED; sets the version for escaping."""
        h = [("accept-version", version), ("host", host)]
        if login is not None:
            h.append(("login", login))
        if passcode is not None:
            h.append(("passcode", passcode))
        if heart_beat is not None:
            h.append(("heart-beat", heart_beat))
        h += list((headers or {}).items())
        self.send_frame(command, h)
        frame = self.expect("CONNECTED")
        self.version = frame.get("version", "1.0")
        return frame

    def subscribe(self, destination, id="1", ack="auto", receipt=True, headers=None):
        h = {"destination": destination, "id": id, "ack": ack}
        h.update(headers or {})
        if receipt:
            h["receipt"] = "sub-" + id
        self.send_frame("SUBSCRIBE", h)
        if receipt:
            self.await_frame("RECEIPT", {"receipt-id": "sub-" + id})

    def send(self, destination, body=b"", headers=None, receipt=None):
        h = {"destination": destination}
        h.update(headers or {})
        if receipt:
            h["receipt"] = receipt
        self.send_frame("SEND", h, body)
        if receipt:
            self.await_frame("RECEIPT", {"receipt-id": receipt})

    def disconnect(self, receipt="bye"):
        self.send_frame("DISCONNECT", {"receipt": receipt})
        self.await_frame("RECEIPT", {"receipt-id": receipt})
        self.expect_closed()
