"""Flags shared by run.sh and sweep.sh: which broker, how to start it, where
results go."""

import datetime
import os

from harness import brokers, loadgen

RESULTS = os.path.join(brokers.ROOT, "benchmarks", "results")


def add_broker_args(p):
    p.add_argument("--broker", default="stampede",
                   help="stampede | rabbitmq | activemq | HOST:PORT (default stampede)")
    p.add_argument("--driver", choices=("native", "python", "auto"), default="auto",
                   help="load driver (default: native if build/stampede-load exists)")
    p.add_argument("--transport", choices=("tcp", "ws"), default="tcp",
                   help="how the driver reaches the broker: tcp, or ws (STOMP over WebSocket, "
                        "path /ws: stampede gets a websocket listener, rabbitmq its web-stomp "
                        "plugin; native driver, or --driver python)")
    p.add_argument("--broker-config", metavar="FILE", help="stampede --config FILE")
    p.add_argument("--broker-arg", action="append", default=[], metavar="ARG",
                   help="one more argument for build/stampede (repeatable)")
    p.add_argument("--schedulers", type=int, help="stampede --schedulers N")
    p.add_argument("--io", choices=("auto", "uring", "asio"), help="stampede --io")
    p.add_argument("--stack-size", type=int, metavar="BYTES", help="stampede --stack-size")
    p.add_argument("--admin", metavar="auto|HOST:PORT",
                   help="fetch /stats before and after each phase: 'auto' gives a fresh "
                        "stampede --admin on a free port; HOST:PORT reads an existing one")
    p.add_argument("--broker-pid", type=int, help="pid to sample RSS of a HOST:PORT broker")
    p.add_argument("--login", help="STOMP login (rabbitmq default: guest)")
    p.add_argument("--passcode", help="STOMP passcode (rabbitmq default: guest)")
    p.add_argument("--vhost", default="/", help="CONNECT host header (default /)")
    p.add_argument("--start-timeout", type=float, default=60.0,
                   help="seconds a broker may take to accept connections")
    p.add_argument("--results", metavar="DIR",
                   help="output folder (default benchmarks/results/<timestamp>)")


def broker_options(args, log_dir):
    return brokers.Options(
        config=args.broker_config, args=args.broker_arg, schedulers=args.schedulers,
        io=args.io, stack_size=args.stack_size, admin=args.admin, pid=args.broker_pid,
        login=args.login, passcode=args.passcode, vhost=args.vhost,
        start_timeout=args.start_timeout, log_dir=log_dir, transport=args.transport)


def results_dir(args):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = args.results or os.path.join(RESULTS, stamp)
    os.makedirs(path, exist_ok=True)
    return path, stamp


def check_ready(broker_list, driver_flag):
    """Fails early, with what to do, when a broker or driver the run needs is
    not built; returns the driver kind to use."""
    if "stampede" in broker_list and not os.access(brokers.STAMPEDE, os.X_OK):
        raise SystemExit("%s does not exist yet: build it (scripts/setup.sh), or use "
                         "--broker rabbitmq|activemq|HOST:PORT" % brokers.STAMPEDE)
    try:
        return loadgen.choose(driver_flag)
    except FileNotFoundError as e:
        raise SystemExit(str(e))
