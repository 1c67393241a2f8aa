"""What the transaction family observes after a run: the one definition its final phase
writes (no check reads it yet; it goes into the report's ``observations.json``).

* ``settled``: one :class:`Settling`, how the nodes' pending decisions drained after the
  heal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SETTLED = "settled"


@dataclass(frozen=True)
class Settling:
    healed_at: float
    #: When no live node had a transaction pending; None if that never happened in time.
    settled_at: float | None
    #: node -> the transactions it still had pending at the last look.
    pending: Mapping[str, list[str]]
