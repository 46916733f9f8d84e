"""Sampling a process tree's resident memory from /proc."""

import os
import threading
import time

PERIOD = 0.1


def children_of(pid):
    """The direct children of `pid` (all its threads' children)."""
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    kids.extend(int(k) for k in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return kids


def tree_of(root):
    """`root` and all its descendants that exist now."""
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children_of(pid))
    return out


def rss_of(pid):
    """VmRSS of one process in bytes (0 for one that is gone or a zombie)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(root):
    return sum(rss_of(p) for p in tree_of(root))


class RssSampler:
    """Samples the summed VmRSS of a process tree every 100 ms on a thread.

    samples: [(CLOCK_MONOTONIC ns, bytes)], the same clock the drivers
    stamp their events with, so both can be laid on one time axis.
    """

    def __init__(self, root_pid, period=PERIOD):
        self.root = root_pid
        self.period = period
        self.samples = []
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        if self.root is None:
            return self
        self.sample()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def sample(self):
        self.samples.append((time.monotonic_ns(), tree_rss(self.root)))
        return self.samples[-1][1]

    def _run(self):
        next_at = time.monotonic()
        while not self._stop.is_set():
            next_at += self.period
            self.sample()
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self.sample()
        return self.samples


def between(samples, start_ns, end_ns):
    return [b for t, b in samples if start_ns <= t <= end_ns]


def summarize(samples, t0_ns=None, minute_s=60.0):
    """The phase JSON `rss` object: samples as [seconds since t0, bytes],
    start, peak, end, and the mean of each minute (for the soak's drift)."""
    if not samples:
        return None
    t0 = t0_ns if t0_ns is not None else samples[0][0]
    per_minute = {}
    for t, b in samples:
        if t >= t0:
            per_minute.setdefault(int((t - t0) / 1e9 // minute_s), []).append(b)
    return {
        "period_seconds": PERIOD,
        "t0_ns": t0,
        "start_bytes": samples[0][1],
        "peak_bytes": max(b for _, b in samples),
        "end_bytes": samples[-1][1],
        "per_minute_mean_bytes": [sum(v) // len(v) for _, v in sorted(per_minute.items())],
        "samples": [[round((t - t0) / 1e9, 3), b] for t, b in samples],
    }
