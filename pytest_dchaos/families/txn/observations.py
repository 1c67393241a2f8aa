"""What the transaction family observes during and after a run (its definitions, written
by the family and read by the checks; they go into the report's ``observations.json``).

* ``settled``: one :class:`Settling`, how the nodes' pending decisions drained after the
  heal (no check reads it yet);
* ``requests``: one :class:`Requests`, the ``msg_id`` each client transaction was sent
  with, so that a node's word about which request started its transaction (its optional
  ``dchaos_state_ok.txns``) can be tied to the call whose outcome the client saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SETTLED = "settled"
REQUESTS = "requests"


@dataclass(frozen=True)
class Settling:
    healed_at: float
    #: When no live node had a transaction pending; None if that never happened in time.
    settled_at: float | None
    #: node -> the transactions it still had pending at the last look.
    pending: Mapping[str, list[str]]


@dataclass(frozen=True)
class Requests:
    """Observed: the harness sent these messages itself."""

    #: The history's index of a transaction's invocation -> the ``msg_id`` of the ``txn``
    #: message that carried it (from the invoking client, so ``(client, msg_id)`` names
    #: one request of the run). A call that never reached a node has none.
    msg_ids: Mapping[int, int]
