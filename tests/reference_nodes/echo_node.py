#!/usr/bin/env python3
"""A tiny node on the shared runtime, for testing the runtime itself.

``echo`` answers its payload; ``boom`` raises (error 13); ``ask {peer}`` makes an RPC to
another echo node and reports what came back; ``ticks`` reports how often a timer fired;
``whoami`` reports what ``init`` stored. Parameter ``answer`` (integer, default 42) shows
parameter validation.
"""

from __future__ import annotations

from typing import Any

from reference_nodes.common.maelstrom import Message, Node, RPCError, require


def build(node: Node | None = None) -> Node:
    node = node or Node()
    state: dict[str, Any] = {"ticks": 0, "answer": None}

    @node.on_init
    def configure() -> None:
        state["answer"] = node.params.integer("answer", 42)

        def tick() -> None:
            state["ticks"] += 1

        node.every(0.02, tick)

    @node.handler("echo")
    def echo(msg: Message) -> dict[str, Any]:
        return {"type": "echo_ok", "echo": msg.body.get("echo")}

    @node.handler("boom")
    def boom(msg: Message) -> dict[str, Any]:
        raise RuntimeError("kaboom")

    @node.handler("whoami")
    def whoami(msg: Message) -> dict[str, Any]:
        return {"type": "whoami_ok", "node_id": node.node_id, "node_ids": node.node_ids,
                "answer": state["answer"], "dchaos": node.dchaos}

    @node.handler("ticks")
    def ticks(msg: Message) -> dict[str, Any]:
        return {"type": "ticks_ok", "ticks": state["ticks"]}

    @node.handler("ask")
    async def ask(msg: Message) -> dict[str, Any]:
        peer = require(msg.body, "peer", str)
        timeout = msg.body.get("timeout", 1.0)
        try:
            reply = await node.rpc(peer, {"type": "echo", "echo": msg.body.get("echo")}, timeout)
        except RPCError as exc:
            return {"type": "ask_ok", "error": exc.code}
        return {"type": "ask_ok", "reply": reply.body}

    return node


if __name__ == "__main__":
    raise SystemExit(build().run())
