#!/usr/bin/env python3
"""A node that keeps all its state in Maelstrom's services, as many Gossip Glomers solutions
do: plain Maelstrom, no harness extensions. Its first argument picks the workload.

``counter`` — a grow-only counter in ``seq-kv`` (challenge 4). ``add {delta}`` reads the
counter and compare-and-sets it to the sum (creating it if missing), retrying from a fresh
read when the cas fails (22: another node got there first, or the read was stale); it
answers ``add_ok`` once a cas succeeded. ``read`` first writes a key of its own (so seq-kv
moves this node to its newest state, past every other node's update), then reads the
counter: ``read_ok {value}``.

``broadcast`` — Maelstrom's broadcast workload on one shared set in ``lin-kv``:
``broadcast {message}`` adds the value to the list under one key by read-then-cas, and
``read`` answers what the list holds. Nodes never talk to each other.

Single-threaded: a request waiting for a service is a callback keyed by the msg_id it sent.
"""

import itertools
import json
import sys

MODE = sys.argv[1] if len(sys.argv) > 1 else "counter"
SERVICE, KEY = ("seq-kv", "counter") if MODE == "counter" else ("lin-kv", "messages")
node_id = None
msg_ids = itertools.count(1)
waiting = {}  # msg_id sent to the service -> callback(reply body)


def send(dest, body):
    sys.stdout.write(json.dumps({"src": node_id, "dest": dest, "body": body}) + "\n")
    sys.stdout.flush()


def rpc(body, then):
    msg_id = next(msg_ids)
    waiting[msg_id] = then
    send(SERVICE, {**body, "msg_id": msg_id})


def value_of(reply, empty):
    """The value a read got (``empty`` for a key never written), or None on an error."""
    if reply["type"] == "read_ok":
        return reply["value"]
    return empty if reply.get("code") == 20 else None


def update(change, empty, done):
    """Read KEY and cas it to ``change(value)`` until a cas succeeds."""
    def got(reply):
        current = value_of(reply, empty)
        if current is None:
            done(reply)
            return
        rpc({"type": "cas", "key": KEY, "from": current, "to": change(current),
             "create_if_not_exists": True}, stored)

    def stored(reply):
        if reply["type"] == "cas_ok":
            done(None)
        elif reply.get("code") == 22:
            update(change, empty, done)
        else:
            done(reply)

    rpc({"type": "read", "key": KEY}, got)


def read(empty, done):
    def fenced(reply):
        rpc({"type": "read", "key": KEY}, got)

    def got(reply):
        current = value_of(reply, empty)
        done(reply if current is None else current)

    if SERVICE == "seq-kv":  # lin-kv's reads are fresh already
        rpc({"type": "write", "key": f"fence-{node_id}", "value": next(msg_ids)}, fenced)
    else:
        fenced(None)


def answer_with(answer, ok_type, field=None):
    """A callback answering the client: the service's error as it came, else ``ok_type``
    (with ``field`` set to the result)."""
    def done(result):
        if isinstance(result, dict) and result.get("type") == "error":
            answer(result)
        else:
            answer({"type": ok_type, **({field: result} if field else {})})
    return done


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    kind = body["type"]
    if "in_reply_to" in body and body["in_reply_to"] in waiting:
        waiting.pop(body["in_reply_to"])(body)
        continue

    def answer(reply, client=msg["src"], msg_id=body.get("msg_id")):  # noqa: B008
        send(client, {**reply, "in_reply_to": msg_id})

    if kind == "init":
        node_id = body["node_id"]
        answer({"type": "init_ok"})
    elif kind == "topology":
        answer({"type": "topology_ok"})
    elif kind == "add" and MODE == "counter":
        update(lambda n, d=body["delta"]: n + d, 0, answer_with(answer, "add_ok"))
    elif kind == "broadcast" and MODE == "broadcast":
        value = body["message"]
        update(lambda s, v=value: s if v in s else [*s, v], [],
               answer_with(answer, "broadcast_ok"))
    elif kind == "read":
        field = "value" if MODE == "counter" else "messages"
        read(0 if MODE == "counter" else [], answer_with(answer, "read_ok", field))
    else:
        answer({"type": "error", "code": 10, "text": f"unknown {kind}"})
