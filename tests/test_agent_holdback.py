"""The agent's client hold-back (``configure``'s ``client_holdback``): how a Byzantine
twin hears clients in another order than its original (``cluster.twins[].reorder``).

A real agent and a real node process: the node answers every message at once, so the
order of its answers is the order the agent handed it the messages.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from pathlib import Path
from typing import Any

from pytest_dchaos import agent

#: A node that answers each message as it comes: its answers tell the order it heard.
ECHO = """\
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    body = {"type": m["body"]["type"] + "_ok", "in_reply_to": m["body"]["msg_id"]}
    print(json.dumps({"src": m["dest"], "dest": m["src"], "body": body}), flush=True)
"""


class Control:
    """The harness's end of the control connection: what the agent writes to it."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def answers(self) -> list[int]:
        events = [json.loads(line) for line in self.data.splitlines()]
        return [e["msg"]["body"]["in_reply_to"] for e in events if e.get("event") == "client"]


def deliver_line(client: str, msg_type: str, msg_id: int) -> bytes:
    """A client message as the harness sends it (``AgentLink.deliver_encoded``)."""
    msg = {"src": client, "dest": "n1", "body": {"type": msg_type, "msg_id": msg_id}}
    return (b'{"cmd":"deliver","src":%s,"type":%s,"msg":%s}\n'
            % (json.dumps(client).encode(), json.dumps(msg_type).encode(),
               json.dumps(msg).encode()))


def heard(workdir: Path, holdback: float, count: int = 40) -> list[int]:
    """The order the node heard ``init`` (msg_id 0) and ``count`` requests from as many
    clients, all sent to the agent in one go."""

    async def run() -> list[int]:
        node = agent.Agent(str(workdir))
        control = Control()
        settings: dict[str, Any] = {"cmd": "configure", "node_id": "n1", "links": {},
                                    "seed": 7, "client_holdback": holdback}
        await node._handle(settings)
        await node.start_node([sys.executable, "-c", ECHO], None)
        reader = asyncio.StreamReader()
        # Control stands in for the StreamWriter: write, is_closing and close are all used.
        serving = asyncio.ensure_future(
            node.serve_control(reader, control))  # type: ignore[arg-type]
        reader.feed_data(deliver_line("c0", "init", 0) + b"".join(
            deliver_line(f"c{i}", "request", i) for i in range(1, count + 1)))
        for _ in range(200):
            if len(control.answers()) == count + 1:
                break
            await asyncio.sleep(0.01)
        reader.feed_eof()
        await serving
        await node.shutdown()
        node.trace.close()
        return control.answers()

    return asyncio.run(run())


def test_without_a_holdback_the_node_hears_clients_in_the_order_they_came(
        tmp_path: Path) -> None:
    assert heard(tmp_path, 0.0) == list(range(41))


def test_a_holdback_reorders_client_messages_but_never_init(tmp_path: Path) -> None:
    order = heard(tmp_path, 0.05)
    assert sorted(order) == list(range(41)), "every message arrives, once"
    assert order[0] == 0, "init comes first: a node must hear it before anything else"
    overtaken = sum(1 for a, b in itertools.pairwise(order[1:]) if a > b)
    assert overtaken >= 5, order
