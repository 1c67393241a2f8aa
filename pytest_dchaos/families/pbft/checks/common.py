"""What the PBFT family's checks share: reading the replicas' states and the run's faults.

They read what the harness observed — the client history, the fault timeline, and every
reply a replica gave a client (the ``replies`` observation: who answered which request
with which result, in which view) — and the replicas' ``dchaos_state`` reports: ``view``,
``committed`` (``[seq, digest, op]`` entries, one per request, ``op`` null for a null
request), ``suspects`` and, where the node gives them, ``views`` (``[view, time
installed]``), ``transfers`` (``[executed before, checkpoint, time]``) and ``evidence``
(``{node: [{at, kind, detail}]}``). A report is held against the replies wherever both
speak of one thing.

*Honest* replicas are those no ``byzantine`` fault touched; only their states are held to
the protocol's promises. The primary of view v is ``n{v mod n + 1}``, as in the paper.
Every verdict of a run with more Byzantine replicas than f = (n-1)/3 says the bound is
broken: what PBFT promises then no longer holds, and the checks report what happened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.families.pbft.observations import Reply, replies_of
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


# -- what the harness's clients saw --------------------------------------------------------


def honest_replies(record: RunRecord) -> list[Reply] | None:
    """The replies honest replicas gave, in arrival order; None when the run recorded no
    replies at all (then only the reports can be judged)."""
    found = replies_of(record)
    if found is None:
        return None
    bad = byzantine_nodes(record)
    return [r for r in found if r.replica not in bad]


def request_name(client: str, timestamp: int, op: Any) -> str:
    f = op.get("f") if isinstance(op, dict) else None
    return f"{client}'s {f or 'request'} #{timestamp}"


def last_start(record: RunRecord, node: str) -> float:
    """When ``node``'s process last started again (the end of a kill or stop, a restart),
    on the run's clock; -inf if it never did. What it reports is its last life's: its log
    and its views begin there."""
    starts = [e.time for e in record.faults if node in e.nodes
              and ((e.effect == "crash" and e.action == "end")
                   or (e.effect == "restart" and e.action == "start"))]
    return max(starts, default=float("-inf"))


def _transfers(state: dict[str, Any]) -> list[tuple[int, int]]:
    """The state transfers a replica reports, ``[executed before, checkpoint, time]``: the
    sequence numbers ``(before, checkpoint]`` it took as state, not as log entries."""
    out = []
    for entry in state.get("transfers") or []:
        if isinstance(entry, list) and len(entry) >= 2 and all(
                isinstance(x, int) and not isinstance(x, bool) for x in entry[:2]):
            out.append((entry[0], entry[1]))
    return out


@dataclass(frozen=True)
class RepliesAgainstLogs:
    """Each honest replica's replies held against the committed log it reports."""

    #: Replies judged: by a replica with a report, in the life the report is of.
    judged: int
    #: Replies whose request the replica's log may lack: it took that part of the log as
    #: state (a reported state transfer), or no honest log places the request and the
    #: replica reports a transfer.
    excused: int
    #: One line per replica and request it answered that its log lacks.
    problems: tuple[str, ...]


def _stable_checkpoint(state: dict[str, Any], highest: int) -> int:
    """The replica's reported stable checkpoint, if one that honest logs bear out."""
    checkpoint = state.get("stable_checkpoint")
    if not isinstance(checkpoint, int) or isinstance(checkpoint, bool) or checkpoint < 0:
        return 0
    return checkpoint if checkpoint <= highest else 0


def replies_against_logs(record: RunRecord) -> RepliesAgainstLogs | None:
    """None when there are no replies or no reports to hold against each other."""
    return record.derive("pbft.replies_against_logs", _replies_against_logs)


def _replies_against_logs(record: RunRecord) -> RepliesAgainstLogs | None:
    replies, states = honest_replies(record), honest_states(record)
    if replies is None or not states:
        return None
    placed: dict[tuple[Any, Any], tuple[int, str]] = {}
    listed: dict[str, set[tuple[Any, Any]]] = {}
    seqs: dict[str, set[int]] = {}
    for node, state in sorted(states.items()):
        entries = committed_entries(state)
        seqs[node] = set(entries)
        mine = listed[node] = set()
        for seq, slot in sorted(entries.items()):
            for op in slot[1:]:
                if isinstance(op, dict):
                    key = (op.get("client"), op.get("timestamp"))
                    mine.add(key)
                    placed.setdefault(key, (seq, node))
    judged = excused = 0
    problems: list[str] = []
    seen: set[tuple[str, tuple[Any, Any]]] = set()
    starts = {node: last_start(record, node) for node in states}
    # A replica may garbage-collect its log below its stable checkpoint, as PBFT allows:
    # what it lacks there is no lie. A checkpoint above every sequence number any honest
    # replica committed is no checkpoint at all, and excuses nothing.
    highest = max((seq for numbers in seqs.values() for seq in numbers), default=0)
    collected = {node: _stable_checkpoint(states[node], highest) for node in states}
    for reply in replies:
        node = reply.member
        if node not in states or not reply.answers or reply.at < starts[node]:
            continue
        judged += 1
        key = (reply.client, reply.timestamp)
        if key in listed[node] or (node, key) in seen:
            continue
        seen.add((node, key))
        transfers = _transfers(states[node])
        name = request_name(reply.client, reply.timestamp, reply.op)
        said = f"{node} replied to {name} at +{reply.at:.2f}s ({reply.result})"
        where = placed.get(key)
        if where is None:
            if transfers or collected[node]:
                excused += 1  # below the checkpoints of every log that could list it
                continue
            problems.append(f"{said}, but its committed log lacks it (no honest replica's "
                            f"log lists it, and {node} reports no state transfer)")
            continue
        seq, reporter = where
        if seq in seqs[node]:
            problems.append(f"{said}, but its committed log lacks it: it lists another "
                            f"request at seq {seq}, where {reporter} committed it")
        elif seq <= collected[node] or any(before < seq <= upto for before, upto in transfers):
            excused += 1
        else:
            problems.append(f"{said}, but its committed log lacks it: {reporter} committed "
                            f"it at seq {seq}, where {node} lists nothing and reports no "
                            "state transfer over it")
    return RepliesAgainstLogs(judged, excused, tuple(problems))
