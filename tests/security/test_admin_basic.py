"""Admin users (issue 11): `admin.users` log in to the admin endpoint with
HTTP Basic, checked on the verifier pool (the STOMP logins' cache and
per-address throttle), counted in /stats and /metrics; Basic over plain TCP
only on a loopback address, over TLS anywhere."""

import base64
import http.client
import os
import ssl
import tempfile
import unittest

from stampede_test import FAST_AUTH, Broker, hashed
from stampede_transports import Pki
from test_auth import start_fails

TOKEN = "s3cret-admin-token-0123456789"


def setUpModule():
    global pki
    pki = Pki()


def tearDownModule():
    pki.close()


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def get(port, path, authorization=None, headers=None, context=None):
    """(status, headers, body) of GET `path`; over TLS with `context`."""
    if context is None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    else:
        conn = http.client.HTTPSConnection("localhost", port, timeout=30, context=context)
    try:
        sent = dict(headers or {})
        if authorization:
            sent["Authorization"] = authorization
        conn.request("GET", path, headers=sent)
        res = conn.getresponse()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
    finally:
        conn.close()


def auth_counters(port, authorization):
    """The /stats auth section, read with good credentials (which counts one
    accepted request itself)."""
    status, _, body = get(port, "/stats?limit=1", authorization)
    assert status == 200, (status, body)
    import json
    return json.loads(body)["auth"]


def token_file(test):
    handle, path = tempfile.mkstemp(prefix="stampede-token-")
    with os.fdopen(handle, "w") as out:
        out.write(TOKEN + "\n")
    test.addCleanup(os.unlink, path)
    return path


class AdminBasicTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = Broker(config={"admin": {"users": {"ops": hashed("ops-password")}},
                                    "auth": FAST_AUTH}, admin=True).start()
        cls.port = cls.broker.admin_port
        cls.good = basic("ops", "ops-password")

    @classmethod
    def tearDownClass(cls):
        status = cls.broker.stop()
        assert status == 0, cls.broker.log()

    def test_a_good_user_sees_stats_and_metrics(self):
        for path in ("/stats", "/metrics"):
            with self.subTest(path=path):
                status, _, body = get(self.port, path, self.good)
                self.assertEqual(status, 200, body)
        _, _, metrics = get(self.port, "/metrics", self.good)
        self.assertIn(b'stampede_admin_logins_total{outcome="accepted"}', metrics)

    def test_wrong_password_and_unknown_user_are_refused_alike_and_counted(self):
        before = auth_counters(self.port, self.good)
        answers = []
        for authorization in (basic("ops", "wrong"), basic("nobody", "ops-password")):
            status, headers, body = get(self.port, "/stats", authorization)
            answers.append((status, headers.get("www-authenticate"), body))
        self.assertEqual(answers[0], answers[1], "both refusals read the same")
        self.assertEqual(answers[0][0], 401)
        self.assertEqual(answers[0][1], 'Basic realm="stampede", charset="UTF-8"')
        after = auth_counters(self.port, self.good)
        self.assertEqual(after["admin_failed"] - before["admin_failed"], 2)
        # The unknown user cost an argon2id computation like the wrong password.
        self.assertEqual(after["verifier"]["hashes"] - before["verifier"]["hashes"], 2)

    def test_a_good_user_is_verified_once_then_cached(self):
        first = auth_counters(self.port, self.good)
        second = auth_counters(self.port, self.good)
        self.assertEqual(second["verifier"]["hashes"], first["verifier"]["hashes"])
        self.assertGreater(second["verifier"]["cache_hits"], first["verifier"]["cache_hits"])
        self.assertEqual(second["admin_accepted"] - first["admin_accepted"], 1)

    def test_no_credentials_get_the_challenge_without_being_counted(self):
        before = auth_counters(self.port, self.good)
        status, headers, _ = get(self.port, "/stats")
        self.assertEqual(status, 401)
        self.assertEqual(headers.get("www-authenticate"), 'Basic realm="stampede", charset="UTF-8"')
        after = auth_counters(self.port, self.good)
        self.assertEqual(after["admin_failed"], before["admin_failed"])
        self.assertEqual(after["verifier"]["hashes"], before["verifier"]["hashes"])

    def test_a_bearer_token_is_refused_where_only_users_are_configured(self):
        status, headers, _ = get(self.port, "/stats", "Bearer " + TOKEN)
        self.assertEqual(status, 401)
        self.assertNotIn("Bearer", headers.get("www-authenticate"))

    def test_malformed_basic_credentials_are_refused(self):
        for authorization in ("Basic !!!!", "Basic " + base64.b64encode(b"no-colon").decode(),
                              "Digest username=ops"):
            with self.subTest(authorization=authorization):
                self.assertEqual(get(self.port, "/stats", authorization)[0], 401)

    def test_the_dashboards_requests_get_the_schemes_without_a_basic_challenge(self):
        # A Basic challenge would open the browser's own password dialog over
        # the page's form.
        status, headers, _ = get(self.port, "/stats", headers={"X-Stampede-Dashboard": "1"})
        self.assertEqual(status, 401)
        self.assertNotIn("www-authenticate", headers)
        self.assertIn("Basic", headers.get("x-stampede-auth"))

    def test_healthz_and_the_page_stay_open(self):
        self.assertEqual(get(self.port, "/healthz")[0], 200)
        self.assertEqual(get(self.port, "/")[0], 200)


class AdminThrottleTest(unittest.TestCase):
    def test_an_address_with_too_many_failures_is_refused_at_once(self):
        config = {"admin": {"users": {"ops": hashed("ops-password")}},
                  "auth": {"failure_delay_ms": 0, "max_failures": 2, "block_ms": 600000}}
        with Broker(config=config, admin=True) as broker:
            port = broker.admin_port
            for _ in range(3):
                self.assertEqual(get(port, "/stats", basic("ops", "wrong"))[0], 401)
            # Blocked: even the right password is refused, without hashing.
            status, headers, _ = get(port, "/stats", basic("ops", "ops-password"))
            self.assertEqual(status, 429)
            self.assertIn("retry-after", headers)
            _, _, metrics = get(port, "/metrics")  # refused too, but not counted
            self.assertEqual(get(port, "/healthz")[0], 200)
            log = broker.log()
        self.assertIn("admin endpoint: failed login from 127.0.0.1", log)


class AdminSchemesTest(unittest.TestCase):
    def test_basic_is_refused_where_only_a_token_is_configured(self):
        config = {"admin": {"token_file": token_file(self)}, "auth": FAST_AUTH}
        with Broker(config=config, admin=True) as broker:
            status, headers, _ = get(broker.admin_port, "/stats", basic("ops", TOKEN))
            self.assertEqual(status, 401)
            self.assertEqual(headers.get("www-authenticate"), 'Bearer realm="stampede"')
            self.assertEqual(get(broker.admin_port, "/stats", "Bearer " + TOKEN)[0], 200)

    def test_users_and_token_together_take_either(self):
        config = {"admin": {"token_file": token_file(self),
                            "users": {"ops": hashed("ops-password")}}, "auth": FAST_AUTH}
        with Broker(config=config, admin=True) as broker:
            port = broker.admin_port
            self.assertEqual(get(port, "/stats", "Bearer " + TOKEN)[0], 200)
            self.assertEqual(get(port, "/stats", basic("ops", "ops-password"))[0], 200)
            status, headers, _ = get(port, "/stats")
            self.assertEqual(status, 401)
            challenge = headers.get("www-authenticate")
            self.assertIn("Basic realm=", challenge)
            self.assertIn("Bearer realm=", challenge)

    def test_stomp_users_are_not_admin_users(self):
        config = {"users": {"alice": hashed("wonderland")},
                  "admin": {"users": {"ops": hashed("ops-password")}}, "auth": FAST_AUTH}
        with Broker(config=config, admin=True) as broker:
            self.assertEqual(get(broker.admin_port, "/stats", basic("alice", "wonderland"))[0], 401)
            self.assertEqual(get(broker.admin_port, "/stats", basic("ops", "ops-password"))[0], 200)


class AdminTlsTest(unittest.TestCase):
    def test_basic_over_a_tls_admin_listener(self):
        config = {"admin": {"users": {"ops": hashed("ops-password")}, "tls": pki.tls_block()},
                  "auth": FAST_AUTH}
        with Broker(config=config, admin=True) as broker:
            port = broker.admin_port
            context = pki.client_context()
            status, _, body = get(port, "/stats", basic("ops", "ops-password"), context=context)
            self.assertEqual(status, 200, body)
            self.assertEqual(get(port, "/stats", basic("ops", "wrong"), context=context)[0], 401)
            self.assertEqual(get(port, "/healthz", context=context)[0], 200)
            # Plain HTTP to the TLS endpoint gets no answer in HTTP.
            with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
                get(port, "/healthz")
            self.assertIn("over TLS", broker.log())

    def test_a_tls_admin_endpoint_may_listen_off_loopback_with_users(self):
        config = {"admin": {"listen": "0.0.0.0:0", "users": {"ops": hashed("ops-password")},
                            "tls": pki.tls_block()}}
        with Broker(config=config) as broker:
            self.assertIn("admin listening on 0.0.0.0:", broker.log())


class AdminStartUpTest(unittest.TestCase):
    def test_basic_users_off_loopback_without_tls_stop_start_up(self):
        config = {"admin": {"listen": "0.0.0.0:0", "users": {"ops": hashed("ops-password")}}}
        status, err = start_fails(config, admin="0.0.0.0:0")
        self.assertEqual(status, 2, err)
        self.assertIn("sends the password in clear", err)
        self.assertIn("add a 'tls' block to 'admin'", err)

    def test_a_plain_text_admin_password_stops_start_up(self):
        status, err = start_fails({"admin": {"users": {"ops": "hunter2"}}}, admin="127.0.0.1:0")
        self.assertEqual(status, 2, err)
        self.assertIn("admin.users: the passcode of 'ops' is in plain text", err)
        self.assertIn("stampede --hash-password", err)
        self.assertNotIn("hunter2", err)

    def test_off_loopback_without_credentials_names_both_kinds(self):
        status, err = start_fails({"admin": {"listen": "0.0.0.0:0"}}, admin="0.0.0.0:0")
        self.assertEqual(status, 2, err)
        self.assertIn("admin.users", err)
        self.assertIn("admin.token_file", err)


if __name__ == "__main__":
    unittest.main()
