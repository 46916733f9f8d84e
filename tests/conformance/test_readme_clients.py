"""The README's "Clients" snippets (stomp.py, the Ruby gem, Net::Stomp) run
as written against the real broker: each prints the message it sent itself
(message-id and body), acknowledges it, and leaves nothing on the queue.

Where this process may make a network namespace (`unshare --net`, as root),
the snippets run byte for byte as the README shows them, against a broker
on 127.0.0.1:61613 inside the namespace; elsewhere against a broker on a
free port, the only change to them being that port (readme_snippets.py).
"""

import json
import os
import re
import subprocess
import unittest

import readme_snippets
from conformance_support import start_broker

HERE = os.path.dirname(os.path.abspath(__file__))


def namespaces_allowed():
    try:
        return subprocess.run(["unshare", "--net", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class ReadmeClientsTest(unittest.TestCase):
    def results(self):
        if namespaces_allowed():
            done = subprocess.run(
                ["unshare", "--net", "sh", "-c",
                 "ip link set lo up && exec /usr/bin/python3 readme_snippets.py"],
                cwd=HERE, capture_output=True, text=True, timeout=300)
            self.assertEqual(done.returncode, 0, done.stderr)
            return json.loads(done.stdout.strip().splitlines()[-1])
        broker = start_broker()
        try:
            return readme_snippets.run_all(broker.port)
        finally:
            self.assertEqual(broker.stop(), 0, broker.log())

    def test_the_readme_has_a_snippet_per_library(self):
        names = [(name, language) for name, language, _ in readme_snippets.snippets()]
        self.assertEqual(names, [("stomp.py", "python"), ("ruby", "ruby"), ("perl", "perl")])
        for _, _, code in readme_snippets.snippets():
            self.assertEqual(code.count("61613"), 1)

    def test_every_snippet_runs_and_settles_its_message(self):
        results = self.results()
        self.assertEqual(sorted(results), ["perl", "ruby", "stomp.py"])
        for name, result in results.items():
            with self.subTest(name):
                self.assertEqual(result["returncode"], 0, result["stderr"])
                self.assertRegex(result["stdout"], r"^\S+ hello from %s\n$" % re.escape(name))
                self.assertEqual(result["left_on_queue"], [])


if __name__ == "__main__":
    unittest.main()
