"""What the vector-clock family observes after a run: the one definition its final phase
writes and its checks read.

* ``delivery``: one :class:`Delivering`, what the final reads found after the heal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_dchaos.record.result import RunRecord

DELIVERY = "delivery"


@dataclass(frozen=True)
class Delivering:
    """What the final phase's reads found after the faults healed."""

    healed_at: float
    deadline: float
    #: The first round of reads in which every live node had delivered every acknowledged
    #: broadcast.
    converged_at: float | None
    #: When, after that, no live node had messages in flight or held back.
    quiet_at: float | None
    #: How many broadcasts were acknowledged during the run.
    acknowledged: int
    live_nodes: tuple[str, ...]
    #: Each node's last successful read: what it delivered, in order.
    final_reads: Mapping[str, list[Any]]


def delivering(record: RunRecord) -> Delivering | None:
    found = record.observations.get(DELIVERY)
    return found if isinstance(found, Delivering) else None
