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
}
LATENCIES = {
    "fanout": ["latency_ns"],
    "slow": ["fast_latency_ns"],
    "queue": ["latency_ns"],
    "soak": ["topic_latency_ns", "queue_latency_ns"],
    "request-reply": ["rtt_ns"],
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
