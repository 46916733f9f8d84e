"""PNG plots with matplotlib (Debian's python3-matplotlib, hence
/usr/bin/python3): RSS over time, rate per second, latency distribution, and
the sweep heatmap. Every plot of a phase overlays all brokers of the run."""

import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

MiB = 1024 * 1024
COLORS = {"stampede": "tab:blue", "rabbitmq": "tab:orange", "activemq": "tab:green"}
STYLES = ["-", "--", ":", "-."]

# Which per-second series and which latency objects each scenario has.
RATE_SERIES = {
    "fanout": ["delivered", "published"],
    "slow": ["fast", "slow", "published"],
    "queue": ["consumed", "published"],
    "load-unload": ["published", "consumed"],
    "soak": ["topic_delivered", "queue_consumed", "topic_published", "queue_published"],
    "rate": ["delivered", "published"],
    "burst": ["consumed", "published"],
    "multiproc": ["consumed", "published"],
    "crash": ["consumed", "published"],
    "restart": ["consumed", "published"],
    "abuse": ["bystander", "hostile"],
}
LATENCIES = {
    "fanout": ["latency_ns"],
    "slow": ["fast_latency_ns"],
    "queue": ["latency_ns"],
    "soak": ["topic_latency_ns", "queue_latency_ns"],
    "request-reply": ["rtt_ns"],
    "rate": ["latency_ns"],
    "burst": ["latency_before_ns", "latency_during_ns", "latency_after_ns"],
    "multiproc": ["latency_ns"],
}


def color_of(broker, i):
    return COLORS.get(broker, "C%d" % (i + 3))


def _save(fig, out_dir, name):
    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return name


def rss_plot(out_dir, phase, docs):
    """RSS of each broker's process tree against seconds since load began;
    the slow phase shades the stalled window, conns the idle hold."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    drawn = False
    for i, (broker, d) in enumerate(docs):
        r = d.get("rss")
        if not r or not r.get("samples"):
            continue
        xs = [s[0] for s in r["samples"]]
        ys = [s[1] / MiB for s in r["samples"]]
        ax.plot(xs, ys, color=color_of(broker, i), label=broker, linewidth=1.4)
        drawn = True
        _shade_windows(ax, d, color_of(broker, i))
    if not drawn:
        plt.close(fig)
        return None
    ax.set_title("%s: broker RSS (process tree, sampled every 100 ms)" % phase)
    ax.set_xlabel("seconds since the load started")
    ax.set_ylabel("RSS (MiB)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    return _save(fig, out_dir, "rss-%s.png" % phase)


def _shade_windows(ax, d, color):
    res, r = d.get("result") or {}, d.get("rss") or {}
    t0 = r.get("t0_ns")
    if not t0:
        return
    spans = []
    if d["phase"] == "slow" and res.get("slow_ended_ns"):
        spans.append((0, (res["slow_ended_ns"] - t0) / 1e9, "slow subscriber stalled"))
    if d.get("scenario") == "burst" and res.get("burst_start_ns"):
        for a, b, label in ((res.get("idle_before_start_ns"), res.get("idle_before_end_ns"),
                             "idle"),
                            (res["burst_start_ns"], res.get("burst_end_ns"), "burst"),
                            (res.get("idle_after_start_ns"), res.get("idle_after_end_ns"),
                             "idle after")):
            if a and b:
                spans.append(((a - t0) / 1e9, (b - t0) / 1e9, label))
    for e in d.get("events") or []:
        if e.get("down_ns") and e.get("ready_ns"):
            spans.append(((e["down_ns"] - t0) / 1e9, (e["ready_ns"] - t0) / 1e9,
                          "broker down (%s)" % e.get("how")))
    if d["phase"] == "conns" and res.get("hold_start_ns") and res.get("hold_end_ns"):
        spans.append(((res["hold_start_ns"] - t0) / 1e9, (res["hold_end_ns"] - t0) / 1e9,
                      "all connected, idle"))
    for a, b, label in spans:
        ax.axvspan(a, b, color=color, alpha=0.08)
        ax.text(a, 0.02, " " + label, transform=ax.get_xaxis_transform(), fontsize=8,
                color=color)


def rate_plot(out_dir, phase, scenario, docs):
    """Messages per second for each series of the scenario, per broker."""
    series = RATE_SERIES.get(scenario)
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.2))
    drawn = False
    for i, (broker, d) in enumerate(docs):
        per = (d.get("result") or {}).get("per_second") or {}
        for j, s in enumerate(series):
            ys = per.get(s)
            if not ys or not any(ys):
                continue
            # Each count belongs to a whole second: draw it as a step.
            ax.step(range(len(ys) + 1), ys + ys[-1:], where="post", color=color_of(broker, i),
                    linestyle=STYLES[j % len(STYLES)],
                    label="%s: %s" % (broker, s.replace("_", " ")), linewidth=1.3)
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_title("%s: messages per second" % phase)
    ax.set_xlabel("seconds since the load started")
    ax.set_ylabel("messages / s")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return _save(fig, out_dir, "rate-%s.png" % phase)


def percentile_curve(histogram, count):
    """(x = 1/(1-q), latency ms) points of a DRIVER.md latency histogram."""
    xs, ys, seen = [], [], 0
    for floor_ns, n in histogram:
        seen += n
        q = seen / count
        if q >= 1.0:
            q = 1 - 0.5 / count  # the last sample: plot it just past the last nine
        xs.append(1 / (1 - q))
        ys.append(max(floor_ns, 1) / 1e6)
    return xs, ys


def latency_plot(out_dir, phase, scenario, docs):
    """Latency by percentile (HdrHistogram style: 50%, 90%, 99%, 99.9% ...)."""
    keys = LATENCIES.get(scenario)
    if not keys:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.2))
    drawn, most = False, 10
    for i, (broker, d) in enumerate(docs):
        res = d.get("result") or {}
        for j, k in enumerate(keys):
            lat = res.get(k) or {}
            if not lat.get("count") or not lat.get("histogram"):
                continue
            xs, ys = percentile_curve(lat["histogram"], lat["count"])
            most = max(most, max(xs))
            ax.plot(xs, ys, color=color_of(broker, i), linestyle=STYLES[j % len(STYLES)],
                    label="%s: %s" % (broker, k.replace("_ns", "").replace("_", " ")),
                    linewidth=1.4)
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xscale("log")
    ax.set_yscale("log")
    nines = [10 ** k for k in range(1, int(math.log10(most)) + 2)]
    ax.set_xticks([1, 2] + nines)
    ax.set_xticklabels(["0%", "50%"] + ["%s%%" % _pct(1 - 1 / n) for n in nines])
    ax.set_xlim(1, max(nines))
    ax.set_title("%s: latency by percentile" % phase)
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper left", fontsize=8)
    return _save(fig, out_dir, "latency-%s.png" % phase)


def _pct(q):
    s = "%.6f" % (q * 100)
    return s.rstrip("0").rstrip(".")


def phase_plots(out_dir, phase, scenario, docs):
    """All plots of one phase; returns the file names written."""
    os.makedirs(out_dir, exist_ok=True)
    made = [rss_plot(out_dir, phase, docs), rate_plot(out_dir, phase, scenario, docs),
            latency_plot(out_dir, phase, scenario, docs)]
    extra = EXTRA_PLOTS.get(scenario)
    if extra is not None:
        made.append(extra(out_dir, phase, docs))
    return [m for m in made if m]


def sweep_heatmap(out_dir, cells, subscribers, bodies, messages, broker):
    """One panel per message count: subscribers x body size, coloured by
    delivery rate, failed cells marked FAIL."""
    fig, axes = plt.subplots(1, len(messages), figsize=(4.2 * len(messages) + 1.5, 4.4),
                             squeeze=False, constrained_layout=True)
    rates = [c["delivery_rate"] for c in cells if c.get("delivery_rate")]
    vmax = max(rates) if rates else 1
    image = None
    for ax, m in zip(axes[0], messages):
        grid = [[None] * len(bodies) for _ in subscribers]
        for c in cells:
            if c["messages"] == m:
                grid[subscribers.index(c["subscribers"])][bodies.index(c["body_size"])] = c
        data = [[(c or {}).get("delivery_rate") or 0 for c in row] for row in grid]
        image = ax.imshow(data, cmap="viridis", vmin=0, vmax=vmax, origin="lower",
                          aspect="auto")
        for y, row in enumerate(grid):
            for x, c in enumerate(row):
                if c is None:
                    continue
                text = "%.0fk" % ((c.get("delivery_rate") or 0) / 1000)
                if not c.get("ok"):
                    ax.add_patch(matplotlib.patches.Rectangle(
                        (x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=3))
                    ax.text(x, y, text + "\nFAIL", ha="center", va="center", fontsize=8,
                            color="red", fontweight="bold",
                            bbox=dict(facecolor="white", alpha=0.8, edgecolor="none"))
                    continue
                ax.text(x, y, text, ha="center", va="center", fontsize=8,
                        color="white" if (c.get("delivery_rate") or 0) < 0.6 * vmax else "black")
        ax.set_xticks(range(len(bodies)))
        ax.set_xticklabels(["%d B" % b for b in bodies])
        ax.set_yticks(range(len(subscribers)))
        ax.set_yticklabels([str(s) for s in subscribers])
        ax.set_xlabel("body size")
        ax.set_ylabel("subscribers")
        ax.set_title("%d messages" % m)
    fig.colorbar(image, ax=list(axes[0]), label="deliveries / s")
    fig.suptitle("fanout sweep on %s: delivery rate" % broker)
    path = os.path.join(out_dir, "sweep-heatmap.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return "sweep-heatmap.png"


# ---- the load, abuse and durability phases ----

def rate_channels_plot(out_dir, phase, docs):
    """Achieved rate over target per channel (the worst of its publisher and
    subscribers), one bar group per broker; failing channels in red."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    drawn = False
    n = max(1, len(docs))
    width = 0.8 / n
    for i, (broker, d) in enumerate(docs):
        rows = (d.get("result") or {}).get("channels") or []
        if not rows:
            continue
        xs = [r["channel"] + (i - (n - 1) / 2) * width for r in rows]
        ys = [100 * (r["achieved_ratio"] or 0) for r in rows]
        colors = [color_of(broker, i) if r["ok"] else "red" for r in rows]
        ax.bar(xs, ys, width=width, color=colors, edgecolor=color_of(broker, i),
               label=broker)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    target = (docs[0][1].get("result") or {}).get("target_rate")
    ax.axhline(99, color="red", linestyle="--", linewidth=1, label="99% of target")
    ax.set_title("%s: worst achieved rate per channel / target (%s msg/s); red = failed"
                 % (phase, target))
    ax.set_xlabel("channel")
    ax.set_ylabel("% of target")
    ax.set_ylim(0, 110)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, out_dir, "channels-%s.png" % phase)


def cliff_plot(out_dir, phase, docs):
    """Latency percentiles against offered rate (log-log), the knee marked;
    below, delivered per subscriber against offered."""
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(8, 7), sharex=True,
                                  gridspec_kw={"height_ratios": [2, 1]})
    drawn = False
    for i, (broker, d) in enumerate(docs):
        res = d.get("result") or {}
        steps = res.get("steps") or []
        if not steps:
            continue
        xs = [s["offered_rate"] for s in steps]
        for j, (key, label) in enumerate((("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"),
                                          ("p100", "max"))):
            ys = [max(s["latency_ns"].get(key) or 0, 1) / 1e6 for s in steps]
            ax.plot(xs, ys, color=color_of(broker, i), linestyle=STYLES[j % len(STYLES)],
                    marker="o", markersize=3, label="%s %s" % (broker, label))
        bad = [s for s in steps if not s["held"]]
        ax.scatter([s["offered_rate"] for s in bad],
                   [max(s["latency_ns"].get("p99") or 0, 1) / 1e6 for s in bad],
                   color="red", zorder=5, s=30)
        if res.get("knee_rate"):
            ax.axvline(res["knee_rate"], color=color_of(broker, i), alpha=0.4, linewidth=3)
        ax2.plot(xs, [s["delivered_rate"] for s in steps], color=color_of(broker, i),
                 marker="o", markersize=3, label="%s delivered/subscriber" % broker)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    limit = (docs[0][1].get("result") or {}).get("p99_limit_ms")
    if limit:
        ax.axhline(limit, color="red", linestyle="--", linewidth=1, label="p99 limit")
    lo = min(s["offered_rate"] for _, d in docs for s in (d.get("result") or {}).get("steps") or [])
    hi = max(s["offered_rate"] for _, d in docs for s in (d.get("result") or {}).get("steps") or [])
    ax2.plot([lo, hi], [lo, hi], color="grey", linestyle=":", label="offered")
    for a in (ax, ax2):
        a.set_xscale("log")
        a.set_yscale("log")
        a.grid(alpha=0.3, which="both")
    ax.set_title("%s: latency (from scheduled send) vs offered rate; knee = wide line, red = "
                 "step that did not hold" % phase, fontsize=9)
    ax.set_ylabel("latency (ms)")
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    ax2.set_xlabel("offered rate (msg/s)")
    ax2.set_ylabel("msg/s")
    ax2.legend(loc="upper left", fontsize=7)
    return _save(fig, out_dir, "cliff-%s.png" % phase)


def mixed_plot(out_dir, phase, docs):
    """p99 of each class alone and mixed, per broker (log scale)."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    classes = ["topic", "bulk", "rr"]
    n = max(1, len(docs))
    width = 0.8 / (2 * n)
    drawn = False
    for i, (broker, d) in enumerate(docs):
        cl = (d.get("result") or {}).get("classes") or {}
        if not cl:
            continue
        for j, stage in enumerate(("alone", "mixed")):
            xs = [k + (2 * i + j - (2 * n - 1) / 2) * width for k in range(len(classes))]
            ys = [max((cl.get(c, {}).get(stage, {}).get("latency_ns") or {}).get("p99") or 0, 1)
                  / 1e6 for c in classes]
            colors = ["red" if stage == "mixed" and cl.get(c, {}).get("starved")
                      else color_of(broker, i) for c in classes]
            ax.bar(xs, ys, width=width, color=colors, alpha=0.45 if stage == "alone" else 1.0,
                   edgecolor=color_of(broker, i), label="%s %s" % (broker, stage))
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xticks(range(len(classes)))
    ax.set_xticklabels(classes)
    ax.set_yscale("log")
    ax.set_ylabel("p99 latency (ms)")
    ax.set_title("%s: p99 alone (light) and mixed (solid); red = starved (> 3x)" % phase)
    ax.grid(alpha=0.3, axis="y", which="both")
    ax.legend(fontsize=7)
    return _save(fig, out_dir, "mixed-%s.png" % phase)


def burst_plot(out_dir, phase, docs):
    """Backlog every 100 ms and p99 latency per second (by scheduled send
    time), the burst shaded."""
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    drawn = False
    for i, (broker, d) in enumerate(docs):
        res = d.get("result") or {}
        backlog = res.get("backlog") or []
        if not backlog:
            continue
        t0 = (d.get("rss") or {}).get("t0_ns") or res.get("load_start_ns")
        step = res.get("slice_seconds") or 0.1
        ax.plot([k * step for k in range(len(backlog))], backlog, color=color_of(broker, i),
                label=broker)
        start = (res["load_start_ns"] - t0) / 1e9 if t0 else 0
        p99 = res.get("latency_p99_by_second") or []
        ax2.plot([start + k for k in range(len(p99))], [(v or 0) / 1e6 for v in p99],
                 color=color_of(broker, i), marker="o", markersize=2, label=broker)
        if t0 and res.get("burst_start_ns"):
            for a in (ax, ax2):
                a.axvspan((res["burst_start_ns"] - t0) / 1e9, (res["burst_end_ns"] - t0) / 1e9,
                          color=color_of(broker, i), alpha=0.08)
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_title("%s: backlog (sent - consumed) and p99 latency per second; burst shaded" % phase)
    ax.set_ylabel("messages")
    ax2.set_ylabel("p99 (ms)")
    ax2.set_yscale("log")
    ax2.set_xlabel("seconds since the load started")
    for a in (ax, ax2):
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    return _save(fig, out_dir, "burst-%s.png" % phase)


def multiproc_plot(out_dir, phase, docs):
    """When each consumer process was present, and what it acked per second."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    drawn = False
    for i, (broker, d) in enumerate(docs):
        for c in (d.get("result") or {}).get("consumers") or []:
            if c.get("joined_s") is None:
                continue
            y = c["process"] + i * 0.25
            ax.plot([c["joined_s"], c.get("left_s") or c["joined_s"]], [y, y],
                    color=color_of(broker, i), linewidth=4, solid_capstyle="butt",
                    label=broker if c["process"] == 0 else None)
            ax.text(c.get("left_s") or c["joined_s"], y, " %s/s" % fmt_rate(c.get("rate")),
                    fontsize=7, va="center", color=color_of(broker, i))
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("seconds since the load started")
    ax.set_ylabel("consumer process")
    ax.set_title("%s: consumer processes present (acked per second while present)" % phase)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out_dir, "processes-%s.png" % phase)


def fmt_rate(v):
    return "-" if v is None else "%.0f" % v


EXTRA_PLOTS = {"rate": rate_channels_plot, "cliff": cliff_plot, "mixed": mixed_plot,
               "burst": burst_plot, "multiproc": multiproc_plot}


def rate_heatmap(out_dir, cells, channels, subscribers, rates, broker):
    """One panel per rate: channels x subscribers per channel, coloured by
    the worst channel's achieved rate over target; failing cells in red."""
    fig, axes = plt.subplots(1, len(rates), figsize=(4.2 * len(rates) + 1.5, 4.4),
                             squeeze=False, constrained_layout=True)
    image = None
    for ax, r in zip(axes[0], rates):
        grid = [[None] * len(subscribers) for _ in channels]
        for c in cells:
            if c["rate"] == r:
                grid[channels.index(c["channels"])][subscribers.index(c["subscribers"])] = c
        data = [[100 * ((c or {}).get("worst_ratio") or 0) for c in row] for row in grid]
        image = ax.imshow(data, cmap="viridis", vmin=0, vmax=100, origin="lower", aspect="auto")
        for y, row in enumerate(grid):
            for x, c in enumerate(row):
                if c is None:
                    continue
                text = "%.1f%%" % (100 * (c.get("worst_ratio") or 0))
                if not c.get("ok"):
                    ax.add_patch(matplotlib.patches.Rectangle(
                        (x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=3))
                    text += "\nFAIL"
                ax.text(x, y, text, ha="center", va="center", fontsize=8,
                        color="red" if not c.get("ok") else "white",
                        fontweight="bold" if not c.get("ok") else "normal",
                        bbox=dict(facecolor="white", alpha=0.8, edgecolor="none")
                        if not c.get("ok") else None)
        ax.set_xticks(range(len(subscribers)))
        ax.set_xticklabels([str(s) for s in subscribers])
        ax.set_yticks(range(len(channels)))
        ax.set_yticklabels([str(c) for c in channels])
        ax.set_xlabel("subscribers per channel")
        ax.set_ylabel("channels")
        ax.set_title("%d msg/s per channel" % r)
    fig.colorbar(image, ax=list(axes[0]), label="worst achieved / target (%)")
    fig.suptitle("rate sweep on %s" % broker)
    name = "rate-heatmap-%s.png" % broker.replace(":", "_")
    fig.savefig(os.path.join(out_dir, name), dpi=110)
    plt.close(fig)
    return name
