"""The README's client snippets, and a runner for them (test_readme_clients.py).

A snippet is a fenced code block right after a `<!-- snippet: NAME -->` line
in README.md. run_all(port) runs each with its language's interpreter as a
program of its own, then checks with a raw client that it left nothing on
/queue/demo (its ACK arrived). With port 61613 the code runs exactly as the
README shows it; with any other port, "61613" in it becomes that port.

Run as a program, it starts the broker on 127.0.0.1:61613 itself and prints
the results as JSON: test_readme_clients.py does that inside a private
network namespace, where 61613 is free whatever else runs on the machine.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

from stampede_test import STAMPEDE_BIN, STAMPEDE_IO, Client

HERE = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(os.path.dirname(os.path.dirname(HERE)), "README.md")
README_PORT = 61613
INTERPRETERS = {"python": "/usr/bin/python3", "ruby": "/usr/bin/ruby", "perl": "/usr/bin/perl"}
SNIPPET = re.compile(r"^<!-- snippet: (\S+) -->\n```(\w+)\n(.*?)^```$", re.M | re.S)


def snippets():
    """[(name, language, code)] in README order."""
    with open(README) as readme:
        return SNIPPET.findall(readme.read())


def left_on_queue(port, queue="/queue/demo"):
    """What a consumer finds on `queue` before a marker it sends itself."""
    with Client(port) as c:
        c.connect(host="/")
        c.subscribe(queue, id="check")
        c.send(queue, b"marker", receipt="marker")
        bodies = []
        while True:
            frame = c.await_frame("MESSAGE")
            if frame.body == b"marker":
                break
            bodies.append(frame.body.decode("utf-8", "replace"))
        c.disconnect()
        return bodies


def run_all(port):
    """{name: {"returncode", "stdout", "stderr", "left_on_queue"}} for every snippet."""
    results = {}
    for name, language, code in snippets():
        if port != README_PORT:
            if code.count(str(README_PORT)) != 1:
                raise AssertionError("snippet %s does not name port %d once" % (name, README_PORT))
            code = code.replace(str(README_PORT), str(port))
        with tempfile.NamedTemporaryFile("w", suffix="." + language, delete=False) as program:
            program.write(code)
        try:
            # stomp.py resolves this machine's host names at import unless told
            # not to: slow, and pointless in a namespace without DNS.
            env = dict(os.environ, STOMP_SKIP_HOSTNAME_SCAN="1")
            done = subprocess.run([INTERPRETERS[language], program.name], capture_output=True,
                                  text=True, timeout=60, env=env)
        finally:
            os.unlink(program.name)
        results[name] = {"returncode": done.returncode, "stdout": done.stdout,
                         "stderr": done.stderr[-2000:], "left_on_queue": left_on_queue(port)}
    return results


def main():
    """Starts the broker on 127.0.0.1:61613 and prints run_all()'s results."""
    broker = subprocess.Popen([STAMPEDE_BIN, "--listen", "127.0.0.1:%d" % README_PORT,
                               "--io", STAMPEDE_IO, "--schedulers", "2", "--admin", "off",
                               "--data-dir", "none"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        for line in broker.stderr:
            if "listening on 127.0.0.1:%d" % README_PORT in line:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("stampede did not listen in time")
        else:
            raise RuntimeError("stampede exited during start-up")
        # Keep reading its log, so that the broker never blocks on a full pipe.
        threading.Thread(target=lambda: broker.stderr.read(), daemon=True).start()
        print(json.dumps(run_all(README_PORT)))
    finally:
        broker.terminate()
        broker.wait(15)


if __name__ == "__main__":
    sys.exit(main())
