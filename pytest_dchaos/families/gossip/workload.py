"""The gossip family's clients: broadcasts of unique integers and reads, and the
``members`` query the monitor and the final phase send.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from typing import Any

from pytest_dchaos.cluster.extensions import MEMBERS
from pytest_dchaos.cluster.running import Cluster
from pytest_dchaos.families.base import Workload
from pytest_dchaos.record.history import FAIL, INFO, OK, Outcome


class GossipWorkload(Workload):
    """Broadcasts of unique integers and reads, mixed by ``read_ratio``."""

    def __init__(self, read_ratio: float) -> None:
        self.read_ratio = read_ratio
        self._values = itertools.count(1)
        self._lock = threading.Lock()

    def next_op(self, rng: Any) -> tuple[str, Any]:
        if rng.random() < self.read_ratio:
            return "read", None
        with self._lock:
            return "broadcast", next(self._values)

    def request(self, f: str, value: Any) -> dict[str, Any]:
        if f == "broadcast":
            return {"type": "broadcast", "message": value}
        return {"type": f}

    def completion(self, f: str, value: Any, reply: Mapping[str, Any]
                   ) -> tuple[Outcome, Any]:
        if f == "broadcast":
            return (OK, value) if reply.get("type") == "broadcast_ok" else (INFO, value)
        messages = reply.get("messages")
        if reply.get("type") == "read_ok" and isinstance(messages, list):
            return OK, sorted(m for m in messages if isinstance(m, int))
        return FAIL, None


def query_members(cluster: Cluster, nodes: tuple[str, ...], timeout: float
                  ) -> dict[str, dict[str, str]]:
    """Ask those of ``nodes`` that answer ``members`` (they listed it in ``init_ok``) for
    their membership view at once; silent nodes are left out."""
    replies = cluster.ask_all(cluster.offering(MEMBERS, nodes), {"type": MEMBERS},
                              reply_type="members_ok", timeout=timeout)
    return {node: {str(k): str(v) for k, v in reply["members"].items()}
            for node, reply in replies.items() if isinstance(reply.get("members"), dict)}
