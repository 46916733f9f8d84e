"""Running one scenario in several processes.

One Python process cannot parse frames as fast as a broker sends them, so a
scenario runs in W worker processes, each owning every W-th client of each
role. The parent coordinates them over pipes:

  worker -> parent: ("sync", name)     arrived at barrier `name`
                    ("progress", {})   cumulative counters, every 0.25 s
                    ("result", {})     the worker's raw results; it is done
                    ("failed", text)   it crashed
  parent -> worker: ("go", name, t_ns) every worker reached barrier `name`
                    ("stop",)          finish now: the stop condition held,
                                       a worker failed, or time ran out

Barriers are how a scenario orders its steps across processes: for example
nobody publishes before every subscriber in every worker holds its receipt.
"""

import asyncio
import multiprocessing
import multiprocessing.connection
import sys
import time
import traceback

PROGRESS_PERIOD = 0.25
REPORT_PERIOD = 2.0
GRACE_SECONDS = 15.0


class Link:
    """The worker's end of the pipe, used from inside its asyncio loop."""

    def __init__(self, conn, index, count):
        self.index = index
        self.count = count
        self.counters = {}  # or a callable returning the counters
        self.stop = asyncio.Event()
        self._conn = conn
        self._barriers = {}
        loop = asyncio.get_running_loop()
        loop.add_reader(conn.fileno(), self._readable)
        self._reporter = loop.create_task(self._report())

    def mine(self, n):
        """The indexes 0..n-1 of one role that this worker runs."""
        return range(self.index, n, self.count)

    def _readable(self):
        while self._conn.poll():
            try:
                msg = self._conn.recv()
            except EOFError:
                asyncio.get_running_loop().remove_reader(self._conn.fileno())
                self._release_all()
                return
            if msg[0] == "go":
                fut = self._barrier(msg[1])
                if not fut.done():
                    fut.set_result(msg[2])
            elif msg[0] == "stop":
                self._release_all()

    def _release_all(self):
        self.stop.set()
        for fut in self._barriers.values():
            if not fut.done():
                fut.set_result(None)

    def _barrier(self, name):
        fut = self._barriers.get(name)
        if fut is None:
            fut = self._barriers[name] = asyncio.get_running_loop().create_future()
            if self.stop.is_set():
                fut.set_result(None)
        return fut

    async def barrier(self, name):
        """Waits until every worker reached `name`; returns the parent's
        CLOCK_MONOTONIC time of release, or None when told to stop instead."""
        fut = self._barrier(name)
        self._conn.send(("sync", name))
        return await fut

    async def wait_stop(self, timeout=None):
        """Waits for the parent's stop (True) or until `timeout` s (False)."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def _report(self):
        while True:
            await asyncio.sleep(PROGRESS_PERIOD)
            self.send_progress()

    def send_progress(self):
        c = self.counters
        self._conn.send(("progress", c() if callable(c) else dict(c)))

    def finish(self, result):
        self._reporter.cancel()
        self.send_progress()
        self._conn.send(("result", result))


def _child(worker_main, args, index, count, conn):
    async def main():
        link = Link(conn, index, count)
        result = await worker_main(link, args)
        link.finish(result)

    try:
        asyncio.run(main())
    except BaseException:
        try:
            conn.send(("failed", "worker %d: %s" % (index, traceback.format_exc())))
        except OSError:
            pass
    finally:
        conn.close()


def run_workers(name, worker_main, args, workers, timeout, stop_when=None,
                show=None):
    """Runs `worker_main(link, args)` in `workers` processes and returns
    (results, timed_out, failures): each worker's result dict in order (None
    for one that failed), whether `timeout` seconds passed before they all
    finished, and the failure texts.

    `stop_when(totals, passed)` is checked on every progress report with the
    sum of the workers' counters and the set of barriers every worker has
    passed; when true, every worker is told to stop. `show`
    turns the totals into a progress line for stderr.
    """
    ctx = multiprocessing.get_context("fork")
    pipes, procs = [], []
    for i in range(workers):
        parent_end, child_end = ctx.Pipe()
        p = ctx.Process(target=_child, args=(worker_main, args, i, workers, child_end),
                        name="%s-%d" % (name, i), daemon=True)
        p.start()
        child_end.close()
        pipes.append(parent_end)
        procs.append(p)

    coordinator = _Coordinator(name, pipes, stop_when, show)
    timed_out = coordinator.loop(timeout)
    for p in procs:
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join()
    return coordinator.results, timed_out, coordinator.failures


class _Coordinator:
    def __init__(self, name, pipes, stop_when, show):
        self.name = name
        self.pipes = pipes
        self.stop_when = stop_when
        self.show = show
        self.results = [None] * len(pipes)
        self.failures = []
        self.counters = [{} for _ in pipes]
        self.arrived = {}
        self.passed = set()  # barriers every worker has reached
        self.open = set(range(len(pipes)))
        self.stopped = False

    def loop(self, timeout):
        start = time.monotonic()
        deadline = start + timeout
        hard_deadline = None
        next_report = start + REPORT_PERIOD
        timed_out = False
        while self.open:
            now = time.monotonic()
            if now >= deadline and hard_deadline is None:
                timed_out = True
                print("[%s] timed out after %.0f s; stopping workers" % (self.name, timeout),
                      file=sys.stderr)
                self.broadcast(("stop",))
                hard_deadline = now + GRACE_SECONDS
            if hard_deadline is not None and now >= hard_deadline:
                self.failures.append("workers %s did not finish" % sorted(self.open))
                break
            ready = multiprocessing.connection.wait(
                [self.pipes[i] for i in self.open], timeout=0.5)
            for conn in ready:
                self.receive(self.pipes.index(conn))
            if self.show and time.monotonic() >= next_report:
                next_report += REPORT_PERIOD
                print("[%s %.0fs] %s" % (self.name, time.monotonic() - start,
                                         self.show(self.totals())), file=sys.stderr)
        return timed_out

    def receive(self, i):
        try:
            msg = self.pipes[i].recv()
        except (EOFError, OSError):
            self.open.discard(i)
            if self.results[i] is None:
                self.fail("worker %d exited without a result" % i)
            return
        kind = msg[0]
        if kind == "sync":
            waiting = self.arrived.setdefault(msg[1], set())
            waiting.add(i)
            if len(waiting) == len(self.pipes):
                self.passed.add(msg[1])
                self.broadcast(("go", msg[1], time.monotonic_ns()))
        elif kind == "progress":
            self.counters[i] = msg[1]
            if self.stop_when and not self.stopped and self.stop_when(self.totals(), self.passed):
                self.broadcast(("stop",))
        elif kind == "result":
            self.results[i] = msg[1]
            self.open.discard(i)
        elif kind == "failed":
            self.open.discard(i)
            self.fail(msg[1])

    def fail(self, text):
        print("[%s] %s" % (self.name, text.rstrip()), file=sys.stderr)
        self.failures.append(text.strip().splitlines()[-1] if text.strip() else text)
        self.broadcast(("stop",))

    def broadcast(self, msg):
        if msg[0] == "stop":
            self.stopped = True
        for i in list(self.open):
            try:
                self.pipes[i].send(msg)
            except OSError:
                # The worker closed its end, having sent its result (or
                # died): receive() still reads that result, or the EOF.
                pass

    def totals(self):
        out = {}
        for c in self.counters:
            for k, v in c.items():
                out[k] = out.get(k, 0) + v
        return out
