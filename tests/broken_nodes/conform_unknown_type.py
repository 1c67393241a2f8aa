#!/usr/bin/env python3
"""Broken broadcast node: a message type it does not know breaks it.

A Maelstrom broadcast node written as many are, with a table of handlers. Bug: a type
missing from the table is not answered with error 10 (not supported). How it goes wrong
is the first argument:

- ``crash`` (default): the table lookup raises KeyError and the process dies;
- ``print``: it prints a debugging line to stdout, which must carry messages only;
- ``word``: it answers an error whose code is a word (``"not_supported"``), not 10.

Must be caught by: the conformance kit's unknown-type check, and with it the running,
stdout and errors checks respectively (``dchaos conform``).
"""

import json
import sys

MODE = sys.argv[1] if len(sys.argv) > 1 else "crash"
node_id = None
values = []


def send(dest, body):
    sys.stdout.write(json.dumps({"src": node_id, "dest": dest, "body": body}) + "\n")
    sys.stdout.flush()


def reply(msg, body):
    send(msg["src"], {**body, "in_reply_to": msg["body"]["msg_id"]})


def init(msg):
    global node_id
    node_id = msg["body"]["node_id"]
    reply(msg, {"type": "init_ok"})


def broadcast(msg):
    values.append(msg["body"]["message"])
    reply(msg, {"type": "broadcast_ok"})


HANDLERS = {
    "init": init,
    "topology": lambda msg: reply(msg, {"type": "topology_ok"}),
    "broadcast": broadcast,
    "read": lambda msg: reply(msg, {"type": "read_ok", "messages": sorted(values)}),
}

for line in sys.stdin:
    msg = json.loads(line)
    kind = msg["body"]["type"]
    if kind not in HANDLERS and MODE == "print":
        print(f"no handler for {kind}")
    elif kind not in HANDLERS and MODE == "word":
        reply(msg, {"type": "error", "code": "not_supported", "text": kind})
    else:
        HANDLERS[kind](msg)
