"""What the PBFT family observes in a run, as its final phase writes it (they go into the
report's ``observations.json``).

* ``replies``: one :class:`Replies`, every answer the harness's clients received from a
  replica (the workload's and the final phase's probes), as the client saw it. The checks
  hold the replicas' reported logs and views against it, and judge agreement from it when
  no replica reports anything;
* ``probes``: one :class:`Probing`, the writes sent after the heal until one was accepted;
* ``settled``: one :class:`Settling`, how the honest replicas caught up with each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pytest_dchaos.record.result import RunRecord

REPLIES = "replies"
PROBES = "probes"
SETTLED = "settled"

#: A ``reply`` message, or an ``error`` a replica answered the request with.
ReplyKind = Literal["reply", "error"]


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer a replica gave a client's request, as the harness received it."""

    #: When it arrived (the run's clock: seconds since the workload started).
    at: float
    #: The request's client and timestamp: together, which request it answers.
    client: str
    timestamp: int
    #: The request's operation (``{"f": .., "key": .., ..}``), as the client sent it.
    op: Mapping[str, Any]
    #: The process that answered: the harness knows it from the link the answer came on,
    #: whatever the answer says. A Byzantine twin is its own member ...
    member: str
    #: ... and speaks as ``replica``, the node id it shares with its original.
    replica: str
    kind: ReplyKind
    #: The view the reply names (the replica's word, as PBFT's reply carries it); None for
    #: an error, or a reply without an integer view.
    view: int | None
    #: The result (or ``{"type": "error", "code": ..}``) as canonical JSON: sorted keys,
    #: no spaces, so two results are equal exactly when their texts are.
    result: str
    #: The timestamp the reply names. Not the request's: an answer to some other request
    #: of the client (a cached one), which says nothing about this one.
    reply_timestamp: Any

    @property
    def answers(self) -> bool:
        """A ``reply`` to exactly this request."""
        return self.kind == "reply" and self.reply_timestamp == self.timestamp


@dataclass(frozen=True)
class Replies:
    replies: tuple[Reply, ...]


def replies_of(record: RunRecord) -> tuple[Reply, ...] | None:
    """The replies the harness recorded; None when the run recorded none at all (a record
    made by hand, or by a harness that did not record them)."""
    found = record.observations.get(REPLIES)
    return found.replies if isinstance(found, Replies) else None


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
