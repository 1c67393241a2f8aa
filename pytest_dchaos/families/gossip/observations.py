"""What the gossip family observes during and after a run: the one definition its monitor
and final phase write and its checks read.

* ``membership``: a :class:`MembershipSample` every ``membership_interval`` during the run
  (and every final-phase round), each node's answer to ``members``;
* ``convergence``: one :class:`Converging`, what the final reads found after the heal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pytest_dchaos.record.result import RunRecord

MEMBERSHIP = "membership"
CONVERGENCE = "convergence"

#: A member's state as a node reports it in ``members_ok``.
MemberState = Literal["alive", "suspect", "dead"]
ALIVE: MemberState = "alive"
SUSPECT: MemberState = "suspect"
DEAD: MemberState = "dead"


@dataclass(frozen=True)
class MembershipSample:
    """Every answering node's membership view at one moment (nodes that did not answer
    within the sample's time are absent)."""

    t: float
    #: observer -> member -> state, as the observer reported it.
    views: Mapping[str, Mapping[str, str]]

    def state(self, observer: str, member: str) -> str | None:
        """What ``observer`` said of ``member``; None if it did not answer or left it out."""
        view = self.views.get(observer)
        return None if view is None else view.get(member)


@dataclass(frozen=True)
class Converging:
    """What the final phase's reads found after the faults healed."""

    healed_at: float
    deadline: float
    #: How many broadcasts were acknowledged during the run.
    acknowledged: int
    #: The first round of reads in which every live node held every acknowledged value.
    converged_at: float | None
    #: The first round in which every live node saw every other live node alive (None when
    #: no check asked for membership, or it never happened).
    membership_settled_at: float | None
    live_nodes: tuple[str, ...]
    #: Each node's last successful read.
    final_reads: Mapping[str, list[int]]
    #: Live nodes no final read succeeded on.
    unread: tuple[str, ...]


def membership_samples(record: RunRecord) -> list[MembershipSample]:
    return [s for s in record.observations.get(MEMBERSHIP) or ()
            if isinstance(s, MembershipSample)]


def converging(record: RunRecord) -> Converging | None:
    found = record.observations.get(CONVERGENCE)
    return found if isinstance(found, Converging) else None
