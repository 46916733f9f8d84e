"""Running a load driver (benchmarks/DRIVER.md) and the admin endpoint."""

import json
import os
import subprocess
import sys
import urllib.request

from harness.brokers import ROOT

NATIVE = os.path.join(ROOT, "build", "stampede-load")
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
    cmd += [scenario, "--host", broker.host, "--port", str(broker.port), "--vhost", broker.vhost]
    if broker.login is not None:
        cmd += ["--login", broker.login, "--passcode", broker.passcode or ""]
    for key, value in params.items():
        if value is None:
            continue
        cmd += ["--" + key.replace("_", "-"), str(value)]
    return cmd


def run(kind, scenario, broker, params, timeout):
    """Runs the driver; its progress goes straight to our stderr. Returns
    (parsed JSON or None, exit status, the command with the passcode hidden)."""
    cmd = command(kind, scenario, broker, params)
    shown = ["***" if i and cmd[i - 1] == "--passcode" else a for i, a in enumerate(cmd)]
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=sys.stderr, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timeout after %.0f s" % timeout, shown
    result = None
    for line in reversed(proc.stdout.strip().splitlines()):
        try:
            result = json.loads(line)
            break
        except ValueError:
            continue
    return result, proc.returncode, shown


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
