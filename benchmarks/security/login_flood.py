#!/usr/bin/env python3
"""Login flood (issue 11): many connections send wrong-password CONNECTs as
fast as the broker answers them while a bystander publisher/subscriber pair
exchanges small messages over a topic. Prints the bystander's throughput and
round-trip latency (median, p99) without and with the flood, and how many
wrong logins the verifier pool checked per second (from /stats).

  python3 benchmarks/security/login_flood.py [--seconds 10] [--flooders 32] [--lockout]

STAMPEDE_BIN (default build/stampede). By default the lockout is switched off
and the failure delay set to 0 so that the verifier pool, not the throttle,
is what the flood meets: the worst case for the bystander. --lockout keeps
the default auth settings (1 s failure delay, 5 failures in 10 s lock the
address out): the issue's case, where the flooding address is throttled and
its further attempts are refused at once.
"""

import argparse
import multiprocessing
import os
import socket
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "support"))
os.environ.setdefault("STAMPEDE_BIN", os.path.join(HERE, "..", "..", "build", "stampede"))

from stampede_test import Broker, Client, hashed  # noqa: E402


def flooder(port, stop, counter, interval, niceness):
    """One flooding process (processes, not threads: flooding threads would
    starve the bystander of the interpreter lock and measure this script).
    `interval`: seconds between its attempts (0: as fast as answered)."""
    frame = (b"CONNECT\naccept-version:1.2\nhost:/\nlogin:alice\npasscode:wrong\n\n\x00")
    os.nice(niceness)
    next_at = time.monotonic()
    while not stop.is_set():
        if interval:
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                s.sendall(frame)
                while s.recv(4096):
                    pass  # ERROR, then the broker closes
            with counter.get_lock():
                counter.value += 1
        except OSError:
            pass


def bystander_pair(port):
    """Connected before the flood: with --lockout the flood locks out the
    address they share (127.0.0.1), and a login from it is then refused."""
    sub = Client(port)
    pub = Client(port)
    sub.connect(login="bob", passcode="pw-bob")
    pub.connect(login="bob", passcode="pw-bob")
    sub.subscribe("/topic/bystander", id="s")
    return sub, pub


def bystander(pair, seconds):
    """Round trips of 100-byte messages, one in flight: (msgs/s, [latency s])."""
    sub, pub = pair
    latencies = []
    end = time.monotonic() + seconds
    body = b"x" * 100
    while time.monotonic() < end:
        sent = time.monotonic()
        pub.send_frame("SEND", {"destination": "/topic/bystander"}, body)
        sub.expect("MESSAGE")
        latencies.append(time.monotonic() - sent)
    return len(latencies) / seconds, latencies


def summary(name, rate, lat):
    lat = sorted(lat)
    return "%-12s %8.0f msg/s  median %.2f ms  p99 %.2f ms" % (
        name, rate, statistics.median(lat) * 1e3, lat[int(len(lat) * 0.99)] * 1e3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--flooders", type=int, default=32)
    ap.add_argument("--rate", type=float, default=0,
                    help="bad logins per second in all (0: as fast as answered)")
    ap.add_argument("--flood-nice", type=int, default=0,
                    help="niceness of the flooding processes: on a 2-core machine they "
                         "compete with the broker and the bystander for the same cores")
    ap.add_argument("--lockout", action="store_true",
                    help="default failure delay and lockout instead of none")
    args = ap.parse_args()
    config = {"users": {"alice": hashed("pw-alice"), "bob": hashed("pw-bob")}}
    if not args.lockout:
        config["auth"] = {"failure_delay_ms": 0, "max_failures": 1000000}
    with Broker(config=config, admin=True) as broker:
        pair = bystander_pair(broker.port)
        quiet_rate, quiet_lat = bystander(pair, args.seconds)
        stop = multiprocessing.Event()
        counter = multiprocessing.Value("q", 0)
        interval = args.flooders / args.rate if args.rate else 0
        threads = [multiprocessing.Process(target=flooder,
                                           args=(broker.port, stop, counter, interval, args.flood_nice),
                                           daemon=True)
                   for _ in range(args.flooders)]
        for t in threads:
            t.start()
        time.sleep(1)  # let the flood reach its pace before measuring (not a test)
        before = broker.stats()["auth"]
        attempts_before = counter.value
        t0 = time.monotonic()
        flood_rate, flood_lat = bystander(pair, args.seconds)
        after = broker.stats()["auth"]
        attempts = counter.value - attempts_before
        checked = after["logins_failed"] - before["logins_failed"]
        throttled = after["logins_throttled"] - before["logins_throttled"]
        elapsed = time.monotonic() - t0
        stop.set()
        for t in threads:
            t.join()
    print("bystander round trips, %d flooders, %.0f s each:" % (args.flooders, args.seconds))
    print(summary("no flood", quiet_rate, quiet_lat))
    print(summary("flood", flood_rate, flood_lat))
    print("throughput ratio flood/no flood: %.2f" % (flood_rate / quiet_rate))
    print("flood: %.0f refused CONNECTs per second, of which %.0f/s checked by the verifier "
          "pool and %.0f/s refused at once (address locked out)" %
          (attempts / elapsed, checked / elapsed, throttled / elapsed))


if __name__ == "__main__":
    main()
