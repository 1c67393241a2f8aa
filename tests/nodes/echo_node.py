#!/usr/bin/env python3
"""A minimal node that keeps the contract: init, echo, and relay to another node.

``relay {to, value}`` sends ``relayed {value}`` to node ``to``, which stores it; ``seen``
answers with everything this node was relayed. ``forward {to}`` passes the client's request
on to node ``to`` as it came, the client still its ``src`` (as Maelstrom's Raft demo proxies
to its leader), and ``to`` answers the client; ``impersonate {as, to}`` sends ``relayed`` to
``to`` claiming to be node ``as``. Used to test the agent and the fault layer without any
protocol logic in the way.
"""

import json
import signal
import sys

node_id = None
seen = []


def send(dest, body):
    sys.stdout.write(json.dumps({"src": node_id, "dest": dest, "body": body}) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    kind = body["type"]
    reply = {"in_reply_to": body.get("msg_id")}
    if kind == "init":
        node_id = body["node_id"]
        send(msg["src"], {**reply, "type": "init_ok"})
    elif kind == "topology":
        send(msg["src"], {**reply, "type": "topology_ok"})
    elif kind == "echo":
        send(msg["src"], {**reply, "type": "echo_ok", "echo": body.get("echo")})
    elif kind == "relay":
        send(body["to"], {"type": "relayed", "value": body["value"]})
        send(msg["src"], {**reply, "type": "relay_ok"})
    elif kind == "forward" and body["to"] != node_id:
        sys.stdout.write(json.dumps({**msg, "dest": body["to"]}) + "\n")
        sys.stdout.flush()
    elif kind == "forward":
        send(msg["src"], {**reply, "type": "forward_ok", "by": node_id})
    elif kind == "impersonate":
        sys.stdout.write(json.dumps({"src": body["as"], "dest": body["to"],
                                     "body": {"type": "relayed", "value": -1}}) + "\n")
        send(msg["src"], {**reply, "type": "impersonate_ok"})
    elif kind == "relayed":
        seen.append(body["value"])
    elif kind == "seen":
        send(msg["src"], {**reply, "type": "seen_ok", "values": seen})
    elif kind == "ignore_term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        send(msg["src"], {**reply, "type": "ignore_term_ok"})
    elif kind == "crash":
        sys.exit(3)
    elif kind == "half":  # half a message, then nothing: as if killed while writing it
        sys.stdout.write(json.dumps({"src": node_id, "dest": "n2", "body": {"type": "x"}})[:20])
        sys.stdout.flush()
    elif kind == "bye":  # its answer without a newline, then exit
        sys.stdout.write(json.dumps({"src": node_id, "dest": msg["src"],
                                     "body": {**reply, "type": "bye_ok"}}))
        sys.stdout.flush()
        sys.exit(0)
    elif kind == "garbage":
        print("this is not json", flush=True)
    else:
        send(msg["src"], {**reply, "type": "error", "code": 10, "text": f"unknown {kind}"})
