"""What a STOMP broker does where brokers disagree: the evidence behind the
README's "Where brokers differ" table. Not a test: a probe to run by hand
against Stampede or a peer (scripts/peers.sh start rabbitmq --port 61623):

    PYTHONPATH=tests/support /usr/bin/python3 tests/conformance/peer_probe.py PORT [VHOST]

Prints one JSON object: which `host` values connect, the headers of a first
delivery (with and without content-length on the SEND), what NACK does (is
the message redelivered, with which message-id; where does a persistent one
go), what a consumer that reconnects gets, STOMP 1.0 client-individual and
NACK, and whether EOL-only bodies and NULs between frames are accepted. It
waits a few seconds where it looks for something that may not come.
"""
import json
import sys
import time
import uuid

from stampede_test import Client, ConnectionClosed

PORT = int(sys.argv[1])
VHOST = sys.argv[2] if len(sys.argv) > 2 else "/"
out = {}


def fresh(name):
    return "/queue/probe-%s-%s" % (name, uuid.uuid4().hex[:8])


def connect(version="1.2", host=VHOST, headers=None):
    c = Client(PORT)
    h = []
    if version is not None:
        h.append(("accept-version", version))
    if host is not None:
        h.append(("host", host))
    h += [("login", "guest"), ("passcode", "guest")]
    h += list((headers or {}).items())
    c.send_frame("CONNECT", h)
    f = c.read_frame(5)
    if f.command != "CONNECTED":
        return c, f
    c.version = f.get("version", "1.0")
    return c, f


def try_read(c, timeout):
    try:
        return c.read_frame(timeout)
    except (TimeoutError, ConnectionClosed) as e:
        return type(e).__name__


def summary(f):
    if isinstance(f, str):
        return f
    return {"command": f.command, "headers": dict(f.header_list), "body": f.body[:120].decode("utf-8", "replace")}


# A. virtual hosts
hosts = {}
for host in (None, "/", "127.0.0.1", "localhost", "no-such-vhost"):
    try:
        c, f = connect(host=host)
        hosts[str(host)] = f.command + ("" if f.command == "CONNECTED" else ": " + f.get("message", ""))
        c.close()
    except Exception as e:  # noqa
        hosts[str(host)] = "exception " + repr(e)
out["connect_host"] = hosts

# B. first delivery headers, with and without content-length on SEND
q = fresh("first")
c, _ = connect()
c.subscribe(q, id="s", ack="client-individual")
c.send_frame("SEND", {"destination": q, "receipt": "r1"}, b"no length", content_length=False)
c.send_frame("SEND", {"destination": q, "receipt": "r2"}, b"with length")
msgs = []
deadline = time.time() + 5
while len(msgs) < 2 and time.time() < deadline:
    f = try_read(c, 5)
    if isinstance(f, str):
        break
    if f.command == "MESSAGE":
        msgs.append(f)
out["first_delivery"] = [summary(m) for m in msgs]

# C. NACK (1.2): redelivered to us? same message-id?
if msgs:
    first = msgs[0]
    ackh = first.get("ack") or first.get("message-id")
    c.send_frame("NACK", {"id": ackh, "receipt": "n1"})
    got = []
    deadline = time.time() + 4
    while time.time() < deadline:
        f = try_read(c, max(0.1, deadline - time.time()))
        if isinstance(f, str):
            break
        got.append(f)
    redelivered = [g for g in got if g.command == "MESSAGE" and g.body == first.body]
    out["nack"] = {"frames": [summary(g) for g in got],
                   "redelivered_to_consumer": bool(redelivered),
                   "same_message_id": bool(redelivered) and redelivered[0].get("message-id") == first.get("message-id"),
                   "first_message_id": first.get("message-id"),
                   "again_message_id": redelivered[0].get("message-id") if redelivered else None}
c.close()

# C2. NACK of a persistent message: redelivered, or in which dead-letter queue?
q = fresh("nackdlq")
watchers = {}
for dlq in ("/queue/ActiveMQ.DLQ", "/queue/DLQ." + q[len("/queue/"):]):
    w, _ = connect()
    w.subscribe(dlq, id="dlq")
    watchers[dlq] = w
c, _ = connect()
c.subscribe(q, id="s", ack="client-individual")
c.send(q, b"nacked", headers={"persistent": "true"}, receipt="p")
first = c.await_frame("MESSAGE")
c.send_frame("NACK", {"id": first.get("ack") or first.get("message-id"), "receipt": "n"})
c.await_frame("RECEIPT", {"receipt-id": "n"})
seen = {}
deadline = time.time() + 4
while time.time() < deadline:
    for where, client in [("consumer", c)] + list(watchers.items()):
        f = try_read(client, 0.2)
        if not isinstance(f, str) and f.command == "MESSAGE" and f.body == b"nacked":
            seen.setdefault(where, f.get("message-id") == first.get("message-id"))
out["nack_persistent"] = {"seen_at (same message-id?)": seen}
for client in [c] + list(watchers.values()):
    client.close()

# D. reconnect: client-ack consumer drops, new consumer gets it
q = fresh("reconnect")
p, _ = connect()
p.send(q, b"orphan", receipt="p1")
a, _ = connect()
a.subscribe(q, id="a", ack="client")
m1 = try_read(a, 5)
a.close()
time.sleep(0.5)
b, _ = connect()
b.subscribe(q, id="b", ack="client")
m2 = try_read(b, 5)
out["reconnect"] = {"first": summary(m1), "again": summary(m2),
                    "same_message_id": (not isinstance(m1, str) and not isinstance(m2, str)
                                        and m1.get("message-id") == m2.get("message-id"))}
b.close()
p.close()

# E. STOMP 1.0 extensions: client-individual, NACK by message-id
q = fresh("ten")
try:
    c, f = connect(version=None, host=None)
    c.version = "1.0"
    out["v10_connected"] = summary(f)
    c.send_frame("SUBSCRIBE", {"destination": q, "id": "x", "ack": "client-individual", "receipt": "s"})
    out["v10_subscribe_client_individual"] = summary(try_read(c, 5))
    c.send_frame("SEND", {"destination": q, "receipt": "p"}, b"one")
    frames = [try_read(c, 5), try_read(c, 5)]
    msg = next((f for f in frames if not isinstance(f, str) and f.command == "MESSAGE"), None)
    if msg is not None:
        c.send_frame("NACK", {"message-id": msg.get("message-id"), "receipt": "n"})
        out["v10_nack"] = [summary(try_read(c, 3)), summary(try_read(c, 3))]
    c.close()
except Exception as e:  # noqa
    out["v10_error"] = repr(e)

# F. leniency: EOL-only CONNECT body, NULs between frames
try:
    c = Client(PORT)
    c.send_raw(("CONNECT\naccept-version:1.2\nhost:%s\nlogin:guest\npasscode:guest\n\n\n\0" % VHOST).encode())
    out["connect_eol_body"] = summary(try_read(c, 5))
    c.close()
except Exception as e:  # noqa
    out["connect_eol_body"] = repr(e)
try:
    c, f = connect()
    c.send_raw(b"\0\0SUBSCRIBE\nid:1\ndestination:/queue/probe-nul\nreceipt:after-nuls\n\n\0")
    out["nuls_between_frames"] = summary(try_read(c, 5))
    c.send_raw(b"UNSUBSCRIBE\nid:1\nreceipt:eol-body\n\n\n\0")
    out["eol_body_after_connect"] = summary(try_read(c, 5))
    c.close()
except Exception as e:  # noqa
    out["nuls_between_frames"] = repr(e)

print(json.dumps(out, indent=1))
