"""Cross-client interoperability: a message sent by one library arrives
intact, headers and body, at another.

Every ordered pair of stomp.py (1.2 and 1.0), the Ruby gem (1.2 and 1.1)
and Net::Stomp (1.0), on a queue and on a topic. Each message carries a
binary body with NULs and UTF-8 text (so content-length must be honoured on
both sides) and user headers: a colon and UTF-8 in every pair, and newline
and backslash where both ends speak 1.1+ and so escape them. A 1.0 sender's
raw backslash reaches a 1.2 receiver as a backslash: the broker parses 1.0
headers without unescaping and escapes them for the 1.2 connection.
"""

import itertools
import unittest

from conformance_support import (BackgroundScript, BrokerCase, hex_body, run_script, unhex,
                                 unique)

BODY = (b"\x00starts with NUL; " + "UTF-8: grüße ☃ 世界; ".encode("utf-8")
        + bytes(range(256)) + b"\x00ends with NUL\x00")

ENDPOINTS = [("stomp.py", "1.2"), ("stomp.py", "1.0"), ("ruby", "1.2"), ("ruby", "1.1"),
             ("perl", "1.0")]


def headers_for(sender, receiver):
    """User headers both ends can carry (see the module doc)."""
    headers = {"x-interop": "%s %s to %s %s" % (sender + receiver),
               "x-colon": "a:b:c",
               "x-unicode": "héllo ☃ wörld",
               "content-type": "application/octet-stream"}
    if sender[1] != "1.0" and receiver[1] != "1.0":
        headers["x-newline"] = "one\ntwo"
        headers["x-backslash"] = "back\\slash"
    if sender[1] == "1.2" and receiver[1] == "1.2":
        headers["x-cr"] = "carriage\rreturn"
    if sender[1] == "1.0" and receiver[1] != "1.0":
        headers["x-raw-backslash"] = "C:\\dir"
    return headers


class Receiver:
    """A subscriber of one library, subscribed (RECEIPT seen) on creation."""

    def __init__(self, test, endpoint, destination):
        self.library, self.version = endpoint
        self.destination = destination
        if self.library == "stomp.py":
            self.conn, self.recorder = test.open(self.version, auto_decode=False)
            self.conn.subscribe(destination, id="interop", ack="auto", receipt="interop-sub")
            self.recorder.wait_receipt("interop-sub")
        else:
            self.script = BackgroundScript(self.library, test.broker.port, self.version,
                                           "receive", {"destination": destination})
            test.addCleanup(self.script.kill)
            self.script.wait_ready()

    def message(self):
        """(headers, body bytes) of the one message received."""
        if self.library == "stomp.py":
            frame = self.recorder.wait_messages(1)[0]
            return frame.headers, frame.body
        report = self.script.report()
        return report["message"]["headers"], unhex(report["message"]["body_hex"])


def send(test, endpoint, destination, headers, body):
    library, version = endpoint
    if library == "stomp.py":
        conn, recorder = test.open(version, auto_decode=False)
        conn.send(destination, body, headers=dict(headers), receipt="interop-send")
        recorder.wait_receipt("interop-send")
        return
    report = run_script(library, test.broker.port, version, "send",
                        {"destination": destination, "headers": headers,
                         "body_hex": hex_body(body)})
    test.assertEqual(report["receipts"], ["pub-1"])


class InteropTest(BrokerCase, unittest.TestCase):
    def check_pair(self, sender, receiver, kind):
        destination = unique(kind, "interop")
        headers = headers_for(sender, receiver)
        subscriber = Receiver(self, receiver, destination)
        send(self, sender, destination, headers, BODY)
        got_headers, got_body = subscriber.message()
        self.assertEqual(got_body, BODY)
        self.assertEqual(got_headers.get("content-length"), str(len(BODY)))
        self.assertEqual(got_headers.get("destination"), destination)
        for name, value in headers.items():
            self.assertEqual(got_headers.get(name), value, "header %s" % name)

    def test_values_the_gem_mis_decodes_are_escaped_right_on_the_wire(self):
        # ruby-stomp 1.4.10 decodes escapes with one gsub per escape, the
        # backslash-backslash one first, so the backslash it yields is read
        # again as the start of an escape: the value C:<backslash>new (wire
        # form C<backslash>c<backslash><backslash>new) comes out of the gem as
        # "C:" newline "ew". The broker's wire form is checked in the gem's raw
        # frame (Message#original) instead.
        queue = unique("queue", "wire")
        send(self, ("stomp.py", "1.2"), queue, {"x-path": "C:\\new", "x-esc": "a\\\\cb"}, b"w")
        report = run_script("ruby", self.broker.port, "1.2", "receive", {"destination": queue})
        head = report["raw_head"].split("\n")
        self.assertIn("x-path:C\\c\\\\new", head)
        self.assertIn("x-esc:a\\\\\\\\cb", head)

    def test_escaped_header_names_ruby_to_stomppy(self):
        # The gem escapes names as well as values (stomp.py escapes values only).
        queue = unique("queue", "names")
        subscriber = Receiver(self, ("stomp.py", "1.2"), queue)
        headers = {"x-odd:name": "colon in the name", "x-nl\nname": "newline in the name",
                   "x-back\\name": "backslash in the name"}
        send(self, ("ruby", "1.2"), queue, headers, b"names")
        got_headers, got_body = subscriber.message()
        self.assertEqual(got_body, b"names")
        for name, value in headers.items():
            self.assertEqual(got_headers.get(name), value, "header %r" % name)


def _name(endpoint):
    return endpoint[0].replace(".", "") + endpoint[1].replace(".", "")


def _add_pair(sender, receiver, kind):
    def test(self):
        self.check_pair(sender, receiver, kind)
    test.__doc__ = "%s %s -> %s %s on a %s" % (sender + receiver + (kind,))
    setattr(InteropTest, "test_%s_%s_to_%s" % (kind, _name(sender), _name(receiver)), test)


for _sender, _receiver in itertools.permutations(ENDPOINTS, 2):
    if _sender[0] == _receiver[0]:
        continue  # one library talking to itself is the per-library modules' business
    _add_pair(_sender, _receiver, "queue")
    _add_pair(_sender, _receiver, "topic")


if __name__ == "__main__":
    unittest.main()
