"""Running a load driver (benchmarks/DRIVER.md) and the admin endpoint."""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from harness.brokers import ROOT, WS_PATH

NATIVE = os.environ.get("STAMPEDE_BENCH_NATIVE") or os.path.join(ROOT, "build", "stampede-load")
PYTHON = os.path.join(ROOT, "benchmarks", "driver", "stampede_load.py")
PYTHON_BIN = "/usr/bin/python3"  # the one with Debian's packages; see README


def choose(kind):
    """'native' when asked, or when asked for nothing and it exists."""
    if kind in (None, "auto"):
        return "native" if os.access(NATIVE, os.X_OK) else "python"
    if kind == "native" and not os.access(NATIVE, os.X_OK):
        raise FileNotFoundError("--driver native: %s does not exist (yet)" % NATIVE)
    return kind


def command(kind, scenario, broker, params):
    """The driver's command line: scenario, broker address, then params as
    --flag value pairs (underscores become dashes)."""
    cmd = [NATIVE] if kind == "native" else [PYTHON_BIN, PYTHON]
    port = broker.port
    if getattr(broker, "transport", "tcp") == "ws":
        port = broker.ws_port
        params = dict(params, transport="ws", ws_path=WS_PATH)
    cmd += [scenario, "--host", broker.host, "--port", str(port), "--vhost", broker.vhost]
    if broker.login is not None:
        cmd += ["--login", broker.login, "--passcode", broker.passcode or ""]
    for key, value in params.items():
        if value is None:
            continue
        cmd += ["--" + key.replace("_", "-"), str(value)]
    return cmd


def run(kind, scenario, broker, params, timeout, control=None):
    """Runs the driver; its progress goes straight to our stderr. Returns
    (parsed JSON or None, exit status, the command with the passcode hidden).

    `control(line)`, when given, is called for every line the driver writes
    to the file named by --control-file (the harness's side of the crash and
    restart phases), while the driver runs."""
    if control is not None:
        fd, ctl = tempfile.mkstemp(prefix="stampede-control-")
        os.close(fd)
        params = dict(params, control_file=ctl)
    cmd = command(kind, scenario, broker, params)
    shown = ["***" if i and cmd[i - 1] == "--passcode" else a for i, a in enumerate(cmd)]
    # stdout to a file: a large JSON line must not wait on a pipe nobody reads yet.
    with tempfile.TemporaryFile(mode="w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=sys.stderr, text=True)
        status = _wait(proc, timeout, ctl if control else None, control)
        out.seek(0)
        text = out.read()
    if control is not None:
        os.unlink(ctl)
    if status is None:
        return None, "timeout after %.0f s" % timeout, shown
    result = None
    for line in reversed(text.strip().splitlines()):
        try:
            result = json.loads(line)
            break
        except ValueError:
            continue
    return result, status, shown


def _wait(proc, timeout, ctl, control):
    """The driver's exit status, or None after killing it at `timeout`;
    meanwhile hands each new line of the control file to `control`."""
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        if ctl is not None:
            lines = _complete_lines(ctl)
            for line in lines[seen:]:
                control(line)
            seen = len(lines)
        status = proc.poll()
        if status is not None and (ctl is None or seen >= _count_lines(ctl)):
            return status
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            return None
        time.sleep(0.02 if ctl else 0.1)


def _count_lines(path):
    return len(_complete_lines(path))


def _complete_lines(path):
    """The lines of `path` that end with a newline (the last may be half written)."""
    with open(path) as f:
        return f.read().split("\n")[:-1]


def fetch_stats(admin, timeout=2.0):
    """GET http://<admin>/stats as JSON; never raises (the endpoint is
    optional): failures come back as {"error": "..."}."""
    if not admin:
        return None
    try:
        with urllib.request.urlopen("http://%s/stats" % admin, timeout=timeout) as r:
            body = r.read()
        try:
            return json.loads(body)
        except ValueError:
            return {"raw": body.decode(errors="replace")[:10000]}
    except Exception as e:  # noqa: BLE001 - anything at all is "no stats"
        return {"error": str(e)}
