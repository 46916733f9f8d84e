"""Command lines of benchmarks/run.sh (`run`) and benchmarks/sweep.sh
(`sweep`); see benchmarks/README.md."""

import argparse
import os
import shlex
import sys

from harness import machine, phases, plots, report, runner, sweep
from harness.options import add_broker_args, broker_options, check_ready, results_dir


# The phases run over WebSocket (issue 12): their clients all connect through
# the drivers' connection class; the hostile and crash phases write raw bytes.
WS_PHASES = ("fanout", "queue", "conns")


def parse_run(argv):
    p = argparse.ArgumentParser(prog="benchmarks/run.sh",
                                description="Run benchmark phases, each on a fresh broker.")
    p.add_argument("--phases", default=os.environ.get("PHASES", "all"),
                   help="comma-separated: %s, or all, apollo (default all; env PHASES)"
                        % ",".join(phases.BY_NAME))
    p.add_argument("--compare", metavar="B1,B2,...",
                   help="run the phases on each broker in turn (same names as --broker)")
    p.add_argument("--quick", action="store_true", help="every phase short (smoke run)")
    p.add_argument("--soak-seconds", type=float, help="soak duration (default 600; quick 20)")
    p.add_argument("--slow-mode", choices=("stall", "trickle"),
                   help="slow phase: the slow subscriber stalls (default) or trickles")
    p.add_argument("--param", action="append", default=[], metavar="PHASE.KEY=VALUE",
                   help="override one driver parameter, e.g. fanout.subscribers=400")
    p.add_argument("--no-plots", action="store_true")
    add_broker_args(p)
    return p.parse_args(argv)


def parse_overrides(items):
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        phase, dot, param = key.partition(".")
        if not sep or not dot:
            raise SystemExit("--param takes PHASE.KEY=VALUE, not %r" % item)
        out.setdefault(phase, {})[param.replace("-", "_")] = value
    return out


def run_main(argv):
    args = parse_run(argv)
    try:
        selected = phases.select(args.phases)
    except ValueError as e:
        raise SystemExit("run.sh: %s" % e)
    broker_list = [b.strip() for b in (args.compare or args.broker).split(",") if b.strip()]
    if args.transport == "ws":
        other = [p.name for p in selected if p.name not in WS_PHASES]
        if other:
            raise SystemExit("run.sh: --transport ws runs the phases %s, not %s"
                             % (", ".join(WS_PHASES), ", ".join(other)))
    driver = check_ready(broker_list, args.driver)
    overrides = parse_overrides(args.param)
    if args.slow_mode:
        overrides.setdefault("slow", {})["slow_mode"] = args.slow_mode
    out_dir, stamp = results_dir(args)
    settings = {"driver": driver, "quick": args.quick, "overrides": overrides,
                "soak_seconds": args.soak_seconds}
    runner.log("results go to %s (driver %s, brokers %s)" % (out_dir, driver,
                                                              ", ".join(broker_list)))
    docs = {}
    for b in broker_list:
        opts = broker_options(args, os.path.join(out_dir, report.safe_name(b)))
        os.makedirs(opts.log_dir, exist_ok=True)
        for phase in selected:
            doc = runner.run_phase(phase, b, opts, settings)
            docs[(b, phase.name)] = doc
            report.write_phase(out_dir, b, doc)
    run = finish(out_dir, stamp, docs, broker_list, selected, args, driver, argv)
    return 1 if run["not_ok"] else 0


def finish(out_dir, stamp, docs, broker_list, selected, args, driver, argv):
    """Plots, run.json, summary.md and index.md; prints the summary."""
    plot_files = {}
    if not args.no_plots:
        for phase in selected:
            pd = [(b, docs[(b, phase.name)]) for b in broker_list if (b, phase.name) in docs]
            plot_files[phase.name] = plots.phase_plots(out_dir, phase.name, phase.scenario, pd)
    broker_info = {}
    for (b, _), d in docs.items():
        if d.get("broker") and b not in broker_info:
            info = dict(d["broker"])
            info["server"] = (d.get("result") or {}).get("server")
            broker_info[b] = info
    run = {
        "timestamp": stamp, "machine": machine.describe(), "driver": driver,
        "quick": args.quick, "brokers": broker_info,
        "command": "benchmarks/run.sh " + " ".join(shlex.quote(a) for a in argv),
        "phases": [p.name for p in selected],
        "summary": [dict(phase=p, figure=l, unit=u, better=bt, values=dict(zip(broker_list, v)))
                    for p, l, u, bt, v in report.comparison_rows(docs, broker_list)],
        "not_ok": ["%s/%s" % k for k, d in docs.items() if not (d.get("result") or {}).get("ok")],
    }
    report.write_json(os.path.join(out_dir, "run.json"), run)
    summary = report.summary_markdown(docs, broker_list)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(summary + "\n")
    with open(os.path.join(out_dir, "index.md"), "w") as f:
        f.write(report.index_markdown(run, docs, broker_list, plot_files))
    print(summary)
    if run["not_ok"]:
        print("\nnot ok: %s (see the phase JSON: error, result.errors)" % ", ".join(run["not_ok"]))
    print("\nresults: %s/index.md" % out_dir)
    return run


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("run", "sweep"):
        print("usage: python3 -m harness run|sweep [flags]  (see benchmarks/README.md)",
              file=sys.stderr)
        return 2
    if argv[0] == "run":
        return run_main(argv[1:])
    return sweep.main(argv[1:])
