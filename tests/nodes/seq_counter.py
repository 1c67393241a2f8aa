#!/usr/bin/env python3
"""A grow-only counter kept in Maelstrom's ``seq-kv``, as a Gossip Glomers challenge 4
solution keeps it: plain Maelstrom, no harness extensions.

``add {delta}`` reads the counter from ``seq-kv`` and compare-and-sets it to the sum
(creating it if missing), retrying from a fresh read when the cas fails (22: another node
got there first, or the read was stale); it answers ``add_ok`` once a cas succeeded.
``read`` first writes a key of its own (so seq-kv moves this node to its newest state,
past every other node's update), then reads the counter: ``read_ok {value}``.

Single-threaded: a request waiting for seq-kv is a callback keyed by the msg_id it sent.
"""

import itertools
import json
import sys

COUNTER = "counter"
node_id = None
msg_ids = itertools.count(1)
waiting = {}  # msg_id sent to seq-kv -> callback(reply body)


def send(dest, body):
    sys.stdout.write(json.dumps({"src": node_id, "dest": dest, "body": body}) + "\n")
    sys.stdout.flush()


def rpc(body, then):
    msg_id = next(msg_ids)
    waiting[msg_id] = then
    send("seq-kv", {**body, "msg_id": msg_id})


def add(delta, done):
    def got(reply):
        if reply["type"] == "read_ok":
            current = reply["value"]
        elif reply.get("code") == 20:
            current = 0
        else:
            done(reply)
            return
        rpc({"type": "cas", "key": COUNTER, "from": current, "to": current + delta,
             "create_if_not_exists": True}, stored)

    def stored(reply):
        if reply["type"] == "cas_ok":
            done({"type": "add_ok"})
        elif reply.get("code") == 22:
            add(delta, done)
        else:
            done(reply)

    rpc({"type": "read", "key": COUNTER}, got)


def read(done):
    def fenced(reply):
        rpc({"type": "read", "key": COUNTER}, counted)

    def counted(reply):
        if reply["type"] == "read_ok":
            done({"type": "read_ok", "value": reply["value"]})
        elif reply.get("code") == 20:
            done({"type": "read_ok", "value": 0})
        else:
            done(reply)

    rpc({"type": "write", "key": f"fence-{node_id}", "value": next(msg_ids)}, fenced)


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    kind = body["type"]
    if "in_reply_to" in body and body["in_reply_to"] in waiting:
        waiting.pop(body["in_reply_to"])(body)
        continue

    def answer(reply, client=msg["src"], msg_id=body["msg_id"]):
        send(client, {**reply, "in_reply_to": msg_id})

    if kind == "init":
        node_id = body["node_id"]
        answer({"type": "init_ok"})
    elif kind == "topology":
        answer({"type": "topology_ok"})
    elif kind == "add":
        add(body["delta"], answer)
    elif kind == "read":
        read(answer)
    else:
        answer({"type": "error", "code": 10, "text": f"unknown {kind}"})
