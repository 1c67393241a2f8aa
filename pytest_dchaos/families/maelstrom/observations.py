"""What the counters' final phase writes and their check reads, defined once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pytest_dchaos.record.result import RunRecord

FINAL_COUNTS = "final_counts"


@dataclass(frozen=True)
class FinalCounts:
    """What the final reads found after the faults healed."""

    healed_at: float
    deadline: float
    #: The first round in which every live node read the same acceptable value; None:
    #: never by the deadline.
    settled_at: float | None
    live_nodes: tuple[str, ...]
    #: Each live node's last successful final read.
    final_reads: Mapping[str, int]
    #: Live nodes no final read succeeded on.
    unread: tuple[str, ...]


def final_counts(record: RunRecord) -> FinalCounts | None:
    found = record.observations.get(FINAL_COUNTS)
    return found if isinstance(found, FinalCounts) else None
