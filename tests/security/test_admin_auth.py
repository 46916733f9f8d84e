"""Admin endpoint credentials (issue 11): a bearer token from
admin.token_file guards /stats and /metrics (/healthz and the static
dashboard page stay open; the page's script sends the token); a non-loopback admin address without one stops start-up."""

import http.client
import os
import select
import socket
import tempfile
import time
import unittest

from stampede_test import Broker, Client, wait_until
from test_auth import start_fails

TOKEN = "s3cret-admin-token-0123456789"


def get(port, path, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Authorization": "Bearer " + token} if token else {}
        conn.request("GET", path, headers=headers)
        res = conn.getresponse()
        return res.status, res.getheader("WWW-Authenticate"), res.read()
    finally:
        conn.close()


class AdminTokenTest(unittest.TestCase):
    def setUp(self):
        handle, self.token_file = tempfile.mkstemp(prefix="stampede-token-")
        with os.fdopen(handle, "w") as out:
            out.write(TOKEN + "\n")
        self.addCleanup(os.unlink, self.token_file)

    def test_the_token_guards_everything_but_healthz(self):
        with Broker(config={"admin": {"token_file": self.token_file}}, admin=True) as broker:
            port = broker.admin_port
            self.assertEqual(get(port, "/healthz")[0], 200)
            for path in ("/stats", "/metrics"):
                with self.subTest(path=path):
                    status, challenge, _ = get(port, path)
                    self.assertEqual(status, 401)
                    self.assertIn("Bearer", challenge)
                    self.assertEqual(get(port, path, token="wrong" + TOKEN[5:])[0], 401)
                    self.assertEqual(get(port, path, token=TOKEN)[0], 200)

    def test_the_dashboard_page_is_static_and_holds_no_token(self):
        # The page loads without credentials (its script asks for the token
        # and sends it as a bearer header), so it must carry nothing secret.
        with Broker(config={"admin": {"token_file": self.token_file}}, admin=True) as broker:
            for path in ("/", "/dashboard"):
                with self.subTest(path=path):
                    status, _, body = get(broker.admin_port, path)
                    self.assertEqual(status, 200)
                    self.assertIn(b"Authorization", body)  # the script sends the header
                    self.assertNotIn(TOKEN.encode(), body)
                    self.assertEqual(body, get(broker.admin_port, path, token=TOKEN)[2])

    def test_a_non_loopback_admin_address_needs_a_token(self):
        status, err = start_fails({"admin": {"listen": "0.0.0.0:0"}}, admin="0.0.0.0:0")
        self.assertNotEqual(status, 0)
        self.assertIn("admin.token_file", err)

    def test_a_short_token_stops_start_up(self):
        with open(self.token_file, "w") as out:
            out.write("short\n")
        status, err = start_fails({"admin": {"token_file": self.token_file}}, admin="127.0.0.1:0")
        self.assertNotEqual(status, 0)
        self.assertIn("at least 16", err)


BROKEN_ADMIN_SECTIONS = [
    {"token_file": "/nonexistent/stampede-token"},
    {"listen": "0.0.0.0:0"},
    {"listen": "not an address"},
    {"no_such_key": 1},
    "not an object",
]


class AdminOffTest(unittest.TestCase):
    """`--admin off` overrides the file's admin section, broken or not."""

    def test_a_broken_admin_section_stops_start_up_while_the_endpoint_runs(self):
        for section in BROKEN_ADMIN_SECTIONS:
            with self.subTest(section=section):
                status, err = start_fails({"admin": section}, admin="127.0.0.1:0")
                self.assertEqual(status, 2, err)
                self.assertIn("admin", err)

    def test_admin_off_ignores_a_broken_admin_section(self):
        for section in BROKEN_ADMIN_SECTIONS:
            with self.subTest(section=section):
                with Broker(config={"admin": section}, admin=False) as broker:
                    with Client(broker.port) as c:
                        c.connect()
                    self.assertNotIn("admin listening", broker.log())


if __name__ == "__main__":
    unittest.main()


def read_until_closed(sock, deadline):
    """Everything the endpoint sends until it closes (fails at the deadline)."""
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            break
        if not chunk:
            return data
        data += chunk
    raise AssertionError("the admin endpoint did not close; sent %r" % data[:200])


class AdminBoundsTest(unittest.TestCase):
    def test_past_max_connections_a_connection_gets_503_naming_the_limit(self):
        with Broker(config={"admin": {"max_connections": 2}}, admin=True) as broker:
            held = [socket.create_connection(("127.0.0.1", broker.admin_port)) for _ in range(2)]
            self.addCleanup(lambda: [s.close() for s in held])
            # Accepted after the two held ones (the listener's queue is in
            # order), so counted third whatever the timing.
            with socket.create_connection(("127.0.0.1", broker.admin_port)) as third:
                answer = read_until_closed(third, time.monotonic() + 30)
            self.assertTrue(answer.startswith(b"HTTP/1.1 503"), answer)
            self.assertIn(b"admin.max_connections 2", answer)
            # One held connection goes: its place is free again once the
            # endpoint has seen it go (a must-happen wait, not a timing).
            held.pop().close()
            wait_until(lambda: get(broker.admin_port, "/healthz")[0] == 200,
                       "the freed place comes back")

    def test_a_request_trickled_in_byte_by_byte_is_cut_off(self):
        # Slow-loris: a byte every 50 ms keeps the 30 s idle timer from ever
        # firing; the 500 ms bound on the whole request must end it. Without
        # that bound this client would trickle until the 60 s failure bound.
        config = {"admin": {"request_timeout_ms": 500}}
        with Broker(config=config, admin=True) as broker:
            with socket.create_connection(("127.0.0.1", broker.admin_port)) as slow:
                slow.sendall(b"GET /healthz HTTP/1.1\r\n")
                deadline = time.monotonic() + 60
                closed = False
                while not closed:
                    self.assertLess(time.monotonic(), deadline, "still open after 60 s")
                    try:
                        slow.sendall(b"X")
                    except (BrokenPipeError, ConnectionResetError):
                        closed = True
                        break
                    readable, _, _ = select.select([slow], [], [], 0.05)
                    if readable:
                        try:
                            closed = slow.recv(4096) == b""
                        except ConnectionResetError:
                            closed = True
            # The endpoint still serves everyone else.
            self.assertEqual(get(broker.admin_port, "/healthz")[0], 200)

    def test_the_bounds_are_checked_at_start_up(self):
        for bad in ({"max_connections": 0}, {"request_timeout_ms": 5}):
            with self.subTest(bad=bad):
                status, err = start_fails({"admin": dict(bad)}, admin="127.0.0.1:0")
                self.assertNotEqual(status, 0)
                self.assertIn("admin." + list(bad)[0], err)
