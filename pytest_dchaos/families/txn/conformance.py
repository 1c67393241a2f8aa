"""What a transaction node must answer: Maelstrom's txn-rw-register ``txn``, with
``txn_ok`` (reads filled in) or error 14 / 30 (aborted), as docs/nodes/txn.md gives;
``dchaos_state`` for nodes that list it.

The kit is one client with nothing to contend with, so it retries an aborted transaction a
few times; a write it committed must be read back by its next transaction on that node,
and a transaction reads its own earlier write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pytest_dchaos.families.conformance import (
    Check,
    Conformance,
    Exchange,
    Extension,
    Outcome,
    Session,
    failed,
    field_problems,
    is_int,
    is_object,
    judge,
    map_of,
    one_of,
    passed,
    state_extension,
)
from pytest_dchaos.families.txn.workload import ABORT_CODES

CONTRACT = "docs/nodes/txn.md#from-clients-the-contract"
ATTEMPTS = 3

Ops = list[list[Any]]


def txn_problems(sent: Ops) -> Callable[[Mapping[str, Any]], list[str]]:
    """The problems of a ``txn_ok`` answering ``sent``: the same operations, in order,
    writes as sent, reads filled with an integer or null."""

    def problems(body: Mapping[str, Any]) -> list[str]:
        done = body.get("txn")
        if not isinstance(done, list) or len(done) != len(sent):
            return [f"'txn' must list the {len(sent)} operation(s) sent, got {done!r:.120}"]
        found = []
        for i, (asked, got) in enumerate(zip(sent, done, strict=True)):
            if not isinstance(got, list) or len(got) != 3 or got[:2] != asked[:2]:
                found.append(f"operation {i} must be [{asked[0]!r}, {asked[1]!r}, value], "
                             f"got {got!r:.80}")
            elif asked[0] == "w" and got[2] != asked[2]:
                found.append(f"write {i} must keep its value {asked[2]!r}, got {got[2]!r:.80}")
            elif asked[0] == "r" and got[2] is not None and not is_int(got[2]):
                found.append(f"read {i} must be an integer or null, got {got[2]!r:.80}")
        return found

    return problems


def state_problems(body: Mapping[str, Any], node_ids: tuple[str, ...]) -> list[str]:
    return (field_problems(body, "decisions", map_of(one_of("commit", "abort", "pending")),
                           "an object of transaction id → commit | abort | pending")
            + field_problems(body, "locks", is_object, "an object")
            + field_problems(body, "wal_len", is_int, "an integer")
            + txns_problems(body))


def txns_problems(body: Mapping[str, Any]) -> list[str]:
    """The optional ``txns`` (each transaction's client request), where a node gives it."""
    txns = body.get("txns")
    if txns is None:
        return []
    shape = 'an object of transaction id → {"client": cK, "msg_id": N}'
    if not isinstance(txns, Mapping):
        return [f"'txns', where given, must be {shape}, got {txns!r:.80}"]
    for txn, request in txns.items():
        if not isinstance(request, Mapping) or not isinstance(request.get("client"), str) \
                or not is_int(request.get("msg_id")):
            return [f"'txns', where given, must be {shape}; {txn!r} is {request!r:.80}"]
    return []


class TxnConformance(Conformance):
    def checks(self) -> Sequence[Check]:
        return (Check("txn", CONTRACT, self.write),
                Check("txn reads", CONTRACT, self.reads))

    def extensions(self) -> Mapping[str, Extension]:
        return {"dchaos_state": state_extension(state_problems, CONTRACT)}

    def write(self, session: Session) -> Outcome:
        # Two keys, so with several nodes the transaction likely spans shards.
        return self.commit(session, [["w", 1, 101], ["w", 2, 102]])[0]

    def reads(self, session: Session) -> Outcome:
        outcome, _ = self.commit(session, [["w", 3, 301]])
        if outcome.status != "PASS":
            return outcome
        outcome, exchange = self.commit(session, [["r", 3, None], ["r", 4, None],
                                                  ["w", 4, 401], ["r", 4, None]])
        if outcome.status != "PASS" or exchange is None:
            return outcome
        done = (exchange.reply or {}).get("txn") or []
        wanted = [["r", 3, 301], ["r", 4, None], ["w", 4, 401], ["r", 4, 401]]
        if done != wanted:
            return failed(f"after committing [['w', 3, 301]], a transaction on "
                          f"{exchange.node} read {done}, expected {wanted} (its committed "
                          "write, a missing key as null, then its own write)", exchange)
        return passed(f"{exchange.node} read a committed write, a missing key as null and "
                      "a transaction's own write")

    def commit(self, session: Session, ops: Ops) -> tuple[Outcome, Exchange | None]:
        """Send ``ops`` to the first node until they commit (or ATTEMPTS aborts)."""
        node = session.node_ids[0]
        exchange = None
        for _ in range(ATTEMPTS):
            exchange = session.ask(node, {"type": "txn", "txn": ops})
            outcome = judge(exchange, "txn_ok", txn_problems(ops), errors=sorted(ABORT_CODES))
            if outcome.status != "PASS" or exchange.reply_type == "txn_ok":
                return outcome, exchange
        return failed(f"{node} aborted {ops} {ATTEMPTS} times with no other client to "
                      "conflict with", exchange), exchange
