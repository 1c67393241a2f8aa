"""The ``linearizable`` check: accepted results are those of the committed log, in
real-time order.
"""

from __future__ import annotations

import re
from typing import Any

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.families.pbft.checks.common import (
    PBFT_OPS,
    bound_note,
    committed_entries,
    honest_states,
    listing,
    no_state,
    request_of,
)
from pytest_dchaos.record.history import FAIL, OK
from pytest_dchaos.record.result import RunRecord, Verdict


def merged_log(record: RunRecord) -> list[tuple[int, dict[str, Any]]]:
    """The committed log, sequence number by sequence number, from the honest replicas
    (a replica that restarted holds only the part it executed itself)."""
    merged: dict[int, list[Any]] = {}
    for _, state in sorted(honest_states(record).items()):
        for seq, slot in committed_entries(state).items():
            merged.setdefault(seq, slot)
    return [(seq, op) for seq in sorted(merged) for op in merged[seq][1:]
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


_ERROR_CODE = re.compile(r"error (\d+)")


class Linearizable(CheckerType[NoOptions]):
    name = "linearizable"
    doc = ("The results clients accepted are those of executing the honest replicas' "
           "committed log in order, and that order respects real time: an operation that "
           "completed before another began comes first.")
    protocols = ("pbft",)
    evidence = "reported"
    requires = frozenset({"dchaos_state"})

    def check(self, options: NoOptions, record: RunRecord) -> Verdict:
        missing = no_state(self, record)
        if missing:
            return missing
        results = replay(merged_log(record))
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
            code = _ERROR_CODE.search(completion.error or "")
            if completion.type == FAIL and not code:
                continue  # refused by the harness or timed out: it claims nothing
            judged += 1
            done = results.get((client, timestamp))
            if done is None:
                problems.append(f"{name} was accepted but no honest replica committed it")
                continue
            position, result = done
            if completion.type == OK:
                if result[0] != "ok":
                    problems.append(f"{name} was accepted as ok; the log gives error "
                                    f"{result[1]}")
                elif invocation.f == "read" and completion.value.get("value") != result[1]:
                    problems.append(f"{name} read {completion.value.get('value')!r}; the log "
                                    f"gives {result[1]!r}")
            elif code and result != ("error", int(code.group(1))):
                problems.append(f"{name} failed with error {code.group(1)}; the log gives "
                                f"{result}")
            ordered.append((position, invocation.time, completion.time, name))
        ordered.sort()
        latest_start, latest_name = float("-inf"), ""
        for _, started, finished, name in ordered:
            if latest_start > finished:
                problems.append(f"{latest_name} comes before {name} in the log, though it "
                                f"began after {name} had completed")
            if started > latest_start:
                latest_start, latest_name = started, name
        figures = {"judged": judged, "problems": len(problems)}
        if problems:
            return self.verdict(False, listing(problems) + bound_note(record),
                                witness={"problems": problems[:50]}, figures=figures)
        return self.verdict(True, f"{judged} accepted results match the committed log, in "
                            "real-time order" + bound_note(record), figures=figures)
