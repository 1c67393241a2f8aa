"""The member table and SWIM's rules for merging what nodes say about each other.

Every node keeps one :class:`Record` per node id: a status (alive, suspect, dead) and the
member's *incarnation*, a counter only the member itself raises. Records are ordered by
``(incarnation, rank of status)`` with alive < suspect < dead, and a node keeps the
greater of what it has and what it hears. That order is a join-semilattice, so records can
arrive late, twice or out of order — by piggyback, gossip or anti-entropy — and every node
still ends at the same table.

Only the member itself may contradict a suspicion or a death: hearing that it is suspect
or dead at incarnation ``i >= its own``, it takes ``i + 1`` and says it is alive, which
outranks the rumour everywhere (SWIM's refutation). That is how a falsely suspected node
clears itself, and how a restarted or healed node gets back in: dead members are still
probed now and then, and told what others think of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ALIVE = "alive"
SUSPECT = "suspect"
DEAD = "dead"
STATUSES = (ALIVE, SUSPECT, DEAD)
_RANK = {ALIVE: 0, SUSPECT: 1, DEAD: 2}


@dataclass(frozen=True)
class Record:
    """What is believed about one member: its status at one of its incarnations."""

    member: str
    status: str
    incarnation: int

    @property
    def version(self) -> tuple[int, int]:
        return (self.incarnation, _RANK[self.status])

    def to_wire(self) -> list[Any]:
        return [self.member, self.status, self.incarnation]

    @classmethod
    def from_wire(cls, item: Any) -> Record:
        """Parse ``[member, status, incarnation]``; :class:`ValueError` if it is not one."""
        if (not isinstance(item, list) or len(item) != 3 or not isinstance(item[0], str)
                or item[1] not in _RANK or not isinstance(item[2], int)
                or isinstance(item[2], bool) or item[2] < 0):
            raise ValueError(f"not a membership record: {item!r:.80}")
        return cls(item[0], item[1], item[2])


@dataclass(frozen=True)
class Change:
    """A record that replaced another in the table (``before`` is the old one)."""

    before: Record
    after: Record

    @property
    def member(self) -> str:
        return self.after.member


class Membership:
    """The member table of one node, for every id in ``node_ids`` (itself included).

    Methods return the :class:`Change` they made, or ``None`` when nothing changed, so the
    caller can disseminate exactly what is new. Subclasses may change the precedence rule
    by overriding :meth:`supersedes`.
    """

    def __init__(self, self_id: str, node_ids: Iterable[str]) -> None:
        self.self_id = self_id
        self.records: dict[str, Record] = {m: Record(m, ALIVE, 0) for m in node_ids}
        self.records.setdefault(self_id, Record(self_id, ALIVE, 0))

    # -- reading --------------------------------------------------------------------------

    def __contains__(self, member: object) -> bool:
        return member in self.records

    def get(self, member: str) -> Record:
        return self.records[member]

    def status(self, member: str) -> str:
        return self.records[member].status

    @property
    def incarnation(self) -> int:
        return self.records[self.self_id].incarnation

    @property
    def me(self) -> Record:
        return self.records[self.self_id]

    def others(self) -> list[str]:
        return [m for m in self.records if m != self.self_id]

    def with_status(self, *statuses: str) -> list[str]:
        return [m for m, r in self.records.items() if m != self.self_id and r.status in statuses]

    def statuses(self) -> dict[str, str]:
        return {m: r.status for m, r in sorted(self.records.items())}

    def incarnations(self) -> dict[str, int]:
        return {m: r.incarnation for m, r in sorted(self.records.items())}

    # -- merging --------------------------------------------------------------------------

    def supersedes(self, new: Record, current: Record) -> bool:
        """Whether ``new`` replaces ``current`` (SWIM precedence; override to break it)."""
        return new.version > current.version

    def apply(self, record: Record) -> Change | None:
        """Merge a record heard from someone else."""
        current = self.records.get(record.member)
        if current is None:
            return None  # not a member of this cluster: ignore rather than grow the table
        if record.member == self.self_id:
            return self._about_me(record)
        if not self.supersedes(record, current):
            return None
        self.records[record.member] = record
        return Change(current, record)

    def _about_me(self, record: Record) -> Change | None:
        me = self.me
        if record.status == ALIVE:
            if record.incarnation > me.incarnation:
                # An earlier life of this node got further; carry on from there.
                self.records[self.self_id] = Record(self.self_id, ALIVE, record.incarnation)
            return None
        if record.incarnation < me.incarnation:
            return None  # an old rumour, already refuted
        return self.refute(record.incarnation)

    def refute(self, heard_incarnation: int) -> Change:
        """Contradict a rumour about this node at ``heard_incarnation``."""
        before = self.me
        after = Record(self.self_id, ALIVE, max(heard_incarnation, before.incarnation) + 1)
        self.records[self.self_id] = after
        return Change(before, after)

    def suspect(self, member: str) -> Change | None:
        """This node's own verdict that ``member`` did not answer its probes."""
        return self._set(member, SUSPECT, only_from=(ALIVE,))

    def declare_dead(self, member: str) -> Change | None:
        """This node's verdict that ``member`` has failed (its suspicion was not refuted)."""
        return self._set(member, DEAD, only_from=(ALIVE, SUSPECT))

    def _set(self, member: str, status: str, only_from: tuple[str, ...]) -> Change | None:
        if member == self.self_id:
            return None
        current = self.records.get(member)
        if current is None or current.status not in only_from:
            return None
        record = Record(member, status, current.incarnation)
        self.records[member] = record
        return Change(current, record)
