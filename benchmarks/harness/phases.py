"""The phases: which driver scenario each runs, with which parameters (full
and --quick), and which figures headline it.

Full sizes are chosen so that all phases on one broker take about 20
minutes on the 2-core development machine (10 of them the soak); --quick
makes each a few seconds."""

from dataclasses import dataclass, field

MiB = 1024 * 1024


@dataclass
class Phase:
    name: str
    scenario: str
    title: str
    full: dict
    quick: dict
    # (label, path into the phase JSON, unit, better): better is "higher",
    # "lower" or None (not compared as a ratio).
    headline: list = field(default_factory=list)
    # Only the native driver implements its scenario (DRIVER.md).
    native_only: bool = False
    # "crash" or "restart": the harness kills or restarts the broker when
    # the driver asks (runner.run_with_actions), on the same data directory.
    action: str = None
    # Seconds the scenario's own schedule takes, for the timeout.
    seconds: object = None

    def params(self, quick, overrides=None, soak_seconds=None):
        p = dict(self.quick if quick else self.full)
        if soak_seconds and self.name == "soak":
            p["duration"] = soak_seconds
            # Per minute reads well for a long soak; a short one needs a few
            # intervals to show any drift at all.
            p["interval"] = 60 if soak_seconds >= 300 else max(1, round(soak_seconds / 6))
        p.update(overrides or {})
        return p

    def timeout(self, params):
        """Seconds the harness gives the driver before killing it: generous,
        as a hung phase is found by its checks, not by this limit. Allows
        5,000 deliveries/s, far below any broker's worst seen here."""
        run = float(params.get("duration", 0)) + float(params.get("hold", 0))
        if self.seconds is not None:
            run += float(self.seconds(params))
        deliveries = int(params.get("messages", 0)) * max(1, int(params.get("subscribers", 1)))
        return 300 + run * 1.5 + deliveries / 5000


LAT = "result.latency_ns."
PHASES = [
    Phase("fanout", "fanout", "S subscribers on one topic, P publishers",
          full=dict(subscribers=200, publishers=2, messages=10000, body_size=1024),
          quick=dict(subscribers=20, publishers=2, messages=2000, body_size=1024),
          headline=[("delivery rate", "result.delivery_rate", "msg/s", "higher"),
                    ("publish rate", "result.publish_rate", "msg/s", "higher"),
                    ("latency p50", LAT + "p50", "ms", "lower"),
                    ("latency p99", LAT + "p99", "ms", "lower"),
                    ("latency p100", LAT + "p100", "ms", "lower"),
                    ("first message p100", "result.first_message_latency_ns.p100", "ms", "lower"),
                    ("complete", "result.complete", "", None),
                    ("missing", "result.missing", "", "lower"),
                    ("RSS peak", "rss.peak_bytes", "MiB", "lower")]),
    Phase("slow", "slow", "a fast and a stalled subscriber under a steady publish rate",
          full=dict(publish_rate=2000, duration=60, body_size=1024, slow_mode="stall"),
          quick=dict(publish_rate=1000, duration=10, body_size=1024, slow_mode="stall"),
          headline=[("fast rate", "result.fast_rate", "msg/s", "higher"),
                    ("publish rate", "result.publish_rate", "msg/s", "higher"),
                    ("fast latency p99", "result.fast_latency_ns.p99", "ms", "lower"),
                    ("fast missing", "result.fast_missing", "", "lower"),
                    ("slow got while slow", "result.slow_received_while_slow", "", None),
                    ("slow got in all", "result.slow_received", "", None),
                    ("broker action", "result.broker_action", "", None),
                    ("RSS growth", "derived.rss_growth_bytes", "MiB", "lower"),
                    ("RSS bounded", "derived.rss_bounded", "", None)]),
    Phase("queue", "queue", "competing consumers, client-individual acks",
          full=dict(consumers=4, producers=2, messages=100000, body_size=1024, prefetch=100),
          quick=dict(consumers=4, producers=2, messages=10000, body_size=1024, prefetch=100),
          headline=[("throughput", "result.throughput", "msg/s", "higher"),
                    ("publish rate", "result.publish_rate", "msg/s", "higher"),
                    ("fairness", "result.fairness", "", "higher"),
                    ("lost", "result.lost", "", "lower"),
                    ("duplicates", "result.duplicates", "", "lower"),
                    ("latency p99", LAT + "p99", "ms", "lower"),
                    ("RSS peak", "rss.peak_bytes", "MiB", "lower")]),
    Phase("soak", "soak", "sustained mixed topic and queue load",
          full=dict(duration=600, interval=60, topic_publishers=2, topic_subscribers=20,
                    topic_rate=500, queue_producers=2, queue_consumers=4, queue_rate=2000,
                    body_size=512),
          quick=dict(duration=20, interval=5, topic_publishers=2, topic_subscribers=10,
                     topic_rate=500, queue_producers=2, queue_consumers=4, queue_rate=1000,
                     body_size=512),
          headline=[("topic delivery rate", "result.topic.delivery_rate", "msg/s", "higher"),
                    ("queue throughput", "result.queue.throughput", "msg/s", "higher"),
                    ("lost", "result.lost", "", "lower"),
                    ("duplicates", "result.duplicates", "", "lower"),
                    ("topic latency p99", "result.topic_latency_ns.p99", "ms", "lower"),
                    ("queue latency p99", "result.queue_latency_ns.p99", "ms", "lower"),
                    ("RSS drift", "derived.rss_drift", "%", None),
                    ("RSS peak", "rss.peak_bytes", "MiB", "lower")]),
    Phase("conns", "conns", "N idle connections with one subscription each",
          full=dict(connections=10000, hold=10),
          quick=dict(connections=1000, hold=3),
          headline=[("connected", "result.connected", "", "higher"),
                    ("failures", "result.failures", "", "lower"),
                    ("time to connect", "result.connect_seconds", "s", "lower"),
                    ("RSS per connection", "derived.rss_per_connection_bytes", "KiB", "lower"),
                    ("probe missing", "result.probe_missing", "", "lower")]),
    Phase("topic-nosub", "fanout", "Apollo: a topic with no subscribers (publish rate)",
          full=dict(subscribers=0, publishers=1, messages=200000, body_size=1024),
          quick=dict(subscribers=0, publishers=1, messages=20000, body_size=1024),
          headline=[("publish rate", "result.publish_rate", "msg/s", "higher")]),
    Phase("load-unload", "load-unload", "Apollo: queue load, then unload",
          full=dict(messages=100000, producers=1, consumers=1, body_size=1024),
          quick=dict(messages=10000, producers=1, consumers=1, body_size=1024),
          headline=[("enqueue rate", "result.enqueue_rate", "msg/s", "higher"),
                    ("dequeue rate", "result.dequeue_rate", "msg/s", "higher"),
                    ("lost", "result.lost", "", "lower"),
                    ("RSS peak", "rss.peak_bytes", "MiB", "lower")]),
    Phase("topic-10x10", "fanout", "Apollo: 10 producers -> 1 topic -> 10 consumers, 20 B",
          full=dict(subscribers=10, publishers=10, messages=100000, body_size=20),
          quick=dict(subscribers=10, publishers=10, messages=10000, body_size=20),
          headline=[("delivery rate", "result.delivery_rate", "msg/s", "higher"),
                    ("publish rate", "result.publish_rate", "msg/s", "higher"),
                    ("latency p99", LAT + "p99", "ms", "lower"),
                    ("complete", "result.complete", "", None)]),
    Phase("request-reply", "request-reply", "Apollo: request/reply round trips",
          full=dict(requesters=1, responders=1, requests=20000, body_size=64),
          quick=dict(requesters=1, responders=1, requests=2000, body_size=64),
          headline=[("rate", "result.rate", "req/s", "higher"),
                    ("RTT p50", "result.rtt_ns.p50", "ms", "lower"),
                    ("RTT p99", "result.rtt_ns.p99", "ms", "lower"),
                    ("RTT p100", "result.rtt_ns.p100", "ms", "lower")]),
]
CLASSIC = [p.name for p in PHASES]


def _sum(*keys, times=1.0):
    return lambda p: times * sum(float(p.get(k, 0) or 0) for k in keys)


def _cliff_seconds(p):
    steps, rate = 0, float(p.get("start_rate", 1000))
    while rate <= float(p.get("max_rate", 1024000)) and steps < 64:
        steps, rate = steps + 1, rate * max(1.01, float(p.get("factor", 2)))
    return steps * (float(p.get("step_seconds", 5)) + float(p.get("settle_timeout", 15)))


# The load phases of issue 14: open-loop schedules (send times from the
# start, bench-ts the scheduled time), native driver only.
LOAD_PHASES = [
    Phase("rate", "rate", "P channels (topics) x S subscribers, each publisher at a fixed rate "
          "on an open-loop schedule",
          full=dict(channels=5, subscribers=25, rate=50, duration=30, body_size=256),
          quick=dict(channels=5, subscribers=25, rate=50, duration=5, body_size=256),
          headline=[("failed channels", "result.failed_channels", "", "lower"),
                    ("worst achieved / target", "derived.worst_ratio", "%", "higher"),
                    ("latency p50", LAT + "p50", "ms", "lower"),
                    ("latency p99", LAT + "p99", "ms", "lower"),
                    ("latency p100", LAT + "p100", "ms", "lower"),
                    ("missing", "result.missing", "", "lower"),
                    ("RSS peak", "rss.peak_bytes", "MiB", "lower")],
          native_only=True, seconds=_sum("drain_timeout")),
    Phase("cliff", "cliff", "offered load stepped up (open loop) until p99 crosses the limit or "
          "deliveries stop following",
          full=dict(publishers=2, subscribers=4, start_rate=1000, factor=2, max_rate=1024000,
                    step_seconds=5, p99_limit_ms=20, body_size=1024),
          quick=dict(publishers=2, subscribers=4, start_rate=1000, factor=4, max_rate=1024000,
                     step_seconds=2, p99_limit_ms=20, body_size=1024, settle_timeout=8),
          headline=[("knee (offered)", "result.knee_rate", "msg/s", "higher"),
                    ("knee reason", "result.knee_reason", "", None),
                    ("p99 at the knee", "derived.knee_p99_ns", "ms", "lower"),
                    ("steps run", "derived.steps_run", "", None),
                    ("RSS peak", "rss.peak_bytes", "MiB", "lower")],
          native_only=True, seconds=_cliff_seconds),
    Phase("mixed", "mixed", "topic fan-out, a 64 KiB queue and request/reply at once, each "
          "against itself alone",
          full=dict(stage_seconds=15, topic_subscribers=10, topic_rate=2000, bulk_rate=50,
                    rr_rate=200),
          quick=dict(stage_seconds=4, topic_subscribers=10, topic_rate=2000, bulk_rate=50,
                     rr_rate=200),
          headline=[("topic p99 alone", "result.classes.topic.alone.latency_ns.p99", "ms", "lower"),
                    ("topic p99 mixed", "result.classes.topic.mixed.latency_ns.p99", "ms", "lower"),
                    ("bulk p99 alone", "result.classes.bulk.alone.latency_ns.p99", "ms", "lower"),
                    ("bulk p99 mixed", "result.classes.bulk.mixed.latency_ns.p99", "ms", "lower"),
                    ("rr p99 alone", "result.classes.rr.alone.latency_ns.p99", "ms", "lower"),
                    ("rr p99 mixed", "result.classes.rr.mixed.latency_ns.p99", "ms", "lower"),
                    ("starved classes", "result.starved_classes", "", None),
                    ("missing", "result.missing", "", "lower")],
          native_only=True, seconds=_sum("stage_seconds", times=4 * 2.5)),
    Phase("burst", "burst", "a queue at a sustained rate, 3x for a while, then back (consumers "
          "capped at 2x the sustained rate)",
          full=dict(producers=2, consumers=2, base_rate=5000, factor=3, before_seconds=10,
                    burst_seconds=10, after_seconds=20, consume_rate=10000, body_size=1024,
                    idle_before=3, idle_after=10),
          quick=dict(producers=2, consumers=2, base_rate=2000, factor=3, before_seconds=4,
                     burst_seconds=4, after_seconds=8, consume_rate=4000, body_size=1024,
                     idle_before=2, idle_after=10),
          headline=[("backlog peak", "result.backlog_peak", "msgs", "lower"),
                    ("time to drain", "result.drain_seconds", "s", "lower"),
                    ("p99 before", "result.latency_before_ns.p99", "ms", "lower"),
                    ("p99 during", "result.latency_during_ns.p99", "ms", "lower"),
                    ("p99 after", "result.latency_after_ns.p99", "ms", "lower"),
                    ("lost", "result.lost", "", "lower"),
                    ("idle RSS before", "derived.rss_idle_before_bytes", "MiB", "lower"),
                    ("RSS peak", "derived.rss_load_peak_bytes", "MiB", "lower"),
                    ("idle RSS 10 s after", "derived.rss_idle_after_bytes", "MiB", "lower"),
                    ("after / before", "derived.rss_after_over_before", "%", "lower")],
          native_only=True,
          seconds=_sum("before_seconds", "burst_seconds", "after_seconds", "idle_before",
                       "idle_after", "drain_timeout")),
    Phase("multiproc", "multiproc", "competing consumers of one queue in several processes, "
          "joining and leaving during the run",
          full=dict(processes=4, churn=2, producers=2, rate=2000, duration=30, body_size=512),
          quick=dict(processes=4, churn=2, producers=2, rate=1000, duration=8, body_size=512),
          headline=[("consumed", "result.consumed", "", None),
                    ("lost", "result.lost", "", "lower"),
                    ("duplicates after an ack", "result.duplicates_after_ack", "", "lower"),
                    ("redelivered (unacked)", "result.redelivered", "", None),
                    ("fairness (rate while present)", "result.fairness", "", "higher"),
                    ("latency p99", LAT + "p99", "ms", "lower"),
                    ("RSS peak", "rss.peak_bytes", "MiB", "lower")],
          native_only=True, seconds=_sum("drain_timeout")),
]

# The hostile clients of issue 9, one case per phase (a fresh broker each),
# each beside a bystander publisher/subscriber pair.
ABUSE_HEADLINE = [("RSS peak", "rss.peak_bytes", "MiB", "lower"),
                  ("RSS growth", "derived.rss_growth_bytes", "MiB", "lower"),
                  ("hostile connection", "result.hostile.outcome", "", None),
                  ("broker said", "result.hostile.error", "", None),
                  ("hostile did", "result.hostile.summary", "", None),
                  ("bystander in order, complete", "result.bystander.ok", "", None),
                  ("bystander p99", "result.bystander.latency_ns.p99", "ms", "lower")]
ABUSE_PHASES = [
    Phase("abuse-" + case, "abuse", title,
          full=dict(case=case, **full), quick=dict(case=case, **quick),
          headline=ABUSE_HEADLINE, native_only=True, seconds=_sum("case_seconds", times=2))
    for case, title, full, quick in (
        ("receipts", "(a) never reads (SO_RCVBUF 4 KiB), 20,000 BEGIN/ABORT pairs each asking "
         "for a RECEIPT with an 8 KiB receipt id",
         dict(count=20000, case_seconds=60), dict(count=20000, case_seconds=20)),
        ("unacked", "(b) subscribes with ack:client and prefetch-count:1, reads everything, "
         "never ACKs, while 200,000 x 1 KiB are published",
         dict(count=200000, case_seconds=60), dict(count=50000, case_seconds=20)),
        ("destinations", "(c) 100,000 SENDs, each to a new /topic/ name of about 1 KiB",
         dict(count=100000, case_seconds=60), dict(count=20000, case_seconds=20)),
        ("transactions", "(d) 16 transactions with 64 KiB SENDs into them, without end "
         "(the driver stops at --max-bytes)",
         dict(count=16, max_bytes=1 << 30, case_seconds=60),
         dict(count=16, max_bytes=128 << 20, case_seconds=20)),
        ("preconnect", "(e) before CONNECT: endless headers, one endless header line, "
         "many unauthenticated connections",
         dict(count=2000, max_bytes=64 << 20, case_seconds=20),
         dict(count=500, max_bytes=16 << 20, case_seconds=8)),
    )
]

# Durability (issue 10): the broker killed or restarted under load on the same
# data directory.
DURABILITY_PHASES = [
    Phase("crash", "crash", "a burst of persistent messages with receipts to a queue; the broker "
          "SIGKILLed mid-burst and restarted on the same data",
          full=dict(producers=2, consumers=2, messages=20000, body_size=512, window=100),
          quick=dict(producers=2, consumers=2, messages=4000, body_size=512, window=100),
          headline=[("receipted", "result.receipted", "", None),
                    ("receipted but lost", "result.receipted_lost", "", "lower"),
                    ("in doubt (no receipt)", "result.in_doubt", "", None),
                    ("duplicates", "result.duplicates", "", "lower"),
                    ("redelivered after a confirmed ack", "result.redelivered_after_ack", "",
                     "lower"),
                    ("corrupted", "result.corrupted", "", "lower"),
                    ("restart to first delivery", "derived.restart_to_first_delivery_s", "s",
                     "lower"),
                    ("broker ready after restart", "derived.restart_ready_s", "s", "lower")],
          native_only=True, action="crash", seconds=lambda p: 240),
    Phase("restart", "restart", "steady persistent load with receipts; the broker stopped "
          "gracefully and restarted on the same data",
          full=dict(producers=2, consumers=2, rate=1000, duration=30, body_size=512),
          quick=dict(producers=2, consumers=2, rate=500, duration=12, body_size=512),
          headline=[("receipted", "result.receipted", "", None),
                    ("receipted but lost", "result.receipted_lost", "", "lower"),
                    ("in doubt (no receipt)", "result.in_doubt", "", None),
                    ("duplicates", "result.duplicates", "", "lower"),
                    ("redelivered after a confirmed ack", "result.redelivered_after_ack", "",
                     "lower"),
                    ("gap in deliveries", "result.delivery_gap_seconds", "s", "lower"),
                    ("restart to first delivery", "derived.restart_to_first_delivery_s", "s",
                     "lower"),
                    ("broker ready after restart", "derived.restart_ready_s", "s", "lower")],
          native_only=True, action="restart", seconds=lambda p: 240),
    # No kill, no restart: the same driver's burst as a throughput phase.
    Phase("persistent", "crash", "a burst of persistent:true SENDs with receipts (a window of W "
          "unreceipted per producer) to one durable queue, consumers acknowledging "
          "(client-individual) throughout",
          full=dict(producers=4, consumers=4, messages=100000, body_size=512, window=100,
                    consume_during=1),
          quick=dict(producers=2, consumers=2, messages=4000, body_size=512, window=100,
                     consume_during=1),
          headline=[("receipted SENDs/s", "result.publish_rate", "msg/s", "higher"),
                    ("receipted", "result.receipted", "", None),
                    ("receipted but lost", "result.receipted_lost", "", "lower"),
                    ("consumed", "result.consumed", "", None),
                    ("duplicates", "result.duplicates", "", "lower"),
                    ("latency p50", LAT + "p50", "ms", "lower"),
                    ("latency p99", LAT + "p99", "ms", "lower"),
                    ("RSS peak", "rss.peak_bytes", "MiB", "lower")],
          native_only=True, seconds=lambda p: 240),
]
PHASES += LOAD_PHASES + ABUSE_PHASES + DURABILITY_PHASES
BY_NAME = {p.name: p for p in PHASES}
GROUPS = {"all": [p.name for p in PHASES],
          "classic": CLASSIC,
          "apollo": ["topic-nosub", "load-unload", "topic-10x10", "request-reply"],
          "load": [p.name for p in LOAD_PHASES],
          "abuse": [p.name for p in ABUSE_PHASES],
          "durability": [p.name for p in DURABILITY_PHASES]}


def select(spec):
    """Phase names from 'fanout,slow' / 'all' / 'apollo', in table order."""
    wanted = []
    for word in (spec or "all").split(","):
        word = word.strip()
        if not word:
            continue
        names = GROUPS.get(word, [word])
        for n in names:
            if n not in BY_NAME:
                raise ValueError("unknown phase %r (known: %s, or %s)"
                                 % (n, ", ".join(BY_NAME), ", ".join(GROUPS)))
            if n not in wanted:
                wanted.append(n)
    return [p for p in PHASES if p.name in wanted]


def lookup(doc, path):
    """The value at a dotted path of nested dicts, or None."""
    cur = doc
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur
