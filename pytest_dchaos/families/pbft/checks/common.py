"""What the PBFT family's checks share: reading the replicas' states and the run's faults.

They read the replicas' ``dchaos_state`` — ``view``, ``committed`` (``[seq, digest, op]``
entries, one per request, ``op`` null for a null request), ``suspects`` and, where the
node gives it, ``views`` (``[view, time installed]``) and ``evidence`` (``{node: [{at,
kind, detail}]}``) — together with the client history and the fault timeline.

*Honest* replicas are those no ``byzantine`` fault touched; only their states are held to
the protocol's promises. The primary of view v is ``n{v mod n + 1}``, as in the paper.
Every verdict of a run with more Byzantine replicas than f = (n-1)/3 says the bound is
broken: what PBFT promises then no longer holds, and the checks report what happened.
"""

from __future__ import annotations

import json
from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.families.pbft.quorums import max_faulty
from pytest_dchaos.record.result import RunRecord, Verdict

SHOWN = 5


PBFT_OPS = ("read", "write", "cas")


def listing(items: list[str]) -> str:
    more = len(items) - SHOWN
    return "; ".join(items[:SHOWN]) + (f" (and {more} more)" if more > 0 else "")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def byzantine_nodes(record: RunRecord) -> set[str]:
    """Replicas a byzantine fault touched, and replicas with a twin."""
    return {n for e in record.faults if e.effect == "byzantine" and e.action == "start"
            for n in e.nodes} | {t.node for t in record.scenario.cluster.twins}


def bound_note(record: RunRecord) -> str:
    """'' when the Byzantine replicas are within f; otherwise the plain statement."""
    bad, n = byzantine_nodes(record), len(record.nodes)
    f = max_faulty(n)
    if len(bad) <= f:
        return ""
    return (f" — bound broken: {len(bad)} Byzantine replicas ({', '.join(sorted(bad))}) "
            f"among {n}, which tolerate f={f}")


def honest_states(record: RunRecord) -> dict[str, dict[str, Any]]:
    bad = byzantine_nodes(record)
    identity = record.scenario.cluster.identity
    return {n: st for n, st in record.node_states.items() if identity(n) not in bad}


def committed_entries(state: dict[str, Any]) -> dict[int, list[Any]]:
    """seq -> [digest, op, op, ...] from a replica's committed log (malformed entries
    dropped: the checks then see a missing sequence number, not a crash)."""
    out: dict[int, list[Any]] = {}
    for entry in state.get("committed") or []:
        if not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[0], int):
            continue
        seq, digest, op = entry
        slot = out.setdefault(seq, [digest])
        if op is not None:
            slot.append(op)
    return out


def no_state(checker: CheckerType[Any], record: RunRecord) -> Verdict | None:
    if not honest_states(record):
        return checker.verdict(False, "no honest replica answered dchaos_state, so there is "
                               "no committed log to judge" + bound_note(record))
    return None


def request_of(invocation: Any) -> tuple[str, int, str] | None:
    value = invocation.value
    if not isinstance(value, dict) or "timestamp" not in value:
        return None
    op = {"f": invocation.f, **{k: v for k, v in value.items()
                                if k not in ("client", "timestamp", "value")
                                or (k == "value" and invocation.f == "write")}}
    return str(value.get("client")), int(value["timestamp"]), canonical_json(op)
