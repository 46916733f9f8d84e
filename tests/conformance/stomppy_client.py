"""One conformance scenario with stomp.py in a process of its own.

    python3 stomppy_client.py PORT VERSION SCENARIO [SPEC-JSON]

The counterpart of stomp_client.rb and net_stomp_client.pl for the cases
that need a consumer process to die or start afresh (test_message_ids.py);
it prints what it saw as one JSON line. The connection uses the library's
defaults (conformance_support.open_stomppy).
"""

import json
import os
import sys
import time

from conformance_support import ack, open_stomppy


def id_report(messages):
    return [{"message-id": m.headers.get("message-id"), "ack": m.headers.get("ack"),
             "redelivered": m.headers.get("redelivered"), "body": m.body} for m in messages]


def subscribe(conn, recorder, spec, sub_id):
    conn.subscribe(spec["queue"], id=sub_id, ack=spec["mode"], receipt="sub-" + sub_id)
    recorder.wait_receipt("sub-" + sub_id)
    return recorder.wait_messages(spec["count"])


def scenario_hold(port, version, spec):
    """Takes COUNT messages without acknowledging them, reports them, says
    READY and waits to be killed: a consumer process that dies holding them."""
    conn, recorder = open_stomppy(port, version)
    messages = subscribe(conn, recorder, spec, "hold")
    print(json.dumps({"messages": id_report(messages)}), flush=True)
    print("READY", flush=True)
    time.sleep(60)


def scenario_take(port, version, spec):
    """Takes COUNT messages, acknowledges each (unless auto), reports them."""
    conn, recorder = open_stomppy(port, version)
    messages = subscribe(conn, recorder, spec, "take")
    if spec["mode"] != "auto":
        for number, message in enumerate(messages):
            ack(conn, version, message, receipt="ack-%d" % number)
            recorder.wait_receipt("ack-%d" % number)
    print(json.dumps({"messages": id_report(messages)}), flush=True)
    conn.disconnect(receipt="bye")
    recorder.wait_receipt("bye")


def main():
    port, version, scenario = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    spec = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    globals()["scenario_" + scenario](port, version, spec)
    os._exit(0)  # stomp.py's receiver thread must not keep the process alive


if __name__ == "__main__":
    main()
