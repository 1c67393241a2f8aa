#!/usr/bin/env python3
"""Not a replica: answers every PBFT request at once, alike on every node, ordering nothing.

``bench_pbft.py`` runs it under the same load as the reference replica to measure what the
client path alone costs (harness, agents, eight client messages a request): the ceiling a
replica's own work comes on top of. Standard library only, one read and one write per batch
of lines.
"""

from __future__ import annotations

import json
import os
import sys

RESULTS = {"read": {"type": "read_ok", "value": None}, "write": {"type": "write_ok"},
           "cas": {"type": "cas_ok"}}


def answer(me: str | None, msg: dict) -> tuple[str | None, dict]:
    body = msg["body"]
    kind = body.get("type")
    if kind == "init":
        me, reply = body["node_id"], {"type": "init_ok"}
    elif kind == "request":
        reply = {"type": "reply", "view": 0, "timestamp": body["timestamp"], "replica": me,
                 "result": RESULTS.get(body["op"].get("f"), {"type": "error", "code": 10})}
    elif kind == "dchaos_state":
        reply = {"type": "dchaos_state_ok", "view": 0, "committed": [], "suspects": {}}
    else:
        reply = {"type": "error", "code": 10, "text": f"{kind} is not supported"}
    reply["in_reply_to"] = body.get("msg_id")
    return me, {"src": me, "dest": msg["src"], "body": reply}


def main() -> None:
    me, rest = None, b""
    while chunk := os.read(0, 1 << 16):
        *lines, rest = (rest + chunk).split(b"\n")
        out = []
        for line in lines:
            me, message = answer(me, json.loads(line))
            out.append(json.dumps(message))
        if out:
            sys.stdout.write("\n".join(out) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
