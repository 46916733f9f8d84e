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
BY_NAME = {p.name: p for p in PHASES}
GROUPS = {"all": [p.name for p in PHASES],
          "apollo": ["topic-nosub", "load-unload", "topic-10x10", "request-reply"]}


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
                raise ValueError("unknown phase %r (known: %s, or all, apollo)"
                                 % (n, ", ".join(BY_NAME)))
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
