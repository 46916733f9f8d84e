"""Running one phase on one fresh broker, and what follows from its samples."""

import datetime
import statistics
import sys
import time

from harness import brokers, loadgen, machine, rss


def log(msg):
    print("[harness] %s" % msg, file=sys.stderr, flush=True)


def run_phase(phase, broker_spec, opts, settings):
    """Starts a fresh broker, samples its RSS while the driver runs the
    phase, stops the broker; returns the phase document (DRIVER.md's result
    under "result", with everything needed to reproduce it around it).

    `settings`: driver kind, quick, overrides {phase: {param: value}},
    soak_seconds. A broker that does not start gives a document with "error"
    and no result, so one bad phase does not end the run.
    """
    params = phase.params(settings["quick"], settings["overrides"].get(phase.name),
                          settings.get("soak_seconds"))
    doc = {
        "phase": phase.name, "scenario": phase.scenario, "title": phase.title,
        "quick": settings["quick"], "parameters": params,
        "backend": opts.io, "schedulers": opts.schedulers, "stack_size": opts.stack_size,
        "broker_config": opts.config, "broker_args": list(opts.args),
        "machine": machine.describe(),
        "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "error": None,
    }
    started = time.monotonic()
    driver = settings["driver"]
    note = None
    if phase.native_only and driver != "native":
        try:
            driver = loadgen.choose("native")
            note = "%s is implemented by the native driver only (DRIVER.md)" % phase.scenario
        except FileNotFoundError as e:
            doc["error"] = "%s needs the native driver: %s" % (phase.name, e)
            log(doc["error"])
            return doc
    log("%s on %s: starting a fresh broker" % (phase.name, broker_spec))
    try:
        # The crash scenario's phases (crash, persistent) and restart send
        # persistent:true: the durability text recorded says what each broker does.
        persistent = phase.scenario in ("crash", "restart")
        broker = brokers.start(broker_spec, opts, phase.name, durable=persistent)
    except (brokers.BrokerError, OSError) as e:
        doc["error"] = "broker did not start: %s" % e
        log(doc["error"])
        return doc
    doc["broker"] = broker.describe()
    if persistent and broker.name in brokers.PERSISTENT_DURABILITY:
        doc["broker"]["durability"] = brokers.PERSISTENT_DURABILITY[broker.name]
    events = []
    try:
        sampler = rss.RssSampler(broker.pid).start()
        doc["admin_stats"] = {"before": loadgen.fetch_stats(broker.admin)}
        log("%s on %s: driver %s, %s" % (phase.name, broker.name, driver,
                                         " ".join("%s=%s" % kv for kv in params.items())))
        # The driver stops itself a little before the harness would kill it,
        # so that a phase that hangs still reports what it saw.
        limit = phase.timeout(params)
        driver_params = dict(params)
        driver_params.setdefault("timeout", int(limit - 30))
        control = None
        if phase.action:
            control = broker_actions(phase, broker, sampler, events)
        result, status, cmd = loadgen.run(driver, phase.scenario, broker,
                                          driver_params, limit, control=control)
        doc["admin_stats"]["after"] = loadgen.fetch_stats(broker.admin)
        samples = sampler.stop()
    finally:
        broker.stop()
    doc["events"] = events
    doc["driver"] = {"kind": driver, "command": cmd, "exit_status": status,
                     "version": result.get("driver_version") if result else None,
                     "note": note}
    doc["result"] = result
    if result is None:
        doc["error"] = "driver gave no JSON (exit status %s)" % status
    t0 = result.get("t0_ns") if result else None
    interval = params.get("interval", 60) if phase.name == "soak" else 60
    doc["rss"] = rss.summarize(samples, t0, interval)
    doc["derived"] = derive(phase, result, samples, params, events) if result else {}
    doc["wall_seconds"] = time.monotonic() - started
    log("%s on %s: done in %.0f s%s" % (phase.name, broker.name, doc["wall_seconds"],
                                         "" if result and result.get("ok") else " (NOT ok)"))
    return doc


def broker_actions(phase, broker, sampler, events):
    """The control-file handler of the crash and restart phases: the driver
    writes "kill <ns>" or "restart <ns>" when it is time; the harness ends the
    broker (SIGKILL or its clean stop), starts it again on the same data and
    port, and points the RSS sampler at the new process."""
    def on_line(line):
        word, _, when = line.partition(" ")
        if word not in ("kill", "restart"):
            return
        how = "kill" if word == "kill" else "graceful"
        log("%s on %s: %s the broker (the driver asked at %s)" % (
            phase.name, broker.name, "SIGKILL" if how == "kill" else "gracefully restarting",
            when))
        event = broker.restart(how)
        event["asked_ns"] = int(when) if when.isdigit() else None
        if event.get("pid"):
            sampler.root = event["pid"]
        events.append(event)
        log("%s on %s: back after %.1f s%s" % (
            phase.name, broker.name,
            ((event.get("ready_ns") or time.monotonic_ns()) - (event.get("spawn_ns") or 0)) / 1e9,
            "" if not event.get("error") else " (error: %s)" % event["error"]))
    return on_line


def derive(phase, result, samples, params, events=()):
    """Figures that need both the driver's timestamps and the RSS samples."""
    name = phase.name
    if phase.scenario in DERIVE:
        return DERIVE[phase.scenario](result, samples or [], params, events)
    if not samples:
        return {}
    if name == "conns":
        return conns_memory(result, samples)
    if name == "slow":
        return slow_memory(result, samples, params)
    if name == "soak":
        return soak_memory(result, samples, params)
    return {}


def median_between(samples, start, end):
    vals = rss.between(samples, start, end)
    return statistics.median(vals) if vals else None


def conns_memory(result, samples):
    """RSS per connection: (median RSS while all sit idle - RSS before the
    first connection) / connections held."""
    t0, hs, he = result.get("t0_ns"), result.get("hold_start_ns"), result.get("hold_end_ns")
    before = median_between(samples, (t0 or 0) - 2_000_000_000, t0 or 0) if t0 else None
    if before is None:
        before = samples[0][1]
    after = median_between(samples, hs, he) if hs and he else None
    n = result.get("connected") or 0
    return {"rss_before_bytes": before, "rss_idle_bytes": after,
            "rss_per_connection_bytes": (after - before) / n if after and n else None}


def slope(points):
    """Least-squares slope of [(seconds, bytes)], bytes/s; None if < 2 points."""
    if len(points) < 2:
        return None
    mx = sum(x for x, _ in points) / len(points)
    my = sum(y for _, y in points) / len(points)
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else None


def slow_memory(result, samples, params):
    """Does memory stay bounded while the slow subscriber stalls? Growth over
    the slow window, and the RSS slope over its second half compared with
    what keeping every undelivered message would add (rate x body size)."""
    t0, end = result.get("t0_ns"), result.get("slow_ended_ns")
    if not t0 or not end:
        return {}
    window = [(t, b) for t, b in samples if t0 <= t <= end]
    if not window:
        return {}
    mid = t0 + (end - t0) // 2
    late = [((t - t0) / 1e9, b) for t, b in window if t >= mid]
    late_slope = slope(late)
    keep_all = float(params.get("publish_rate", 0)) * float(params.get("body_size", 0))
    return {
        "rss_at_start_bytes": window[0][1],
        "rss_peak_bytes": max(b for _, b in window),
        "rss_growth_bytes": max(b for _, b in window) - window[0][1],
        "rss_late_slope_bytes_per_s": late_slope,
        "keep_everything_bytes_per_s": keep_all,
        "rss_bounded": (late_slope is not None and keep_all > 0
                        and late_slope < 0.1 * keep_all),
    }


def soak_memory(result, samples, params):
    """RSS per interval of the soak and its drift from the first to the last
    full interval."""
    t0 = result.get("t0_ns")
    interval = float(params.get("interval", 60))
    duration = float(params.get("duration", 0))
    if not t0:
        return {}
    means = []
    for i in range(max(1, int(duration // interval))):
        start = t0 + int(i * interval * 1e9)
        vals = rss.between(samples, start, start + int(interval * 1e9))
        means.append(sum(vals) // len(vals) if vals else None)
    known = [m for m in means if m]
    drift = (known[-1] - known[0]) / known[0] if len(known) >= 2 else None
    return {"rss_interval_seconds": interval, "rss_per_interval_bytes": means,
            "rss_drift": drift}


# ---- the phases of issues 9, 10 and 14 ----

def rate_figures(result, samples, params, events):
    """The worst channel's achieved rate over its target (publisher or any
    subscriber), and which channels failed."""
    rows = result.get("channels") or []
    ratios = [r["achieved_ratio"] for r in rows if r.get("achieved_ratio") is not None]
    return {"worst_ratio": min(ratios) if ratios else None,
            "failed": [r["channel"] for r in rows if not r.get("ok")]}


def cliff_figures(result, samples, params, events):
    steps = result.get("steps") or []
    knee = result.get("knee_rate")
    at = next((s for s in steps if s["offered_rate"] == knee), None)
    return {"steps_run": len(steps),
            "knee_p99_ns": (at or {}).get("latency_ns", {}).get("p99")}


def burst_memory(result, samples, params, events):
    """Idle RSS before the load (every client connected, nothing sent), the
    peak under load, idle RSS 10 s after (every client gone: the median of the
    last second of the idle window), and after over before."""
    def median(a, b):
        return median_between(samples, a, b) if a and b else None
    before = median(result.get("idle_before_start_ns"), result.get("idle_before_end_ns"))
    end = result.get("idle_after_end_ns")
    after = median(end - 1_000_000_000, end) if end else None
    peak_vals = rss.between(samples, result.get("load_start_ns") or 0,
                            result.get("idle_after_start_ns") or 0)
    peak = max(peak_vals) if peak_vals else None
    return {"rss_idle_before_bytes": before, "rss_load_peak_bytes": peak,
            "rss_idle_after_bytes": after,
            "rss_after_over_before": after / before if after and before else None}


def abuse_memory(result, samples, params, events):
    """RSS peak and its growth over the idle level before the hostile began."""
    if not samples:
        return {}
    start = result.get("hostile_start_ns") or samples[0][0]
    before = median_between(samples, start - 1_000_000_000, start) or samples[0][1]
    peak = max(b for _, b in samples)
    end_vals = rss.between(samples, result.get("hostile_end_ns") or 0, samples[-1][0])
    return {"rss_before_bytes": before, "rss_peak_bytes": peak,
            "rss_growth_bytes": peak - before,
            "rss_after_bytes": end_vals[-1] if end_vals else None}


def restart_figures(result, samples, params, events):
    """From the harness's restart event and the driver's first delivery after
    it: seconds from the new broker's spawn to its first delivery, and to its
    port accepting again."""
    ev = next((e for e in events if e.get("spawn_ns")), None)
    if ev is None:
        return {"restarted": False}
    first = result.get("first_delivery_after_loss_ns")
    return {"restarted": not ev.get("error"), "restart_how": ev.get("how"),
            "restart_ready_s": (ev["ready_ns"] - ev["spawn_ns"]) / 1e9 if ev.get("ready_ns")
            else None,
            "restart_to_first_delivery_s": (first - ev["spawn_ns"]) / 1e9
            if first and first > ev["spawn_ns"] else None,
            "down_to_ready_s": (ev["ready_ns"] - ev["down_ns"]) / 1e9
            if ev.get("ready_ns") and ev.get("down_ns") else None}


DERIVE = {"rate": rate_figures, "cliff": cliff_figures, "burst": burst_memory,
          "abuse": abuse_memory, "crash": restart_figures, "restart": restart_figures}
