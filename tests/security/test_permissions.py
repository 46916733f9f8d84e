"""Permissions (issue 11): RabbitMQ's configure/write/read patterns per user
and virtual host, searched anywhere in the destination name, "" matching
nothing, everything denied to a user without an entry.

SEND needs write, SUBSCRIBE needs read, creating the destination needs
configure; a denied frame gets an ERROR naming the permission and the
destination, then the close. One broker for the whole matrix.
"""

import itertools
import unittest

from stampede_test import FAST_AUTH, Broker, Client, hashed

USERS = ["full", "writer", "reader", "orders", "nothing", "nobody", "sender"]

PERMISSIONS = {
    "full": {"/": {"configure": ".*", "write": ".*", "read": ".*"},
             "other": {"configure": ".*", "write": ".*", "read": ".*"}},
    "writer": {"/": {"configure": ".*", "write": ".*", "read": ""}},
    "reader": {"/": {"configure": ".*", "write": "", "read": ".*"}},
    # Search semantics: "orders" matches anywhere in the name.
    "orders": {"/": {"configure": "orders", "write": "orders", "read": "orders"}},
    "nothing": {"/": {"configure": "", "write": "", "read": ""}},
    # May publish to existing destinations, never create one.
    "sender": {"/": {"configure": "", "write": ".*", "read": ""}},
    "anonymous": {"/": {"configure": "^/topic/public", "write": "", "read": "^/topic/public"}},
    # "nobody" has no entry: denied everything.
}

_serial = itertools.count(1)


def unique(prefix):
    return "%s-%d" % (prefix, next(_serial))


class PermissionMatrixTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        config = {"users": {u: hashed("pw-" + u) for u in USERS},
                  "auth": dict(FAST_AUTH, allow_anonymous=True),
                  "virtual_hosts": ["/", "other"],
                  "permissions": PERMISSIONS}
        cls.broker = Broker(config=config, admin=False).start()

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()

    def client(self, user, host="/"):
        c = Client(self.broker.port)
        self.addCleanup(c.close)
        if user is None:
            c.connect(host=host)
        else:
            c.connect(login=user, passcode="pw-" + user, host=host)
        return c

    def allowed(self, user, command, destination, host="/"):
        c = self.client(user, host)
        if command == "SEND":
            c.send(destination, b"x", receipt=unique("r"))
        else:
            c.subscribe(destination, id="s")  # its RECEIPT: allowed

    def denied(self, user, command, destination, permission, host="/"):
        c = self.client(user, host)
        headers = {"destination": destination, "receipt": "r"}
        if command == "SUBSCRIBE":
            headers["id"] = "s"
        c.send_frame(command, headers)
        error = c.expect("ERROR")
        text = error.get("message", "") + error.body.decode()
        self.assertIn("access refused", text)
        self.assertIn(permission, text)
        self.assertIn(destination, text)
        c.expect_closed()

    def test_the_matrix(self):
        q = "/queue/" + unique("m")
        cases = [
            # (user, frame, destination, None: allowed / the missing permission)
            ("full", "SEND", q, None),
            ("full", "SUBSCRIBE", q, None),
            ("writer", "SEND", q, None),
            ("writer", "SUBSCRIBE", q, "read"),
            ("reader", "SUBSCRIBE", q, None),
            ("reader", "SEND", q, "write"),
            ("nothing", "SEND", q, "write"),       # "" matches nothing
            ("nothing", "SUBSCRIBE", q, "read"),
            ("nobody", "SEND", q, "write"),        # no entry: default deny
            ("nobody", "SUBSCRIBE", q, "read"),
            ("orders", "SEND", "/queue/app.orders.eu", None),  # searched, not anchored
            ("orders", "SUBSCRIBE", "/topic/orders", None),
            ("orders", "SEND", q, "write"),
            ("orders", "SUBSCRIBE", q, "read"),
            (None, "SUBSCRIBE", "/topic/public.news", None),    # anonymous login's entry
            (None, "SEND", "/topic/public.news", "write"),
            (None, "SUBSCRIBE", q, "read"),
        ]
        for user, command, destination, missing in cases:
            with self.subTest(user=user, command=command, destination=destination):
                if missing is None:
                    self.allowed(user, command, destination)
                else:
                    self.denied(user, command, destination, missing)

    def test_creating_a_destination_needs_configure(self):
        fresh = "/queue/" + unique("fresh")
        self.denied("sender", "SEND", fresh, "configure")
        self.denied("sender", "SUBSCRIBE", fresh, "read")
        self.allowed("full", "SUBSCRIBE", fresh)  # exists while subscribed
        keeper = self.client("full")
        keeper.subscribe(fresh, id="k")
        self.allowed("sender", "SEND", fresh)      # existing: write is enough

    def test_permissions_are_per_virtual_host(self):
        q = "/queue/" + unique("vh")
        self.allowed("full", "SEND", q, host="other")
        self.denied("writer", "SEND", q, "write", host="other")


class PermissionConfigTest(unittest.TestCase):
    def test_a_bad_pattern_stops_start_up(self):
        from test_auth import start_fails
        status, err = start_fails({"users": {"a": hashed("pw-a")},
                                   "permissions": {"a": {"/": {"configure": "(",
                                                               "write": "", "read": ""}}}})
        self.assertNotEqual(status, 0)
        self.assertIn("permissions", err)


if __name__ == "__main__":
    unittest.main()
