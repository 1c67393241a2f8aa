"""The ``snapshots`` check: consistent cuts, exact channel states, a conserved resource."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_dchaos.families.vector_clock.causality import Causality
from pytest_dchaos.families.vector_clock.checks.common import SHOWN, Analysis, CausalCheck
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
           "transit equal the total). Acknowledged snapshots must complete on every node, "
           "unless a node is down for good at the end (then they cannot).")
    evidence = "reported"
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
            problems += [f"snapshot {snap_id}: {p}" for p in
                         _judge_snapshot(facts, parts, initial, record.nodes)]
        never = [i for i in asked if i not in records]
        if options.complete and never:
            problems.append(f"snapshot(s) {', '.join(map(str, never[:SHOWN]))} were "
                            "acknowledged but no node recorded them")
        figures = {"snapshots": len(records), "judged": judged, "incomplete": incomplete,
                   "total": initial}
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
        return self.verdict(True, f"{judged} complete snapshot(s): consistent cuts, exact "
                            f"channel states, {initial} units conserved in each"
                            + (f" ({incomplete} incomplete, excused)" if incomplete else ""),
                            figures=figures)


def _position(facts: Analysis, node: str, i: Any) -> int | None:
    """The position in ``node``'s log of the event whose own clock entry is ``i``."""
    own = facts.own_entries(node)
    position = bisect_left(own, i) if isinstance(i, int) else len(own)
    return position + 1 if position < len(own) and own[position] == i else None


def _judge_snapshot(facts: Analysis, parts: Mapping[str, Mapping[str, Any]], initial: int,
                    nodes: Sequence[str]) -> list[str]:
    problems = []
    cut: dict[str, int] = {}
    for node in nodes:
        position = _position(facts, node, parts[node].get("at"))
        if position is None:
            return [f"{node}'s record names event {parts[node].get('at')!r}, not in its log"]
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
    return problems
