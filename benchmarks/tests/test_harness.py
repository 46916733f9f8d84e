#!/usr/bin/python3
"""Tests of the benchmark harness (stdlib unittest, run with /usr/bin/python3).

    /usr/bin/python3 benchmarks/tests/test_harness.py [--broker SPEC] [-v]

SPEC (or the environment variable STAMPEDE_BENCH_BROKER) is what run.sh's
--broker takes: HOST:PORT of a running broker, or stampede / rabbitmq /
activemq to start a fresh one for the smoke runs. Without either, the smoke
runs start build/stampede when it exists and are skipped (saying so) when it
does not. STAMPEDE_BENCH_LOGIN / STAMPEDE_BENCH_PASSCODE give credentials for
a HOST:PORT broker (rabbitmq gets guest/guest by itself).
STAMPEDE_BENCH_STAMPEDE and STAMPEDE_BENCH_NATIVE name the broker and the
native driver to use instead of build/stampede and build/stampede-load (ctest
points them into its own build tree).

Three parts:
  - the accounting on synthetic inputs (completeness, loss, fairness,
    histograms, the frame parser), so a broken verdict cannot pass unseen;
  - DRIVER.md read as the list of fields every scenario must print;
  - a short smoke run of every phase with the python driver (and the native
    one when build/stampede-load exists), checking those fields and that
    nothing was lost.
"""

import asyncio
import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(BENCH, "driver"))

import accounting  # noqa: E402
from stomp_wire import FrameParser, WsStompConnection, encode_frame  # noqa: E402
from harness import brokers, cli, loadgen, phases  # noqa: E402

BROKER_SPEC = os.environ.get("STAMPEDE_BENCH_BROKER")
# Binaries of another build tree than build/ (the harness reads these globals).
brokers.STAMPEDE = os.environ.get("STAMPEDE_BENCH_STAMPEDE") or brokers.STAMPEDE
loadgen.NATIVE = os.environ.get("STAMPEDE_BENCH_NATIVE") or loadgen.NATIVE
LATENCY_OBJECTS = ("latency_ns", "fast_latency_ns", "topic_latency_ns", "queue_latency_ns",
                   "rtt_ns", "latency_before_ns", "latency_during_ns", "latency_after_ns")

# Each phase made tiny: seconds, not minutes.
SMOKE = {
    "fanout": dict(subscribers=5, publishers=2, messages=500, body_size=256),
    "slow": dict(publish_rate=500, duration=3, body_size=256, drain_timeout=15),
    "queue": dict(consumers=3, producers=2, messages=2000, body_size=256, prefetch=50),
    "soak": dict(duration=6, interval=2, topic_publishers=1, topic_subscribers=3,
                 topic_rate=200, queue_producers=1, queue_consumers=2, queue_rate=300,
                 body_size=128),
    "conns": dict(connections=200, hold=1),
    "topic-nosub": dict(subscribers=0, publishers=1, messages=2000, body_size=256),
    "load-unload": dict(messages=2000, producers=1, consumers=1, body_size=256),
    "topic-10x10": dict(subscribers=10, publishers=10, messages=1000, body_size=20),
    "request-reply": dict(requesters=1, responders=1, requests=200, body_size=64),
    # The second set (native driver only).
    "rate": dict(channels=2, subscribers=3, rate=100, duration=1.5, drain_timeout=5),
    "cliff": dict(publishers=1, subscribers=2, start_rate=500, factor=4, max_rate=2000,
                  step_seconds=1, settle_timeout=5, settle_idle=1),
    "mixed": dict(stage_seconds=1, topic_subscribers=2, topic_rate=200, bulk_rate=10,
                  bulk_body_size=16384, rr_rate=50, settle_idle=0.3),
    "burst": dict(base_rate=200, before_seconds=1, burst_seconds=1, after_seconds=1,
                  consume_rate=400, idle_before=0.3, idle_after=0.5, drain_timeout=5),
    "multiproc": dict(processes=3, churn=1, producers=1, rate=300, duration=2,
                      drain_timeout=2),
    "abuse-receipts": dict(case="receipts", count=300, case_seconds=5, settle=0.5),
    "abuse-unacked": dict(case="unacked", count=2000, case_seconds=5, settle=0.5),
    "abuse-destinations": dict(case="destinations", count=300, case_seconds=5, settle=0.5),
    "abuse-transactions": dict(case="transactions", count=4, max_bytes=4 << 20, case_seconds=5,
                               settle=0.5),
    "abuse-preconnect": dict(case="preconnect", count=20, max_bytes=1 << 20, case_seconds=3,
                             settle=0.5),
    "crash": dict(producers=1, consumers=1, messages=600, drain_timeout=3),
    "restart": dict(producers=1, consumers=1, rate=200, duration=2, drain_timeout=3),
    # 12 producers: the driver once read only the first digit of "P11".
    "persistent": dict(producers=12, consumers=2, messages=600, window=10, consume_during=1,
                       drain_timeout=3),
}
NATIVE_ONLY = [n for n in SMOKE if phases.BY_NAME[n].native_only]


# DRIVER.md as data ----------------------------------------------------------

def driver_md_fields():
    """{section: [field names]} from DRIVER.md's field tables: the common
    fields, the latency object, and each scenario's."""
    with open(os.path.join(BENCH, "DRIVER.md")) as f:
        text = f.read()
    out = {}
    for m in re.finditer(r"^### (.+?)\n(.*?)(?=^##|\Z)", text, re.M | re.S):
        title, body = m.group(1), m.group(2)
        if not re.match(r"`?[\w-]+`? fields|Fields of every scenario|Latency object", title):
            continue
        key = ("common" if title.startswith("Fields of every") else
               "latency" if title.startswith("Latency") else title.split("`")[1])
        names = []
        for row in re.findall(r"^\| (.+?) \|", body, re.M):
            names += re.findall(r"`([\w]+)`", row)
        out[key] = [n for n in names if n not in ("field",)]
    return out


def missing_fields(result, fields):
    """Every field of the scenario's DRIVER.md tables absent from `result`,
    and every latency object lacking one of its fields."""
    missing = [f for f in fields["common"] + fields[result["scenario"]] if f not in result]
    for name in LATENCY_OBJECTS:
        if isinstance(result.get(name), dict):
            missing += ["%s.%s" % (name, f) for f in fields["latency"]
                        if f not in result[name]]
    return missing


# Accounting on synthetic inputs ---------------------------------------------

class AccountingTest(unittest.TestCase):

    def tracker_with(self, pairs):
        t = accounting.SequenceTracker()
        for stream, seq in pairs:
            t.record(stream, seq)
        return t

    def test_a_subscriber_that_got_everything_is_complete(self):
        expected = {b"P0": 3, b"P1": 2}
        got = self.tracker_with([(b"P0", 0), (b"P0", 1), (b"P0", 2), (b"P1", 0), (b"P1", 1)])
        out = accounting.completeness(expected, [(0, got), (1, got)])
        self.assertTrue(out["complete"])
        self.assertEqual(out["delivered"], 10)
        self.assertEqual(out["expected_deliveries"], 10)
        self.assertEqual(out["missing"], 0)

    def test_one_missing_message_makes_the_run_incomplete_and_names_the_subscriber(self):
        expected = {b"P0": 3}
        full = self.tracker_with([(b"P0", 0), (b"P0", 1), (b"P0", 2)])
        short = self.tracker_with([(b"P0", 0), (b"P0", 2)])
        out = accounting.completeness(expected, [(0, full), (7, short)])
        self.assertFalse(out["complete"])
        self.assertEqual(out["missing"], 1)
        self.assertEqual(out["subscribers_incomplete"], 1)
        self.assertEqual(out["missing_by_subscriber"], [[7, 1]])

    def test_a_subscriber_that_got_nothing_misses_everything(self):
        out = accounting.completeness({b"P0": 5, b"P1": 5},
                                      [(0, accounting.SequenceTracker())])
        self.assertEqual(out["missing"], 10)
        self.assertFalse(out["complete"])

    def test_duplicates_are_counted_but_do_not_hide_a_gap(self):
        got = self.tracker_with([(b"P0", 0), (b"P0", 0), (b"P0", 2)])
        out = accounting.completeness({b"P0": 3}, [(0, got)])
        self.assertEqual(out["duplicates"], 1)
        self.assertEqual(out["missing"], 1)
        self.assertFalse(out["complete"])

    def test_messages_never_sent_are_unexpected_and_fail_completeness(self):
        got = self.tracker_with([(b"P0", 0), (b"P0", 1), (b"P9", 0), (b"P0", 5)])
        out = accounting.completeness({b"P0": 2}, [(0, got)])
        self.assertEqual(out["missing"], 0)
        self.assertEqual(out["unexpected"], 2)
        self.assertFalse(out["complete"])

    def test_queue_loss_over_merged_consumers(self):
        a = self.tracker_with([(b"P0", 0), (b"P0", 1)])
        b = self.tracker_with([(b"P0", 1), (b"P0", 3)])
        merged = accounting.SequenceTracker().merge(a).merge(b)
        out = accounting.queue_loss({b"P0": 5}, merged)
        self.assertEqual(out["consumed"], 3)
        self.assertEqual(out["lost"], 2)       # 2 and 4
        self.assertEqual(out["duplicates"], 1)  # 1 went to both

    def test_fairness_is_min_over_max(self):
        self.assertEqual(accounting.fairness([100, 100, 100])["fairness"], 1.0)
        f = accounting.fairness([50, 100, 150])
        self.assertAlmostEqual(f["fairness"], 1 / 3)
        self.assertAlmostEqual(f["share_max"], 0.5)
        self.assertEqual(accounting.fairness([0, 10])["fairness"], 0.0)

    def test_histogram_percentiles_are_within_two_percent(self):
        h = accounting.LatencyHistogram()
        for v in range(1, 100001):
            h.record(v * 1000)
        s = h.summary()
        self.assertEqual(s["count"], 100000)
        self.assertEqual(s["p100"], 100000 * 1000)
        for q, key in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
            self.assertAlmostEqual(s[key] / (q * 1e8), 1.0, delta=0.02)
        self.assertEqual(sum(n for _, n in s["histogram"]), 100000)

    def test_histogram_buckets_are_contiguous_and_ordered(self):
        last = -1
        for v in list(range(0, 5000)) + [10 ** k for k in range(4, 12)]:
            b = accounting.bucket_of(v)
            self.assertLessEqual(accounting.bucket_floor(b), v)
            self.assertGreaterEqual(b, last if v < 5000 else 0)
            last = b

    def test_body_ids_round_trip_and_pad_to_size(self):
        body = accounting.make_body(b"P12", 345, 64)
        self.assertEqual(len(body), 64)
        self.assertEqual(accounting.parse_body_id(body), (b"P12", 345))
        self.assertEqual(accounting.parse_body_id(accounting.make_body(b"P1", 123456, 4)),
                         (b"P1", 123456))
        self.assertIsNone(accounting.parse_body_id(b"no id here"))

    def test_the_drain_stops_when_everything_arrived_or_nothing_moves(self):
        import time
        from common import done_or_idle
        check = done_or_idle("published", ["a", "b"], want=10, idle_seconds=0.05)
        self.assertFalse(check({"a": 10}, set()))  # not before publishing ended
        self.assertTrue(check({"a": 6, "b": 4}, {"published"}))
        check = done_or_idle("published", ["a"], want=10, idle_seconds=0.05)
        self.assertFalse(check({"a": 3}, {"published"}))
        time.sleep(0.03)
        self.assertFalse(check({"a": 4}, {"published"}))  # progress restarts the clock
        time.sleep(0.06)
        self.assertTrue(check({"a": 4}, {"published"}))

    def test_split_evenly(self):
        self.assertEqual(accounting.split_evenly(10, 3), [4, 3, 3])
        self.assertEqual(sum(accounting.split_evenly(12345, 7)), 12345)


class FrameParserTest(unittest.TestCase):

    def frames(self):
        return (encode_frame("MESSAGE", {"destination": "/topic/a", "ack": "ID\\c1"}, b"he\0llo")
                + b"\n\n"  # heart-beats between frames
                + b"RECEIPT\r\nreceipt-id:r1\r\n\r\n\0"
                + b"MESSAGE\nsubscription:s\nk:v1\nk:v2\n\nno length\0")

    def check(self, out):
        self.assertEqual([c for c, _, _ in out], [b"MESSAGE", b"RECEIPT", b"MESSAGE"])
        self.assertEqual(out[0][2], b"he\0llo")
        self.assertEqual(out[0][1][b"ack"], b"ID\\c1")  # kept escaped, echoed as is
        self.assertEqual(out[1][1][b"receipt-id"], b"r1")
        self.assertEqual(out[2][1][b"k"], b"v1")  # the first repeated header wins
        self.assertEqual(out[2][2], b"no length")

    def test_a_stream_split_at_every_offset_parses_the_same(self):
        data = self.frames()
        for cut in range(len(data) + 1):
            p = FrameParser()
            self.check(p.feed(data[:cut]) + p.feed(data[cut:]))

    def test_a_stream_fed_byte_by_byte_parses_the_same(self):
        p = FrameParser()
        out = []
        for i in range(len(self.frames())):
            out += p.feed(self.frames()[i:i + 1])
        self.check(out)


class DriverContractTest(unittest.TestCase):

    def test_driver_md_lists_fields_for_every_scenario(self):
        fields = driver_md_fields()
        for key in ("common", "latency", "fanout", "slow", "queue", "soak", "conns",
                    "load-unload", "request-reply", "rate", "cliff", "mixed", "burst",
                    "multiproc", "abuse", "crash", "restart"):
            self.assertIn(key, fields)
            self.assertTrue(fields[key], key)
        self.assertIn("ok", fields["common"])
        self.assertIn("p99", fields["latency"])

    def test_missing_fields_are_found(self):
        fields = driver_md_fields()
        result = {f: 0 for f in fields["common"] + fields["queue"]}
        result["scenario"] = "queue"
        result["latency_ns"] = {"p50": 1}
        self.assertIn("latency_ns.p99", missing_fields(result, fields))
        del result["lost"]
        self.assertIn("lost", missing_fields(result, fields))

    def test_every_phase_has_smoke_parameters(self):
        self.assertEqual(sorted(SMOKE), sorted(phases.BY_NAME))


# Smoke runs against a broker ------------------------------------------------

class SmokeBase:
    """One broker for every phase of a driver (a smoke test, not a benchmark)."""
    driver = None
    broker = None

    @classmethod
    def setUpClass(cls):
        spec = BROKER_SPEC
        if spec is None:
            if not os.access(brokers.STAMPEDE, os.X_OK):
                raise unittest.SkipTest("no broker: set STAMPEDE_BENCH_BROKER=HOST:PORT (or "
                                        "rabbitmq/activemq/stampede) or build build/stampede")
            spec = "stampede"
        opts = brokers.Options(login=os.environ.get("STAMPEDE_BENCH_LOGIN"),
                               passcode=os.environ.get("STAMPEDE_BENCH_PASSCODE"),
                               log_dir=tempfile.gettempdir())
        cls.broker = brokers.start(spec, opts, "smoke")
        cls.fields = driver_md_fields()

    @classmethod
    def tearDownClass(cls):
        if cls.broker is not None:
            cls.broker.stop()

    def run_phase(self, name):
        phase = phases.BY_NAME[name]
        if phase.native_only and self.driver != "native":
            self.skipTest("%s: native driver only (DRIVER.md)" % name)
        result, status, cmd = loadgen.run(self.driver, phase.scenario, self.broker,
                                          SMOKE[name], timeout=180)
        self.assertIsNotNone(result, "no JSON from %s (exit %s)" % (" ".join(cmd), status))
        self.assertEqual(missing_fields(result, self.fields), [])
        self.assertEqual(result["driver"], self.driver)
        self.assertEqual(result["errors"], 0, result["error_samples"])
        self.assertFalse(result["timed_out"])
        return result, status

    def test_fanout(self):
        r, status = self.run_phase("fanout")
        self.assertTrue(r["complete"])
        self.assertEqual(r["missing"], 0)
        self.assertEqual(r["published"], 500)
        self.assertEqual(r["delivered"], 500 * 5)
        self.assertEqual(r["latency_ns"]["count"], 2500)
        self.assertEqual(status, 0)

    def test_slow(self):
        r, status = self.run_phase("slow")
        self.assertEqual(r["fast_missing"], 0)
        self.assertEqual(r["fast_received"], r["published"])
        self.assertTrue(r["broker_action"])
        self.assertEqual(status, 0)

    def test_queue(self):
        r, status = self.run_phase("queue")
        self.assertEqual((r["lost"], r["duplicates"], r["consumed"]), (0, 0, 2000))
        self.assertEqual(sum(r["per_consumer"]), 2000)
        self.assertEqual(len(r["per_consumer"]), 3)
        self.assertEqual(status, 0)

    def test_soak(self):
        r, status = self.run_phase("soak")
        self.assertEqual(r["lost"], 0)
        self.assertTrue(r["topic"]["complete"])
        self.assertEqual(r["queue"]["consumed"], r["queue"]["published"])
        self.assertGreaterEqual(len(r["intervals"]), 3)
        self.assertEqual(status, 0)

    def test_conns(self):
        r, status = self.run_phase("conns")
        self.assertEqual((r["connected"], r["failures"], r["probe_missing"]), (200, 0, 0))
        self.assertLess(r["hold_start_ns"], r["hold_end_ns"])
        self.assertEqual(status, 0)

    def test_topic_nosub(self):
        r, status = self.run_phase("topic-nosub")
        self.assertEqual(r["published"], 2000)
        self.assertGreater(r["publish_rate"], 0)
        self.assertEqual(status, 0)

    def test_load_unload(self):
        r, status = self.run_phase("load-unload")
        self.assertEqual((r["lost"], r["duplicates"], r["consumed"]), (0, 0, 2000))
        self.assertEqual(status, 0)

    def test_topic_10x10(self):
        r, status = self.run_phase("topic-10x10")
        self.assertTrue(r["complete"])
        self.assertEqual(r["delivered"], 1000 * 10)
        self.assertEqual(status, 0)

    def test_request_reply(self):
        r, status = self.run_phase("request-reply")
        self.assertEqual((r["replies"], r["timeouts"]), (200, 0))
        self.assertEqual(status, 0)

    # The second set: fields and loss are checked, speed never (a failing
    # channel or a starved class on a busy machine is a finding, not a bug).

    def test_rate(self):
        r, _ = self.run_phase("rate")
        self.assertEqual(len(r["channels"]), 2)
        self.assertEqual(r["missing"], 0)
        self.assertGreater(r["published"], 0)
        # Not exactly 300: an open-loop publisher more than a second late gives up.
        self.assertEqual(r["delivered"], r["published"] * 3)
        self.assertEqual(len(r["subscriber_rates"]), 6)

    def test_cliff(self):
        r, status = self.run_phase("cliff")
        self.assertGreaterEqual(len(r["steps"]), 1)
        self.assertEqual(r["steps"][0]["offered_rate"], 500)
        self.assertEqual(r["steps"][0]["missing"], 0)
        self.assertEqual(status, 0)

    def test_mixed(self):
        r, _ = self.run_phase("mixed")
        self.assertEqual(sorted(r["classes"]), ["bulk", "rr", "topic"])
        self.assertEqual(r["missing"], 0)
        for c in r["classes"].values():
            self.assertGreater(c["alone"]["received"], 0)
            self.assertGreater(c["mixed"]["received"], 0)

    def test_burst(self):
        r, status = self.run_phase("burst")
        self.assertEqual((r["lost"], r["duplicates"]), (0, 0))
        self.assertEqual(r["consumed"], r["published"])
        self.assertGreater(r["backlog_peak"], 0)  # consumers capped below the burst
        self.assertLess(r["idle_after_start_ns"], r["idle_after_end_ns"])
        self.assertEqual(status, 0)

    def test_multiproc(self):
        r, status = self.run_phase("multiproc")
        self.assertEqual((r["lost"], r["duplicates_after_ack"]), (0, 0))
        self.assertEqual(len(r["consumers"]), 3)
        self.assertEqual(r["consumed"], r["published"])
        self.assertEqual(status, 0)

    def run_abuse(self, name):
        r, status = self.run_phase(name)
        self.assertTrue(r["bystander"]["ok"], r["bystander"])
        self.assertTrue(r["hostile"]["outcome"])
        self.assertLess(r["hostile_start_ns"], r["hostile_end_ns"])
        self.assertEqual(status, 0)
        return r

    def test_abuse_receipts(self):
        self.run_abuse("abuse-receipts")

    def test_abuse_unacked(self):
        self.run_abuse("abuse-unacked")

    def test_abuse_destinations(self):
        self.run_abuse("abuse-destinations")

    def test_abuse_transactions(self):
        self.run_abuse("abuse-transactions")

    def test_abuse_preconnect(self):
        r = self.run_abuse("abuse-preconnect")
        self.assertEqual(r["hostile"]["unauthenticated"]["asked"], 20)

    def test_crash_without_a_crash_loses_nothing(self):
        r, status = self.run_phase("crash")
        self.assertEqual((r["published"], r["receipted"], r["consumed"]), (600, 600, 600))
        self.assertEqual((r["receipted_lost"], r["corrupted"], r["duplicates"]), (0, 0, 0))
        self.assertEqual(status, 0)

    def test_persistent_phase_reports_its_receipted_rate(self):
        r, status = self.run_phase("persistent")
        self.assertEqual((r["published"], r["receipted"], r["consumed"]), (600, 600, 600))
        self.assertEqual((r["receipted_lost"], r["duplicates"]), (0, 0))
        self.assertGreater(r["publish_seconds"], 0)
        self.assertAlmostEqual(r["publish_rate"], 600 / r["publish_seconds"], delta=1e-6 * 600)
        self.assertEqual(status, 0)

    def test_restart_without_a_restart_loses_nothing(self):
        r, status = self.run_phase("restart")
        self.assertEqual((r["published"], r["receipted"], r["consumed"]), (400, 400, 400))
        self.assertEqual(status, 0)


class PythonDriverSmokeTest(SmokeBase, unittest.TestCase):
    driver = "python"


class NativeDriverSmokeTest(SmokeBase, unittest.TestCase):
    driver = "native"

    @classmethod
    def setUpClass(cls):
        if not os.access(loadgen.NATIVE, os.X_OK):
            raise unittest.SkipTest("build/stampede-load does not exist yet: native driver "
                                    "not tested")
        super().setUpClass()


class WebSocketFramingTest(unittest.TestCase):
    """The Python driver's WebSocket layer on canned server bytes: frames
    split anywhere, a fragmented message, a ping answered, a close recorded."""

    class FakeTransport:
        def __init__(self):
            self.written = []
            self.closed = False

        def write(self, data):
            self.written.append(bytes(data))

        def close(self):
            self.closed = True

        def abort(self):
            self.closed = True

    @staticmethod
    def server_frame(opcode, payload, fin=True):
        n = len(payload)
        head = bytes(((0x80 if fin else 0) | opcode,))
        if n < 126:
            head += bytes((n,))
        elif n < 65536:
            head += bytes((126,)) + n.to_bytes(2, "big")
        else:
            head += bytes((127,)) + n.to_bytes(8, "big")
        return head + payload

    def stream(self):
        big = encode_frame("MESSAGE", {"destination": "/topic/a"}, b"x" * 70000)
        two = (encode_frame("MESSAGE", {"destination": "/topic/a"}, b"one")
               + encode_frame("RECEIPT", {"receipt-id": "r1"}))
        cut = len(big) // 3
        return (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Sec-WebSocket-Protocol: v12.stomp\r\n\r\n"
                + self.server_frame(0x1, two)                       # two frames, one message
                + self.server_frame(0x9, b"hi")                     # a ping
                + self.server_frame(0x2, big[:cut], fin=False)      # one frame, three parts
                + self.server_frame(0x0, big[cut:2 * cut], fin=False)
                + self.server_frame(0x0, big[2 * cut:])
                + self.server_frame(0x8, (1001).to_bytes(2, "big") + b"bye"))

    def run_stream(self, pieces):
        async def go():
            conn = WsStompConnection()
            conn.connection_made(self.FakeTransport())
            bodies = []
            conn.on_message = lambda headers, body: bodies.append(body)
            for piece in pieces:
                conn.data_received(piece)
            return conn, bodies
        return asyncio.run(go())

    def check(self, conn, bodies):
        self.assertTrue(conn._upgraded.done())
        self.assertEqual(conn.subprotocol, "v12.stomp")
        self.assertEqual(bodies, [b"one", b"x" * 70000])
        written = conn.transport.written
        self.assertIn(bytes((0x8A, 0x82)) + b"\0\0\0\0hi", written)  # masked pong
        self.assertIn("WebSocket close 1001 bye", conn.error)
        self.assertTrue(conn.transport.closed)

    def test_a_stream_split_anywhere_gives_the_same_messages(self):
        data = self.stream()
        step = max(1, len(data) // 300)
        for cut in list(range(0, 200)) + list(range(200, len(data) + 1, step)):
            self.check(*self.run_stream([data[:cut], data[cut:]]))

    def test_client_messages_are_masked_binary_frames(self):
        conn, _ = self.run_stream([self.stream()[:40]])
        conn.write(b"SEND\n\n\0")
        conn.write(b"x" * 300)
        header, payload, long_header, _ = conn.transport.written[-4:]
        self.assertEqual(header, bytes((0x82, 0x80 | 7)) + b"\0\0\0\0")  # FIN, binary, masked
        self.assertEqual(payload, b"SEND\n\n\0")  # the zero key leaves it as it is
        self.assertEqual(long_header, bytes((0x82, 0x80 | 126)) + (300).to_bytes(2, "big")
                         + b"\0\0\0\0")


class WebSocketDriverSmokeTest(unittest.TestCase):
    """The python driver's fanout and queue over WebSocket (--transport ws)
    against build/stampede with a websocket listener: a smoke run, not a
    benchmark. Everything must arrive, as over TCP."""

    broker = None

    @classmethod
    def setUpClass(cls):
        if BROKER_SPEC not in (None, "stampede"):
            raise unittest.SkipTest("runs against build/stampede only")
        if not os.access(brokers.STAMPEDE, os.X_OK):
            raise unittest.SkipTest("build/stampede is not built")
        cls.ws_port = brokers.free_port()
        cls.wss_port = brokers.free_port()
        cls.dir = tempfile.TemporaryDirectory()
        cert, key = (os.path.join(cls.dir.name, n) for n in ("cert.pem", "key.pem"))
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                        "/CN=localhost", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        config = os.path.join(cls.dir.name, "ws.json")
        with open(config, "w") as f:
            json.dump({"listeners": [
                {"name": "stomp", "listen": "127.0.0.1:61613"},
                {"name": "web", "port": cls.ws_port, "websocket": {"path": "/ws"}},
                {"name": "web-tls", "port": cls.wss_port, "websocket": {"path": "/ws"},
                 "tls": {"certificate": cert, "private_key": key}}]}, f)
        opts = brokers.Options(config=config, log_dir=tempfile.gettempdir())
        cls.broker = brokers.start("stampede", opts, "smoke-ws")
        cls.fields = driver_md_fields()

    @classmethod
    def tearDownClass(cls):
        if cls.broker is not None:
            cls.broker.stop()
        if cls.broker is not None or hasattr(cls, "dir"):
            cls.dir.cleanup()

    def run_ws(self, name, transport="ws", driver="python"):
        if driver == "native" and not os.access(loadgen.NATIVE, os.X_OK):
            self.skipTest("build/stampede-load is not built")
        phase = phases.BY_NAME[name]
        port = self.ws_port if transport == "ws" else self.wss_port
        ws = dataclasses.replace(self.broker, port=port)
        params = dict(SMOKE[name], transport=transport, ws_path="/ws")
        result, status, cmd = loadgen.run(driver, phase.scenario, ws, params, timeout=180)
        self.assertIsNotNone(result, "no JSON from %s (exit %s)" % (" ".join(cmd), status))
        self.assertEqual(missing_fields(result, self.fields), [])
        self.assertEqual(result["params"]["transport"], transport)
        self.assertEqual(result["errors"], 0, result["error_samples"])
        self.assertFalse(result["timed_out"])
        self.assertEqual(status, 0)
        return result

    def test_fanout_over_websocket(self):
        r = self.run_ws("fanout")
        self.assertTrue(r["complete"])
        self.assertEqual((r["published"], r["delivered"], r["missing"]), (500, 2500, 0))

    def test_fanout_over_websocket_on_tls(self):
        r = self.run_ws("fanout", transport="wss")
        self.assertTrue(r["complete"])
        self.assertEqual((r["published"], r["delivered"], r["missing"]), (500, 2500, 0))

    def test_queue_over_websocket(self):
        r = self.run_ws("queue")
        self.assertEqual(r["lost"], 0)
        self.assertEqual(r["consumed"], 2000)

    def test_native_fanout_over_websocket(self):
        r = self.run_ws("fanout", driver="native")
        self.assertTrue(r["complete"])
        self.assertEqual((r["published"], r["delivered"], r["missing"]), (500, 2500, 0))

    def test_native_queue_over_websocket(self):
        r = self.run_ws("queue", driver="native")
        self.assertEqual(r["lost"], 0)
        self.assertEqual(r["consumed"], 2000)

    def test_native_wrong_path_is_a_clear_failure(self):
        if not os.access(loadgen.NATIVE, os.X_OK):
            self.skipTest("build/stampede-load is not built")
        ws = dataclasses.replace(self.broker, port=self.ws_port)
        result, status, cmd = loadgen.run("native", "fanout", ws,
                                          dict(SMOKE["fanout"], transport="ws",
                                               ws_path="/nowhere"), timeout=60)
        self.assertNotEqual(status, 0)

    def test_a_wrong_path_is_a_clear_failure(self):
        ws = dataclasses.replace(self.broker, port=self.ws_port)
        result, status, cmd = loadgen.run("python", "fanout", ws,
                                          dict(SMOKE["fanout"], transport="ws",
                                               ws_path="/nowhere"), timeout=60)
        self.assertNotEqual(status, 0)


class HarnessWebSocketTransportTest(unittest.TestCase):
    """run.sh --transport ws: the harness starts stampede with a websocket
    listener of its own and points the driver at it, with --transport ws."""

    def test_a_stampede_started_for_ws_takes_the_driver_over_websocket(self):
        if BROKER_SPEC not in (None, "stampede"):
            self.skipTest("runs against build/stampede only")
        if not os.access(brokers.STAMPEDE, os.X_OK):
            self.skipTest("build/stampede is not built")
        with tempfile.TemporaryDirectory() as d:
            broker = brokers.start("stampede", brokers.Options(transport="ws", log_dir=d),
                                   "smoke-transport-ws")
            try:
                self.assertEqual(broker.transport, "ws")
                self.assertIsNotNone(broker.ws_port)
                cmd = loadgen.command("python", "fanout", broker, {})
                self.assertEqual(cmd[cmd.index("--port") + 1], str(broker.ws_port))
                self.assertEqual(cmd[cmd.index("--transport") + 1], "ws")
                result, status, _ = loadgen.run(loadgen.choose("auto"), "fanout", broker,
                                                dict(SMOKE["fanout"]), timeout=180)
                self.assertEqual(status, 0)
                self.assertEqual(result["params"]["transport"], "ws")
                self.assertEqual((result["delivered"], result["missing"]), (2500, 0))
            finally:
                broker.stop()

    def test_ws_refuses_the_phases_that_write_raw_bytes(self):
        with self.assertRaises(SystemExit) as e:
            cli.run_main(["--transport", "ws", "--phases", "fanout,abuse-receipts",
                          "--results", tempfile.mkdtemp()])
        self.assertIn("--transport ws", str(e.exception))


class HarnessRestartTest(unittest.TestCase):
    """run.sh's crash and restart phases against stampede: the driver asks,
    the harness kills (or restarts) the broker on the same port and data,
    the clients come back. Without durability in the build, losses are
    expected and only reported."""

    def test_the_harness_restarts_the_broker_when_the_driver_asks(self):
        if BROKER_SPEC not in (None, "stampede"):
            raise unittest.SkipTest("runs against build/stampede only")
        for binary in (brokers.STAMPEDE, loadgen.NATIVE):
            if not os.access(binary, os.X_OK):
                raise unittest.SkipTest("%s is not built" % binary)
        with tempfile.TemporaryDirectory() as out:
            params = []
            for name in ("crash", "restart"):
                params += ["--param", "%s.producers=1" % name, "--param", "%s.consumers=1" % name,
                           "--param", "%s.drain_timeout=3" % name]
            # Long enough that the harness (a Python process that may be slow
            # to react on a loaded machine) kills or restarts the broker while
            # the driver still has work in flight: with 2,000 messages and 3 s
            # the burst could end first and no loss be seen (failed once in
            # about ten full runs here).
            params += ["--param", "crash.messages=20000", "--param", "restart.rate=300",
                       "--param", "restart.duration=6"]
            cmd = [os.path.join(BENCH, "run.sh"), "--phases", "crash,restart", "--quick",
                   "--results", out, "--no-plots"] + params
            env = dict(os.environ, PYTHONPATH=BENCH)
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
            for name, how in (("crash", "kill"), ("restart", "graceful")):
                with open(os.path.join(out, "stampede", name + ".json")) as f:
                    doc = json.load(f)
                self.assertIsNotNone(doc["result"], proc.stderr[-2000:])
                self.assertEqual(len(doc["events"]), 1, proc.stderr[-2000:])
                event = doc["events"][0]
                self.assertEqual(event["how"], how)
                self.assertIsNone(event["error"])
                self.assertIsNotNone(event["ready_ns"])
                self.assertGreaterEqual(doc["result"]["connection_losses"]
                                        + doc["result"]["producer_receipt_timeouts"]
                                        + (1 if doc["result"]["first_loss_ns"] else 0), 1)
                self.assertEqual(doc["result"]["corrupted"], 0)


class HarnessDataDirTest(unittest.TestCase):
    """Each phase's Stampede gets a data directory of its own, gone with it:
    no phase inherits another's journal, and nothing lands in the default
    data/ of the working directory."""

    def setUp(self):
        if BROKER_SPEC not in (None, "stampede"):
            raise unittest.SkipTest("runs against build/stampede only")
        if not os.access(brokers.STAMPEDE, os.X_OK) or not brokers.stampede_has_data_dir():
            raise unittest.SkipTest("%s is not built or has no --data-dir" % brokers.STAMPEDE)
        self.opts = brokers.Options(log_dir=tempfile.gettempdir())

    def test_every_phase_gets_a_fresh_private_data_dir_removed_at_stop(self):
        first = brokers.start("stampede", self.opts, "datadir-a")
        try:
            second = brokers.start("stampede", self.opts, "datadir-b")
            try:
                dirs = (first.data_dir, second.data_dir)
                self.assertNotEqual(*dirs)
                for running in (first, second):
                    self.assertIn("--data-dir", running.command)
                    self.assertEqual(running.command[running.command.index("--data-dir") + 1],
                                     running.data_dir)
                    self.assertTrue(os.path.exists(os.path.join(running.data_dir, "LOCK")))
            finally:
                second.stop()
        finally:
            first.stop()
        for d in dirs:
            self.assertFalse(os.path.exists(d), d)

    def test_a_data_dir_the_user_names_is_left_alone(self):
        with tempfile.TemporaryDirectory() as mine:
            opts = dataclasses.replace(self.opts, args=["--data-dir", mine])
            running = brokers.start("stampede", opts, "datadir-user")
            try:
                self.assertIsNone(running.data_dir)
                self.assertEqual(running.command.count("--data-dir"), 1)
                self.assertTrue(os.path.exists(os.path.join(mine, "LOCK")))
            finally:
                running.stop()
            self.assertTrue(os.path.isdir(mine))


class HarnessEndToEndTest(unittest.TestCase):
    """run.sh itself: one short phase, then the files it promises."""

    def test_run_sh_writes_json_tables_and_index(self):
        spec = BROKER_SPEC
        if spec is None or ":" not in spec:
            raise unittest.SkipTest("needs STAMPEDE_BENCH_BROKER=HOST:PORT (a running broker)")
        with tempfile.TemporaryDirectory() as out:
            cmd = [os.path.join(BENCH, "run.sh"), "--broker", spec, "--phases", "topic-nosub",
                   "--quick", "--driver", "python", "--results", out,
                   "--param", "topic-nosub.messages=1000"]
            for env, flag in (("STAMPEDE_BENCH_LOGIN", "--login"),
                              ("STAMPEDE_BENCH_PASSCODE", "--passcode")):
                if os.environ.get(env):
                    cmd += [flag, os.environ[env]]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
            broker_dir = os.path.join(out, spec.replace(":", "_"))
            with open(os.path.join(broker_dir, "topic-nosub.json")) as f:
                doc = json.load(f)
            for key in ("phase", "parameters", "broker", "machine", "driver", "result", "rss",
                        "backend", "schedulers", "stack_size", "admin_stats"):
                self.assertIn(key, doc)
            self.assertEqual(doc["result"]["published"], 1000)
            for name in ("run.json", "summary.md", "index.md"):
                self.assertTrue(os.path.exists(os.path.join(out, name)), name)
            self.assertTrue(os.path.exists(os.path.join(broker_dir, "topic-nosub.txt")))


if __name__ == "__main__":
    if "--broker" in sys.argv:
        i = sys.argv.index("--broker")
        BROKER_SPEC = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    unittest.main()
