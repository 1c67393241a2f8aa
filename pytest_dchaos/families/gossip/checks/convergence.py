"""``convergence``: every acknowledged broadcast is read on every live node after healing.

One loss is no node's fault, and is excused: a node that acknowledged a value and then lost
its memory (killed, stopped or restarted) before it had been connected to another up node
for ``spread`` in all took the value with it — typically it acknowledged while a partition
cut it off from everyone, and died just after the heal. A crash-stop node without
persistence cannot hand on what it held only while cut off if it dies before one round of
gossip; no correct epidemic broadcast could. ``spread`` defaults to 2 s: the reference node
repairs a healed partition by anti-entropy every second, so its worst case is just over
1 s plus round trips.

The excuse is narrow: the value must be read on no live node (one that reached any survivor
was passed on, so the survivors owe it to everyone), and a node that loses a value any
other way — never killed, or killed after it was connected long enough — still fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.checkers.conditions import Conditions
from pytest_dchaos.families.gossip.observations import Converging, converging
from pytest_dchaos.record.history import OK, Op
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s

SHOWN = 8


@dataclass(frozen=True)
class ConvergenceOptions:
    #: None: by the end of the recovery time.
    within: float | None
    #: Connected time a node needs to pass a value on (see the module docstring).
    spread: float

#: Fault effects after which a node without disk state has lost what it held (a pause keeps
#: it: the node resumes where it was).
FORGETS = ("crash", "restart")


class Convergence(CheckerType[ConvergenceOptions]):
    name = "convergence"
    doc = ("Every value whose broadcast was acknowledged is read on every live node in the "
           "final phase, within `within` of the final heal (default: the workload's "
           "recovery time). Reports the time to converge and, on failure, which values each "
           "node is missing. Excused: a value read on no live node whose acknowledging node "
           "lost its memory (killed, stopped or restarted) before it had been connected to "
           "another up node for `spread` in all since the acknowledgement — typically it "
           "acknowledged while a partition cut it off and died just after the heal: no "
           "correct node without persistence could have passed it on. Excused values are "
           "counted in the detail and the `excused_lost` figure.")
    blind_to = ("A value a node holds but leaves out of `read`, and values whose broadcast was "
                "never acknowledged (a timed-out broadcast need not spread); a node down at the "
                "end is not read. A node that fails to pass on what it acknowledged in its last "
                "`spread` of connected time before it is killed, stopped or restarted is "
                "excused, as a correct node would be (values it lost any other way are still "
                "caught); a value handed on only to nodes that were all lost too is not "
                "excused (the check follows the acknowledging node alone).")
    protocols = ("gossip",)
    options = s.Struct((s.Field("within", s.Duration(), "time allowed after the heal", None),
                        s.Field("spread", s.Duration(),
                                "connected time a node needs to pass a value on: a value "
                                "lost with a node that had less since acknowledging it is "
                                "excused", 2.0)),
                       shorthand="within")
    options_type = ConvergenceOptions
    #: Convergence is eventual (DESIGN.md); how soon after the heal is speed: anti-entropy
    #: after faults the scenario did not plan may rightly take longer than `within`.
    performance_options = ("within",)

    def check(self, options: ConvergenceOptions, record: RunRecord) -> Verdict:
        conv = converging(record)
        if conv is None:
            return self.verdict(False, "the run has no final reads (the final phase did not "
                                "run)")
        acks = _acknowledgements(record)
        reads = conv.final_reads
        live = conv.live_nodes
        if not live:
            return self.verdict(False, "no node was alive at the end to read from")
        if not acks:
            return self.verdict(False, "no broadcast was acknowledged, so convergence cannot "
                                "be shown")
        read_anywhere = {v for node in live for v in reads.get(node, ())}
        excused = _lost_with_their_node(record, [acks[v] for v in set(acks) - read_anywhere],
                                        options.spread)
        required = set(acks) - excused
        missing = {node: sorted(required - set(reads.get(node, ()))) for node in live
                   if node in reads}
        missing = {node: values for node, values in missing.items() if values}
        unread = conv.unread
        within = options.within
        converged_at = (_converged_at(record, conv, required) if excused
                        else conv.converged_at)
        took = converged_at - conv.healed_at if converged_at is not None else None
        figures = {"acknowledged": len(acks), "time_to_converge_s": took,
                   "live_nodes": len(live), "excused_lost": len(excused)}
        note = (f"; {len(excused)} value(s) lost with the node that alone held them: excused"
                if excused else "")
        if unread:
            return self.verdict(
                False, f"{', '.join(unread)} never answered a final read, so convergence "
                "cannot be shown", witness={"unread": list(unread)}, figures=figures)
        if missing:
            parts = [f"{node} lacks {len(values)} (e.g. {values[:SHOWN]})"
                     for node, values in sorted(missing.items())]
            first = acks[min(v for values in missing.values() for v in values)]
            return self.verdict(
                False,
                f"{sum(map(len, missing.values()))} missing acknowledged value(s) after "
                f"{conv.deadline - conv.healed_at:.1f}s of recovery: "
                + "; ".join(parts) + f". Value {first.value} was acknowledged by "
                f"{first.node} at {first.time:.2f}s (history op {first.index})" + note,
                witness={"missing": {n: v[:50] for n, v in missing.items()}},
                figures=figures)
        if took is None:
            # Each node's last successful read held everything, but no single round of
            # reads succeeded on every node: convergence is shown only by the deadline.
            bound = conv.deadline - conv.healed_at
            if within is not None and bound > within:
                return self.verdict(
                    False, f"every live node's last read held all {len(required)} values, "
                    f"but no round of reads succeeded on all nodes, so convergence is shown "
                    f"only {bound:.1f}s after the final heal, not within {within:g}s" + note,
                    figures=figures)
            return self.verdict(
                True, f"all {len(required)} acknowledged values on all {len(live)} live nodes "
                f"by their last reads (no round succeeded on every node at once)" + note,
                figures=figures)
        if within is not None and took > within:
            return self.verdict(
                False, f"converged only {took:.2f}s after the heal, more than {within:g}s"
                + note, figures=figures)
        return self.verdict(
            True, f"all {len(required)} acknowledged values on all {len(live)} live nodes, "
            f"{took:.2f}s after the final heal" + note, figures=figures)


def _acknowledgements(record: RunRecord) -> dict[int, Op]:
    """Each acknowledged value's first ``broadcast_ok``."""
    acks: dict[int, Op] = {}
    for op in record.history.ops:
        if op.f == "broadcast" and op.type == OK:
            acks.setdefault(op.value, op)
    return acks


def _lost_with_their_node(record: RunRecord, acks: list[Op], spread: float) -> set[int]:
    """The values among ``acks`` (read on no live node) whose acknowledging node lost its
    memory before it had been connected to another up node for ``spread`` in all."""
    links = Conditions(record.faults, record.nodes)
    forgetting = Conditions([e for e in record.faults if e.effect in FORGETS], record.nodes)
    lost = set()
    for op in acks:
        if op.node is None:
            continue
        down = forgetting.next_down(op.node, op.time)
        if down is not None and links.connected_time(op.node, op.time, down) < spread:
            lost.add(op.value)
    return lost


def _converged_at(record: RunRecord, conv: Converging, required: set[int]) -> float | None:
    """When every live node had read all of ``required``, from the reads after the heal.

    The final phase's own time waits for every acknowledged value, excused ones too, so it
    never comes when some are excused; a live node keeps what it holds, so its first read
    with them all stands for the rest."""
    firsts = []
    for node in conv.live_nodes:
        times = [op.time for op in record.history.ops
                 if op.f == "read" and op.type == OK and op.node == node
                 and op.time >= conv.healed_at and required <= set(op.value or ())]
        if not times:
            return None
        firsts.append(min(times))
    return max(firsts)
