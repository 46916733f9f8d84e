"""Helpers for the conformance suite: real STOMP client libraries against a
real stampede broker.

Three libraries take part, each the one Debian packages:

    stomp.py 8.0      imported here (run by /usr/bin/python3), and in a process
                      of its own by tests/conformance/stomppy_client.py
    ruby-stomp 1.4.10 tests/conformance/stomp_client.rb, run by /usr/bin/ruby
    Net::Stomp 0.61   tests/conformance/net_stomp_client.pl, run by /usr/bin/perl

The Ruby, Perl (and stomppy_client.py) programs perform one scenario each and print what they
observed as JSON; the Python tests make the assertions, so every check lives
in one place and unittest reports it.

Synchronisation is by events (receipts, messages, errors, disconnects) with
a deadline, never by a fixed sleep, except where a test must show that
something does *not* happen within a window.
"""

import binascii
import itertools
import json
import os
import subprocess
import threading
import time

# stomp.py resolves this machine's host names at import unless told not to.
os.environ.setdefault("STOMP_SKIP_HOSTNAME_SCAN", "1")

import logging  # noqa: E402

import stomp  # noqa: E402  (after the environment is set)
import stomp.exception  # noqa: E402

# stomp.py logs a warning when its receiver thread and a disconnect race to
# close the same socket; the tests observe connections through listeners.
logging.getLogger("stomp.py").setLevel(logging.ERROR)

from stampede_test import Broker  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RUBY = "/usr/bin/ruby"
PERL = "/usr/bin/perl"
RUBY_CLIENT = os.path.join(HERE, "stomp_client.rb")
PERL_CLIENT = os.path.join(HERE, "net_stomp_client.pl")
PYTHON = "/usr/bin/python3"
STOMPPY_CLIENT = os.path.join(HERE, "stomppy_client.py")

WAIT = 10.0  # seconds: the deadline for anything that should happen


def broker_config(**overrides):
    """The configuration every conformance broker gets: the admin endpoint
    off (many brokers run at once), and small, explicit queue limits."""
    config = {"admin": {"enabled": False}, "queues": {"max_deliveries": 3}}
    for key, value in overrides.items():
        config[key] = value
    return config


def start_broker(**overrides):
    return Broker(config=broker_config(**overrides)).start()


_serial = itertools.count(1)


def unique(kind, name):
    """A destination no other test uses: /queue/NAME-N or /topic/NAME-N."""
    return "/%s/%s-%d-%d" % (kind, name, os.getpid(), next(_serial))


# ---------------------------------------------------------------- stomp.py


class Recorder(stomp.ConnectionListener):
    """Records everything a stomp.py connection reports, and lets a test wait
    for it. Frames are kept in arrival order."""

    def __init__(self):
        self.cond = threading.Condition()
        self.connected = []
        self.messages = []
        self.receipts = []
        self.errors = []
        self.heartbeats = 0
        self.heartbeat_times = []  # time.monotonic() of each heart-beat
        self.message_times = []  # and of each MESSAGE
        self.connected_time = None
        self.heartbeat_timeouts = 0
        self.disconnects = 0
        self.events = []  # ("message"|"receipt"|"error"|"disconnected", detail)

    def _add(self, kind, detail=None):
        with self.cond:
            self.events.append((kind, detail))
            self.cond.notify_all()

    def on_connected(self, frame):
        with self.cond:
            self.connected_time = time.monotonic()
            self.connected.append(frame)
        self._add("connected", frame)

    def on_message(self, frame):
        with self.cond:
            self.message_times.append(time.monotonic())
            self.messages.append(frame)
        self._add("message", frame)

    def on_receipt(self, frame):
        with self.cond:
            self.receipts.append(frame.headers.get("receipt-id"))
        self._add("receipt", frame.headers.get("receipt-id"))

    def on_error(self, frame):
        with self.cond:
            self.errors.append(frame)
        self._add("error", frame)

    def on_heartbeat(self):
        with self.cond:
            self.heartbeats += 1
            self.heartbeat_times.append(time.monotonic())
            self.cond.notify_all()

    def on_heartbeat_timeout(self):
        with self.cond:
            self.heartbeat_timeouts += 1
            self.cond.notify_all()

    def on_disconnected(self):
        with self.cond:
            self.disconnects += 1
        self._add("disconnected")

    def wait(self, predicate, what, timeout=WAIT):
        """Waits until predicate() (called under the lock) is true."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("timed out after %.1fs waiting for %s; events: %s"
                                         % (timeout, what, self.describe()))
                self.cond.wait(remaining)

    def describe(self):
        out = []
        for kind, detail in self.events[-20:]:
            if kind == "message":
                out.append("MESSAGE(%s %r)" % (detail.headers.get("destination"),
                                               _short(detail.body)))
            elif kind == "error":
                out.append("ERROR(%s)" % detail.headers.get("message"))
            elif kind == "receipt":
                out.append("RECEIPT(%s)" % detail)
            else:
                out.append(kind)
        return ", ".join(out) or "none"

    def wait_receipt(self, receipt_id, timeout=WAIT):
        self.wait(lambda: receipt_id in self.receipts, "RECEIPT %s" % receipt_id, timeout)

    def wait_messages(self, count, timeout=WAIT):
        """Waits for at least `count` messages in all; returns the first `count`."""
        self.wait(lambda: len(self.messages) >= count, "%d message(s)" % count, timeout)
        with self.cond:
            return list(self.messages[:count])

    def wait_body(self, body, timeout=WAIT):
        """Waits for a message with this body; returns it."""
        found = []

        def seen():
            found[:] = [m for m in self.messages if m.body == body]
            return bool(found)
        self.wait(seen, "a message with body %r" % _short(body), timeout)
        return found[0]

    def wait_error(self, timeout=WAIT):
        self.wait(lambda: self.errors, "an ERROR frame", timeout)
        return self.errors[0]

    def wait_disconnected(self, timeout=WAIT):
        self.wait(lambda: self.disconnects > 0, "the connection to close", timeout)

    def bodies(self):
        with self.cond:
            return [m.body for m in self.messages]


def _short(body):
    return body[:60] if body is not None else body


CONNECTION_CLASSES = {
    "1.0": stomp.Connection10,
    "1.1": stomp.Connection11,
    "1.2": stomp.Connection12,
}


def open_stomppy(port, version, heartbeats=None, auto_decode=True, vhost=None, wait=True,
                 headers=None, login=None, passcode=None, connect_command=False, **kwargs):
    """A connected stomp.py connection of the given protocol version and the
    Recorder listening to it.

    With the library's defaults: no `vhost`, so Connection12 sends
    `host:127.0.0.1` (the host it dialled), Connection11 no `host` at all,
    and Connection10 neither `host` nor heart-beats. The broker takes both
    to its default virtual host (issue 15); pass `vhost` to name one.
    """
    cls = CONNECTION_CLASSES[version]
    # No `timeout`: stomp.py applies it to every recv() too, and treats a
    # quiet socket as a closed one.
    args = dict(host_and_ports=[("127.0.0.1", port)], auto_decode=auto_decode,
                reconnect_attempts_max=1)
    if version != "1.0":
        if vhost is not None:
            args["vhost"] = vhost
        if heartbeats is not None:
            args["heartbeats"] = heartbeats
    args.update(kwargs)
    conn = cls(**args)
    recorder = Recorder()
    conn.set_listener("recorder", recorder)
    extra = {"with_connect_command": True} if connect_command else {}
    conn.connect(login, passcode, wait=wait, headers=headers, **extra)
    if wait:
        # connect(wait=True) returns once the transport has seen CONNECTED,
        # possibly before the listeners have been called with it.
        recorder.wait(lambda: recorder.connected, "on_connected")
    return conn, recorder


def close_quietly(conn):
    """Disconnects (with a receipt, so the broker has seen everything) if
    still connected; never raises."""
    try:
        if conn.is_connected():
            conn.disconnect(receipt="close-%d" % next(_serial))
    except Exception:  # noqa: BLE001 - cleanup only
        pass
    try:
        if conn.transport.socket is not None:
            conn.transport.disconnect_socket()
    except Exception:  # noqa: BLE001
        pass


def ack(conn, version, message, **kwargs):
    """ACK the message the way each stomp.py protocol class wants it:
    1.2 by the MESSAGE's `ack` header, 1.1 by message-id and subscription,
    1.0 by message-id."""
    h = message.headers
    if version == "1.2":
        conn.ack(h["ack"], **kwargs)
    elif version == "1.1":
        conn.ack(h["message-id"], h["subscription"], **kwargs)
    else:
        conn.ack(h["message-id"], **kwargs)


def nack(conn, version, message, **kwargs):
    h = message.headers
    if version == "1.2":
        conn.nack(h["ack"], **kwargs)
    elif version == "1.1":
        conn.nack(h["message-id"], h["subscription"], **kwargs)
    else:
        raise AssertionError("stomp.py has no NACK for STOMP 1.0")


def wait_total(recorders, count, timeout=WAIT):
    """Waits until the recorders hold `count` messages between them."""
    deadline = time.monotonic() + timeout
    while sum(len(r.messages) for r in recorders) < count:
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %d messages; have %s"
                                 % (count, [r.bodies() for r in recorders]))
        time.sleep(0.01)


# ------------------------------------------------------------ test bases


class BrokerCase:
    """Mixin for a unittest.TestCase: one broker per class (broker_config
    with CONFIG over it), stopped at the end with a check that it exited 0;
    stomp.py connections listed in self.conns are closed after each test."""

    CONFIG = {}

    @classmethod
    def setUpClass(cls):
        cls.broker = start_broker(**cls.CONFIG)

    @classmethod
    def tearDownClass(cls):
        status = cls.broker.stop()
        if status != 0:
            raise AssertionError("stampede exited with status %s:\n%s"
                                 % (status, cls.broker.log()))

    def setUp(self):
        self.conns = []

    def tearDown(self):
        for conn in self.conns:
            close_quietly(conn)

    def open(self, version="1.2", **kwargs):
        """A stomp.py connection (see open_stomppy), closed after the test."""
        conn, recorder = open_stomppy(self.broker.port, version, **kwargs)
        self.conns.append(conn)
        return conn, recorder


class StompPyCase(BrokerCase):
    """BrokerCase for stomp.py cases run once per protocol VERSION, with
    helpers that wait for each frame's RECEIPT."""

    VERSION = None

    def open(self, **kwargs):
        return BrokerCase.open(self, self.VERSION, **kwargs)

    def unconnected(self, vhost):
        """A stomp.py connection and its Recorder, not yet connected."""
        conn = CONNECTION_CLASSES[self.VERSION]([("127.0.0.1", self.broker.port)], vhost=vhost,
                                                reconnect_attempts_max=1)
        self.conns.append(conn)
        recorder = Recorder()
        conn.set_listener("recorder", recorder)
        return conn, recorder

    @property
    def individual(self):
        """client-individual where the version has it; 1.0 has only client."""
        return "client" if self.VERSION == "1.0" else "client-individual"

    def subscribe(self, conn, recorder, destination, sub_id, ack_mode="auto", **headers):
        receipt = "sub-%s-%s" % (sub_id, destination)
        conn.subscribe(destination, id=sub_id, ack=ack_mode, receipt=receipt, **headers)
        recorder.wait_receipt(receipt)

    def send(self, conn, recorder, destination, body, **headers):
        self.sends = getattr(self, "sends", 0) + 1
        receipt = "send-%d" % self.sends
        conn.send(destination, body, receipt=receipt, **headers)
        recorder.wait_receipt(receipt)

    def disconnect(self, conn, recorder):
        conn.disconnect(receipt="bye")
        recorder.wait_receipt("bye")
        recorder.wait_disconnected()


# ---------------------------------------------------------- Ruby and Perl


class ScriptError(AssertionError):
    pass


def script_command(language, port, version, scenario, spec=None):
    program = {"ruby": [RUBY, RUBY_CLIENT], "perl": [PERL, PERL_CLIENT],
               "stomp.py": [PYTHON, STOMPPY_CLIENT]}[language]
    cmd = program + [str(port), version, scenario]
    if spec is not None:
        cmd.append(json.dumps(spec))
    return cmd


def run_script(language, port, version, scenario, spec=None, timeout=30):
    """Runs one scenario of the Ruby, Perl or stomp.py client to completion and returns
    its JSON report (the last line of its output)."""
    cmd = script_command(language, port, version, scenario, spec)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise ScriptError("%s %s (STOMP %s) exited %d\nstdout:\n%s\nstderr:\n%s"
                          % (language, scenario, version, done.returncode, done.stdout,
                             done.stderr))
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if not lines:
        raise ScriptError("%s %s printed nothing; stderr:\n%s" % (language, scenario,
                                                                   done.stderr))
    return json.loads(lines[-1])


class BackgroundScript:
    """A Ruby, Perl or stomp.py scenario that runs while the test does something else.

    The program prints READY once it is subscribed (after the broker's
    RECEIPT), then its JSON report when done."""

    def __init__(self, language, port, version, scenario, spec=None):
        self.cmd = script_command(language, port, version, scenario, spec)
        self.process = subprocess.Popen(self.cmd, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.lines = []

    def wait_ready(self, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self._readline(deadline)
            if line is None:
                break
            if line.strip() == "READY":
                return
            self.lines.append(line)
        self.process.kill()
        out, err = self.process.communicate()
        raise ScriptError("%s never said READY\nstdout:\n%s%s\nstderr:\n%s"
                          % (self.cmd, "".join(self.lines), out, err))

    def _readline(self, deadline):
        result = []
        reader = threading.Thread(target=lambda: result.append(self.process.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(max(0.0, deadline - time.monotonic()))
        if not result or result[0] == "":
            return None
        return result[0]

    def report(self, timeout=30):
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
            raise ScriptError("%s did not finish\nstdout:\n%s\nstderr:\n%s"
                              % (self.cmd, out, err))
        if self.process.returncode != 0:
            raise ScriptError("%s exited %d\nstdout:\n%s\nstderr:\n%s"
                              % (self.cmd, self.process.returncode, out, err))
        lines = [line for line in (self.lines + out.splitlines()) if line.strip()]
        return json.loads(lines[-1])

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


def hex_body(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return binascii.hexlify(data).decode("ascii")


def unhex(text):
    return binascii.unhexlify(text)
