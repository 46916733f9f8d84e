"""Login and permission counters in /metrics (issue 11): each outcome is
driven once or a known number of times, and the Prometheus families must
show exactly those counts (and agree with /stats). Every counter is bumped
before the broker answers (CONNECTED or ERROR), so the answers are the
barrier."""

import unittest

from stampede_test import FAST_AUTH, Broker, Client, hashed
from test_auth import refused

USERS = ["writer", "reader", "sender"]
PERMISSIONS = {
    "writer": {"/": {"configure": ".*", "write": ".*", "read": ""}},
    "reader": {"/": {"configure": ".*", "write": "", "read": ".*"}},
    "sender": {"/": {"configure": "", "write": ".*", "read": ""}},
}


def samples(text, family):
    """{labels: value} of one metric family in Prometheus text."""
    out = {}
    for line in text.splitlines():
        if line.startswith(family + "{"):
            labels, value = line[len(family):].rsplit(" ", 1)
            out[labels] = float(value)
    return out


class AuthMetricsTest(unittest.TestCase):
    def test_logins_and_denials_are_counted_by_kind(self):
        config = {"users": {u: hashed("pw-" + u) for u in USERS},
                  "auth": dict(FAST_AUTH, max_failures=3, failure_window_ms=600000,
                               block_ms=600000),
                  "permissions": PERMISSIONS}
        with Broker(config=config, admin=True) as broker:
            for user in USERS:
                with Client(broker.port) as c:
                    c.connect(login=user, passcode="pw-" + user)
            failed = 0
            for _ in range(10):  # bounded: the lockout must come within max_failures + 1
                answer = refused(broker.port, [("login", "writer"), ("passcode", "nope")])
                if b"too many failed logins" in answer.body:
                    break
                failed += 1
            else:
                self.fail("no lockout after 10 failures")
            self.assertGreaterEqual(failed, 3)

            text = broker.get("/metrics")[1]
            logins = samples(text, "stampede_logins_total")
            self.assertEqual(logins, {'{outcome="accepted"}': 3, '{outcome="failed"}': failed,
                                      '{outcome="locked_out"}': 1, '{outcome="busy"}': 0})
            stats = broker.stats()["auth"]
            self.assertEqual(stats["logins_failed"], failed)
            self.assertEqual(stats["logins_throttled"], 1)

    def test_permission_denials_are_counted_by_permission(self):
        config = {"users": {u: hashed("pw-" + u) for u in USERS},
                  "auth": FAST_AUTH, "permissions": PERMISSIONS}
        with Broker(config=config, admin=True) as broker:
            def denied(user, command, destination, permission):
                with Client(broker.port) as c:
                    c.connect(login=user, passcode="pw-" + user)
                    c.send_frame(command, {"destination": destination, "receipt": "r", "id": "s"})
                    error = c.expect("ERROR")
                    self.assertIn(permission, error.get("message", "") + error.body.decode())

            denied("sender", "SEND", "/queue/fresh-1", "configure")
            denied("reader", "SEND", "/queue/a", "write")
            denied("reader", "SEND", "/queue/b", "write")
            denied("writer", "SUBSCRIBE", "/queue/c", "read")
            text = broker.get("/metrics")[1]
            self.assertEqual(samples(text, "stampede_permission_denials_total"),
                             {'{permission="configure"}': 1, '{permission="write"}': 2,
                              '{permission="read"}': 1})
            stats = broker.stats()["auth"]
            self.assertEqual(stats["access_denied"], 4)
            self.assertEqual(stats["access_denied_by_permission"],
                             {"configure": 1, "write": 2, "read": 1})


if __name__ == "__main__":
    unittest.main()
