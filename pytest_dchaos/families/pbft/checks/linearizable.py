"""The ``linearizable`` check: the key-value store the replicas implement behaves as one
register per key, judged first from what clients saw.

Two kinds of evidence, named in every verdict:

* *observed* — the client history alone, searched for an order of the operations that
  respects real time and a register's rules (:mod:`pytest_dchaos.checkers.linearizability`).
  It decides for any node, including one that reports no state;
* *reported* — where honest replicas answer ``dchaos_state``, their committed logs, merged
  and executed in order: every accepted result must be what the log gives, and the log's
  order must respect real time. A mismatch fails, naming the operation and the replica
  whose log says otherwise.

A history whose search runs out of budget is *unknown*: the verdict's status says so, its
detail starts ``unknown:``, and the run fails (never a pass).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.checkers.linearizability import (
    Budget,
    LinearizabilityResult,
    Status,
    check,
    error_code,
)
from pytest_dchaos.families.pbft.checks.common import (
    PBFT_OPS,
    bound_note,
    committed_entries,
    honest_states,
    listing,
    request_of,
)
from pytest_dchaos.record.history import FAIL, OK
from pytest_dchaos.record.result import RunRecord, Verdict

OBSERVED = "client history (observed)"
REPORTED = "committed logs (reported)"
#: The protocol whose replicas report a committed log in ``dchaos_state`` (DESIGN.md). The
#: other that this check serves, ``lin-kv``, keeps its store in nodes that report no log:
#: it is judged by its client history alone, and its verdicts say only that.
LOGGING_PROTOCOL = "pbft"


def merged_log(record: RunRecord) -> list[tuple[int, dict[str, Any], str]]:
    """The committed log, sequence number by sequence number, from the honest replicas
    (a replica that restarted holds only the part it executed itself): ``(seq, request,
    replica)``, the replica being the first, by name, that reported the slot."""
    merged: dict[int, tuple[list[Any], str]] = {}
    for node, state in sorted(honest_states(record).items()):
        for seq, slot in committed_entries(state).items():
            merged.setdefault(seq, (slot, node))
    return [(seq, op, merged[seq][1]) for seq in sorted(merged) for op in merged[seq][0][1:]
            if isinstance(op, dict)]


def replay(log: list[tuple[int, dict[str, Any]]]) -> dict[tuple[str, int], tuple[int, Any]]:
    """Execute the log on a fresh store, as the service's specification says:
    (client, timestamp) -> (position, result). A request whose client already had a later
    (or the same) one executed is skipped, as PBFT's reply table does."""
    store: dict[str, Any] = {}
    last: dict[str, int] = {}
    out: dict[tuple[str, int], tuple[int, Any]] = {}
    for position, (_, request) in enumerate(log):
        client, timestamp, op = request.get("client"), request.get("timestamp"), request.get("op")
        if not isinstance(client, str) or not isinstance(timestamp, int) \
                or not isinstance(op, dict) or timestamp <= last.get(client, -1):
            continue
        last[client] = timestamp
        key = str(op.get("key"))
        result: Any
        if op.get("f") == "read":
            result = ("ok", store[key]) if key in store else ("error", 20)
        elif op.get("f") == "write":
            store[key] = op.get("value")
            result = ("ok", None)
        elif key not in store:
            result = ("error", 20)
        elif store[key] != op.get("from"):
            result = ("error", 22)
        else:
            store[key] = op.get("to")
            result = ("ok", None)
        out[(client, timestamp)] = (position, result)
    return out


@dataclass(frozen=True)
class CrossCheck:
    """The accepted results held against the replicas' merged committed log."""

    replicas: tuple[str, ...]
    judged: int
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Judgement:
    """What the check concluded, before it is a :class:`Verdict`: ``status`` is ``pass``,
    ``fail`` or ``unknown`` (the search gave up and nothing else failed)."""

    status: Status
    detail: str
    history: LinearizabilityResult
    #: None when no honest replica reported its committed log.
    logs: CrossCheck | None
    witness: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)


def cross_check(record: RunRecord) -> CrossCheck | None:
    """Every accepted result against the honest replicas' merged log; None without one."""
    states = honest_states(record)
    if not states:
        return None
    entries = merged_log(record)
    results = replay([(seq, request) for seq, request, _ in entries])
    problems: list[str] = []
    ordered: list[tuple[int, float, float, str]] = []
    judged = 0
    for invocation, completion in record.history.pairs():
        if completion is None or completion.type not in (OK, FAIL) \
                or invocation.f not in PBFT_OPS:
            continue
        request = request_of(invocation)
        if request is None:
            continue
        client, timestamp, _ = request
        name = f"{client}'s {invocation.f} #{timestamp}"
        code = error_code(completion)
        if completion.type == FAIL and code is None:
            continue  # refused by the harness or timed out: it claims nothing
        judged += 1
        done = results.get((client, timestamp))
        if done is None:
            problems.append(f"{name} was accepted but no honest replica committed it")
            continue
        position, result = done
        seq, _, replica = entries[position]
        where = f" (seq {seq}, as {replica} reported it)"
        if completion.type == OK:
            if result[0] != "ok":
                problems.append(f"{name} was accepted as ok; the log gives error "
                                f"{result[1]}{where}")
            elif invocation.f == "read" and completion.value.get("value") != result[1]:
                problems.append(f"{name} read {completion.value.get('value')!r}; the log "
                                f"gives {result[1]!r}{where}")
        elif result != ("error", code):
            problems.append(f"{name} failed with error {code}; the log gives {result}{where}")
        ordered.append((position, invocation.time, completion.time, name))
    ordered.sort()
    latest_start, latest_name = float("-inf"), ""
    for _, started, finished, name in ordered:
        if latest_start > finished:
            problems.append(f"{latest_name} comes before {name} in the log, though it "
                            f"began after {name} had completed")
        if started > latest_start:
            latest_start, latest_name = started, name
    return CrossCheck(tuple(sorted(states)), judged, tuple(problems))


class Linearizable(CheckerType[NoOptions]):
    name = "linearizable"
    doc = ("Each key behaves as one register (read, write, cas) whose operations take "
           "effect at one instant between invocation and reply: judged from the client "
           "history alone, for any node (each key searched on its own; a search over its "
           "budget fails as unknown). Where honest replicas report their committed logs, "
           "the accepted results must also be those of executing the merged log in order, "
           "in an order that respects real time.")
    protocols = ("pbft", "lin-kv")
    evidence = "observed"
    blind_to = ("A replica outvoted by the f+1 that agreed (only accepted results are "
                "judged: agreement holds the replies against each other); when an "
                "operation with an unknown outcome took effect, if at all; keys whose "
                "search ran out of budget (unknown, which fails).")
    #: How far the search of the client history may go (see ``Budget``).
    budget: ClassVar[Budget] = Budget()

    def check(self, options: NoOptions, record: RunRecord) -> Verdict:
        judgement = self.judge(record)
        if judgement.status == "unknown":
            return self.unknown(judgement.detail, judgement.witness, judgement.figures)
        return self.verdict(judgement.status == "pass", judgement.detail, judgement.witness,
                            judgement.figures,
                            evidence="observed" if judgement.logs is None else "both")

    def judge(self, record: RunRecord) -> Judgement:
        history = check(record.history, self.budget)
        logs = cross_check(record) if record.scenario.protocol == LOGGING_PROTOCOL else None
        failed_logs = logs is not None and bool(logs.problems)
        status: Status = "fail" if history.status == "fail" or failed_logs else \
            "unknown" if history.status == "unknown" else "pass"
        summary = history.summary()
        observed = f"{OBSERVED}: " + (summary.removeprefix("unknown: ") if status == "unknown"
                                      else summary)
        if logs is None:
            reported = (f"{REPORTED}: none — no honest replica answered dchaos_state, so the "
                        "client history alone decides")
        elif logs.problems:
            reported = (f"{REPORTED} by {', '.join(logs.replicas)}: "
                        + listing(list(logs.problems)))
        else:
            reported = (f"{REPORTED} by {', '.join(logs.replicas)}: {logs.judged} accepted "
                        "results match the merged log, in real-time order")
        # What failed first; an unknown search leads only when nothing failed.
        parts = [reported, observed] if failed_logs and history.status != "fail" \
            else [observed, reported] if record.scenario.protocol == LOGGING_PROTOCOL \
            else [observed]
        detail = "; ".join(parts) + bound_note(record)
        if status == "unknown":
            detail = "unknown: " + detail
        rests_on = [OBSERVED] + ([REPORTED] if logs is not None else [])
        witness: dict[str, Any] = {
            "status": status, "rests_on": rests_on,
            "counterexamples": [c.to_json() for c in history.counterexamples[:10]],
            "unknown_keys": [str(k.key) for k in history.keys if k.status == "unknown"]}
        if logs is not None:
            witness["problems"] = list(logs.problems[:50])
        figures: dict[str, Any] = {
            "operations": history.operations, "keys": len(history.keys),
            "states_explored": history.states, "search_s": round(history.seconds, 3),
            "judged": logs.judged if logs is not None else 0,
            "problems": len(logs.problems) if logs is not None else 0}
        return Judgement(status, detail, history, logs, witness, figures)
