"""Every ERROR the broker can send, in one catalogue (issue 15).

CATALOGUE lists each ERROR: where broker/src sends it (`site`, a piece of
the sending call), what its `message` header must say, and how a client
provokes it. The tests:

- test_every_error_site_is_catalogued reads broker/src and requires every
  call of fail(), fail_with(), fail_transaction() and refuse() to be claimed
  by an entry, every entry's site to exist, and every broker and parser
  error code to be catalogued (or said not to reach a client, and why). A
  new ERROR without an entry fails here.
- test_every_error_names_its_problem provokes each entry against the real
  broker (raw STOMP, so that any frame can be written), and checks that the
  ERROR arrives, says what is wrong, carries `receipt-id` when the frame asked
  for a receipt, and that the connection then closes.
- Where an ERROR lists what is allowed (ack modes, versions, destination
  kinds, virtual hosts), a test of its own checks the list is exactly right:
  every option it names works, on every protocol version.
"""

import collections
import os
import re
import select
import socket
import threading
import time
import unittest

from conformance_support import broker_config, unique
from stampede_test import FAST_AUTH, Broker, Client, encode_frame, hashed

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BROKER_SRC = os.path.join(ROOT, "broker", "src")

Entry = collections.namedtuple("Entry", "name site expect errcs")


def entry(name, site, expect, errcs=()):
    return Entry(name, site, tuple(expect), tuple(errcs))


# Sites are pieces of the sending call's text, whitespace collapsed. `expect`
# are pieces of the ERROR's `message` header (escapes undone). `errcs` name
# the broker errc (b:...) or parser errc (p:...) values an entry stands for.
CATALOGUE = [
    # -- admission (admission.cpp): before any session exists
    entry("too_many_connections", '"too many connections: the broker serves at most "',
          ["too many connections", "at most 2", "limits.max_connections"]),
    entry("too_many_unauthenticated", '"too many connections from "',
          ["too many connections from 127.0.0.1", "not yet sent CONNECT", "at most 1",
           "limits.max_unauthenticated_per_ip"]),
    # -- connecting (session_connect.cpp, session.cpp)
    entry("first_frame_not_connect", '"the first frame must be CONNECT or STOMP, not "',
          ["the first frame must be CONNECT or STOMP, not SEND"]),
    entry("no_common_version", '"no STOMP version in common: this server speaks "',
          ["no STOMP version in common", "1.0,1.1,1.2"]),
    entry("unknown_virtual_host", '"unknown virtual host \'"',
          ["unknown virtual host 'elsewhere'", "'/', 'other'", "default_virtual_host"]),
    entry("authentication_failed", '"authentication failed: login or passcode not accepted"',
          ["authentication failed"]),
    entry("invalid_heart_beat", "fail(protocol::describe(client_beats.error)",
          ["heart-beat header must be two comma-separated non-negative integers"],
          ["p:invalid_heart_beat"]),
    entry("connect_timeout", '"no CONNECT frame within "',
          ["no CONNECT frame within 1000 ms", "limits.connect_timeout_ms"]),
    entry("second_connect", '"already connected: a second CONNECT is not allowed"',
          ["already connected"]),
    entry("server_frame", '" is a server frame; a client may not send it"',
          ["MESSAGE is a server frame"]),
    entry("heart_beat_timeout", '"heart-beat timeout"', ["heart-beat timeout"]),
    entry("shutting_down", "fail(reason,", ["the broker is shutting down"]),
    entry("slow_consumer", '"slow consumer"', ["slow consumer"]),
    # -- frames the parser refuses (session.cpp on_parse_error)
    entry("parse_command_too_long", "fail(protocol::describe(error)",
          ["command line exceeds the maximum command line length"], ["p:command_too_long"]),
    entry("parse_unknown_command", "fail(protocol::describe(error)",
          ["unknown command"], ["p:unknown_command"]),
    entry("parse_malformed_header", "fail(protocol::describe(error)",
          ["malformed header line"], ["p:malformed_header"]),
    entry("parse_header_line_too_long", "fail(protocol::describe(error)",
          ["header line exceeds the maximum header line length"], ["p:header_line_too_long"]),
    entry("parse_header_line_too_long_before_connect", "fail(protocol::describe(error)",
          ["header line exceeds the maximum header line length"], ["p:header_line_too_long"]),
    entry("parse_too_many_headers", "fail(protocol::describe(error)",
          ["frame exceeds the maximum number of headers"], ["p:too_many_headers"]),
    entry("parse_too_many_headers_before_connect", "fail(protocol::describe(error)",
          ["frame exceeds the maximum number of headers"], ["p:too_many_headers"]),
    entry("parse_invalid_escape", "fail(protocol::describe(error)",
          ["undefined escape sequence in header"], ["p:invalid_escape"]),
    entry("parse_frame_too_large", "fail(protocol::describe(error)",
          ["frame exceeds the maximum frame size"], ["p:frame_too_large"]),
    entry("parse_frame_too_large_before_connect", "fail(protocol::describe(error)",
          ["frame exceeds the maximum frame size"], ["p:frame_too_large"]),
    entry("parse_invalid_content_length", "fail(protocol::describe(error)",
          ["content-length is not a valid decimal octet count"], ["p:invalid_content_length"]),
    entry("parse_missing_null_after_body", "fail(protocol::describe(error)",
          ["not followed by NUL"], ["p:missing_null_after_body"]),
    entry("parse_body_not_allowed", "fail(protocol::describe(error)",
          ["body not allowed", "only SEND, MESSAGE and ERROR"], ["p:body_not_allowed"]),
    entry("parse_invalid_eol", "fail(protocol::describe(error)",
          ["carriage return not followed by line feed"], ["p:invalid_eol"]),
    # -- SEND and publishing (session_publish.cpp, queue.cpp)
    entry("send_without_destination", "\"SEND requires a 'destination' header\"",
          ["SEND requires a 'destination' header"]),
    entry("send_unsupported_destination", "fail(unsupported_destination_text(*destination)",
          ["destination '/exchange/x' is not supported", "/topic/NAME", "/queue/NAME"]),
    entry("send_destination_rate", 'fail_with(target.error(), "publish to "',
          ["cannot publish to /queue/", "faster than 1 per second",
           "limits.max_new_destinations_per_second"], ["b:destination_rate"]),
    entry("send_too_many_destinations", 'fail_with(target.error(), "publish to "',
          ["cannot publish to /queue/", "already has 3 destinations", "limits.max_destinations"],
          ["b:too_many_destinations"]),
    entry("queue_full_with_receipt", '" is full", "queues.max_length "',
          ["queue /queue/", "is full"]),
    entry("queue_full_without_receipt", "fail(rejected.reason,",
          ["is full", "queues.max_length 1", "queues.max_bytes", "queues.overflow reject-publish"]),
    # -- transactions
    entry("begin_without_transaction", "\"BEGIN requires a 'transaction' header\"",
          ["BEGIN requires a 'transaction' header"]),
    entry("commit_without_transaction", "\"COMMIT requires a 'transaction' header\"",
          ["COMMIT requires a 'transaction' header"]),
    entry("abort_without_transaction", "\"ABORT requires a 'transaction' header\"",
          ["ABORT requires a 'transaction' header"]),
    entry("transaction_not_open", '" names " + name + ", which is not open"',
          ["names transaction 'nope', which is not open"], ["b:no_such_transaction"]),
    entry("transaction_already_open", 'fail(name + " is already open"',
          ["transaction 't1' is already open"], ["b:transaction_open"]),
    entry("too_many_transactions", '"too many open transactions: the limit is "',
          ["too many open transactions", "the limit is 1", "limits.max_transactions"],
          ["b:too_many_transactions"]),
    entry("transaction_frames", '" frames (limits.max_frames_per_transaction); it was aborted"',
          ["transaction 't1' exceeds the limit of 2 frames", "limits.max_frames_per_transaction",
           "aborted"], ["b:transaction_frames"]),
    entry("transaction_bytes", '"open transactions would hold more than "',
          ["would hold more than 2048 bytes", "limits.max_transaction_bytes",
           "transaction 't1' was aborted"], ["b:transaction_bytes"]),
    entry("commit_ack_not_pending", '"\') names a message that is not awaiting acknowledgement"',
          ["COMMIT of transaction 't1' refused, nothing applied: frame 2 (ACK of '",
           "not awaiting acknowledgement"]),
    # -- permissions (session_connect.cpp permitted(), session_publish.cpp resolve())
    entry("access_denied", "fail(auth::denial_message(",
          ["access refused: read to '/queue/", "not permitted for user 'limited' on vhost '/'"]),
    entry("configure_denied", 'fail_with(target.error(), "publish to "',
          ["access refused: configure (creating the destination)", "(permissions)"],
          ["b:configure_denied"]),
    entry("commit_destination_rate", "fail_with(target.error(), commit_context(",
          ["cannot commit transaction 't1' (nothing applied): frame 2 (SEND to /queue/",
           "faster than 1 per second", "limits.max_new_destinations_per_second"]),
    entry("commit_queue_full", '"): the queue is full"',
          ["COMMIT of transaction 't1' refused, nothing applied: frame 1 (SEND to /queue/",
           "the queue is full"]),
    # -- SUBSCRIBE, UNSUBSCRIBE (session_subscribe.cpp)
    entry("subscribe_without_destination", "\"SUBSCRIBE requires a 'destination' header\"",
          ["SUBSCRIBE requires a 'destination' header"]),
    entry("subscribe_unsupported_destination", "fail(unsupported_destination_text(*destination)",
          ["destination 'queue/no-slash' is not supported", "/topic/NAME", "/queue/NAME"]),
    entry("subscribe_without_id", "\"SUBSCRIBE requires an 'id' header\"",
          ["SUBSCRIBE requires an 'id' header"]),
    entry("unknown_ack_mode", '"unknown ack mode \'"',
          ["unknown ack mode 'individual'", "use auto, client or client-individual"]),
    entry("bad_prefetch", '" must be a non-negative integer, not \'"',
          ["prefetch-count must be a non-negative integer, not '-1'"]),
    entry("bad_activemq_prefetch", '" must be a non-negative integer, not \'"',
          ["activemq.prefetchSize must be a non-negative integer, not 'ten'"]),
    entry("subscription_id_in_use", 'fail_with(errc::subscription_id_in_use,',
          ["cannot subscribe with id 'dup'", "already in use"], ["b:subscription_id_in_use"]),
    entry("subscribe_destination_rate", 'fail_with(handle.error(), "subscribe to "',
          ["cannot subscribe to /topic/", "limits.max_new_destinations_per_second"]),
    entry("too_many_subscriptions", 'fail_with(added.error(), "subscribe to "',
          ["cannot subscribe to /topic/", "too many subscriptions, the limit is 2",
           "limits.max_subscriptions"], ["b:too_many_subscriptions"]),
    entry("unsubscribe_without_id", '"UNSUBSCRIBE requires an \'id\' header"',
          ["UNSUBSCRIBE requires an 'id' header"]),
    entry("unsubscribe_without_id_or_destination_1_0",
          '"UNSUBSCRIBE requires an \'id\' or a \'destination\' header"',
          ["UNSUBSCRIBE requires an 'id' or a 'destination' header"]),
    entry("unsubscribe_unknown_id", '"UNSUBSCRIBE names subscription \'"',
          ["UNSUBSCRIBE names subscription 'ghost', which does not exist"]),
    # -- ACK and NACK
    entry("ack_without_id_1_2", '" requires an \'id\' header (the MESSAGE\'s \'ack\' header) in STOMP 1.2"',
          ["ACK requires an 'id' header", "'ack' header"]),
    entry("nack_without_message_id_1_1", '" requires a \'message-id\' header in STOMP 1.0 and 1.1"',
          ["NACK requires a 'message-id' header"]),
    entry("ack_unknown_id", '"\', which is not awaiting acknowledgement on this connection"',
          ["ACK names 'nonsense', which is not awaiting acknowledgement"]),
    entry("ack_settled_twice", '"\', which is not awaiting acknowledgement on this connection"',
          ["ACK names '", "which is not awaiting acknowledgement"], ["b:not_awaiting_ack"]),
    entry("ack_in_unknown_transaction", "fail_transaction(added.error(), *tx, what, &frame)",
          ["ACK names transaction 'nope', which is not open"]),
    entry("send_in_unknown_transaction", 'fail_transaction(added.error(), *tx, "SEND", &frame)',
          ["SEND names transaction 'nope', which is not open"]),
    entry("begin_twice", 'fail_transaction(begun.error(), *tx, "BEGIN", &frame)',
          ["transaction 't1' is already open"]),
    entry("abort_unknown", 'fail_transaction(aborted.error(), *tx, "ABORT", &frame)',
          ["ABORT names transaction 'nope', which is not open"]),
    entry("commit_unknown", 'fail_transaction(taken.error(), *tx, "COMMIT", &frame)',
          ["COMMIT names transaction 'nope', which is not open"]),    # -- destination features (session_destinations.cpp, session_publish.cpp)
    entry("send_bad_timing", "fail(timing.error_info().message",
          ["priority", "'urgent'"]),
    entry("topic_delayed_bytes", '" holds too many delayed messages (topics.max_delayed_bytes "',
          ["holds too many delayed messages", "topics.max_delayed_bytes 100"]),
    entry("send_too_many_temporary", 'fail_with(temp.error(), "publish to "',
          ["cannot publish to /temp-queue/b", "too many temporary destinations", "the limit is 1",
           "temp.max_per_connection"], ["b:too_many_temporary"]),
    entry("reply_to_too_many_temporary", 'fail_with(temp.error(), "use reply-to "',
          ["cannot use reply-to /temp-queue/b", "temp.max_per_connection"]),
    entry("reply_to_too_many_subscriptions", 'fail_with(added.error(), "subscribe to reply-to "',
          ["cannot subscribe to reply-to /temp-queue/r", "limits.max_subscriptions"]),
    entry("temporary_gone", '" no longer exists", "its connection has closed',
          ["temporary destination /reply-queue/", "no longer exists"], ["b:no_such_destination"]),
    entry("subscribe_not_owner", 'fail_with(handle.error(), "subscribe to "',
          ["cannot subscribe to /reply-queue/", "belongs to another connection"], ["b:not_owner"]),
    entry("invalid_selector", '"invalid selector: "', ["invalid selector"]),
    entry("browse_a_topic", '"browser:true needs a queue, not "',
          ["browser:true needs a queue, not /topic/"]),
    # -- durable subscriptions (durable_subscriptions.cpp, session_subscribe.cpp)
    entry("durable_without_client_id",
          '"activemq.subscriptionName needs a client-id header on CONNECT"',
          ["activemq.subscriptionName needs a client-id header on CONNECT"]),
    entry("durable_wildcard", '"a durable subscription cannot be a wildcard or a browser"',
          ["a durable subscription cannot be a wildcard or a browser"]),
]

# Sites whose ERROR a client cannot provoke on purpose, and why.
UNPROVOKABLE = {
    'fail_with(from_call_error(done.error()), "publish to "':
        "a topic did not answer in time or the broker is stopping (timed_out, shutting_down)",
    'fail_with(from_call_error(outcome.error()), "publish to "':
        "a queue did not answer in time or the broker is stopping (timed_out, shutting_down)",
    "fail_with(from_call_error(granted.error()), commit_context(":
        "a queue did not answer a COMMIT's reservation in time (timed_out, shutting_down)",
    'fail_with(registered.error(), "subscribe to "':
        "a topic or queue could not take the subscriber (subscribe_failed, timed_out)",
    "fail_with(e, std::string(command) + \" in \" + name, cause)":
        "unreachable today: transaction_log fails only with the errcs handled above it",
    "fail(error_text(e, context, ctx_.cfg), {}, cause)":
        "the definition of fail_with(): its texts are catalogued per errc",
    'fail_with(handle.error(), "use reply-to "':
        "resolving a temporary queue this connection has just made (timed_out, shutting_down)",
    'fail_with(registered.error(), "subscribe to reply-to "':
        "a temporary queue could not take its owner's subscription (subscribe_failed, timed_out)",
    '"a durable operation (persistent SEND, ACK or durable subscription) was not stored"':
        "the journal failed to write or sync (disk full, I/O error); tests/storage's "
        "faults_test injects those failures below the broker",
    '"the WebSocket subprotocol chose STOMP "':
        "over a WebSocket listener only (this suite speaks TCP); tests/browser's "
        "ws_protocol.test.mjs sends a CONNECT that does not accept the subprotocol's version",
}

# Error codes that never reach a client in an ERROR, and why.
NOT_SENT = {
    "b:shutting_down": "sent as 'the broker is shutting down' (entry shutting_down) or through "
                       "an internal call failing while the broker stops (UNPROVOKABLE)",
    "b:timed_out": "an actor call timing out: overload, not provokable on purpose",
    "b:subscribe_failed": "a destination failing to take a subscriber: internal",
    "b:unsupported_destination": "callers check the destination first and send "
                                 "unsupported_destination_text() (entries *_unsupported_destination)",
    "b:queue_full": "not returned today: a full queue answers with a publish_outcome "
                    "(entries queue_full_*, commit_queue_full)",
    "b:no_such_subscription": "not returned today: UNSUBSCRIBE sends its own text "
                              "(entry unsubscribe_unknown_id)",
    "p:ok": "not an error",
    "p:unsupported_version": "the broker answers with its own text (entry no_common_version)",
}


def call_statements():
    """Every fail/fail_with/fail_transaction/refuse call in broker/src, as
    (file:line, text with whitespace collapsed); definitions excluded."""
    pattern = re.compile(r"(?<![\w:])(fail|fail_with|fail_transaction|refuse)\(")
    found = []
    for name in sorted(os.listdir(BROKER_SRC)):
        if not name.endswith(".cpp"):
            continue
        with open(os.path.join(BROKER_SRC, name)) as source:
            text = source.read()
        for match in pattern.finditer(text):
            line = text[text.rfind("\n", 0, match.start()) + 1:text.find("\n", match.start())]
            if line.lstrip().startswith(("void ", "std::", "//")):
                continue
            depth, i = 1, match.end()
            while depth:
                depth += (text[i] == "(") - (text[i] == ")")
                i += 1
            where = "%s:%d" % (name, text.count("\n", 0, match.start()) + 1)
            found.append((where, " ".join(text[match.start():i].split())))
    return found


def errc_names(path, prefix):
    with open(path) as header:
        text = header.read()
    body = text[text.index("enum class errc"):]
    body = body[:body.index("};")]
    return {prefix + m for m in re.findall(r"^\s*(\w+)\s*(?:=\s*\d+)?,", body, re.M)}


class CatalogueCompleteTest(unittest.TestCase):
    def test_every_error_site_is_catalogued(self):
        statements = call_statements()
        self.assertGreater(len(statements), 40)
        sites = [e.site for e in CATALOGUE] + list(UNPROVOKABLE)
        for where, text in statements:
            self.assertTrue(any(site in text for site in sites),
                            "%s sends an ERROR no catalogue entry claims:\n  %s" % (where, text))
        for site in sites:
            self.assertTrue(any(site in text for _, text in statements),
                            "catalogue site not found in broker/src: %s" % site)

    def test_every_error_code_is_catalogued(self):
        codes = (errc_names(os.path.join(BROKER_SRC, "errc.hpp"), "b:")
                 | errc_names(os.path.join(ROOT, "protocol", "include", "stampede", "protocol",
                                           "errc.hpp"), "p:"))
        self.assertIn("p:frame_too_large", codes)
        self.assertIn("b:queue_full", codes)
        covered = {code for e in CATALOGUE for code in e.errcs} | set(NOT_SENT)
        self.assertEqual(sorted(codes - covered), [], "error codes without a catalogue entry")
        self.assertEqual(sorted(covered - codes), [], "catalogued codes that do not exist")

    def test_every_entry_has_a_provocation(self):
        for e in CATALOGUE:
            self.assertTrue(hasattr(ErrorCatalogueTest, "provoke_" + e.name), e.name)
        self.assertEqual(len({e.name for e in CATALOGUE}), len(CATALOGUE))


# ------------------------------------------------------------ provocations

MAIN = broker_config(
    virtual_hosts=["/", "other"],
    users={"guest": hashed("guest"), "limited": hashed("limited")}, auth=FAST_AUTH,
    permissions={"guest": {"/": {"configure": ".*", "write": ".*", "read": ".*"},
                           "other": {"configure": ".*", "write": ".*", "read": ".*"}},
                 "limited": {"/": {"configure": "", "write": ".*", "read": ""}}},
    limits={"max_frame_before_connect": 4096, "max_frame": 16384,
            "max_headers_before_connect": 10, "max_headers": 20,
            "max_header_line_before_connect": 512, "max_header_line": 1024,
            "max_subscriptions": 2, "max_transactions": 1, "max_frames_per_transaction": 2,
            "max_transaction_bytes": 2048, "connect_timeout_ms": 1000},
    queues={"overflow": "reject-publish", "max_length": 1, "max_deliveries": 3})
CAPS = broker_config(limits={"max_connections": 2})
UNAUTHENTICATED = broker_config(limits={"max_unauthenticated_per_ip": 1})
RATE = broker_config(limits={"max_new_destinations_per_second": 1})
CAP = broker_config(limits={"max_destinations": 3})
TEMP = broker_config(temp={"max_per_connection": 1, "send_to_missing": "error"},
                     topics={"max_delayed_bytes": 100})
SLOW = broker_config(publishers={"window_messages": 20},
                     outbound={"max_bytes": 65536, "grace_ms": 200,
                               "slow_consumer": "disconnect"})


class ErrorCatalogueTest(unittest.TestCase):
    """Each provoke_NAME(self) returns the ERROR frame of catalogue entry NAME,
    having checked its receipt-id and the close."""

    brokers = {}

    @classmethod
    def broker(cls, name):
        if name not in cls.brokers:
            config = {"main": MAIN, "caps": CAPS, "unauthenticated": UNAUTHENTICATED,
                      "rate": RATE, "cap": CAP, "slow": SLOW,
                      "temp": TEMP}[name]
            cls.brokers[name] = Broker(config=config).start()
        return cls.brokers[name]

    @classmethod
    def tearDownClass(cls):
        failures = []
        for name, broker in cls.brokers.items():
            status = broker.stop()
            if status != 0:
                failures.append("%s exited %s:\n%s" % (name, status, broker.log()))
        cls.brokers = {}
        if failures:
            raise AssertionError("\n".join(failures))

    # -- helpers

    def raw(self, broker="main"):
        c = Client(self.broker(broker).port)
        self.addCleanup(c.close)
        return c

    def connected(self, version="1.2", broker="main"):
        c = self.raw(broker)
        if broker == "main":
            c.connect(version=version, host="/", login="guest", passcode="guest")
        else:
            c.connect(version=version, host="127.0.0.1")
        return c

    def error(self, c, receipt=None):
        """The ERROR `c` reads next (frames before it are skipped), then the close."""
        frame = c.await_frame("ERROR")
        c.stash = []
        if receipt is not None:
            self.assertEqual(frame.get("receipt-id"), receipt, frame)
        self.assertTrue(frame.body, "an ERROR explains itself in its body too")
        c.expect_closed()
        return frame

    def frame_error(self, command, headers, body=b"", version="1.2", receipt="r"):
        """Sends one frame on a fresh connection; its ERROR, which must carry the receipt-id."""
        c = self.connected(version)
        if receipt:
            headers = dict(headers, receipt=receipt)
        c.send_frame(command, headers, body)
        return self.error(c, receipt)

    def bytes_error(self, data, connect=True):
        c = self.connected() if connect else self.raw()
        c.send_raw(data)
        return self.error(c)

    # -- the checks

    def test_every_error_names_its_problem(self):
        for e in CATALOGUE:
            with self.subTest(e.name):
                frame = getattr(self, "provoke_" + e.name)()
                self.assertEqual(frame.command, "ERROR")
                message = frame.get("message", "")
                for piece in e.expect:
                    self.assertIn(piece, message, "%s: %r" % (e.name, message))

    def test_the_ack_modes_listed_are_the_ack_modes_accepted_on_every_version(self):
        listed = re.search(r"use (.*)$", self.provoke_unknown_ack_mode().get("message")).group(1)
        modes = re.split(r", | or ", listed)
        self.assertEqual(modes, ["auto", "client", "client-individual"])
        for version in ("1.0", "1.1", "1.2"):
            for mode in modes:
                c = self.connected(version)
                c.subscribe(unique("queue", "mode"), id="m", ack=mode)
                c.disconnect()
            c = self.connected(version)
            if version != "1.2":
                c.send_frame("SUBSCRIBE", {"destination": "/queue/x", "id": "bad",
                                           "ack": "individual"})
                self.assertIn("use auto, client or client-individual",
                              self.error(c).get("message"))

    def test_the_versions_listed_are_the_versions_accepted(self):
        frame = self.provoke_no_common_version()
        self.assertEqual(frame.get("version"), "1.0,1.1,1.2")
        listed = frame.get("message").rsplit(" ", 1)[1]
        self.assertEqual(listed, "1.0,1.1,1.2")
        for version in listed.split(","):
            self.assertEqual(self.connected(version).version, version)

    def test_the_destination_kinds_listed_are_the_ones_served(self):
        message = self.provoke_send_unsupported_destination().get("message")
        kinds = re.findall(r"(/\w+/)NAME", message)
        self.assertEqual(kinds, ["/topic/", "/queue/"])
        c = self.connected()
        for kind in kinds:
            c.subscribe(kind + "kinds", id=kind)
            c.send(kind + "kinds", b"x", receipt="sent" + kind)

    def test_the_virtual_hosts_listed_are_the_ones_served(self):
        message = self.provoke_unknown_virtual_host().get("message")
        listed = re.findall(r"'([^']*)'", message.split("serves", 1)[1])
        self.assertEqual(listed, ["/", "other"])
        for vhost in listed:
            c = self.raw()
            c.connect(host=vhost, login="guest", passcode="guest")
            c.disconnect()

    # -- admission

    def provoke_too_many_unauthenticated(self):
        # Two connections that have not sent CONNECT, one allowed per IP: the
        # one the broker accepts second is refused (acceptance order is the
        # broker's, so wait for whichever hears first).
        pair = [self.raw("unauthenticated"), self.raw("unauthenticated")]
        readable, _, _ = select.select([c.sock for c in pair], [], [], 10)
        self.assertTrue(readable, "neither connection was refused")
        refused = next(c for c in pair if c.sock is readable[0])
        admitted = next(c for c in pair if c is not refused)
        frame = refused.expect("ERROR")
        refused.expect_closed()
        admitted.connect(host="127.0.0.1")
        admitted.disconnect()
        return frame

    def provoke_too_many_connections(self):
        holders = [self.raw("caps"), self.raw("caps")]
        for c in holders:
            c.connect(host="127.0.0.1")
        third = self.raw("caps")
        frame = third.expect("ERROR")
        third.expect_closed()
        for c in holders:
            c.disconnect()
        return frame

    # -- connecting

    def provoke_first_frame_not_connect(self):
        c = self.raw()
        c.send_frame("SEND", {"destination": "/queue/a", "receipt": "r"}, b"x")
        return self.error(c, "r")

    def provoke_no_common_version(self):
        c = self.raw()
        c.send_frame("CONNECT", {"accept-version": "2.0,3.1", "host": "/"})
        return self.error(c)

    def provoke_unknown_virtual_host(self):
        c = self.raw()
        c.send_frame("CONNECT", {"accept-version": "1.2", "host": "elsewhere",
                                 "login": "guest", "passcode": "guest"})
        return self.error(c)

    def provoke_authentication_failed(self):
        c = self.raw()
        c.send_frame("CONNECT", {"accept-version": "1.2", "host": "/",
                                 "login": "guest", "passcode": "wrong"})
        return self.error(c)

    def provoke_invalid_heart_beat(self):
        c = self.raw()
        c.send_frame("CONNECT", {"accept-version": "1.2", "host": "/", "login": "guest",
                                 "passcode": "guest", "heart-beat": "often"})
        return self.error(c)

    def provoke_connect_timeout(self):
        return self.error(self.raw())  # say nothing: limits.connect_timeout_ms is 1000

    def provoke_second_connect(self):
        c = self.connected()
        c.send_frame("CONNECT", {"accept-version": "1.2", "host": "/", "receipt": "again"})
        return self.error(c, "again")

    def provoke_server_frame(self):
        return self.frame_error("MESSAGE", {"destination": "/queue/a"}, b"x")

    def provoke_heart_beat_timeout(self):
        # heart-beat 100,0: the broker expects a beat every 100 ms; silence ends it.
        c = self.raw()
        c.connect(host="/", login="guest", passcode="guest", heart_beat="100,0")
        frame = self.error(c)
        self.assertIn("negotiated interval 100 ms", frame.body.decode())
        return frame

    def provoke_shutting_down(self):
        broker = Broker(config=broker_config()).start()
        try:
            c = Client(broker.port)
            self.addCleanup(c.close)
            c.connect(host="127.0.0.1")
        finally:
            self.assertEqual(broker.stop(), 0, broker.log())
        return self.error(c)

    def provoke_slow_consumer(self):
        port = self.broker("slow").port
        topic = unique("topic", "slow")
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        s.connect(("127.0.0.1", port))
        slow = Client.__new__(Client)  # a Client around a small-buffered socket
        slow.sock, slow.buffer, slow.version, slow.heartbeats_received = s, b"", "1.2", 0
        slow.closed, slow.stash = False, []
        self.addCleanup(slow.close)
        slow.connect(host="127.0.0.1")
        slow.subscribe(topic, id="slow")
        publisher = self.connected(broker="slow")
        body = b"x" * 4096
        data = b"".join(encode_frame("SEND", {"destination": topic}, body) for _ in range(2000))
        data += encode_frame("SEND", {"destination": topic, "receipt": "end"}, b"last")
        threading.Thread(target=lambda: self._send_quietly(publisher, data), daemon=True).start()
        # The publisher is held while the slow one's queue is past half of
        # outbound.max_bytes, until the slow one is judged (grace_ms): its last
        # RECEIPT means the judgement has been made. Only then read.
        publisher.await_frame("RECEIPT", {"receipt-id": "end"}, timeout=60)
        deadline = time.monotonic() + 30
        while True:  # read what the slow one was sent, up to its ERROR
            frame = slow.read_frame(max(0.1, deadline - time.monotonic()))
            if frame.command == "ERROR":
                break
        slow.expect_closed()
        self.assertIn("outbound.max_bytes", frame.body.decode())
        return frame

    @staticmethod
    def _send_quietly(client, data):
        try:
            client.send_raw(data)
        except OSError:
            pass

    # -- the parser

    def provoke_parse_command_too_long(self):
        frame = self.bytes_error(b"X" * 2000 + b"\n\n\0")
        self.assertIn("limits.max_command_line", frame.body.decode())
        return frame

    def provoke_parse_unknown_command(self):
        return self.bytes_error(b"PUBLISH\ndestination:/queue/a\n\n\0")

    def provoke_parse_malformed_header(self):
        return self.bytes_error(b"SEND\ndestination /queue/a\n\n\0")

    def provoke_parse_header_line_too_long(self):
        frame = self.bytes_error(b"SEND\nx:" + b"v" * 1100 + b"\n\n\0")
        self.assertIn("1024 bytes (limits.max_header_line)", frame.body.decode())
        return frame

    def provoke_parse_header_line_too_long_before_connect(self):
        frame = self.bytes_error(b"CONNECT\nx:" + b"v" * 600 + b"\n\n\0", connect=False)
        self.assertIn("512 bytes (limits.max_header_line_before_connect)", frame.body.decode())
        return frame

    def provoke_parse_too_many_headers(self):
        headers = b"".join(b"h%d:v\n" % i for i in range(21))
        frame = self.bytes_error(b"SEND\ndestination:/queue/a\n" + headers + b"\n\0")
        self.assertIn("at most 20 headers (limits.max_headers)", frame.body.decode())
        return frame

    def provoke_parse_too_many_headers_before_connect(self):
        headers = b"".join(b"h%d:v\n" % i for i in range(11))
        frame = self.bytes_error(b"CONNECT\n" + headers + b"\n\0", connect=False)
        self.assertIn("at most 10 headers (limits.max_headers_before_connect)",
                      frame.body.decode())
        return frame

    def provoke_parse_invalid_escape(self):
        return self.bytes_error(b"SEND\ndestination:/queue/a\\t\n\n\0")

    def provoke_parse_frame_too_large(self):
        frame = self.bytes_error(b"SEND\ndestination:/queue/a\n\n" + b"b" * 17000 + b"\0")
        self.assertIn("16384 bytes (limits.max_frame)", frame.body.decode())
        return frame

    def provoke_parse_frame_too_large_before_connect(self):
        frame = self.bytes_error(b"SEND\ndestination:/queue/a\n\n" + b"b" * 5000 + b"\0",
                                 connect=False)
        self.assertIn("4096 bytes (limits.max_frame_before_connect)", frame.body.decode())
        return frame

    def provoke_parse_invalid_content_length(self):
        return self.bytes_error(b"SEND\ndestination:/queue/a\ncontent-length:ten\n\n\0")

    def provoke_parse_missing_null_after_body(self):
        return self.bytes_error(b"SEND\ndestination:/queue/a\ncontent-length:1\n\nab\0")

    def provoke_parse_body_not_allowed(self):
        return self.bytes_error(b"BEGIN\ntransaction:t\n\nbody\0")

    def provoke_parse_invalid_eol(self):
        return self.bytes_error(b"SEND\r\ndestination:/queue/a\r\r\n\r\n\0")

    # -- SEND and publishing

    def provoke_send_without_destination(self):
        return self.frame_error("SEND", {}, b"x")

    def provoke_send_unsupported_destination(self):
        return self.frame_error("SEND", {"destination": "/exchange/x"}, b"x")

    def limited(self):
        c = self.raw()
        c.connect(host="/", login="limited", passcode="limited")
        return c

    def provoke_access_denied(self):
        c = self.limited()
        c.send_frame("SUBSCRIBE", {"destination": unique("queue", "denied"), "id": "1",
                                   "receipt": "r"})
        return self.error(c, "r")

    def provoke_configure_denied(self):
        c = self.limited()
        c.send_frame("SEND", {"destination": unique("queue", "uncreated"), "receipt": "r"}, b"x")
        return self.error(c, "r")

    def provoke_send_destination_rate(self):
        # One new destination per second per connection: the second is refused.
        c = self.connected(broker="rate")
        c.send(unique("queue", "rate"), b"x", receipt="first")
        c.send_frame("SEND", {"destination": unique("queue", "rate"), "receipt": "second"}, b"x")
        return self.error(c, "second")

    def provoke_send_too_many_destinations(self):
        # Three destinations broker-wide (each keeps a message, so none is
        # reclaimed): the fourth is refused.
        c = self.connected(broker="cap")
        for n in range(3):
            c.send(unique("queue", "cap"), b"kept", receipt="kept-%d" % n)
        c.send_frame("SEND", {"destination": unique("queue", "cap"), "receipt": "fourth"}, b"x")
        return self.error(c, "fourth")

    def provoke_queue_full_with_receipt(self):
        queue = unique("queue", "full")
        c = self.connected()
        c.send(queue, b"one", receipt="one")  # max_length 1, no consumer
        c.send_frame("SEND", {"destination": queue, "receipt": "two"}, b"two")
        frame = self.error(c, "two")
        self.assertIn("queues.max_length 1", frame.body.decode())
        self.assertIn("queues.overflow reject-publish", frame.body.decode())
        return frame

    def provoke_queue_full_without_receipt(self):
        queue = unique("queue", "full")
        c = self.connected()
        c.send(queue, b"one", receipt="one")
        c.send_frame("SEND", {"destination": queue}, b"two")
        return self.error(c)

    # -- transactions

    def provoke_begin_without_transaction(self):
        return self.frame_error("BEGIN", {})

    def provoke_commit_without_transaction(self):
        return self.frame_error("COMMIT", {})

    def provoke_abort_without_transaction(self):
        return self.frame_error("ABORT", {})

    def provoke_transaction_not_open(self):
        return self.frame_error("COMMIT", {"transaction": "nope"})

    provoke_commit_unknown = provoke_transaction_not_open

    def provoke_abort_unknown(self):
        return self.frame_error("ABORT", {"transaction": "nope"})

    def provoke_transaction_already_open(self):
        c = self.connected()
        c.send_frame("BEGIN", {"transaction": "t1", "receipt": "b1"})
        c.await_frame("RECEIPT", {"receipt-id": "b1"})
        c.send_frame("BEGIN", {"transaction": "t1", "receipt": "b2"})
        return self.error(c, "b2")

    provoke_begin_twice = provoke_transaction_already_open

    def provoke_too_many_transactions(self):
        c = self.connected()
        c.send_frame("BEGIN", {"transaction": "t1"})
        c.send_frame("BEGIN", {"transaction": "t2", "receipt": "b2"})
        return self.error(c, "b2")

    def provoke_transaction_frames(self):
        c = self.connected()
        c.send_frame("BEGIN", {"transaction": "t1"})
        for n in range(3):
            c.send_frame("SEND", {"destination": "/queue/tx", "transaction": "t1",
                                  "receipt": "s%d" % n}, b"x")
        return self.error(c, "s2")

    def provoke_transaction_bytes(self):
        c = self.connected()
        c.send_frame("BEGIN", {"transaction": "t1"})
        c.send_frame("SEND", {"destination": "/queue/tx", "transaction": "t1", "receipt": "big"},
                     b"x" * 3000)
        return self.error(c, "big")

    def provoke_commit_ack_not_pending(self):
        queue = unique("queue", "txack")
        c = self.connected()
        c.subscribe(queue, id="s", ack="client-individual")
        c.send(queue, b"work", receipt="sent")
        ack = c.await_frame("MESSAGE").get("ack")
        c.send_frame("BEGIN", {"transaction": "t1"})
        c.send_frame("ACK", {"id": ack, "transaction": "t1"})
        c.send_frame("ACK", {"id": ack, "transaction": "t1"})  # the same delivery again
        c.send_frame("COMMIT", {"transaction": "t1", "receipt": "c"})
        return self.error(c, "c")

    def provoke_commit_destination_rate(self):
        c = self.connected(broker="rate")
        c.send_frame("BEGIN", {"transaction": "t1"})
        c.send_frame("SEND", {"destination": unique("queue", "txrate"), "transaction": "t1"},
                     b"a")
        c.send_frame("SEND", {"destination": unique("queue", "txrate"), "transaction": "t1"},
                     b"b")
        c.send_frame("COMMIT", {"transaction": "t1", "receipt": "c"})
        return self.error(c, "c")

    def provoke_commit_queue_full(self):
        queue = unique("queue", "txfull")
        c = self.connected()
        c.send(queue, b"one", receipt="one")  # the queue (max_length 1) is full
        c.send_frame("BEGIN", {"transaction": "t1"})
        c.send_frame("SEND", {"destination": queue, "transaction": "t1"}, b"two")
        c.send_frame("COMMIT", {"transaction": "t1", "receipt": "c"})
        frame = self.error(c, "c")
        self.assertIn("queues.max_length 1", frame.body.decode())
        return frame

    def provoke_send_in_unknown_transaction(self):
        return self.frame_error("SEND", {"destination": "/queue/a", "transaction": "nope"}, b"x")

    def provoke_ack_in_unknown_transaction(self):
        queue = unique("queue", "acktx")
        c = self.connected()
        c.subscribe(queue, id="s", ack="client")
        c.send(queue, b"work", receipt="sent")
        ack = c.await_frame("MESSAGE").get("ack")
        c.send_frame("ACK", {"id": ack, "transaction": "nope", "receipt": "a"})
        return self.error(c, "a")

    # -- SUBSCRIBE and UNSUBSCRIBE

    def provoke_subscribe_without_destination(self):
        return self.frame_error("SUBSCRIBE", {"id": "1"})

    def provoke_subscribe_unsupported_destination(self):
        return self.frame_error("SUBSCRIBE", {"id": "1", "destination": "queue/no-slash"})

    def provoke_subscribe_without_id(self):
        return self.frame_error("SUBSCRIBE", {"destination": "/queue/a"}, version="1.1")

    def provoke_unknown_ack_mode(self):
        return self.frame_error("SUBSCRIBE", {"id": "1", "destination": "/queue/a",
                                              "ack": "individual"})

    def provoke_bad_prefetch(self):
        return self.frame_error("SUBSCRIBE", {"id": "1", "destination": "/queue/a",
                                              "prefetch-count": "-1"})

    def provoke_bad_activemq_prefetch(self):
        return self.frame_error("SUBSCRIBE", {"id": "1", "destination": "/queue/a",
                                              "activemq.prefetchSize": "ten"})

    def provoke_subscription_id_in_use(self):
        c = self.connected()
        c.subscribe(unique("topic", "dup"), id="dup")
        c.send_frame("SUBSCRIBE", {"id": "dup", "destination": unique("topic", "dup"),
                                   "receipt": "again"})
        return self.error(c, "again")

    def provoke_subscribe_destination_rate(self):
        c = self.connected(broker="rate")
        c.subscribe(unique("topic", "subrate"), id="1")
        c.send_frame("SUBSCRIBE", {"id": "2", "destination": unique("topic", "subrate"),
                                   "receipt": "s2"})
        return self.error(c, "s2")

    def provoke_too_many_subscriptions(self):
        c = self.connected()
        c.subscribe(unique("topic", "subs"), id="1")
        c.subscribe(unique("topic", "subs"), id="2")
        c.send_frame("SUBSCRIBE", {"id": "3", "destination": unique("topic", "subs"),
                                   "receipt": "s3"})
        return self.error(c, "s3")

    # -- destination features

    def provoke_send_bad_timing(self):
        return self.frame_error("SEND", {"destination": "/queue/timing", "priority": "urgent"})

    def provoke_topic_delayed_bytes(self):
        c = self.connected(broker="temp")
        c.send_frame("SEND", {"destination": unique("topic", "later"), "receipt": "late",
                              "AMQ_SCHEDULED_DELAY": "60000"}, b"x" * 200)
        return self.error(c, "late")

    def provoke_send_too_many_temporary(self):
        c = self.connected(broker="temp")
        c.send("/temp-queue/a", b"one", receipt="a")
        c.send_frame("SEND", {"destination": "/temp-queue/b", "receipt": "b"}, b"two")
        return self.error(c, "b")

    def provoke_reply_to_too_many_temporary(self):
        c = self.connected(broker="temp")
        c.send(unique("queue", "requests"), b"one", {"reply-to": "/temp-queue/a"}, receipt="a")
        c.send_frame("SEND", {"destination": unique("queue", "requests"), "receipt": "b",
                              "reply-to": "/temp-queue/b"}, b"two")
        return self.error(c, "b")

    def provoke_reply_to_too_many_subscriptions(self):
        c = self.connected()  # limits.max_subscriptions 2
        c.subscribe(unique("topic", "subs"), id="1")
        c.subscribe(unique("topic", "subs"), id="2")
        c.send_frame("SEND", {"destination": unique("queue", "requests"), "receipt": "req",
                              "reply-to": "/temp-queue/r"}, b"request")
        return self.error(c, "req")

    def temporary_reply_to(self, broker):
        """A connection that made /temp-queue/r, and the name others reply to."""
        service = unique("queue", "service")
        responder = self.connected(broker=broker)
        responder.subscribe(service, id="svc")
        requester = self.connected(broker=broker)
        requester.send(service, b"request", {"reply-to": "/temp-queue/r"}, receipt="req")
        return requester, responder.expect("MESSAGE").get("reply-to")

    def provoke_temporary_gone(self):
        requester, reply_to = self.temporary_reply_to("temp")
        requester.disconnect()
        c = self.connected(broker="temp")
        # The queue goes with its owner, after the owner's DISCONNECT receipt:
        # send until the broker refuses (each RECEIPT means not gone yet).
        for attempt in range(200):
            c.send_frame("SEND", {"destination": reply_to, "receipt": "r%d" % attempt}, b"late")
            frame = c.read_frame()
            if frame.command == "ERROR":
                self.assertEqual(frame.get("receipt-id"), "r%d" % attempt)
                c.expect_closed()
                return frame
            self.assertEqual(frame.command, "RECEIPT", frame)
            time.sleep(0.02)
        self.fail("the temporary queue outlived its owner")

    def provoke_subscribe_not_owner(self):
        _requester, reply_to = self.temporary_reply_to("main")
        thief = self.connected()
        thief.send_frame("SUBSCRIBE", {"destination": reply_to, "id": "t", "receipt": "t"})
        return self.error(thief, "t")

    def provoke_invalid_selector(self):
        return self.frame_error("SUBSCRIBE", {"destination": "/queue/sel", "id": "s",
                                              "selector": "price > > 3"})

    def provoke_browse_a_topic(self):
        return self.frame_error("SUBSCRIBE", {"destination": "/topic/browse", "id": "b",
                                              "browser": "true"})

    def provoke_durable_without_client_id(self):
        return self.frame_error("SUBSCRIBE", {"destination": "/topic/durable", "id": "d",
                                              "activemq.subscriptionName": "kept"})

    def provoke_durable_wildcard(self):
        return self.frame_error("SUBSCRIBE", {"destination": "/topic/durable.*", "id": "d",
                                              "durable": "true", "auto-delete": "false"})

    def provoke_unsubscribe_without_id(self):
        return self.frame_error("UNSUBSCRIBE", {"destination": "/queue/a"}, version="1.1")

    def provoke_unsubscribe_without_id_or_destination_1_0(self):
        return self.frame_error("UNSUBSCRIBE", {}, version="1.0")

    def provoke_unsubscribe_unknown_id(self):
        return self.frame_error("UNSUBSCRIBE", {"id": "ghost"})

    # -- ACK and NACK

    def provoke_ack_without_id_1_2(self):
        return self.frame_error("ACK", {"message-id": "m-1"})

    def provoke_nack_without_message_id_1_1(self):
        return self.frame_error("NACK", {"id": "1", "subscription": "s"}, version="1.1")

    def provoke_ack_unknown_id(self):
        return self.frame_error("ACK", {"id": "nonsense"})

    def provoke_ack_settled_twice(self):
        # An id of this connection's form, for a delivery that is not pending:
        # found by its form, refused when settling.
        queue = unique("queue", "twice")
        c = self.connected()
        c.subscribe(queue, id="s", ack="client-individual")
        c.send(queue, b"once", receipt="sent")
        ack = c.await_frame("MESSAGE").get("ack")
        c.send_frame("ACK", {"id": ack, "receipt": "a1"})
        c.await_frame("RECEIPT", {"receipt-id": "a1"})
        c.send_frame("ACK", {"id": ack, "receipt": "a2"})
        frame = self.error(c, "a2")
        self.assertIn(ack, frame.get("message"))
        return frame


if __name__ == "__main__":
    unittest.main()
