"""Tying a node's transactions to the client calls that started them.

The contract's ``dchaos_state_ok.decisions`` is keyed by the node's own transaction ids
(the reference node's ``n1.2.17``), which say nothing of the client call whose outcome the
harness saw. A node may say it, by an optional convention: ``dchaos_state_ok.txns`` maps
each of its transaction ids to the request that started it, ``{"client": cK, "msg_id":
N}`` — the client and ``msg_id`` of the ``txn`` message, which the harness chose and
noted (the ``requests`` observation), so ``(client, msg_id)`` names one call of the run.
Any node that knows may list a transaction (the coordinator, its participants); several
transaction ids may name one request (a node that retries a request internally).

A tie is the node's word, so it is checked against what the harness sent before it is
used: an entry naming a request the harness never sent, or two nodes tying one
transaction to different requests, is a mismatch (and the entry is not used). A node that
lists no ``txns`` loses nothing: the checks that would use a tie say it was unavailable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_dchaos.families.txn.observations import REQUESTS, Requests
from pytest_dchaos.record.result import RunRecord

if TYPE_CHECKING:
    from pytest_dchaos.families.txn.checks.common import Call

#: Where the convention is described, for verdicts that say it was not followed.
CONVENTION = "dchaos_state_ok.txns, docs/nodes/txn.md"


@dataclass
class Ties:
    #: txn id -> the call it was started by, as every node that lists it agrees.
    call_of: dict[str, Call] = field(default_factory=dict)
    #: call index -> the txn ids tied to it, in order.
    attempts: dict[int, list[str]] = field(default_factory=dict)
    #: The nodes that list ``txns``.
    reporters: tuple[str, ...] = ()
    #: Reported ties that contradict what the harness sent, or each other.
    mismatches: list[str] = field(default_factory=list)
    #: Why no transaction can be tied ("" when ties are available).
    unavailable: str = "no node transaction was tied to a client call"

    @property
    def available(self) -> bool:
        return not self.unavailable

    def words(self) -> str:
        """What the ties rest on, or why there are none, for a verdict's words."""
        if self.unavailable:
            return self.unavailable
        return (f"{len(self.call_of)} node transaction(s) tied to {len(self.attempts)} "
                f"client call(s) by the txns of {', '.join(self.reporters)}")


def build_ties(record: RunRecord, calls: list[Call]) -> Ties:
    """The ties the nodes report, checked against the requests the harness sent; notes
    each call's ``msg_id`` on it."""
    requests = record.observations.get(REQUESTS)
    sent: dict[tuple[str, int], Call] = {}
    if isinstance(requests, Requests):
        by_index = {c.invoke.index: c for c in calls}
        for index, msg_id in requests.msg_ids.items():
            call = by_index.get(int(index))
            if call is not None:
                call.msg_id = int(msg_id)
                sent[(call.invoke.process, int(msg_id))] = call
    listed = {n: st["txns"] for n, st in sorted(record.node_states.items())
              if isinstance(st.get("txns"), Mapping)}
    ties = Ties(reporters=tuple(listed), unavailable="")
    if not isinstance(requests, Requests):
        ties.unavailable = ("no node transaction could be tied to a client call: the run "
                            "kept no record of its requests' msg_ids")
        return ties
    if not listed:
        ties.unavailable = ("no node transaction could be tied to a client call: no node "
                            f"lists the requests its transactions came from ({CONVENTION})")
        return ties
    told: dict[str, tuple[str, Call]] = {}  # txn -> (first node to tie it, its call)
    conflicting: set[str] = set()
    for node, txns in listed.items():
        for txn, request in txns.items():
            key = _request(request)
            if key is None:
                ties.mismatches.append(f"{node} lists txns[{txn!r}] = {request!r}, not "
                                       '{"client": cK, "msg_id": N}')
                continue
            call = sent.get(key)
            if call is None:
                ties.mismatches.append(
                    f"{node} says its transaction {txn} was started by {key[0]}'s request "
                    f"msg_id {key[1]}, but the harness sent no transaction as {key[0]} "
                    f"with msg_id {key[1]}")
                continue
            first = told.setdefault(txn, (node, call))
            if first[1] is not call:
                conflicting.add(txn)
                ties.mismatches.append(
                    f"{first[0]} ties {txn} to {first[1].named()}, but {node} to "
                    f"{call.named()}")
    for txn, (_node, call) in told.items():
        if txn in conflicting:
            continue
        ties.call_of[txn] = call
        ties.attempts.setdefault(call.index, []).append(txn)
    return ties


def _request(request: Any) -> tuple[str, int] | None:
    if not isinstance(request, Mapping):
        return None
    client, msg_id = request.get("client"), request.get("msg_id")
    if not isinstance(client, str) or isinstance(msg_id, bool) or not isinstance(msg_id, int):
        return None
    return client, msg_id
