"""Counting what arrived: message ids, latency histograms, per-second rates,
completeness, loss and fairness. Pure functions and small classes with no
I/O, so the tests can feed them synthetic inputs.

Message ids (DRIVER.md, "Messages"): a body starts with `<stream>-<seq>;`,
where the stream names the sender (`P3` for publisher 3) and seq counts from
0 per stream; the rest of the body is padding.
"""

PAD = b"x"
SUB_BITS = 6  # 64 buckets per power of two: each at most 1/64 of its value wide


def make_body(stream, seq, size):
    """Returns `<stream>-<seq>;` padded with 'x' to `size` bytes (longer when
    the id alone does not fit)."""
    head = b"%s-%d;" % (stream, seq)
    if len(head) >= size:
        return head
    return head + PAD * (size - len(head))


def parse_body_id(body):
    """Returns (stream, seq) from a body made by make_body, or None."""
    semi = body.find(b";", 0, 64)
    if semi <= 0:
        return None
    dash = body.rfind(b"-", 0, semi)
    if dash <= 0:
        return None
    try:
        return body[:dash], int(body[dash + 1:semi])
    except ValueError:
        return None


def split_evenly(total, parts):
    """Splits `total` into `parts` counts differing by at most one."""
    if parts <= 0:
        return []
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


# Latency ------------------------------------------------------------------

def bucket_of(value):
    """Log-linear bucket index: exact below 128, then 64 per power of two."""
    if value < (1 << (SUB_BITS + 1)):
        return value
    shift = value.bit_length() - (SUB_BITS + 1)
    return (shift << SUB_BITS) + (value >> shift)


def bucket_floor(index):
    """The smallest value that falls into bucket `index`."""
    if index < (1 << (SUB_BITS + 1)):
        return index
    shift = (index >> SUB_BITS) - 1
    return (index - (shift << SUB_BITS)) << shift


class LatencyHistogram:
    """Nanosecond latencies in log-linear buckets: percentiles within 1.6%,
    the maximum and mean exact. Mergeable across workers."""

    def __init__(self):
        self.buckets = {}
        self.count = 0
        self.total = 0
        self.max = 0

    def record(self, value):
        if value < 0:
            value = 0
        b = bucket_of(value)
        self.buckets[b] = self.buckets.get(b, 0) + 1
        self.count += 1
        self.total += value
        if value > self.max:
            self.max = value

    def merge(self, other):
        for b, n in other.buckets.items():
            self.buckets[b] = self.buckets.get(b, 0) + n
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)
        return self

    def percentile(self, q):
        """The value below which a fraction q of samples fall (bucket floor;
        q=1 gives the exact maximum). None when empty."""
        if self.count == 0:
            return None
        if q >= 1.0:
            return self.max
        rank = q * self.count
        seen = 0
        for b in sorted(self.buckets):
            seen += self.buckets[b]
            if seen >= rank and seen > 0:
                return min(bucket_floor(b), self.max)
        return self.max

    def summary(self):
        """The DRIVER.md latency object."""
        if self.count == 0:
            return {"count": 0, "mean": None, "p50": None, "p90": None,
                    "p99": None, "p999": None, "p100": None, "histogram": []}
        return {
            "count": self.count,
            "mean": self.total // self.count,
            "p50": self.percentile(0.50),
            "p90": self.percentile(0.90),
            "p99": self.percentile(0.99),
            "p999": self.percentile(0.999),
            "p100": self.max,
            "histogram": [[bucket_floor(b), self.buckets[b]] for b in sorted(self.buckets)],
        }


# Per-second series ----------------------------------------------------------

class PerSecond:
    """Counts events per whole second since t0_ns (mergeable)."""

    def __init__(self, t0_ns=0):
        self.t0_ns = t0_ns
        self.counts = []

    def rebase(self, t0_ns):
        """Moves the origin to t0_ns. Events counted before it (a receiver can
        see traffic before its own process hears that the load started)
        fold into the first second."""
        early = sum(self.counts)
        self.counts = [early] if early else []
        self.t0_ns = t0_ns

    def add(self, t_ns, n=1):
        i = (t_ns - self.t0_ns) // 1_000_000_000
        if i < 0:
            i = 0
        counts = self.counts
        if i >= len(counts):
            counts.extend([0] * (i + 1 - len(counts)))
        counts[i] += n

    def merge(self, other):
        if len(other.counts) > len(self.counts):
            self.counts.extend([0] * (len(other.counts) - len(self.counts)))
        for i, n in enumerate(other.counts):
            self.counts[i] += n
        return self


# Sequence tracking ---------------------------------------------------------

class SequenceTracker:
    """Which sequence numbers of which streams were seen, and how often.

    Counts are kept in a bytearray per stream (saturating at 255), so trackers
    of several consumers merge into one view of a queue: anything seen more
    than once in the union is a duplicate, anything never seen is lost.
    """

    def __init__(self):
        self.seen = {}
        self.total = 0

    def record(self, stream, seq):
        """Counts one arrival; returns True the first time (stream, seq) is seen."""
        self.total += 1
        counts = self.seen.get(stream)
        if counts is None:
            counts = self.seen[stream] = bytearray(max(1024, seq + 1))
        elif seq >= len(counts):
            counts.extend(bytes(max(seq + 1 - len(counts), len(counts))))
        c = counts[seq]
        if c < 255:
            counts[seq] = c + 1
        return c == 0

    def merge(self, other):
        for stream, theirs in other.seen.items():
            mine = self.seen.get(stream)
            if mine is None:
                self.seen[stream] = bytearray(theirs)
                continue
            if len(theirs) > len(mine):
                mine.extend(bytes(len(theirs) - len(mine)))
            for i, c in enumerate(theirs):
                if c:
                    mine[i] = min(255, mine[i] + c)
        self.total += other.total
        return self

    @property
    def distinct(self):
        return sum(len(c) - c.count(0) for c in self.seen.values())

    @property
    def duplicates(self):
        return self.total - self.distinct

    def check(self, expected):
        """Compares with what was sent: `expected` maps stream -> count sent
        (sequences 0..count-1). Returns (missing, unexpected): expected ids
        never seen, and distinct ids seen that were never sent."""
        missing = 0
        for stream, n in expected.items():
            counts = self.seen.get(stream)
            if counts is None:
                missing += n
            else:
                head = counts[:n]
                missing += n - (len(head) - head.count(0))
        unexpected = self.distinct - (sum(expected.values()) - missing)
        return missing, unexpected


# Verdicts --------------------------------------------------------------------

def completeness(expected, subscribers, max_listed=20):
    """Fanout completeness: did every subscriber get every message?

    `expected` maps stream -> count sent; `subscribers` is a list of
    (index, SequenceTracker or the dict from tracker_counts). Returns the
    DRIVER.md completeness fields.
    """
    per_sub = [(i, t if isinstance(t, dict) else tracker_counts(t, expected))
               for i, t in subscribers]
    want = sum(expected.values())
    missing_list = sorted(((c["missing"], i) for i, c in per_sub if c["missing"]), reverse=True)
    out = {
        "expected_deliveries": want * len(per_sub),
        "delivered": sum(c["distinct"] for _, c in per_sub),
        "duplicates": sum(c["duplicates"] for _, c in per_sub),
        "missing": sum(c["missing"] for _, c in per_sub),
        "unexpected": sum(c["unexpected"] for _, c in per_sub),
        "subscribers_incomplete": len(missing_list),
        "missing_by_subscriber": [[i, m] for m, i in missing_list[:max_listed]],
    }
    out["complete"] = out["missing"] == 0 and out["unexpected"] == 0
    return out


def tracker_counts(tracker, expected):
    """The few numbers a worker sends home for one subscriber."""
    missing, unexpected = tracker.check(expected)
    return {"distinct": tracker.distinct, "duplicates": tracker.duplicates,
            "missing": missing, "unexpected": unexpected}


def queue_loss(expected, consumed):
    """Queue verdict over the union of all consumers' trackers: `consumed` is
    one merged SequenceTracker. Returns lost, duplicates, unexpected."""
    missing, unexpected = consumed.check(expected)
    return {"consumed": consumed.distinct, "lost": missing,
            "duplicates": consumed.duplicates, "unexpected": unexpected}


def fairness(counts):
    """Competing-consumer fairness: min share / max share (1.0 is perfect;
    0.0 when a consumer got nothing), with the shares themselves."""
    total = sum(counts)
    if not counts or total == 0:
        return {"fairness": None, "share_min": None, "share_max": None}
    return {"fairness": min(counts) / max(counts),
            "share_min": min(counts) / total, "share_max": max(counts) / total}
