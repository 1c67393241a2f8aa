"""The ``snapshots`` check: consistent cuts, exact channel states, a conserved resource.

Two halves. From the logs (reported): the cut is where each node's log records its state;
a message received inside the cut must be sent inside it, and each channel state must hold
exactly the messages sent inside and received outside — the messages being the ones the
trace confirms. From the trace (observed), each channel state is held to what travelled on
its channel: on p → q, the messages in flight at snapshot s are those p wrote *ahead of its
marker for s* (the sending agent's order) that q took after recording its state. So a
recorded message must be one p wrote to q before that marker, that reached q, and that q's
log takes; and a message p wrote ahead of the marker that first reached q only after q had
written its own markers for s (so after q recorded: Chandy-Lamport records, then sends
markers) must be in q's state for p — whatever q's log says. Which message is a marker, and
of which snapshot, only the logs say (the trace does not read bodies); a channel whose
marker no log names is judged from the logs alone.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_dchaos.families.vector_clock.causality import Causality
from pytest_dchaos.families.vector_clock.checks.common import SHOWN, Analysis, CausalCheck
from pytest_dchaos.families.vector_clock.wire import Named, Wire, named, wire
from pytest_dchaos.record.history import OK
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s


@dataclass(frozen=True)
class SnapshotsOptions:
    complete: bool


class Snapshots(CausalCheck[SnapshotsOptions]):
    name = "snapshots"
    doc = ("Every snapshot is a consistent cut (no message received inside it was sent "
           "outside it), each recorded channel state is exactly the messages in transit "
           "across the cut, and the resource is conserved (balances plus transfers in "
           "transit equal the total). Channel states are also held to the trace: on p → q, "
           "a recorded message must be one p wrote to q ahead of its marker, that reached q "
           "and that q's log takes; one p wrote ahead of its marker that reached q only "
           "after q sent its own markers must be recorded. Acknowledged snapshots must "
           "complete on every node, unless a node is down for good at the end (then they "
           "cannot).")
    evidence = "both"
    blind_to = ("The instant a node recorded its state, which only its log gives: a message "
                "that reached it before it sent its markers may have been taken before or "
                "after it recorded, and only the log says which; the local state's content "
                "(the balance) beyond what conservation shows; which message is a marker, "
                "and of which snapshot, is the logs' word; a snapshot that did not complete "
                "on every node is not judged.")
    requires = frozenset({"dchaos_state"})
    options = s.Struct((s.Field("complete", s.Bool(), "require every acknowledged snapshot "
                                "to complete", True),))
    options_type = SnapshotsOptions

    def judge(self, options: SnapshotsOptions, record: RunRecord, facts: Analysis,
              model: Causality) -> Verdict:
        asked = [op.value for op in record.history.ops if op.f == "snapshot" and op.type == OK]
        records: dict[str, dict[str, dict[str, Any]]] = {}
        for node in record.nodes:
            for snap in (record.node_states.get(node) or {}).get("snapshots") or []:
                if isinstance(snap, dict) and "id" in snap:
                    records.setdefault(str(snap["id"]), {})[node] = snap
        initial = sum(int((record.node_states.get(n) or {}).get("initial_balance", 0))
                      for n in record.nodes)
        problems: list[str] = []
        judged = incomplete = 0
        up = [n for n in record.nodes if n not in record.down_at_end]
        seen, names = wire(record), named(facts.logs)
        markers = _markers(names)
        kinds = names.channel_types(seen)
        tied = untied = 0
        for snap_id in sorted(records):
            parts = records[snap_id]
            if not all(n in parts and parts[n].get("complete") for n in record.nodes):
                incomplete += 1
                # A snapshot needs a marker from every node: with one down for good it
                # cannot complete, which is the algorithm, not a fault of the nodes.
                if options.complete and snap_id in asked and not record.down_at_end \
                        and not all(parts.get(n, {}).get("complete") for n in up):
                    lagging = [n for n in up if not parts.get(n, {}).get("complete")]
                    problems.append(f"snapshot {snap_id} did not complete on "
                                    f"{', '.join(lagging)}")
                continue
            judged += 1
            found, told = _judge_snapshot(facts, parts, initial, record.nodes)
            trace_found, channels_tied = _against_trace(snap_id, parts, record.nodes, seen,
                                                        names, markers, kinds, told)
            tied += channels_tied
            untied += len(record.nodes) * (len(record.nodes) - 1) - channels_tied
            problems += [f"snapshot {snap_id}: {p}" for p in found + trace_found]
        never = [i for i in asked if i not in records]
        if options.complete and never:
            problems.append(f"snapshot(s) {', '.join(map(str, never[:SHOWN]))} were "
                            "acknowledged but no node recorded them")
        figures = {"snapshots": len(records), "judged": judged, "incomplete": incomplete,
                   "total": initial, "channels_on_trace": tied, "channels_logs_only": untied}
        if problems:
            return self.verdict(False, "; ".join(problems[:SHOWN]) +
                                (f" (and {len(problems) - SHOWN} more)"
                                 if len(problems) > SHOWN else ""),
                                witness={"problems": problems[:50]}, figures=figures)
        if not judged:
            down = ", ".join(sorted(record.down_at_end))
            why = ("no snapshot was taken (raise workload.snapshot_ratio)" if not asked else
                   f"no snapshot could be judged: {down} is down at the end, and what it "
                   "recorded went with it" if down else "no snapshot completed")
            return self.verdict(False, why, figures=figures)
        on_trace = (f"; {tied} channel state(s) agree with what the trace shows in flight"
                    + (f", {untied} judged from the logs alone (no log names their marker, or the "
                       "trace of one end is incomplete)"
                       if untied else "") + seen.torn_note())
        return self.verdict(True, f"{judged} complete snapshot(s): consistent cuts, exact "
                            f"channel states, {initial} units conserved in each"
                            + (f" ({incomplete} incomplete, excused)" if incomplete else "")
                            + on_trace, figures=figures)


def _position(facts: Analysis, node: str, i: Any) -> int | None:
    """The position in ``node``'s log of the event whose own clock entry is ``i``."""
    own = facts.own_entries(node)
    position = bisect_left(own, i) if isinstance(i, int) else len(own)
    return position + 1 if position < len(own) and own[position] == i else None


def _judge_snapshot(facts: Analysis, parts: Mapping[str, Mapping[str, Any]], initial: int,
                    nodes: Sequence[str]) -> tuple[list[str], set[tuple[str, str, Any]]]:
    """What the logs show wrong with one snapshot, and the (receiver, sender, msg_id) of
    each channel-state fault told (so that the trace's half does not tell it again)."""
    problems = []
    told: set[tuple[str, str, Any]] = set()
    cut: dict[str, int] = {}
    for node in nodes:
        position = _position(facts, node, parts[node].get("at"))
        if position is None:
            return [f"{node}'s record names event {parts[node].get('at')!r}, not in its "
                    "log"], told
        cut[node] = position
    recorded = {(q, p, entry.get("msg_id")) for q in nodes
                for p, entries in (parts[q].get("channels") or {}).items() for entry in entries}
    # Markers draw the cut, so they are left out. Every other message: received inside the
    # cut means sent inside it (consistency); sent inside and received outside means in
    # transit, which the receiver's channel state must hold, and nothing else.
    for q, r_pos, p, s_pos, msg_id, what in facts.messages():
        inside, sent_inside = r_pos <= cut[q], s_pos <= cut[p]
        if inside and not sent_inside:
            problems.append(f"not a consistent cut: {q} received msg_id {msg_id} inside it "
                            f"(its event {r_pos}), sent by {p} outside it ({p}'s event "
                            f"{s_pos}, cut at {cut[p]})")
        in_transit = sent_inside and not inside
        held = (q, p, msg_id) in recorded
        if in_transit != held:
            told.add((q, p, msg_id))
        if in_transit and not held:
            problems.append(f"{q}'s channel state from {p} misses msg_id {msg_id} ({what}), "
                            "in transit across the cut")
        elif held and not in_transit:
            problems.append(f"{q}'s channel state from {p} holds msg_id {msg_id}, which was "
                            "not in transit")
    balances = sum(int((parts[n].get("state") or {}).get("balance", 0)) for n in nodes)
    transit = sum(int(entry.get("amount", 0)) for n in nodes
                  for entries in (parts[n].get("channels") or {}).values()
                  for entry in entries if entry.get("what") == "transfer")
    if balances + transit != initial:
        problems.append(f"not conserved: balances {balances} + in transit {transit} = "
                        f"{balances + transit}, not {initial}")
    return problems, told


def _markers(names: Named) -> dict[tuple[Any, str, str], Any]:
    """(snapshot, sender, receiver) -> the msg_id of that channel's marker, as the sender's
    log names it, else as the receiver's does."""
    found: dict[tuple[Any, str, str], Any] = {}
    for (src, msg_id, dest), snap in names.markers.items():
        key = (str(snap), src, dest)
        if key not in found or (src, msg_id, dest) in names.sends:
            found[key] = msg_id
    return found


def _first_markers(seen: Wire, names: Named) -> dict[tuple[str, str], int]:
    """(snapshot, node) -> where in its agent's order the node first wrote a marker of it."""
    found: dict[tuple[str, str], int] = {}
    for key, snap in names.markers.items():
        at = seen.written.get(key)
        if key in names.sends and at is not None:
            slot = (str(snap), key[0])
            found[slot] = min(at, found.get(slot, at))
    return found


def _against_trace(snap_id: str, parts: Mapping[str, Mapping[str, Any]],
                   nodes: Sequence[str], seen: Wire, names: Named,
                   markers: Mapping[tuple[Any, str, str], Any], kinds: set[str],
                   told: set[tuple[str, str, Any]]) -> tuple[list[str], int]:
    """Each channel state against the messages the trace shows ahead of the channel's
    marker (module docstring); returns the faults and how many channels were tied."""
    problems: list[str] = []
    tied = 0
    first_markers = _first_markers(seen, names)
    for q in nodes:
        # q had recorded its state before it wrote its first marker for the snapshot.
        recorded_by = first_markers.get((snap_id, q))
        channels = parts[q].get("channels") or {}
        for p in nodes:
            if p == q:
                continue
            msg_id = markers.get((snap_id, p, q))
            if msg_id is None or not seen.complete(p, q):
                continue
            marker = (p, msg_id, q)
            if marker not in seen.written:
                problems.append(f"{p}'s marker for it to {q} (msg_id {msg_id!r}, as the logs "
                                "name it) never appears in the trace")
                continue
            tied += 1
            ahead = [m for m in seen.sent.get((p, q), [])
                     if seen.written[(p, m, q)] < seen.written[marker]
                     and seen.types.get((p, m, q)) in kinds and (p, m, q) not in names.markers]
            entries = [e.get("msg_id") for e in channels.get(p) or [] if isinstance(e, dict)]
            where = f"{q}'s channel state from {p} holds msg_id"
            for m in entries:
                key = (p, m, q)
                if (q, p, m) in told:
                    continue
                if not isinstance(m, (int, str)) or key not in seen.written:
                    problems.append(f"{where} {m!r}, which the trace never shows {p} "
                                    f"writing to {q}")
                elif seen.written[key] > seen.written[marker]:
                    problems.append(f"{where} {m!r}, which {p} wrote after its marker: not "
                                    "in transit across the cut")
                elif not seen.arrived(key):
                    problems.append(f"{where} {m!r}, which never reached {q}")
                elif key not in names.receives:
                    problems.append(f"{where} {m!r}, but {q}'s log never takes it")
            held = {m for m in entries if isinstance(m, (int, str))}
            for m in ahead:
                first = seen.first_arrival((p, m, q))
                if m in held or (q, p, m) in told or first is None or recorded_by is None \
                        or first < recorded_by:
                    continue
                problems.append(f"{q}'s channel state from {p} lacks msg_id {m!r}: {p} wrote "
                                f"it ahead of its marker, and it first reached {q} after "
                                f"{q} had recorded its state and sent its markers "
                                f"({seen.when((p, m, q))})")
    return problems, tied
