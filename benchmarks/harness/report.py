"""Writing what a run measured: phase JSON, readable tables, the side-by-side
comparison with ratios, and the index page that shows tables and plots."""

import json
import os
import re

from harness.phases import BY_NAME, lookup

MiB = 1024 * 1024


def safe_name(name):
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def write_json(path, doc):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")


def convert(value, unit):
    """A raw JSON value in the unit a table shows."""
    if value is None or isinstance(value, (bool, str, list)):
        return value
    if unit == "ms":
        return value / 1e6
    if unit == "MiB":
        return value / MiB
    if unit == "KiB":
        return value / 1024
    if unit == "%":
        return value * 100
    return value


def fmt(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return "{:,.0f}".format(value)
        if abs(value) >= 10:
            return "%.1f" % value
        return "%.3g" % value
    if isinstance(value, int):
        return "{:,}".format(value)
    return str(value)


def headline(doc):
    """[(label, unit, better, value in unit)] for one phase document."""
    phase = BY_NAME[doc["phase"]]
    return [(label, unit, better, convert(lookup(doc, path), unit))
            for label, path, unit, better in phase.headline]


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def phase_table(doc):
    """A readable table of one phase on one broker (also its .txt file)."""
    if doc.get("error") and not doc.get("result"):
        return "%s: %s\n" % (doc["phase"], doc["error"])
    rows = [(label + (" (%s)" % unit if unit else ""), fmt(v))
            for label, unit, _, v in headline(doc)]
    res = doc["result"]
    rows.append(("ok", fmt(res.get("ok"))))
    rows.append(("errors", fmt(res.get("errors"))))
    if res.get("error_samples"):
        rows.append(("first error", res["error_samples"][0][:120]))
    params = ", ".join("%s=%s" % kv for kv in doc["parameters"].items())
    broker = doc.get("broker", {})
    text = "%s - %s\nbroker: %s (%s)\nparameters: %s\n\n" % (
        doc["phase"], doc["title"], broker.get("name"), broker.get("version"), params)
    text += markdown_table(["figure", "value"], rows) + "\n"
    if doc["phase"] == "soak":
        text += "\n" + soak_intervals(doc)
    from harness import extras
    more = extras.detail(doc)
    if more:
        text += "\n" + more + "\n"
    return text


def soak_intervals(doc):
    """The soak per interval: rates, p99 latencies and the broker's RSS."""
    res, derived = doc.get("result") or {}, doc.get("derived") or {}
    rows_in = res.get("intervals") or []
    if not rows_in:
        return ""
    seconds = doc["parameters"].get("interval", 60)
    rss_means = derived.get("rss_per_interval_bytes") or []
    rows = []
    for r in rows_in:
        i = r["index"]
        rows.append((i, fmt(r["start_s"]),
                     fmt(r["topic_delivered"] / seconds), fmt(r["queue_consumed"] / seconds),
                     fmt(convert(r["topic_latency_p99_ns"], "ms")),
                     fmt(convert(r["queue_latency_p99_ns"], "ms")),
                     fmt(convert(rss_means[i], "MiB") if i < len(rss_means) else None)))
    return markdown_table(["interval", "start (s)", "topic deliveries/s", "queue consumed/s",
                           "topic p99 (ms)", "queue p99 (ms)", "RSS (MiB)"], rows) + "\n"


def write_phase(out_dir, broker, doc):
    base = os.path.join(out_dir, safe_name(broker), doc["phase"])
    write_json(base + ".json", doc)
    with open(base + ".txt", "w") as f:
        f.write(phase_table(doc))
    from harness import extras
    extras.write_hgrm(base, doc)


def reference_of(brokers):
    return "stampede" if "stampede" in brokers else brokers[0]


def comparison_rows(docs, brokers):
    """Rows of (phase, figure, unit, better, [value per broker]); `docs` maps
    (broker, phase) to documents."""
    rows = []
    phases = []
    for (_, phase) in docs:
        if phase not in phases:
            phases.append(phase)
    for phase in phases:
        for i, (label, _, unit, better) in enumerate(BY_NAME[phase].headline):
            values = []
            for b in brokers:
                d = docs.get((b, phase))
                values.append(headline(d)[i][3] if d and d.get("result") else None)
            rows.append((phase, label, unit, better, values))
    return rows


def ratio(value, ref):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    if not isinstance(ref, (int, float)) or isinstance(ref, bool) or ref == 0:
        return None
    return value / ref


def summary_markdown(docs, brokers):
    """The side-by-side table; with more than one broker, ratios to the
    reference (stampede when it ran, else the first broker)."""
    ref = reference_of(brokers)
    ref_i = brokers.index(ref)
    header = ["phase", "figure"] + list(brokers)
    others = [b for b in brokers if b != ref]
    if others:
        header += ["%s / %s" % (b, ref) for b in others] + ["better"]
    rows = []
    for phase, label, unit, better, values in comparison_rows(docs, brokers):
        row = [phase, label + (" (%s)" % unit if unit else "")] + [fmt(v) for v in values]
        if others:
            for b in others:
                r = ratio(values[brokers.index(b)], values[ref_i]) if better else None
                row.append("x%.2f" % r if r is not None else "")
            row.append(better or "")
        rows.append(row)
    return markdown_table(header, rows)


def durability_markdown(broker_docs):
    """One line per broker: version and default durability (PEERS.md)."""
    lines = []
    for name, b in broker_docs.items():
        lines.append("- **%s** (%s): %s" % (name, b.get("version") or b.get("server") or "?",
                                            b.get("durability") or "?"))
    return "\n".join(lines)


def machine_markdown(m):
    mem = m.get("memory_bytes")
    return "%s, %s cores, %s GiB, kernel %s (%s)" % (
        m.get("cpu_model"), m.get("cores"), "%.0f" % (mem / 2**30) if mem else "?",
        m.get("kernel"), m.get("os"))


def index_markdown(run, docs, brokers, plots):
    """The results page: machine, brokers, the summary, then per phase its
    parameters, tables and pictures. `plots` maps phase -> [png names]."""
    out = ["# Benchmark run %s" % run["timestamp"], "",
           "Machine: %s. Shared and noisy: read speeds as ratios between brokers of the "
           "same run." % machine_markdown(run["machine"]), "",
           "Driver: %s. Mode: %s. Command: `%s`" % (
               run["driver"], "quick" if run["quick"] else "full", run["command"]), "",
           "## Brokers and their default durability", "",
           durability_markdown(run["brokers"]), "",
           "## Summary", "", summary_markdown(docs, brokers), ""]
    if len(brokers) > 1:
        out += ["Ratios are each broker's figure divided by %s's; `better` says which "
                "direction is good for that figure." % reference_of(brokers), ""]
    phases = []
    for (_, p) in docs:
        if p not in phases:
            phases.append(p)
    if any(p.startswith("abuse-") for p in phases):
        from harness import extras
        out += ["## abuse: every hostile case on every broker", "",
                "Each case on a fresh broker, beside a bystander publisher/subscriber pair "
                "that must see every message in order. RSS peak of the broker's process "
                "tree (growth over its level before the hostile client began).", "",
                extras.abuse_table(docs, brokers), ""]
    for p in phases:
        first = next(d for (b, q), d in docs.items() if q == p)
        out += ["## %s" % p, "", first["title"] + ".", "",
                "Parameters: `%s`" % " ".join("--%s %s" % (k.replace("_", "-"), v)
                                              for k, v in first["parameters"].items()), ""]
        out += [summary_markdown({k: v for k, v in docs.items() if k[1] == p}, brokers), ""]
        for b in brokers:
            d = docs.get((b, p))
            if d is None:
                continue
            if d.get("error"):
                out += ["**%s: %s**" % (b, d["error"]), ""]
            if p == "soak" and d.get("result"):
                out += ["%s per interval (the last one is the drain):" % b, "",
                        soak_intervals(d)]
            from harness import extras
            more = extras.detail(d)
            if more:
                out += ["%s:" % b, "", more, ""]
            if d.get("scenario") == "cliff" and d.get("result"):
                out += ["%s's histograms per step, HdrHistogram form (µs): `%s/%s-hgrm/`"
                        % (b, safe_name(b), p), ""]
            note = (d.get("driver") or {}).get("note")
            if note:
                out += ["(%s: %s.)" % (b, note), ""]
            errs = (d.get("result") or {}).get("error_samples") or []
            if errs:
                out += ["%s errors (first): `%s`" % (b, errs[0][:200]), ""]
        for png in plots.get(p, []):
            out += ["![%s](%s)" % (png, png), ""]
    return "\n".join(out) + "\n"
