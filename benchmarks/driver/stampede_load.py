#!/usr/bin/python3
"""stampede-load in Python: a STOMP load driver on the standard library only.

    stampede_load.py SCENARIO [common flags] [scenario flags]

Runs one scenario against a broker and prints one JSON object on stdout;
progress goes to stderr. The contract (scenarios, flags, every JSON field)
is benchmarks/DRIVER.md; the native driver (build/stampede-load) keeps the
same one. Exit status: 0 when the scenario ran and its checks held ("ok":
true), 1 when it ran and they did not, 2 for a bad command line or a broker
that cannot be reached.
"""

import argparse
import asyncio
import json
import os
import resource
import secrets
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import scenario_conns  # noqa: E402
import scenario_fanout  # noqa: E402
import scenario_queue  # noqa: E402
import scenario_reqreply  # noqa: E402
import scenario_slow  # noqa: E402
import scenario_soak  # noqa: E402
import scenario_unload  # noqa: E402
from stomp_wire import StompConnection  # noqa: E402
from workers import run_workers  # noqa: E402

DRIVER_VERSION = "1"
SCENARIOS = {m.NAME: m for m in (scenario_fanout, scenario_slow, scenario_queue,
                                 scenario_soak, scenario_conns, scenario_unload,
                                 scenario_reqreply)}
SECRET_PARAMS = ("passcode",)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="stampede_load.py", description="STOMP load driver (see benchmarks/DRIVER.md)")
    sub = parser.add_subparsers(dest="scenario", required=True, metavar="SCENARIO")
    for name, module in SCENARIOS.items():
        p = sub.add_parser(name, help=module.__doc__.splitlines()[0])
        add_common_args(p)
        module.add_args(p)
    args = parser.parse_args(argv)
    kind = SCENARIOS[args.scenario].KIND
    if args.destination is None:
        args.destination = "/%s/bench.%s.%s" % (kind, args.scenario, args.run_id)
    if getattr(args, "queue", "") is None:  # soak's second destination
        args.queue = "/queue/bench.%s.%s" % (args.scenario, args.run_id)
    return args


def add_common_args(p):
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=61613)
    p.add_argument("--login", default=None)
    p.add_argument("--passcode", default=None)
    p.add_argument("--vhost", default="/", help="the CONNECT host header")
    p.add_argument("--workers", type=int, default=0,
                   help="processes to spread the clients over (0: one per core, "
                        "at most one per client)")
    p.add_argument("--timeout", type=float, default=600.0,
                   help="hard limit on the whole scenario, seconds")
    p.add_argument("--connect-timeout", type=float, default=30.0)
    p.add_argument("--transport", choices=("tcp", "ws", "wss"), default="tcp",
                   help="STOMP over TCP, over WebSocket, or over WebSocket on TLS")
    p.add_argument("--ws-path", default="/ws", help="the WebSocket upgrade path")
    p.add_argument("--connect-concurrency", type=int, default=200,
                   help="connection attempts in flight at once per worker")
    p.add_argument("--run-id", default=secrets.token_hex(3),
                   help="suffix of the default destination names")


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def probe(args):
    """One connection to learn the broker's name and STOMP version, and to
    fail fast with a clear message when it is not there."""
    conn = await StompConnection.open(args.host, args.port, args.login, args.passcode,
                                      args.vhost, args.connect_timeout,
                                      transport=args.transport, ws_path=args.ws_path)
    server, version = conn.server, conn.version
    await conn.close()
    return server, version


def worker_count(args, module):
    if args.workers > 0:
        return args.workers
    return max(1, min(os.cpu_count() or 1, module.max_workers(args)))


def params_of(args):
    return {k: v for k, v in sorted(vars(args).items())
            if k not in SECRET_PARAMS and k != "scenario"}


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    module = SCENARIOS[args.scenario]
    raise_fd_limit()
    started = time.monotonic_ns()
    try:
        server, version = asyncio.run(probe(args))
    except (OSError, asyncio.TimeoutError, ConnectionError) as e:
        print("stampede_load: cannot reach a STOMP broker at %s:%d: %s"
              % (args.host, args.port, e), file=sys.stderr)
        return 2
    workers = worker_count(args, module)
    results, timed_out, failures = run_workers(
        args.scenario, module.worker, args, workers, args.timeout,
        stop_when=module.stop_when(args), show=module.show)
    out = {
        "driver": "python",
        "driver_version": DRIVER_VERSION,
        "scenario": args.scenario,
        "params": params_of(args),
        "workers": workers,
        "server": server,
        "stomp_version": version,
        "started_ns": started,
        "t0_ns": min((r["t0_ns"] for r in results if r and r.get("t0_ns")), default=None),
    }
    out.update(module.merge(args, results, failures))
    out["ended_ns"] = time.monotonic_ns()
    out["elapsed_seconds"] = (out["ended_ns"] - started) / 1e9
    out["timed_out"] = timed_out
    out["ok"] = bool(out["ok"]) and not timed_out and not failures
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
