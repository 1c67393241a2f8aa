#!/usr/bin/env python3
"""Broken echo node: it echoes the request's body, not the body's ``echo`` field.

Bug: the careless first echo (``reply(msg, {"type": "echo_ok", "echo": msg.body})``): the
reply has the right type and arrives at once, but carries the whole request body.

Must be caught by: echo, naming the text sent and what came back.
"""

from __future__ import annotations

from typing import Any

from reference_nodes.common.maelstrom import Message, Node

node = Node()


@node.handler("echo")
def echo(msg: Message) -> dict[str, Any]:
    return {"type": "echo_ok", "echo": msg.body}


if __name__ == "__main__":
    raise SystemExit(node.run())
