"""Per-phase detail tables of the load, abuse and durability phases (issues
9, 10, 14), shown under the summary in index.md and in each phase's .txt,
and the cliff's histograms in HdrHistogram's percentile-distribution form."""

import os

from harness.report import convert, fmt, markdown_table

FAIL = "🔴 **FAIL**"


def ms(ns):
    return fmt(convert(ns, "ms"))


def pct(x):
    return "-" if x is None else "%.1f%%" % (100 * x)


def lat(obj, key):
    return ms((obj or {}).get(key))


def rate_table(doc):
    """Per channel: the publisher's and the slowest subscriber's rate against
    the target, missing, latency; a failing channel in red."""
    res = doc["result"]
    rows = []
    for c in res.get("channels") or []:
        verdict = "ok" if c["ok"] else "%s %s" % (FAIL, "starved" if c["starved"] else
                                                  "below target")
        rows.append((c["channel"], fmt(c["target_rate"]), fmt(c["publish_rate"]),
                     fmt(c["subscriber_rate_min"]), fmt(c["subscriber_rate_median"]),
                     pct(c["achieved_ratio"]), fmt(c["sent_late"]), fmt(c["missing"]),
                     lat(c["latency_ns"], "p50"), lat(c["latency_ns"], "p99"),
                     lat(c["latency_ns"], "p100"), verdict))
    return markdown_table(["channel", "target (msg/s)", "publisher (msg/s)",
                           "slowest subscriber", "median subscriber", "worst / target",
                           "sent late", "missing", "p50 (ms)", "p99 (ms)", "max (ms)",
                           "verdict"], rows)


def cliff_table(doc):
    res = doc["result"]
    rows = []
    for s in res.get("steps") or []:
        l = s["latency_ns"]
        rows.append((fmt(s["offered_rate"]), fmt(s["send_rate"]), fmt(s["delivered_rate"]),
                     fmt(s["missing"]), lat(l, "p50"), lat(l, "p90"), lat(l, "p99"),
                     lat(l, "p999"), lat(l, "p100"),
                     "held" if s["held"] else "%s %s" % (FAIL, s["reason"])))
    text = markdown_table(["offered (msg/s)", "sent (msg/s)", "delivered per subscriber (msg/s)",
                           "missing", "p50 (ms)", "p90 (ms)", "p99 (ms)", "p99.9 (ms)",
                           "max (ms)", "step"], rows)
    return text + "\n\nKnee: %s msg/s offered (%s); p99 limit %s ms.\n" % (
        fmt(res.get("knee_rate")), res.get("knee_reason") or "every step held",
        fmt(res.get("p99_limit_ms")))


def mixed_table(doc):
    res = doc["result"]
    rows = []
    for name, c in (res.get("classes") or {}).items():
        a, m = c["alone"], c["mixed"]
        rows.append((name, lat(a["latency_ns"], "p50"), lat(a["latency_ns"], "p99"),
                     lat(m["latency_ns"], "p50"), lat(m["latency_ns"], "p99"),
                     "x%.2f" % c["p99_ratio"] if c.get("p99_ratio") is not None else "-",
                     fmt(a["missing"] + m["missing"]),
                     "%s starved" % FAIL if c["starved"] else "ok"))
    return markdown_table(["class", "alone p50 (ms)", "alone p99 (ms)", "mixed p50 (ms)",
                           "mixed p99 (ms)", "p99 mixed / alone", "missing", "verdict"], rows)


def burst_table(doc):
    res, d = doc["result"], doc.get("derived") or {}
    rows = [("backlog peak (messages)", fmt(res.get("backlog_peak"))),
            ("backlog peak at (s since the load began)", fmt(res.get("backlog_peak_at_seconds"))),
            ("backlog before the burst", fmt(res.get("backlog_before"))),
            ("time to drain after the burst (s)", fmt(res.get("drain_seconds"))),
            ("p50 / p99 before (ms)", "%s / %s" % (lat(res.get("latency_before_ns"), "p50"),
                                                  lat(res.get("latency_before_ns"), "p99"))),
            ("p50 / p99 during (ms)", "%s / %s" % (lat(res.get("latency_during_ns"), "p50"),
                                                  lat(res.get("latency_during_ns"), "p99"))),
            ("p50 / p99 after (ms)", "%s / %s" % (lat(res.get("latency_after_ns"), "p50"),
                                                 lat(res.get("latency_after_ns"), "p99"))),
            ("idle RSS before (MiB)", fmt(convert(d.get("rss_idle_before_bytes"), "MiB"))),
            ("RSS peak under load (MiB)", fmt(convert(d.get("rss_load_peak_bytes"), "MiB"))),
            ("idle RSS 10 s after (MiB)", fmt(convert(d.get("rss_idle_after_bytes"), "MiB"))),
            ("after / before", pct(d.get("rss_after_over_before")))]
    return markdown_table(["figure", "value"], rows)


def multiproc_table(doc):
    res = doc["result"]
    rows = []
    for c in res.get("consumers") or []:
        rows.append((c["process"], fmt(c.get("joined_s")), fmt(c.get("left_s")),
                     fmt(c.get("acked")), fmt(c.get("unacked")), fmt(c.get("rate")),
                     c.get("error") or ""))
    return markdown_table(["process", "joined (s)", "left (s)", "acked", "left unacked",
                           "acked/s while present", "error"], rows)


def durable_table(doc):
    res = doc["result"]
    rows = [(k.replace("_", " "), fmt(res.get(k))) for k in (
        "published", "receipted", "receipted_lost", "in_doubt", "in_doubt_delivered",
        "in_doubt_lost", "consumed", "duplicates", "redelivered_flagged",
        "redelivered_after_ack", "corrupted", "delivery_gap_seconds", "reconnects")]
    for e in doc.get("events") or []:
        rows.append(("broker %s" % ("SIGKILLed" if e.get("how") == "kill" else "restarted"),
                     "ready %.1f s after the new start%s" % (
                         (e["ready_ns"] - e["spawn_ns"]) / 1e9 if e.get("ready_ns") else -1,
                         "; error: %s" % e["error"] if e.get("error") else "")))
    return markdown_table(["figure", "value"], rows)


TABLES = {"rate": rate_table, "cliff": cliff_table, "mixed": mixed_table, "burst": burst_table,
          "multiproc": multiproc_table, "crash": durable_table, "restart": durable_table}


def detail(doc):
    """The detail table of one phase document, or ''."""
    fn = TABLES.get(doc.get("scenario"))
    if fn is None or not doc.get("result"):
        return ""
    try:
        return fn(doc)
    except (KeyError, TypeError) as e:  # a driver that failed half way
        return "(no detail: %s)" % e


def abuse_table(docs, brokers):
    """One row per hostile case, a column per broker: RSS peak (growth),
    what happened to the hostile connection, whether the bystander saw
    everything in order."""
    cases = []
    for (_, p) in docs:
        if p.startswith("abuse-") and p not in cases:
            cases.append(p)
    rows = []
    for p in cases:
        row = [p[len("abuse-"):]]
        for b in brokers:
            d = docs.get((b, p))
            res = (d or {}).get("result") or {}
            h, by = res.get("hostile") or {}, res.get("bystander") or {}
            der = (d or {}).get("derived") or {}
            if not res:
                row.append((d or {}).get("error") or "-")
                continue
            row.append("RSS %s MiB (+%s); %s%s; bystander %s" % (
                fmt(convert(der.get("rss_peak_bytes"), "MiB")),
                fmt(convert(der.get("rss_growth_bytes"), "MiB")), h.get("outcome"),
                ": %s" % h["error"][:80] if h.get("error") else "",
                "ok" if by.get("ok") else "%s (missing %s, out of order %s)" % (
                    FAIL, by.get("missing"), by.get("out_of_order"))))
        rows.append(row)
    return markdown_table(["case"] + list(brokers), rows)


# ---- HdrHistogram's percentile distribution (.hgrm) ----

def hgrm(latency, unit_ns=1000):
    """A DRIVER.md latency object as HdrHistogram's percentile distribution
    text, values in microseconds: one row per non-empty bucket (floor value,
    percentile, total count, 1/(1-percentile))."""
    count = latency.get("count") or 0
    lines = ["%12s %14s %10s %14s" % ("Value", "Percentile", "TotalCount", "1/(1-Percentile)"),
             ""]
    seen = 0
    for floor_ns, n in latency.get("histogram") or []:
        seen += n
        q = seen / count if count else 0
        inv = "%14.2f" % (1 / (1 - q)) if q < 1 else "%14s" % "inf"
        lines.append("%12.3f %14.12f %10d %s" % (floor_ns / unit_ns, q, seen, inv))
    lines.append("#[Mean    = %12.3f, StdDeviation   = %12s]" % (
        (latency.get("mean") or 0) / unit_ns, "-"))
    lines.append("#[Max     = %12.3f, Total count    = %12d]" % (
        (latency.get("p100") or 0) / unit_ns, count))
    lines.append("#[Buckets = log-linear, 64 sub-buckets per power of two, unit 1 us]")
    return "\n".join(lines) + "\n"


def write_hgrm(base_dir, doc):
    """The cliff's steps as .hgrm files beside the phase JSON; their names."""
    out = []
    res = doc.get("result") or {}
    if doc.get("scenario") != "cliff":
        return out
    folder = base_dir + "-hgrm"
    os.makedirs(folder, exist_ok=True)
    for s in res.get("steps") or []:
        name = "step%02d-%dmsgs.hgrm" % (s["step"], s["offered_rate"])
        with open(os.path.join(folder, name), "w") as f:
            f.write(hgrm(s["latency_ns"]))
        out.append(name)
    return out
