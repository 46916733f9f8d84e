"""The fanout phase over a grid: subscribers x messages x body size, each
cell on a fresh broker. Writes a table, a heatmap of delivery rate, and names
the first cell (smallest first) where anything failed: incomplete delivery,
errors, or a timeout.

`--scenario rate` sweeps the rate phase instead: channels x subscribers per
channel x messages/s per channel (issue 14's grid, up to 50 x 100 x 1,000),
coloured by the worst channel's achieved rate over its target, a failing cell
(a channel more than 1% below target, or starved) in red."""

import argparse
import os
import shlex

from harness import machine, plots, report, runner
from harness.options import add_broker_args, broker_options, check_ready, results_dir
from harness.phases import BY_NAME, Phase

FULL = {"subscribers": "100,200,400,800", "messages": "1000,5000", "body_sizes": "64,1024,4096"}
QUICK = {"subscribers": "10,50", "messages": "500", "body_sizes": "64,1024"}
RATE_FULL = {"channels": "5,10,50", "subscribers": "25,100", "rates": "50,1000", "duration": 10}
RATE_QUICK = {"channels": "2,5", "subscribers": "5,25", "rates": "50,200", "duration": 3}


def ints(text):
    return [int(x) for x in text.split(",") if x.strip()]


def parse(argv):
    p = argparse.ArgumentParser(prog="benchmarks/sweep.sh",
                                description="The fanout phase over a grid of cells.")
    p.add_argument("--subscribers", help="default %s (quick %s)"
                   % (FULL["subscribers"], QUICK["subscribers"]))
    p.add_argument("--messages", help="messages per cell, default %s (quick %s)"
                   % (FULL["messages"], QUICK["messages"]))
    p.add_argument("--body-sizes", help="bytes, default %s (quick %s)"
                   % (FULL["body_sizes"], QUICK["body_sizes"]))
    p.add_argument("--scenario", choices=("fanout", "rate"), default="fanout",
                   help="fanout (default) or the rate phase's grid")
    p.add_argument("--channels", help="rate: channels, default %s (quick %s)"
                   % (RATE_FULL["channels"], RATE_QUICK["channels"]))
    p.add_argument("--rates", help="rate: msg/s per channel, default %s (quick %s)"
                   % (RATE_FULL["rates"], RATE_QUICK["rates"]))
    p.add_argument("--duration", type=float, help="rate: seconds per cell (default 10; quick 3)")
    p.add_argument("--compare", metavar="B1,B2,...", help="rate: run the grid on each broker")
    p.add_argument("--publishers", type=int, default=1)
    p.add_argument("--drain-timeout", type=float, default=60.0,
                   help="seconds a cell may take to deliver after the last send")
    p.add_argument("--quick", action="store_true", help="a 4-cell grid (smoke run)")
    p.add_argument("--no-plots", action="store_true")
    add_broker_args(p)
    args = p.parse_args(argv)
    if args.scenario == "rate":
        g = RATE_QUICK if args.quick else RATE_FULL
        args.channels = ints(args.channels or g["channels"])
        args.subscribers = ints(args.subscribers or g["subscribers"])
        args.rates = ints(args.rates or g["rates"])
        args.duration = args.duration or g["duration"]
        return args
    grid = QUICK if args.quick else FULL
    args.subscribers = ints(args.subscribers or grid["subscribers"])
    args.messages = ints(args.messages or grid["messages"])
    args.body_sizes = ints(args.body_sizes or grid["body_sizes"])
    return args


def cell_summary(doc, cell):
    res = doc.get("result") or {}
    lat = res.get("latency_ns") or {}
    return dict(cell, delivery_rate=res.get("delivery_rate"), publish_rate=res.get("publish_rate"),
                latency_p99_ns=lat.get("p99"), complete=res.get("complete"),
                missing=res.get("missing"), errors=res.get("errors"),
                timed_out=res.get("timed_out"), ok=bool(res.get("ok")),
                rss_peak_bytes=(doc.get("rss") or {}).get("peak_bytes"),
                error=doc.get("error") or ((res.get("error_samples") or [None])[0]))


def table(cells):
    rows = [(c["subscribers"], c["messages"], c["body_size"], report.fmt(c["delivery_rate"]),
             report.fmt(c["publish_rate"]),
             report.fmt(c["latency_p99_ns"] / 1e6 if c["latency_p99_ns"] else None),
             report.fmt(c["missing"]), report.fmt(c["errors"]),
             "ok" if c["ok"] else "FAIL" + (": %s" % c["error"][:60] if c["error"] else ""))
            for c in cells]
    return report.markdown_table(["subscribers", "messages", "body (B)", "delivery (msg/s)",
                                  "publish (msg/s)", "p99 (ms)", "missing", "errors", "verdict"],
                                 rows)


def main(argv):
    args = parse(argv)
    if args.scenario == "rate":
        return rate_main(args, argv)
    driver = check_ready([args.broker], args.driver)
    out_dir, stamp = results_dir(args)
    opts = broker_options(args, out_dir)
    base = BY_NAME["fanout"]
    cells = []
    grid = [(s, m, b) for s in args.subscribers for m in args.messages for b in args.body_sizes]
    runner.log("sweep of %d cells on %s, results in %s" % (len(grid), args.broker, out_dir))
    for n, (s, m, b) in enumerate(grid, 1):
        cell = {"subscribers": s, "messages": m, "body_size": b}
        params = dict(cell, publishers=args.publishers, drain_timeout=args.drain_timeout)
        phase = Phase("fanout", "fanout", base.title, full=params, quick=params,
                      headline=base.headline)
        runner.log("cell %d/%d: %s" % (n, len(grid), cell))
        doc = runner.run_phase(phase, args.broker, opts,
                               {"driver": driver, "quick": False, "overrides": {}})
        report.write_json(os.path.join(out_dir, "cells", "s%d-m%d-b%d.json" % (s, m, b)), doc)
        cells.append(cell_summary(doc, cell))
    first_failure = next((c for c in cells if not c["ok"]), None)
    heatmap = None
    if not args.no_plots:
        heatmap = plots.sweep_heatmap(out_dir, cells, args.subscribers, args.body_sizes,
                                      args.messages, args.broker)
    doc = {"timestamp": stamp, "machine": machine.describe(), "broker": args.broker,
           "driver": driver, "command": "benchmarks/sweep.sh " + " ".join(map(shlex.quote, argv)),
           "cells": cells, "first_failure": first_failure}
    report.write_json(os.path.join(out_dir, "sweep.json"), doc)
    text = table(cells)
    verdict = ("first failing cell: %s subscribers, %s messages, %s B (%s)" % (
        first_failure["subscribers"], first_failure["messages"], first_failure["body_size"],
        first_failure["error"] or "incomplete") if first_failure else "every cell passed")
    with open(os.path.join(out_dir, "sweep.md"), "w") as f:
        f.write(text + "\n\n" + verdict + "\n")
    with open(os.path.join(out_dir, "index.md"), "w") as f:
        f.write("# Fanout sweep %s on %s\n\nMachine: %s. Driver: %s. Command: `%s`\n\n%s\n\n%s\n"
                % (stamp, args.broker, report.machine_markdown(doc["machine"]), driver,
                   doc["command"], verdict, text))
        if heatmap:
            f.write("\n![delivery rate heatmap](%s)\n" % heatmap)
    print(text)
    print("\n" + verdict)
    print("\nresults: %s/index.md" % out_dir)
    return 1 if first_failure else 0


# ---- the rate grid ----

def rate_cell(doc, cell):
    res = doc.get("result") or {}
    rows = res.get("channels") or []
    ratios = [r["achieved_ratio"] for r in rows if r.get("achieved_ratio") is not None]
    lat = res.get("latency_ns") or {}
    return dict(cell, worst_ratio=min(ratios) if ratios else None,
                failed_channels=res.get("failed_channels"), missing=res.get("missing"),
                latency_p99_ns=lat.get("p99"), errors=res.get("errors"),
                ok=bool(res.get("ok")), rss_peak_bytes=(doc.get("rss") or {}).get("peak_bytes"),
                error=doc.get("error") or ((res.get("error_samples") or [None])[0]))


def rate_table(cells):
    rows = [(c["broker"], c["channels"], c["subscribers"], c["rate"],
             "-" if c["worst_ratio"] is None else "%.1f%%" % (100 * c["worst_ratio"]),
             report.fmt(c["failed_channels"]), report.fmt(c["missing"]),
             report.fmt(c["latency_p99_ns"] / 1e6 if c["latency_p99_ns"] else None),
             "ok" if c["ok"] else "🔴 **FAIL**" + (": %s" % c["error"][:60] if c["error"] else ""))
            for c in cells]
    return report.markdown_table(["broker", "channels", "subscribers/channel", "msg/s/channel",
                                  "worst / target", "failed channels", "missing", "p99 (ms)",
                                  "verdict"], rows)


def rate_main(args, argv):
    brokers = [b.strip() for b in (args.compare or args.broker).split(",") if b.strip()]
    driver = check_ready(brokers, "native")
    out_dir, stamp = results_dir(args)
    base = BY_NAME["rate"]
    grid = [(c, s, r) for r in args.rates for c in args.channels for s in args.subscribers]
    cells = []
    for b in brokers:
        opts = broker_options(args, os.path.join(out_dir, report.safe_name(b)))
        os.makedirs(opts.log_dir, exist_ok=True)
        runner.log("rate sweep of %d cells on %s, results in %s" % (len(grid), b, out_dir))
        for n, (c, s, r) in enumerate(grid, 1):
            cell = {"channels": c, "subscribers": s, "rate": r}
            params = dict(cell, duration=args.duration, body_size=256)
            phase = Phase("rate", "rate", base.title, full=params, quick=params,
                          headline=base.headline, native_only=True, seconds=base.seconds)
            runner.log("%s cell %d/%d: %s" % (b, n, len(grid), cell))
            doc = runner.run_phase(phase, b, opts, {"driver": driver, "quick": False,
                                                    "overrides": {}})
            report.write_json(os.path.join(out_dir, report.safe_name(b), "cells",
                                           "c%d-s%d-r%d.json" % (c, s, r)), doc)
            cells.append(dict(rate_cell(doc, cell), broker=b))
    pngs = []
    if not args.no_plots:
        for b in brokers:
            pngs.append(plots.rate_heatmap(out_dir, [c for c in cells if c["broker"] == b],
                                           args.channels, args.subscribers, args.rates, b))
    doc = {"timestamp": stamp, "machine": machine.describe(), "brokers": brokers,
           "driver": driver, "command": "benchmarks/sweep.sh " + " ".join(map(shlex.quote, argv)),
           "cells": cells}
    report.write_json(os.path.join(out_dir, "sweep.json"), doc)
    text = rate_table(cells)
    firsts = []
    for b in brokers:
        bad = next((c for c in cells if c["broker"] == b and not c["ok"]), None)
        firsts.append("%s: %s" % (b, "first failing cell %s channels x %s subscribers at %s msg/s"
                                  % (bad["channels"], bad["subscribers"], bad["rate"])
                                  if bad else "every cell passed"))
    verdict = "\n".join("- " + f for f in firsts)
    with open(os.path.join(out_dir, "sweep.md"), "w") as f:
        f.write(text + "\n\n" + verdict + "\n")
    with open(os.path.join(out_dir, "index.md"), "w") as f:
        f.write("# Rate sweep %s\n\nMachine: %s (shared and noisy). Driver: %s. Command: `%s`\n\n"
                "A cell fails when a channel's publisher or slowest subscriber is more than 1%% "
                "below the target rate, or starved.\n\n%s\n\n%s\n"
                % (stamp, report.machine_markdown(doc["machine"]), driver, doc["command"],
                   verdict, text))
        for png in pngs:
            if png:
                f.write("\n![%s](%s)\n" % (png, png))
    print(text)
    print("\n" + verdict)
    print("\nresults: %s/index.md" % out_dir)
    return 0 if all(c["ok"] for c in cells) else 1
