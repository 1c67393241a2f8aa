"""``python3 -m reference_nodes.maelstrom.echo``: Maelstrom's echo, answered in kind."""

from __future__ import annotations

from typing import Any

from reference_nodes.common.maelstrom import Message, Node, RPCError


def build() -> Node:
    node = Node()

    @node.handler("echo")
    def echo(msg: Message) -> dict[str, Any]:
        if "echo" not in msg.body:
            raise RPCError.malformed("echo: no echo field to echo")
        return {"type": "echo_ok", "echo": msg.body["echo"]}

    return node


if __name__ == "__main__":
    raise SystemExit(build().run())
