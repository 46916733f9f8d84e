"""Helpers shared by the scenarios: bounded concurrent connecting, and the
summaries every scenario's JSON is built from."""

import asyncio
import time

from accounting import LatencyHistogram
from clients import Errors, connect


async def connect_limited(args, n_indexes, limit, setup, errors, role):
    """Connects one client per index in `n_indexes`, at most `limit` at once,
    and runs `await setup(index, conn)` on each (for example to subscribe).
    Returns {index: conn} for those that succeeded; failures go to `errors`."""
    sem = asyncio.Semaphore(max(1, limit))
    conns = {}

    async def one(i):
        async with sem:
            conn = None
            try:
                conn = await connect(args)
                if setup is not None:
                    await setup(i, conn)
                conns[i] = conn
            except (OSError, asyncio.TimeoutError, ConnectionError) as e:
                errors.add("%s %d: %s" % (role, i, (conn and conn.error) or repr(e)))
                if conn is not None:
                    conn.abort()

    await asyncio.gather(*(one(i) for i in n_indexes))
    return conns


def merge_errors(results, failures=()):
    """Sums the workers' error counts and keeps the first samples."""
    total = Errors()
    for r in results:
        if r is None:
            continue
        total.count += r["errors"]
        for s in r["error_samples"]:
            if len(total.samples) < Errors.KEEP:
                total.samples.append(s)
    for f in failures:
        total.add(f)
    return {"errors": total.count, "error_samples": total.samples}


def worker_errors(errors):
    return {"errors": errors.count, "error_samples": errors.samples}


def merge_latency(results, key="latency"):
    out = LatencyHistogram()
    for r in results:
        if r is not None and r.get(key) is not None:
            out.merge(r[key])
    return out


def add_series(series_list):
    """Element-wise sum of per-second count lists of different lengths."""
    out = []
    for s in series_list:
        if len(s) > len(out):
            out.extend([0] * (len(s) - len(out)))
        for i, n in enumerate(s):
            out[i] += n
    return out


def rate(count, seconds):
    return count / seconds if seconds and seconds > 0 else None


def span_seconds(starts, ends):
    """Seconds from the earliest of `starts` to the latest of `ends` (ns),
    ignoring None; None when either side is empty."""
    starts = [s for s in starts if s is not None]
    ends = [e for e in ends if e is not None]
    if not starts or not ends:
        return None
    return max(0, max(ends) - min(starts)) / 1e9


def summary_of(values):
    """p50 and p100 of a small list of numbers (first-message latencies)."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return {"count": 0, "p50": None, "p100": None}
    return {"count": len(values), "p50": values[len(values) // 2], "p100": values[-1]}


def live(results):
    return [r for r in results if r is not None]


def done_or_idle(barrier, keys, want, idle_seconds):
    """A stop condition for the coordinator: once every worker passed
    `barrier`, stop when the summed counters `keys` reach `want`, or when they
    have not moved for `idle_seconds` (the broker delivers nothing more; what
    is still missing is missing). Progress, not a fixed deadline, so a big
    backlog that drains slowly is still counted to the end."""
    state = {"value": None, "since": None}

    def check(totals, passed):
        if barrier not in passed:
            return False
        value = sum(totals.get(k, 0) for k in keys)
        if value >= want:
            return True
        now = time.monotonic()
        if value != state["value"] or state["since"] is None:
            state["value"], state["since"] = value, now
        return now - state["since"] > idle_seconds
    return check
