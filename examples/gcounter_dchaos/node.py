"""A grow-only counter node: Maelstrom's protocol on stdin and stdout, logs on stderr.

Each node keeps one count per node (a G-Counter CRDT). An ``add`` raises its own entry, a
``read`` answers the sum, and every ``GOSSIP_INTERVAL`` it sends its whole map to every
peer, which keeps the larger of each entry. Taking the maximum is idempotent, commutative
and associative, so lost, duplicated or reordered gossip does no harm, and once a partition
heals every node soon holds every entry again: that is what the family's final reads wait
for.

The counts live in memory: a node killed before it passed an add on loses that add for
good, which is why the example scenario partitions the cluster rather than killing nodes.

Like any node it is an independent executable: standard library only, nothing of the
harness (``python3 -m gcounter_dchaos.node``, or ``python3 node.py``).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any, TextIO

#: Seconds between two rounds of gossip to every peer.
GOSSIP_INTERVAL = 0.1

#: Maelstrom's error codes this node answers with.
NOT_SUPPORTED, TEMPORARILY_UNAVAILABLE, MALFORMED_REQUEST = 10, 11, 12


class CounterNode:
    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.node_id = ""
        self.peers: list[str] = []
        self.counts: dict[str, int] = {}  # node -> the adds it took, as far as we know
        self.state_lock = threading.Lock()
        self.out_lock = threading.Lock()

    def run(self, lines: TextIO = sys.stdin) -> int:
        for line in lines:
            try:
                msg = json.loads(line)
                body = msg["body"]
                kind = body["type"]
            except (ValueError, KeyError, TypeError):
                log(f"ignoring a malformed message: {line.strip()!r}")
                continue
            self.handle(msg, body, kind)
        return 0  # end of input: the harness is done with this node

    def handle(self, msg: dict[str, Any], body: dict[str, Any], kind: str) -> None:
        if kind == "init":
            self.node_id = str(body["node_id"])
            self.peers = [str(n) for n in body["node_ids"] if n != self.node_id]
            threading.Thread(target=self.gossip_forever, name="gossip", daemon=True).start()
            self.reply(msg, {"type": "init_ok"})
        elif not self.node_id:
            self.error(msg, TEMPORARILY_UNAVAILABLE, "not initialised yet")
        elif kind == "add":
            delta = body.get("delta")
            if not isinstance(delta, int) or isinstance(delta, bool) or delta < 0:
                self.error(msg, MALFORMED_REQUEST, f"delta must be an int >= 0, not {delta!r}")
                return
            with self.state_lock:
                self.counts[self.node_id] = self.counts.get(self.node_id, 0) + delta
            self.reply(msg, {"type": "add_ok"})
        elif kind == "read":
            with self.state_lock:
                value = sum(self.counts.values())
            self.reply(msg, {"type": "read_ok", "value": value})
        elif kind == "gossip":
            counts = body.get("counts")
            if isinstance(counts, dict):
                self.merge({str(n): c for n, c in counts.items() if isinstance(c, int)})
        else:
            self.error(msg, NOT_SUPPORTED, f"{kind} is not supported")

    def merge(self, counts: dict[str, int]) -> None:
        """Keep the larger of each node's count, ours or the peer's."""
        with self.state_lock:
            for node, count in counts.items():
                if count > self.counts.get(node, 0):
                    self.counts[node] = count

    def gossip_forever(self) -> None:
        while True:
            time.sleep(GOSSIP_INTERVAL)
            with self.state_lock:
                counts = dict(self.counts)
            if not counts:
                continue
            try:
                for peer in self.peers:
                    self.send(peer, {"type": "gossip", "counts": counts})
            except (OSError, ValueError):  # stdout closed: the node is being stopped
                return

    def reply(self, msg: dict[str, Any], body: dict[str, Any]) -> None:
        if "msg_id" in msg["body"]:  # a message that is not a request gets no answer
            # From whom it was sent to: before init, the node knows no other name.
            self.send(str(msg["src"]), {**body, "in_reply_to": msg["body"]["msg_id"]},
                      src=str(msg.get("dest", self.node_id)))

    def error(self, msg: dict[str, Any], code: int, text: str) -> None:
        self.reply(msg, {"type": "error", "code": code, "text": text})

    def send(self, dest: str, body: dict[str, Any], src: str | None = None) -> None:
        line = json.dumps({"src": src or self.node_id, "dest": dest, "body": body})
        with self.out_lock:  # the reader and the gossip thread both write
            self.out.write(line + "\n")
            self.out.flush()


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(CounterNode().run())
