#!/usr/bin/env python3
"""A Maelstrom broadcast node as people write them for Gossip Glomers: it floods every new
value to its topology neighbours and knows nothing of pytest-dchaos — no ``members``, no
``dchaos_state``, no ``dchaos`` object in ``init``. It shows that such nodes run unchanged,
and that checks needing what they lack are not applicable to them.

With ``--die-on-unknown`` it exits on a message type it does not know, as nodes built on a
table of handlers often do: the harness must send it nothing outside Maelstrom's protocol."""

import json
import sys

DIE_ON_UNKNOWN = "--die-on-unknown" in sys.argv
node_id = None
neighbours = []
seen = set()
next_id = 0


def send(dest, body):
    sys.stdout.write(json.dumps({"src": node_id, "dest": dest, "body": body}) + "\n")
    sys.stdout.flush()


def reply(msg, body):
    send(msg["src"], {**body, "in_reply_to": msg["body"].get("msg_id")})


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    kind = body["type"]
    if kind == "init":
        node_id = body["node_id"]
        neighbours = [n for n in body["node_ids"] if n != node_id]
        reply(msg, {"type": "init_ok"})
    elif kind == "topology":
        neighbours = body["topology"].get(node_id, neighbours)
        reply(msg, {"type": "topology_ok"})
    elif kind in ("broadcast", "gossip"):
        value = body["message"]
        if value not in seen:
            seen.add(value)
            for peer in neighbours:
                if peer != msg["src"]:
                    send(peer, {"type": "gossip", "message": value})
        if kind == "broadcast":
            reply(msg, {"type": "broadcast_ok"})
    elif kind == "read":
        reply(msg, {"type": "read_ok", "messages": sorted(seen)})
    elif DIE_ON_UNKNOWN:
        sys.exit(f"unknown message type {kind!r}")
    elif "msg_id" in body:
        reply(msg, {"type": "error", "code": 10, "text": f"{kind} is not supported"})
