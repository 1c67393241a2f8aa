"""What the PBFT family observes after a run: the one definition its final phase writes (no
check reads them yet — liveness judges the probes from the history — and they go into the
report's ``observations.json``).

* ``probes``: one :class:`Probing`, the writes sent after the heal until one was accepted;
* ``settled``: one :class:`Settling`, how the honest replicas caught up with each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PROBES = "probes"
SETTLED = "settled"


@dataclass(frozen=True)
class Probe:
    #: When its outcome was known (the run's clock).
    at: float
    #: Whether f+1 replicas agreed on its result.
    ok: bool


@dataclass(frozen=True)
class Probing:
    healed_at: float
    probes: tuple[Probe, ...]


@dataclass(frozen=True)
class Settling:
    healed_at: float
    #: When every honest replica that is up had executed as far as the others; None if that
    #: never happened in time.
    settled_at: float | None
    #: replica -> the last sequence number it executed, at the last look.
    last_executed: Mapping[str, int | None]
