"""Connecting (STOMP12.md items 9-12): STOMP like CONNECT, version
negotiation, CONNECTED's headers, virtual hosts with their own destinations,
authentication that never says which half was wrong, and what may (not)
come before or after CONNECT."""

import unittest

from integ import BrokerCase, unique
from stampede_test import FAST_AUTH, hashed

USERS = {"alice": "wonderland", "bob": "builder", "": "anonymous?"}


class ConnectTest(BrokerCase):

    def test_stomp_is_handled_like_connect(self):
        c = self.client()
        c.send_frame("STOMP", {"accept-version": "1.2", "host": "/"})
        connected = c.expect("CONNECTED")
        self.assertEqual(connected.get("version"), "1.2")
        self.round_trip(c)

    def test_connected_carries_version_server_session_and_heart_beat(self):
        c = self.client()
        c.send_frame("CONNECT", {"accept-version": "1.2", "host": "/"})
        connected = c.expect("CONNECTED")
        self.assertEqual(connected.get("version"), "1.2")
        self.assertRegex(connected.get("server", ""), r"^stampede/\S+")
        self.assertRegex(connected.get("session", ""), r"^\S+$")
        self.assertRegex(connected.get("heart-beat", ""), r"^\d+,\d+$")
        self.assertFalse(connected.body)

    def test_every_connection_has_its_own_session(self):
        sessions = set()
        for _ in range(20):
            c = self.client()
            c.send_frame("CONNECT", {"accept-version": "1.2", "host": "/"})
            sessions.add(c.expect("CONNECTED").get("session"))
        self.assertEqual(len(sessions), 20)

    def test_no_accept_version_means_1_0(self):
        c = self.client()
        c.send_raw(b"CONNECT\nhost:/\n\n\0")
        self.assertEqual(c.expect("CONNECTED").get("version"), "1.0")
        c.version = "1.0"
        # 1.0 rules apply: ACK names a message-id (here one that is not pending).
        c.send_frame("ACK", {"message-id": "1-1", "receipt": "n"})
        self.assert_error(c, "ACK", "'1-1'", receipt_id="n")

    def test_the_highest_common_version_is_chosen(self):
        cases = [("1.0", "1.0"), ("1.1", "1.1"), ("1.2", "1.2"), ("1.0,1.1", "1.1"),
                 ("1.1,1.0", "1.1"), ("1.2,1.0", "1.2"), ("1.0,1.1,1.2", "1.2"),
                 ("1.1,2.0,9.9", "1.1"), ("1.3,1.0", "1.0"), ("1.0, 1.1", "1.1")]
        for offered, chosen in cases:
            with self.subTest(accept_version=offered):
                c = self.client()
                c.send_frame("CONNECT", {"accept-version": offered, "host": "/"})
                self.assertEqual(c.expect("CONNECTED").get("version"), chosen)

    def test_no_common_version_is_an_error_listing_ours_then_close(self):
        for offered in ("2.0", "1.3,2.1", "", "one"):
            with self.subTest(accept_version=offered):
                c = self.client()
                c.send_frame("CONNECT", {"accept-version": offered, "host": "/"})
                error = self.assert_error(c, "version")
                self.assertEqual(sorted(error.get("version", "").split(",")),
                                 ["1.0", "1.1", "1.2"])
        self.assert_bystander_fine()

    def test_a_frame_before_connect_is_an_error(self):
        for command, headers in (("SEND", {"destination": "/queue/x"}),
                                 ("SUBSCRIBE", {"destination": "/queue/x", "id": "1"}),
                                 ("DISCONNECT", {})):
            with self.subTest(command=command):
                c = self.client()
                c.send_frame(command, dict(headers, receipt="r"))
                self.assert_error(c, "CONNECT", receipt_id="r")
        self.assert_bystander_fine()

    def test_a_second_connect_is_an_error(self):
        for command in ("CONNECT", "STOMP"):
            with self.subTest(command=command):
                c = self.connected()
                c.send_frame(command, {"accept-version": "1.2", "host": "/", "receipt": "r"})
                self.assert_error(c, "already connected", receipt_id="r")
        self.assert_bystander_fine()

    def test_a_malformed_heart_beat_header_is_an_error(self):
        for value in ("x", "10", "10,", ",10", "-1,0", "10,10,10", "1 ,2"):
            with self.subTest(heart_beat=value):
                c = self.client()
                c.send_frame("CONNECT", {"accept-version": "1.2", "host": "/",
                                         "heart-beat": value})
                self.assert_error(c, "heart-beat")
        self.assert_bystander_fine()

    def test_a_missing_host_means_the_default_virtual_host(self):
        c = self.client()
        c.send_frame("CONNECT", {"accept-version": "1.2"})
        c.expect("CONNECTED")
        self.round_trip(c)


class VirtualHostTest(BrokerCase):
    config = {"virtual_hosts": ["/", "alpha", "beta"]}

    def test_each_virtual_host_has_its_own_destinations(self):
        for kind in ("queue", "topic"):
            with self.subTest(kind=kind):
                destination = "/%s/%s" % (kind, unique("shared-name"))
                subs = {}
                for host in ("/", "alpha", "beta"):
                    subs[host] = self.connected(host=host)
                    subs[host].subscribe(destination, id="s")
                for host in ("alpha", "beta", "/"):
                    pub = self.connected(host=host)
                    pub.send(destination, "to " + host, receipt="r")
                for host, sub in subs.items():
                    message = sub.expect("MESSAGE", {"destination": destination})
                    self.assertEqual(message.body, ("to " + host).encode())
                for host, sub in subs.items():  # nothing from the other hosts follows
                    self.expect_marker(sub, destination, publisher=self.connected(host=host))

    def test_a_queue_keeps_its_messages_in_its_own_host(self):
        destination = "/queue/" + unique("vq")
        pub = self.connected(host="alpha")
        for i in range(3):
            pub.send(destination, "alpha %d" % i, receipt="r%d" % i)
        other = self.connected(host="beta")
        other.subscribe(destination, id="s")
        self.expect_marker(other, destination, publisher=self.connected(host="beta"))
        mine = self.connected(host="alpha")
        mine.subscribe(destination, id="s")
        self.assertEqual([mine.expect("MESSAGE").body for _ in range(3)],
                         [b"alpha 0", b"alpha 1", b"alpha 2"])

    def test_an_unknown_host_is_an_error_naming_it_and_the_known_ones(self):
        # Several virtual hosts and no default_virtual_host: nothing to guess.
        for host in ("gamma", "Alpha", "alpha ", ""):
            with self.subTest(host=host):
                c = self.client()
                c.send_frame("CONNECT", {"accept-version": "1.2", "host": host})
                error = self.assert_error(c, "virtual host", "default_virtual_host")
                self.assertIn("'%s'" % host, error.get("message"))
                self.assertIn("'alpha'", error.get("message"))
        self.assert_bystander_fine()


class SingleVirtualHostTest(BrokerCase):
    """One virtual host: whatever `host` a client sends (stomp.py and the Ruby
    gem send the name they dialled) connects it there."""
    config = {"virtual_hosts": ["only"]}
    admin = True
    with_bystander = False

    def test_any_host_or_none_connects_to_the_only_virtual_host(self):
        for host in (None, "only", "127.0.0.1", "localhost", "/"):
            with self.subTest(host=host):
                c = self.client()
                headers = {"accept-version": "1.2"}
                if host is not None:
                    headers["host"] = host
                c.send_frame("CONNECT", headers)
                session = c.expect("CONNECTED").get("session")
                connections = self.broker.stats()["connections"]
                mine = [x for x in connections if str(x["id"]) == session]
                self.assertEqual(mine[0]["vhost"], "only", mine)


class DefaultVirtualHostTest(BrokerCase):
    config = {"virtual_hosts": ["/", "alpha"], "default_virtual_host": "alpha"}
    with_bystander = False

    def test_an_unknown_host_goes_to_the_configured_default(self):
        destination = "/queue/" + unique("dflt")
        c = self.client()
        c.send_frame("CONNECT", {"accept-version": "1.2", "host": "127.0.0.1"})
        c.expect("CONNECTED")
        c.send(destination, "to the default", receipt="r")
        sub = self.connected(host="alpha")
        sub.subscribe(destination)
        self.assertEqual(sub.expect("MESSAGE").body, b"to the default")


class AuthenticationTest(BrokerCase):
    config = {"users": {"alice": hashed("wonderland"), "bob": hashed("builder")},
              "auth": FAST_AUTH,
              "virtual_hosts": ["/", "alpha"]}
    with_bystander = False

    def setUp(self):
        super().setUp()
        self.bystander_client = self.connected(login="alice", passcode="wonderland")
        self.bystander_client.subscribe("/topic/auth-bystander", id="b")

    def bystander_check(self):
        self.bystander_client.send("/topic/auth-bystander", "still here", receipt=unique("b"))
        self.assertEqual(self.bystander_client.await_frame("MESSAGE").body, b"still here")

    def test_configured_users_connect_with_their_passcodes(self):
        for login, passcode in (("alice", "wonderland"), ("bob", "builder")):
            for host in ("/", "alpha"):
                with self.subTest(login=login, host=host):
                    c = self.connected(login=login, passcode=passcode, host=host)
                    self.round_trip(c)

    def refusal(self, headers):
        c = self.client()
        c.send_frame("CONNECT", [("accept-version", "1.2"), ("host", "/")] + headers)
        return self.assert_error(c, "authentication")

    def test_a_wrong_login_or_passcode_is_refused_without_saying_which(self):
        wrong_passcode = self.refusal([("login", "alice"), ("passcode", "builder")])
        wrong_login = self.refusal([("login", "carol"), ("passcode", "wonderland")])
        both_wrong = self.refusal([("login", "carol"), ("passcode", "nope")])
        no_passcode = self.refusal([("login", "alice")])
        no_login = self.refusal([("passcode", "wonderland")])
        nothing = self.refusal([])
        case = self.refusal([("login", "Alice"), ("passcode", "wonderland")])
        blank = self.refusal([("login", "alice"), ("passcode", "wonderland ")])
        refusals = [wrong_passcode, wrong_login, both_wrong, no_passcode, no_login, nothing,
                    case, blank]
        # Every refusal reads the same, so none tells a guesser which half was right.
        self.assertEqual({(e.get("message"), e.body) for e in refusals},
                         {(wrong_passcode.get("message"), wrong_passcode.body)})
        self.bystander_check()

    def test_the_passcode_of_another_user_is_refused(self):
        self.refusal([("login", "bob"), ("passcode", "wonderland")])
        self.bystander_check()

    def test_a_refused_client_gets_nothing_done(self):
        destination = "/queue/" + unique("auth")
        c = self.client()
        c.send_raw(b"CONNECT\naccept-version:1.2\nhost:/\nlogin:alice\npasscode:x\n\n\0" +
                   ("SEND\ndestination:%s\n\nsneaky\0" % destination).encode())
        self.assert_error(c, "authentication")
        sub = self.connected(login="bob", passcode="builder")
        sub.subscribe(destination, id="s")
        # Had "sneaky" been queued, it would come before the marker.
        self.expect_marker(sub, destination, publisher=sub)
        self.bystander_check()


if __name__ == "__main__":
    unittest.main()
