"""Checks for Byzantine-fault-tolerant replication (the ``pbft`` family).

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
import re
from collections import defaultdict
from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.checkers.conditions import Conditions
from pytest_dchaos.record.history import FAIL, OK
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s

SHOWN = 5
PBFT_OPS = ("read", "write", "cas")
#: Behaviours after which a primary need not be replaced: it still lets requests through.
HARMLESS_TO_PROGRESS = ("replay",)


def _listing(items: list[str]) -> str:
    more = len(items) - SHOWN
    return "; ".join(items[:SHOWN]) + (f" (and {more} more)" if more > 0 else "")


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def max_faulty(n: int) -> int:
    return max(0, (n - 1) // 3)


def primary_of(view: int, nodes: tuple[str, ...]) -> str:
    return nodes[view % len(nodes)]


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


def _entries(state: dict[str, Any]) -> dict[int, list[Any]]:
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


def _no_state(checker: CheckerType, record: RunRecord) -> Verdict | None:
    if not honest_states(record):
        return checker.verdict(False, "no honest replica answered dchaos_state, so there is "
                               "no committed log to judge" + bound_note(record))
    return None


class Agreement(CheckerType):
    name = "agreement"
    doc = ("No two honest replicas commit different requests (or batches) at one sequence "
           "number (PBFT's safety).")
    protocols = ("pbft",)

    def check(self, options: Any, record: RunRecord) -> Verdict:
        missing = _no_state(self, record)
        if missing:
            return missing
        by_seq: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for node, state in sorted(honest_states(record).items()):
            for seq, slot in _entries(state).items():
                by_seq[seq][_key(slot)].append(node)
        conflicts = []
        for seq in sorted(by_seq):
            if len(by_seq[seq]) > 1:
                sides = " vs ".join("+".join(nodes) for nodes in by_seq[seq].values())
                conflicts.append(f"seq {seq}: {sides} committed different requests")
        note = bound_note(record)
        figures = {"sequence_numbers": len(by_seq), "conflicts": len(conflicts),
                   "bound_broken": bool(note)}
        if conflicts:
            return self.verdict(False, _listing(conflicts) + note,
                                evidence={"conflicts": conflicts[:50]}, figures=figures)
        replicas = len(honest_states(record))
        return self.verdict(True, f"{replicas} honest replicas agree on every one of "
                            f"{len(by_seq)} sequence numbers" + note, figures=figures)


def _request_of(invocation: Any) -> tuple[str, int, str] | None:
    value = invocation.value
    if not isinstance(value, dict) or "timestamp" not in value:
        return None
    op = {"f": invocation.f, **{k: v for k, v in value.items()
                                if k not in ("client", "timestamp", "value")
                                or (k == "value" and invocation.f == "write")}}
    return str(value.get("client")), int(value["timestamp"]), _key(op)


class Validity(CheckerType):
    name = "validity"
    doc = ("Every request an honest replica committed was sent by a client, as sent: none "
           "forged, invented or altered.")
    protocols = ("pbft",)

    def check(self, options: Any, record: RunRecord) -> Verdict:
        missing = _no_state(self, record)
        if missing:
            return missing
        sent = {r for r in (_request_of(op) for op in record.history.ops if op.type == "invoke")
                if r is not None}
        invented, seen = [], 0
        for node, state in sorted(honest_states(record).items()):
            for seq, slot in sorted(_entries(state).items()):
                for op in slot[1:]:
                    seen += 1
                    if not isinstance(op, dict):
                        invented.append(f"{node} committed {op!r} at seq {seq}")
                        continue
                    request = (str(op.get("client")), op.get("timestamp"), _key(op.get("op")))
                    if request not in sent:
                        invented.append(f"{node} committed at seq {seq} a request no client "
                                        f"sent: {_key(op)}")
        figures = {"committed_requests": seen, "invented": len(invented)}
        if invented:
            return self.verdict(False, _listing(invented) + bound_note(record),
                                evidence={"invented": invented[:50]}, figures=figures)
        return self.verdict(True, f"every request the {len(honest_states(record))} honest "
                            f"replicas committed ({seen} in all) was sent by a client"
                            + bound_note(record), figures=figures)


def merged_log(record: RunRecord) -> list[tuple[int, dict[str, Any]]]:
    """The committed log, sequence number by sequence number, from the honest replicas
    (a replica that restarted holds only the part it executed itself)."""
    merged: dict[int, list[Any]] = {}
    for _, state in sorted(honest_states(record).items()):
        for seq, slot in _entries(state).items():
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


class Linearizable(CheckerType):
    name = "linearizable"
    doc = ("The results clients accepted are those of executing the honest replicas' "
           "committed log in order, and that order respects real time: an operation that "
           "completed before another began comes first.")
    protocols = ("pbft",)

    def check(self, options: Any, record: RunRecord) -> Verdict:
        missing = _no_state(self, record)
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
            request = _request_of(invocation)
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
            return self.verdict(False, _listing(problems) + bound_note(record),
                                evidence={"problems": problems[:50]}, figures=figures)
        return self.verdict(True, f"{judged} accepted results match the committed log, in "
                            "real-time order" + bound_note(record), figures=figures)


def _fault_end(record: RunRecord) -> float:
    """When the last fault ended (a fault that never ends counts from its start)."""
    end = 0.0
    for event in record.faults:
        if event.action in ("start", "end"):
            end = max(end, event.time)
    return end


class Liveness(CheckerType):
    name = "liveness"
    doc = ("After the last fault ends, requests are accepted again within `within` (the "
           "final phase keeps sending probe requests, so this is judged even when the "
           "workload ended first).")
    protocols = ("pbft",)
    options = s.Struct((
        s.Field("within", s.Duration(), "time after the last fault ended", 5.0),
    ))

    def check(self, options: Any, record: RunRecord) -> Verdict:
        since = _fault_end(record)
        # Requests sent after the fault: one in flight before it may have been committed
        # before it, and proves nothing about the cluster after it.
        accepted = sorted(c.time for i, c in record.history.pairs()
                          if c is not None and c.type == OK and i.f in PBFT_OPS
                          and i.time >= since)
        if not accepted:
            return self.verdict(False, f"no request was accepted after the last fault ended "
                                f"at +{since:.2f}s" + bound_note(record))
        delay = accepted[0] - since
        figures = {"since_s": round(since, 3), "first_accepted_after_s": round(delay, 3)}
        if delay > options["within"]:
            return self.verdict(False, f"the first request accepted after the last fault "
                                f"(+{since:.2f}s) came {delay:.2f}s later (> "
                                f"{options['within']:g}s)" + bound_note(record),
                                figures=figures)
        if not record.faults:
            return self.verdict(True, f"no faults; the first request was accepted at "
                                f"+{accepted[0]:.2f}s", figures=figures)
        return self.verdict(True, f"a request sent after the last fault ended (+{since:.2f}s) "
                            f"was accepted {delay:.2f}s after it" + bound_note(record),
                            figures=figures)


def _views(state: dict[str, Any], t0: float) -> list[tuple[float, int]]:
    out = []
    for entry in state.get("views") or []:
        if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], int) \
                and isinstance(entry[1], (int, float)):
            out.append((entry[1] - t0, entry[0]))
    return sorted(out)


def _view_at(views: list[tuple[float, int]], t: float) -> int | None:
    current = None
    for when, view in views:
        if when <= t:
            current = view
    return current


class ViewChange(CheckerType):
    name = "view_change"
    doc = ("A faulty primary is replaced: when the primary of the current view crashes, "
           "pauses, is cut off from a quorum or turns Byzantine (but for replay), every honest "
           "replica that is up installs a view with another primary within `within`. Needs "
           "`views` in the replicas' dchaos_state.")
    protocols = ("pbft",)
    options = s.Struct((
        s.Field("within", s.Duration(), "time from the primary's fault to the new view", 3.0),
        s.Field("require", s.Bool(), "fail if no primary was faulty at all", True),
    ))

    def check(self, options: Any, record: RunRecord) -> Verdict:
        missing = _no_state(self, record)
        if missing:
            return missing
        nodes = tuple(record.nodes)
        n, t0 = len(nodes), record.history.t0
        views = {node: _views(st, t0) for node, st in honest_states(record).items()}
        if not any(views.values()):
            return self.verdict(False, "no replica reports `views` in dchaos_state, so view "
                                "changes cannot be timed")
        conditions = Conditions(record.faults, nodes)
        quorum = 2 * max_faulty(n) + 1
        problems, delays, cases = [], [], 0
        for event in record.faults:
            if event.action != "start":
                continue
            for node in self._faulty_primaries(event, conditions, quorum):
                known = [v for v in (_view_at(vs, event.time) for vs in views.values())
                         if v is not None]
                if not known or primary_of(max(known), nodes) != node:
                    continue
                cases += 1
                for replica, vs in sorted(views.items()):
                    if replica == node or conditions.is_down(replica, event.time) \
                            or replica in record.down_at_end:
                        continue
                    later = [w for w, v in vs if w >= event.time
                             and primary_of(v, nodes) != node]
                    if not later:
                        problems.append(f"{replica} never left {node}'s view after its fault "
                                        f"at +{event.time:.2f}s ({event.description})")
                        continue
                    delay = later[0] - event.time
                    delays.append(delay)
                    if delay > options["within"]:
                        problems.append(f"{replica} replaced primary {node} {delay:.2f}s "
                                        f"after +{event.time:.2f}s (> {options['within']:g}s)")
        figures = {"faulty_primaries": cases,
                   "max_s": round(max(delays), 3) if delays else None}
        if problems:
            return self.verdict(False, _listing(problems) + bound_note(record),
                                figures=figures)
        if not cases and options["require"]:
            return self.verdict(False, "no fault hit the primary of the current view, so "
                                "no view change was shown", figures=figures)
        within = f" within {max(delays):.2f}s" if delays else ""
        return self.verdict(True, f"{cases} faulty primary(ies) replaced by every honest "
                            f"replica{within}" + bound_note(record), figures=figures)

    @staticmethod
    def _faulty_primaries(event: Any, conditions: Conditions, quorum: int) -> list[str]:
        if event.effect in ("crash", "pause"):
            return list(event.nodes)
        if event.effect == "byzantine":
            harmless = any(f"turns {b}" in event.description for b in HARMLESS_TO_PROGRESS)
            return [] if harmless else list(event.nodes)
        if event.effect == "cut":
            after = conditions.at(event.time + 1e-6)
            groups: dict[int, int] = defaultdict(int)
            for label in after.component.values():
                groups[label] += 1
            return [node for node, label in after.component.items() if groups[label] < quorum]
        return []


def _first_bad(record: RunRecord, node: str, since: float) -> float:
    """When ``node`` first sent anything after turning Byzantine at ``since`` (seconds
    into the run): its first bad message. The turn itself if the trace shows none."""
    t0 = record.history.t0
    first = None
    for event in record.trace():
        if event.get("ev") == "send" and event.get("src") == node:
            t = float(event.get("t", 0)) - t0
            if t >= since and (first is None or t < first):
                first = t
    return first if first is not None else since


class Suspects(CheckerType):
    name = "suspects"
    doc = ("Malicious-node detection: every honest replica lists each misbehaving replica in "
           "`suspects` — within `within` of its first message after it turned Byzantine, "
           "when the replica reports `evidence` with times — and no honest replica lists an "
           "honest one that no fault touched.")
    protocols = ("pbft",)
    options = s.Struct((
        s.Field("nodes", s.ListOf(s.NodeRef(()), scalar_ok=True), "the misbehaving replicas "
                "(default: those the byzantine faults name)", None),
        s.Field("within", s.Duration(), "detection deadline", 1.0),
        s.Field("max_false", s.Int(min=0), "honest replicas wrongly suspected, allowed", 0),
    ))

    def check(self, options: Any, record: RunRecord) -> Verdict:
        missing = _no_state(self, record)
        if missing:
            return missing
        starts: dict[str, float] = {}
        for event in record.faults:
            if event.effect == "byzantine" and event.action == "start":
                for node in event.nodes:
                    starts.setdefault(node, event.time)
        targets = list(options["nodes"]) if options["nodes"] else sorted(starts)
        if not targets:
            return self.verdict(False, "no replica turned Byzantine and none is named in "
                                "`nodes`, so there is nothing to detect")
        touched = {n for e in record.faults for n in e.nodes} | {
            n for e in record.faults for link in e.links for n in link}
        t0 = record.history.t0
        misses, delays, false = [], [], []
        honest = honest_states(record)
        for target in targets:
            turned = starts.get(target, 0.0)
            bad_at = _first_bad(record, target, turned)
            for replica, state in sorted(honest.items()):
                if replica == target or replica in targets:
                    continue
                if target not in (state.get("suspects") or []):
                    misses.append(f"{replica} never suspected {target}")
                    continue
                times = [float(e["at"]) for e in (state.get("evidence") or {}).get(target, [])
                         if isinstance(e, dict) and isinstance(e.get("at"), (int, float))]
                if times:
                    seen = min(times) - t0
                    # Silence and stalls are seen before (or without) any message: from
                    # the turn, then.
                    delay = seen - bad_at if seen >= bad_at else max(0.0, seen - turned)
                    delays.append(delay)
                    if delay > options["within"]:
                        misses.append(f"{replica} suspected {target} {delay:.2f}s after its "
                                      f"first bad message (> {options['within']:g}s)")
        for replica, state in sorted(honest.items()):
            for suspect in state.get("suspects") or []:
                if suspect not in targets and suspect not in starts and suspect not in touched:
                    false.append(f"{replica} suspects {suspect}, which is honest")
        problems = misses + (false if len(false) > options["max_false"] else [])
        figures = {"targets": targets, "max_s": round(max(delays), 3) if delays else None,
                   "false_suspicions": len(false)}
        if problems:
            return self.verdict(False, _listing(problems) + bound_note(record),
                                figures=figures)
        timing = f" within {max(delays):.2f}s of the first bad message" if delays else \
            " (no evidence times reported, so detection was not timed)"
        return self.verdict(True, f"every honest replica suspects {', '.join(targets)}"
                            f"{timing}; {len(false)} honest replica(s) wrongly suspected"
                            + bound_note(record), figures=figures)
