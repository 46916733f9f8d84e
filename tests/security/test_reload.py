"""SIGHUP reloads the users and permissions (issue 11).

Semantics under test: new logins use the new users (a removed user is
refused, an added one accepted); connected sessions keep running and their
permissions follow the new file from their next frame; a file that cannot be
used keeps the old users and permissions and the log says why. The barrier
after each SIGHUP is the reload counter in /stats, never a sleep.
"""

import json
import signal
import time
import unittest

from stampede_test import FAST_AUTH, Broker, Client, hashed
from test_auth import refused


def config(users, permissions):
    return {"users": {u: hashed(p) for u, p in users.items()},
            "auth": FAST_AUTH, "permissions": permissions}


FIRST = config({"alice": "pw-a"},
               {"alice": {"/": {"configure": ".*", "write": "^/queue/a", "read": ".*"}}})
SECOND = config({"alice": "pw-a", "bob": "pw-b"},
                {"alice": {"/": {"configure": ".*", "write": "^/queue/b", "read": ".*"}},
                 "bob": {"/": {"configure": ".*", "write": ".*", "read": ".*"}}})
THIRD = config({"alice": "pw-a"},
               {"alice": {"/": {"configure": ".*", "write": "^/queue/b", "read": ".*"}}})


class ReloadTest(unittest.TestCase):
    def reload(self, broker, document, field):
        """Writes `document` (a dict, or text as is) over the broker's config
        file, sends SIGHUP and waits until auth.`field` counts one more."""
        before = broker.stats()["auth"][field]
        with open(broker._config_file, "w") as out:
            out.write(document if isinstance(document, str) else json.dumps(document))
        broker.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30  # a failure bound, not a timing
        while broker.stats()["auth"][field] == before:
            self.assertLess(time.monotonic(), deadline, "no reload counted:\n" + broker.log())
            time.sleep(0.02)
        return broker.stats()["auth"]

    def login(self, broker, user, passcode):
        c = Client(broker.port)
        self.addCleanup(c.close)
        c.connect(login=user, passcode=passcode)
        return c

    def test_sighup_swaps_users_and_permissions_and_keeps_them_on_a_broken_file(self):
        with Broker(config=FIRST, admin=True) as broker:
            old_session = self.login(broker, "alice", "pw-a")
            other_old_session = self.login(broker, "alice", "pw-a")
            old_session.send("/queue/a", b"before", receipt="r0")
            refused(broker.port, [("login", "bob"), ("passcode", "pw-b")])

            auth = self.reload(broker, SECOND, "reloads")
            self.assertEqual((auth["reloads"], auth["reload_failures"]), (1, 0))
            self.login(broker, "bob", "pw-b")  # a new user logs in
            # The sessions from before the reload run on, under the new rights.
            old_session.send("/queue/b", b"now allowed", receipt="r1")
            other_old_session.send_frame("SEND", {"destination": "/queue/a", "receipt": "r2"})
            error = other_old_session.expect("ERROR")
            self.assertIn("write", error.get("message", "") + error.body.decode())

            auth = self.reload(broker, "{ this is not json", "reload_failures")
            self.assertEqual((auth["reloads"], auth["reload_failures"]), (1, 1))
            self.assertIn("kept the old users and permissions", broker.log())
            self.assertIn("not valid JSON", broker.log())
            self.login(broker, "bob", "pw-b")  # still the second file's users
            old_session.send("/queue/b", b"still allowed", receipt="r3")

            bad_pattern = json.loads(json.dumps(SECOND))
            bad_pattern["permissions"]["bob"]["/"]["read"] = "(unclosed"
            auth = self.reload(broker, bad_pattern, "reload_failures")
            self.assertEqual((auth["reloads"], auth["reload_failures"]), (1, 2))
            self.login(broker, "bob", "pw-b")

            auth = self.reload(broker, THIRD, "reloads")
            self.assertEqual((auth["reloads"], auth["reload_failures"]), (2, 2))
            refused(broker.port, [("login", "bob"), ("passcode", "pw-b")])  # removed
            old_session.send("/queue/b", b"after", receipt="r4")

            metrics = broker.get("/metrics")[1]
            self.assertIn('stampede_auth_reloads_total{outcome="ok"} 2', metrics)
            self.assertIn('stampede_auth_reloads_total{outcome="failed"} 2', metrics)


if __name__ == "__main__":
    unittest.main()
