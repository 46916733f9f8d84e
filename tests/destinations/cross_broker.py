#!/usr/bin/env python3
"""The destination features of issue 13, observed on Stampede, RabbitMQ and
ActiveMQ with the same raw STOMP 1.2 frames, and printed as the table of
where they differ (README's "Differences from RabbitMQ and ActiveMQ").

    tests/destinations/cross_broker.py --start            # starts all three, stops them after
    tests/destinations/cross_broker.py --stampede 61613 --rabbitmq 61633 --activemq 61634
    ... --json evidence.json --markdown table.md

--start runs $STAMPEDE_BIN (default build/stampede, default configuration) on
a free port of 127.0.0.1 and the peers with scripts/peers.sh on 61633
(RabbitMQ) and 61634 (ActiveMQ), in a private PEERS_STATE_DIR, each with its
default configuration; run it under the peers lock (shared/PEERS.md).
--only AREA keeps the scenarios of one area (`--only none`: none at all);
--rtt N also times N request/reply round trips over /temp-queue/ per broker.

This is a probe that reports what each broker does, not a pass/fail test:
where a behaviour is "nothing arrives", it waits a fixed grace period
(--grace, 1.5 s by default) after a barrier (a RECEIPT, or a later message
on the same path), which a loaded machine can stretch but not reorder.
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

from stampede_test import Broker, Client, ConnectionClosed  # noqa: E402

GRACE = 1.5


class Target:
    """One broker under observation: how to connect to it."""

    def __init__(self, name, port, login=None, passcode=None):
        self.name = name
        self.port = port
        self.login = login
        self.passcode = passcode
        self.run = "%d" % int(time.time() * 1000)
        self.counter = 0

    def unique(self, prefix):
        self.counter += 1
        return "%s-%s-%d" % (prefix, self.run, self.counter)

    def connect(self):
        c = Client(self.port)
        c.connect("1.2", host="/", login=self.login, passcode=self.passcode)
        return c


# ---- helpers ----

def receipt(c, command, headers, body=b""):
    """Sends a frame with a receipt; returns the RECEIPT, or the ERROR's
    message as a string when the broker refused it."""
    r = "r%d" % time.monotonic_ns()
    h = dict(headers)
    h["receipt"] = r
    c.send_frame(command, h, body)
    # Frames that come first (a MESSAGE) are kept for later reads; they go
    # back to the stash only once the wait is over, since read_frame
    # returns stashed frames first.
    early = []
    try:
        while True:
            f = c.read_frame(10)
            if f.command == "RECEIPT" and f.get("receipt-id") == r:
                return f
            if f.command == "ERROR":
                return "ERROR: " + f.get("message", "")
            early.append(f)
    finally:
        c.stash[:0] = early


def collect(c, grace=None, stop=None):
    """Frames until `grace` seconds pass with nothing (or `stop(frame)`)."""
    out = []
    while True:
        try:
            f = c.read_frame(grace or GRACE)
        except (TimeoutError, ConnectionClosed):
            return out
        out.append(f)
        if stop and stop(f):
            return out


def bodies(frames):
    return [f.body.decode() for f in frames if f.command == "MESSAGE"]


def closing(*clients):
    for c in clients:
        try:
            c.close()
        except OSError:
            pass


def errors(frames):
    return [f.get("message", "") for f in frames if f.command == "ERROR"]


# ---- scenarios: each returns a short observation ----

def reply_to_without_subscribe(t):
    """reply-to:/temp-queue/NAME on a SEND, no SUBSCRIBE: what the responder
    sees in reply-to, and whether the reply reaches the requester."""
    svc, req = t.connect(), t.connect()
    q = "/queue/" + t.unique("svc")
    receipt(svc, "SUBSCRIBE", {"destination": q, "id": "s"})
    receipt(req, "SEND", {"destination": q, "reply-to": "/temp-queue/r"}, "ping")
    request = collect(svc, stop=lambda f: f.command == "MESSAGE")
    if not request:
        return "request lost"
    reply_to = request[-1].get("reply-to", "")
    receipt(svc, "SEND", {"destination": reply_to}, "pong")
    got = collect(req, stop=lambda f: f.command == "MESSAGE")
    closing(svc, req)
    prefix = "/".join(reply_to.split("/")[:2]) + "/"
    if got and got[-1].command == "MESSAGE":
        return "rewritten to %s...; reply arrives (subscription %s)" % (
            prefix, got[-1].get("subscription"))
    return "rewritten to %s...; reply never arrives (needs a SUBSCRIBE)" % prefix


def reply_to_with_subscribe(t):
    """SUBSCRIBE /temp-queue/NAME first, then reply-to:/temp-queue/NAME."""
    svc, req = t.connect(), t.connect()
    q = "/queue/" + t.unique("svc")
    receipt(svc, "SUBSCRIBE", {"destination": q, "id": "s"})
    r = receipt(req, "SUBSCRIBE", {"destination": "/temp-queue/mine", "id": "mine"})
    if isinstance(r, str):
        closing(svc, req)
        return "SUBSCRIBE refused: " + r[:80]
    receipt(req, "SEND", {"destination": q, "reply-to": "/temp-queue/mine"}, "ping")
    request = collect(svc, stop=lambda f: f.command == "MESSAGE")
    receipt(svc, "SEND", {"destination": request[-1].get("reply-to", "")}, "pong")
    got = collect(req, stop=lambda f: f.command == "MESSAGE")
    closing(svc, req)
    messages = [f for f in got if f.command == "MESSAGE"]
    if not messages:
        return "reply never arrives"
    return "reply arrives on subscription %s" % messages[0].get("subscription")


def temp_topic(t):
    """SUBSCRIBE /temp-topic/NAME, reply-to it, a reply sent there."""
    svc, req = t.connect(), t.connect()
    q = "/queue/" + t.unique("svc")
    receipt(svc, "SUBSCRIBE", {"destination": q, "id": "s"})
    r = receipt(req, "SUBSCRIBE", {"destination": "/temp-topic/events", "id": "ev"})
    if isinstance(r, str):
        closing(svc, req)
        return "SUBSCRIBE refused: " + r[:80]
    receipt(req, "SEND", {"destination": q, "reply-to": "/temp-topic/events"}, "ping")
    request = collect(svc, stop=lambda f: f.command == "MESSAGE")
    reply_to = request[-1].get("reply-to", "") if request else ""
    sent = receipt(svc, "SEND", {"destination": reply_to}, "event")
    got = collect(req, stop=lambda f: f.command == "MESSAGE")
    closing(svc, req)
    if isinstance(sent, str):
        return "reply-to %s; SEND refused: %s" % (reply_to[:24], sent[:60])
    if bodies(got):
        return "works (reply-to %s...)" % "/".join(reply_to.split("/")[:2])
    return "reply-to %r; nothing arrives" % reply_to[:30]


def temp_queue_consumed_by_another(t):
    """Another connection SUBSCRIBEs to a rewritten reply-to name."""
    svc, req, thief = t.connect(), t.connect(), t.connect()
    q = "/queue/" + t.unique("svc")
    receipt(svc, "SUBSCRIBE", {"destination": q, "id": "s"})
    receipt(req, "SUBSCRIBE", {"destination": "/temp-queue/x", "id": "x"})
    receipt(req, "SEND", {"destination": q, "reply-to": "/temp-queue/x"}, "ping")
    request = collect(svc, stop=lambda f: f.command == "MESSAGE")
    reply_to = request[-1].get("reply-to", "")
    r = receipt(thief, "SUBSCRIBE", {"destination": reply_to, "id": "t"})
    closing(svc, req, thief)
    if isinstance(r, str):
        return "refused (ERROR)"
    return "allowed"


def send_to_deleted_temp_queue(t):
    """The owner disconnects; then a reply is sent to its temporary queue."""
    svc, req = t.connect(), t.connect()
    q = "/queue/" + t.unique("svc")
    receipt(svc, "SUBSCRIBE", {"destination": q, "id": "s"})
    receipt(req, "SUBSCRIBE", {"destination": "/temp-queue/gone", "id": "g"})
    receipt(req, "SEND", {"destination": q, "reply-to": "/temp-queue/gone"}, "ping")
    request = collect(svc, stop=lambda f: f.command == "MESSAGE")
    reply_to = request[-1].get("reply-to", "")
    receipt(req, "DISCONNECT", {})
    closing(req)
    time.sleep(GRACE)  # the peers delete it asynchronously
    r = receipt(svc, "SEND", {"destination": reply_to}, "too late")
    closing(svc)
    if isinstance(r, str):
        return "ERROR: " + r[7:70]
    return "RECEIPT, message dropped"


def wildcards(t):
    """Which of a, a.b, a.b.c, x.b reach subscriptions to a.*, a.#, a.>."""
    out = []
    for pattern in ("*", "#", ">"):
        base = t.unique("w")
        sub, pub = t.connect(), t.connect()
        r = receipt(sub, "SUBSCRIBE", {"destination": "/topic/%s.%s" % (base, pattern),
                                       "id": "w"})
        if isinstance(r, str):
            out.append("%s refused" % pattern)
            closing(sub, pub)
            continue
        for name in ("", ".b", ".b.c"):
            receipt(pub, "SEND", {"destination": "/topic/" + base + name}, "a" + name)
        receipt(pub, "SEND", {"destination": "/topic/x" + base + ".b"}, "x.b")
        got = bodies(collect(sub))
        out.append("a.%s: %s" % (pattern, ",".join(got) if got else "none"))
        closing(sub, pub)
    return "; ".join(out)


def priority_order(t):
    """Priorities 1, 9, none, 5 sent to a queue, then a consumer."""
    pub = t.connect()
    q = "/queue/" + t.unique("prio")
    for body, prio in (("p1", "1"), ("p9", "9"), ("none", None), ("p5", "5")):
        h = {"destination": q}
        if prio:
            h["priority"] = prio
        receipt(pub, "SEND", h, body)
    sub = t.connect()
    receipt(sub, "SUBSCRIBE", {"destination": q, "id": "p"})
    got = bodies(collect(sub))
    closing(pub, sub)
    return ",".join(got)


def expires_in_the_past(t):
    """expires (absolute ms) already past, then a fresh message."""
    pub = t.connect()
    q = "/queue/" + t.unique("exp")
    receipt(pub, "SEND", {"destination": q, "expires": str(int(time.time() * 1000) - 60000)},
            "stale")
    receipt(pub, "SEND", {"destination": q}, "fresh")
    sub = t.connect()
    receipt(sub, "SUBSCRIBE", {"destination": q, "id": "e"})
    got = bodies(collect(sub))
    closing(pub, sub)
    return "not delivered" if got == ["fresh"] else "delivered (%s)" % ",".join(got)


def expiration_ttl(t):
    """expiration:100 (RabbitMQ's TTL), 500 ms waiting, then a consumer."""
    pub = t.connect()
    q = "/queue/" + t.unique("ttl")
    receipt(pub, "SEND", {"destination": q, "expiration": "100"}, "short")
    receipt(pub, "SEND", {"destination": q}, "fresh")
    time.sleep(0.5)
    sub = t.connect()
    receipt(sub, "SUBSCRIBE", {"destination": q, "id": "e"})
    got = bodies(collect(sub))
    closing(pub, sub)
    return "expired" if got == ["fresh"] else "ignored (delivered)"


def selector_numeric_header(t):
    """selector `size > 3` against size:10 and size:2 (headers are strings)."""
    return selector_probe(t, "size > 3", [("ten", {"size": "10"}), ("two", {"size": "2"})])


def selector_absent_header(t):
    """selector `colour <> 'red'` against colour:blue and no colour."""
    return selector_probe(t, "colour <> 'red'", [("blue", {"colour": "blue"}), ("none", {})])


def selector_not_precedence(t):
    """selector `NOT n = 1` against n:1 and n:2 (NOT binds looser than = in JMS)."""
    return selector_probe(t, "NOT n = 1", [("one", {"n": "1"}), ("two", {"n": "2"})])


def selector_probe(t, selector, messages):
    topic = "/topic/" + t.unique("sel")
    sub, pub = t.connect(), t.connect()
    r = receipt(sub, "SUBSCRIBE", {"destination": topic, "id": "s", "selector": selector})
    if isinstance(r, str):
        closing(sub, pub)
        return "SUBSCRIBE refused: " + r[7:60]
    for body, headers in messages:
        h = {"destination": topic}
        h.update(headers)
        receipt(pub, "SEND", h, body)
    got = bodies(collect(sub))
    closing(sub, pub)
    return "gets " + (",".join(got) if got else "nothing")


def malformed_selector(t):
    c = t.connect()
    r = receipt(c, "SUBSCRIBE", {"destination": "/topic/" + t.unique("bad"), "id": "b",
                                 "selector": "a = AND"})
    closing(c)
    return "ERROR" if isinstance(r, str) else "accepted (selector ignored)"


def exclusive_probe(t, header):
    q = "/queue/" + t.unique("excl")
    first, second, pub = t.connect(), t.connect(), t.connect()
    r1 = receipt(first, "SUBSCRIBE", {"destination": q, "id": "a", header: "true"})
    r2 = receipt(second, "SUBSCRIBE", {"destination": q, "id": "b", header: "true"})
    if isinstance(r1, str) or isinstance(r2, str):
        closing(first, second, pub)
        return "refused: " + (r1 if isinstance(r1, str) else r2)[7:70]
    for i in range(6):
        receipt(pub, "SEND", {"destination": q}, "m%d" % i)
    a, b = len(bodies(collect(first))), len(bodies(collect(second)))
    closing(first, second, pub)
    return "first %d, second %d" % (a, b)


def activemq_exclusive(t):
    """Two consumers with activemq.exclusive:true, six messages."""
    return exclusive_probe(t, "activemq.exclusive")


def single_active_consumer(t):
    """Two consumers with x-single-active-consumer:true, six messages."""
    return exclusive_probe(t, "x-single-active-consumer")


def browse(t):
    """browser:true on a queue of two messages: what arrives, and whether
    they are still there for a consumer afterwards."""
    q = "/queue/" + t.unique("browse")
    pub = t.connect()
    for b in ("m1", "m2"):
        receipt(pub, "SEND", {"destination": q}, b)
    browser = t.connect()
    receipt(browser, "SUBSCRIBE", {"destination": q, "id": "b", "browser": "true"})
    got = collect(browser)
    shown = ["end" if f.get("browser") == "end" else f.body.decode()
             for f in got if f.command == "MESSAGE"]
    closing(browser)
    consumer = t.connect()
    receipt(consumer, "SUBSCRIBE", {"destination": q, "id": "c"})
    left = bodies(collect(consumer))
    closing(pub, consumer)
    return "browser sees %s; %s left" % (",".join(shown) or "nothing", len(left))


def scheduled_delay(t):
    """AMQ_SCHEDULED_DELAY:1000, then a message without delay, to a queue
    with a consumer."""
    q = "/queue/" + t.unique("delay")
    sub, pub = t.connect(), t.connect()
    receipt(sub, "SUBSCRIBE", {"destination": q, "id": "d"})
    sent = time.monotonic()
    receipt(pub, "SEND", {"destination": q, "AMQ_SCHEDULED_DELAY": "1000"}, "delayed")
    receipt(pub, "SEND", {"destination": q}, "now")
    first = bodies(collect(sub, 10, stop=lambda f: f.command == "MESSAGE"))
    rest = bodies(collect(sub, 3, stop=lambda f: f.command == "MESSAGE"))
    elapsed = time.monotonic() - sent
    closing(sub, pub)
    if first == ["now"] and rest == ["delayed"]:
        return "delayed (after %.1f s)" % elapsed
    return "ignored (delivered at once)"


def declared_then_sent(t, q, declare, sends, wait=0.0):
    """SUBSCRIBE with `declare` headers and UNSUBSCRIBE (RabbitMQ declares the
    queue with its x- arguments on the first SUBSCRIBE), SEND `sends`, wait,
    then SUBSCRIBE again with the same headers (RabbitMQ refuses a second
    declaration whose arguments differ) and return what arrives."""
    c = t.connect()
    h = {"destination": q, "id": "d"}
    h.update(declare)
    r = receipt(c, "SUBSCRIBE", h)
    if isinstance(r, str):
        closing(c)
        return "SUBSCRIBE refused: " + r[7:70]
    receipt(c, "UNSUBSCRIBE", {"id": "d"})
    for body, headers in sends:
        sh = {"destination": q}
        sh.update(headers)
        receipt(c, "SEND", sh, body)
    time.sleep(wait)
    h["id"] = "d2"
    r = receipt(c, "SUBSCRIBE", h)
    got = bodies(collect(c)) if not isinstance(r, str) else None
    closing(c)
    if got is None:
        return "second SUBSCRIBE refused: " + r[7:70]
    return got


def priority_declared(t):
    """RabbitMQ's x-max-priority:10 on the first SUBSCRIBE, then priorities
    1, 9, none, 5 and a consumer."""
    got = declared_then_sent(
        t, "/queue/" + t.unique("xprio"), {"x-max-priority": "10"},
        [("p1", {"priority": "1"}), ("p9", {"priority": "9"}), ("none", {}),
         ("p5", {"priority": "5"})])
    return got if isinstance(got, str) else ",".join(got)


def queue_ttl_argument(t):
    """RabbitMQ's x-message-ttl:100 on the first SUBSCRIBE, a message, 0.5 s,
    a second message, then a consumer."""
    q = "/queue/" + t.unique("xttl")
    got = declared_then_sent(t, q, {"x-message-ttl": "100"}, [("old", {})], wait=0.5)
    if isinstance(got, str):
        return got
    # `old` waited 0.5 s under a 100 ms TTL; it is either among `got` or gone.
    return "expired" if "old" not in got else "ignored (delivered)"


def expires_soon(t):
    """expires now + 100 ms, consumed 0.5 s later (the TTL form ActiveMQ's
    clients use: expiry time computed by the sender)."""
    pub = t.connect()
    q = "/queue/" + t.unique("exps")
    receipt(pub, "SEND", {"destination": q, "expires": str(int(time.time() * 1000) + 100)},
            "short")
    receipt(pub, "SEND", {"destination": q}, "fresh")
    time.sleep(0.5)
    sub = t.connect()
    receipt(sub, "SUBSCRIBE", {"destination": q, "id": "e"})
    got = bodies(collect(sub))
    closing(pub, sub)
    return "expired" if got == ["fresh"] else "delivered (%s)" % ",".join(got)


def selector_on_queue(t):
    """A queue consumer with selector `n = 1`, messages n:2 and n:1; then a
    plain consumer: does the unmatched message stay on the queue?"""
    q = "/queue/" + t.unique("qsel")
    sel, pub = t.connect(), t.connect()
    r = receipt(sel, "SUBSCRIBE", {"destination": q, "id": "s", "selector": "n = 1"})
    if isinstance(r, str):
        closing(sel, pub)
        return "SUBSCRIBE refused: " + r[7:60]
    for n in ("2", "1"):
        receipt(pub, "SEND", {"destination": q, "n": n}, "n" + n)
    matched = bodies(collect(sel))
    closing(sel)
    plain = t.connect()
    receipt(plain, "SUBSCRIBE", {"destination": q, "id": "p"})
    rest = bodies(collect(plain))
    closing(pub, plain)
    return "selector consumer gets %s; plain consumer then gets %s" % (
        ",".join(matched) or "nothing", ",".join(rest) or "nothing")


def exclusive_failover(t):
    """Two activemq.exclusive:true consumers (client-individual), 3 messages;
    the one that got them disconnects without ACK; 3 more: what the other gets."""
    q = "/queue/" + t.unique("exfo")
    first, second, pub = t.connect(), t.connect(), t.connect()
    for c, sid in ((first, "a"), (second, "b")):
        receipt(c, "SUBSCRIBE", {"destination": q, "id": sid, "ack": "client-individual",
                                 "activemq.exclusive": "true"})
    for i in range(3):
        receipt(pub, "SEND", {"destination": q}, "m%d" % i)
    a, b = bodies(collect(first)), bodies(collect(second))
    holder, other = (first, second) if len(a) >= len(b) else (second, first)
    if a and b:
        closing(first, second, pub)
        return "not exclusive: split %d/%d" % (len(a), len(b))
    receipt(holder, "DISCONNECT", {})
    closing(holder)
    for i in range(3, 6):
        receipt(pub, "SEND", {"destination": q}, "m%d" % i)
    got = bodies(collect(other))
    closing(other, pub)
    return "the other consumer gets %d of 6 (%s)" % (len(set(got)), ",".join(got))


def rabbitmq_exclusive(t):
    """Two consumers with RabbitMQ's `exclusive:true`, six messages."""
    return exclusive_probe(t, "exclusive")


def browse_empty(t):
    """browser:true on an empty queue."""
    q = "/queue/" + t.unique("browse0")
    c = t.connect()
    r = receipt(c, "SUBSCRIBE", {"destination": q, "id": "b", "browser": "true"})
    got = collect(c)
    closing(c)
    if isinstance(r, str):
        return "refused: " + r[7:60]
    shown = ["end" if f.get("browser") == "end" else f.body.decode()
             for f in got if f.command == "MESSAGE"]
    return ",".join(shown) or "nothing"


def x_delay(t):
    """RabbitMQ's delayed-message plugin header x-delay:1000 on a queue SEND
    (the plugin works through an x-delayed-message exchange; here, the
    default install, the header on a plain queue)."""
    q = "/queue/" + t.unique("xdelay")
    sub, pub = t.connect(), t.connect()
    receipt(sub, "SUBSCRIBE", {"destination": q, "id": "d"})
    receipt(pub, "SEND", {"destination": q, "x-delay": "1000"}, "delayed")
    receipt(pub, "SEND", {"destination": q}, "now")
    first = bodies(collect(sub, 10, stop=lambda f: f.command == "MESSAGE"))
    closing(sub, pub)
    return "delayed" if first == ["now"] else "ignored (delivered at once)"


SCENARIOS = [
    ("Temporary queues", "reply-to:/temp-queue/NAME, no SUBSCRIBE", reply_to_without_subscribe),
    ("Temporary queues", "SUBSCRIBE /temp-queue/NAME, then reply-to it", reply_to_with_subscribe),
    ("Temporary queues", "/temp-topic/NAME", temp_topic),
    ("Temporary queues", "another connection SUBSCRIBEs to the reply-to name",
     temp_queue_consumed_by_another),
    ("Temporary queues", "SEND to it after its owner disconnected", send_to_deleted_temp_queue),
    ("Wildcards", "topics a, a.b, a.b.c, x.b against a.* / a.# / a.>", wildcards),
    ("Priority", "queue: priority 1, 9, none, 5 then a consumer", priority_order),
    ("Priority", "the same on a queue declared with x-max-priority:10", priority_declared),
    ("Expiry", "`expires` already past", expires_in_the_past),
    ("Expiry", "`expires` now + 100 ms, consumed 0.5 s later", expires_soon),
    ("Expiry", "`expiration:100` (TTL), consumed 0.5 s later", expiration_ttl),
    ("Expiry", "queue declared with x-message-ttl:100, consumed 0.5 s later",
     queue_ttl_argument),
    ("Selectors", "`size > 3` on size:10 and size:2", selector_numeric_header),
    ("Selectors", "`colour <> 'red'` on colour:blue and no colour", selector_absent_header),
    ("Selectors", "`NOT n = 1` on n:1 and n:2", selector_not_precedence),
    ("Selectors", "malformed selector `a = AND`", malformed_selector),
    ("Selectors", "queue consumer with `n = 1`; n:2, n:1; then a plain consumer",
     selector_on_queue),
    ("Exclusive", "two activemq.exclusive:true consumers, 6 messages", activemq_exclusive),
    ("Exclusive", "two x-single-active-consumer:true consumers, 6 messages",
     single_active_consumer),
    ("Exclusive", "two exclusive:true (RabbitMQ's form) consumers, 6 messages",
     rabbitmq_exclusive),
    ("Exclusive", "activemq.exclusive holder leaves with 3 unacked; 3 more sent",
     exclusive_failover),
    ("Browsing", "browser:true on a queue of 2", browse),
    ("Browsing", "browser:true on an empty queue", browse_empty),
    ("Delay", "AMQ_SCHEDULED_DELAY:1000", scheduled_delay),
    ("Delay", "x-delay:1000 (RabbitMQ plugin header) on a queue", x_delay),
]


def round_trips(t, count):
    """`count` requests, one at a time, each answered at its reply-to
    /temp-queue/ by a responder on another connection (both in this thread,
    so the client's cost is the same for every broker). ActiveMQ delivers a
    reply only to a SUBSCRIBE on the temporary queue, RabbitMQ refuses that
    SUBSCRIBE; the requester SUBSCRIBEs where the broker accepts it."""
    svc, req = t.connect(), t.connect()
    q = "/queue/" + t.unique("rtt")
    receipt(svc, "SUBSCRIBE", {"destination": q, "id": "s"})
    subscribed = not isinstance(
        receipt(req, "SUBSCRIBE", {"destination": "/temp-queue/rtt", "id": "r"}), str)
    times = []
    for i in range(count):
        start = time.perf_counter()
        req.send_frame("SEND", {"destination": q, "reply-to": "/temp-queue/rtt"}, b"q%d" % i)
        request = svc.read_frame(10)
        svc.send_frame("SEND", {"destination": request.get("reply-to")}, b"a%d" % i)
        reply = req.read_frame(10)
        times.append(time.perf_counter() - start)
        if reply.command != "MESSAGE" or reply.body != b"a%d" % i:
            closing(svc, req)
            return {"error": "round trip %d got %s %r" % (i, reply.command, reply.body[:20])}
    closing(svc, req)
    times.sort()
    return {"round_trips": count, "subscribed_temp_queue": subscribed,
            "median_us": round(times[len(times) // 2] * 1e6),
            "p99_us": round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1e6),
            "per_second": round(count / sum(times))}


def observe(targets, only=None):
    results = []
    for area, what, scenario in SCENARIOS:
        if only and not any(o.lower() in area.lower() for o in only):
            continue
        row = {"area": area, "scenario": what, "observed": {}}
        for t in targets:
            try:
                row["observed"][t.name] = scenario(t)
            except Exception as e:  # a broker closing on us is an observation too
                row["observed"][t.name] = "failed: %s" % str(e).splitlines()[0][:80]
        results.append(row)
        print("%-10s %-55s %s" % (area, what[:55], " | ".join(row["observed"].values())),
              file=sys.stderr)
    return results


def markdown(results, names):
    lines = ["| | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    for row in results:
        values = [row["observed"].get(n, "") for n in names]
        same = len(set(values)) == 1
        cells = [v if same or i == 0 else "**%s**" % v if v != values[0] else v
                 for i, v in enumerate(values)]
        lines.append("| %s: %s | %s |" % (row["area"], row["scenario"].replace("|", "\\|"),
                                          " | ".join(c.replace("|", "\\|") for c in cells)))
    return "\n".join(lines) + "\n"


def start_all(args):
    """Stampede from this build and the peers via scripts/peers.sh."""
    env = dict(os.environ, PEERS_STATE_DIR=args.state_dir)
    started = []
    broker = Broker(admin=False,
                    schedulers=2)
    broker.start()
    peers = os.path.join(ROOT, "scripts", "peers.sh")
    for name, port in (("rabbitmq", args.rabbitmq_port), ("activemq", args.activemq_port)):
        subprocess.run([peers, "start", name, "--port", str(port)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        started.append(name)

    def stop():
        broker.stop()
        for name in started:
            subprocess.run([peers, "stop", name], env=env, stderr=subprocess.DEVNULL)
    return broker.port, stop


def main():
    global GRACE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", action="store_true")
    parser.add_argument("--stampede", type=int)
    parser.add_argument("--rabbitmq", type=int)
    parser.add_argument("--activemq", type=int)
    parser.add_argument("--stampede-port", type=int, default=61635)
    parser.add_argument("--rabbitmq-port", type=int, default=61633)
    parser.add_argument("--activemq-port", type=int, default=61634)
    parser.add_argument("--state-dir", default="/tmp/stampede-cross-broker")
    parser.add_argument("--grace", type=float, default=GRACE)
    parser.add_argument("--only", action="append",
                        help="run only the scenarios of this area (repeatable)")
    parser.add_argument("--activemq-name", default="ActiveMQ 5.17",
                        help="column name, e.g. for a peer started with PEERS_ACTIVEMQ_FEATURES=1")
    parser.add_argument("--rtt", type=int, default=0,
                        help="also time this many request/reply round trips per broker")
    parser.add_argument("--json")
    parser.add_argument("--markdown")
    args = parser.parse_args()
    GRACE = args.grace
    stop = None
    if args.start:
        port, stop = start_all(args)
        args.stampede, args.rabbitmq, args.activemq = port, args.rabbitmq_port, args.activemq_port
    try:
        targets = []
        if args.stampede:
            targets.append(Target("Stampede", args.stampede))
        if args.rabbitmq:
            targets.append(Target("RabbitMQ 3.10", args.rabbitmq, "guest", "guest"))
        if args.activemq:
            targets.append(Target(args.activemq_name, args.activemq))
        results = observe(targets, args.only)
        timings = {}
        for t in targets if args.rtt else []:
            try:
                timings[t.name] = round_trips(t, args.rtt)
            except Exception as e:  # noqa: BLE001 - reported, not hidden
                timings[t.name] = {"error": str(e).splitlines()[0][:80]}
            print("request/reply %s: %s" % (t.name, timings[t.name]), file=sys.stderr)
    finally:
        if stop:
            stop()
    table = markdown(results, [t.name for t in targets])
    if timings:
        table += "\nRequest/reply over /temp-queue/ (%d round trips, one at a time):\n\n" % args.rtt
        table += "| | median µs | p99 µs | round trips/s | requester SUBSCRIBEd the temp queue |\n"
        table += "|---|---|---|---|---|\n"
        for name, m in timings.items():
            if "error" in m:
                table += "| %s | %s | | | |\n" % (name, m["error"])
            else:
                table += "| %s | %d | %d | %d | %s |\n" % (
                    name, m["median_us"], m["p99_us"], m["per_second"],
                    "yes" if m["subscribed_temp_queue"] else "no (refused)")
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as out:
            out.write(table)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"scenarios": results, "request_reply": timings}, out, indent=2)


if __name__ == "__main__":
    main()
