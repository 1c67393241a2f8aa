"""``convergence``: every acknowledged broadcast is read on every live node after healing."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.families.gossip.observations import converging
from pytest_dchaos.record.history import OK
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s

SHOWN = 8


@dataclass(frozen=True)
class ConvergenceOptions:
    #: None: by the end of the recovery time.
    within: float | None


class Convergence(CheckerType[ConvergenceOptions]):
    name = "convergence"
    doc = ("Every value whose broadcast was acknowledged is read on every live node in the "
           "final phase, within `within` of the final heal (default: the workload's "
           "recovery time). Reports the time to converge and, on failure, which values each "
           "node is missing.")
    blind_to = ("A value a node holds but leaves out of `read`, and values whose broadcast was "
                "never acknowledged (a timed-out broadcast need not spread); a node down at the "
                "end is not read.")
    protocols = ("gossip",)
    options = s.Struct((s.Field("within", s.Duration(), "time allowed after the heal", None),),
                       shorthand="within")
    options_type = ConvergenceOptions

    def check(self, options: ConvergenceOptions, record: RunRecord) -> Verdict:
        conv = converging(record)
        if conv is None:
            return self.verdict(False, "the run has no final reads (the final phase did not "
                                "run)")
        acked = {op.value for op in record.history.ops if op.f == "broadcast" and op.type == OK}
        reads = conv.final_reads
        live = conv.live_nodes
        if not live:
            return self.verdict(False, "no node was alive at the end to read from")
        if not acked:
            return self.verdict(False, "no broadcast was acknowledged, so convergence cannot "
                                "be shown")
        missing = {node: sorted(acked - set(reads.get(node, ()))) for node in live
                   if node in reads}
        missing = {node: values for node, values in missing.items() if values}
        unread = conv.unread
        within = options.within
        took = (conv.converged_at - conv.healed_at
                if conv.converged_at is not None else None)
        figures = {"acknowledged": len(acked), "time_to_converge_s": took,
                   "live_nodes": len(live)}
        if unread:
            return self.verdict(
                False, f"{', '.join(unread)} never answered a final read, so convergence "
                "cannot be shown", witness={"unread": list(unread)}, figures=figures)
        if missing:
            parts = [f"{node} lacks {len(values)} (e.g. {values[:SHOWN]})"
                     for node, values in sorted(missing.items())]
            first = min(v for values in missing.values() for v in values)
            source = _broadcast_of(record, first)
            return self.verdict(
                False,
                f"{sum(map(len, missing.values()))} missing acknowledged value(s) after "
                f"{conv.deadline - conv.healed_at:.1f}s of recovery: "
                + "; ".join(parts) + (f". Value {first} was acknowledged by {source}"
                                      if source else ""),
                witness={"missing": {n: v[:50] for n, v in missing.items()}},
                figures=figures)
        if took is None:
            # Each node's last successful read held everything, but no single round of
            # reads succeeded on every node: convergence is shown only by the deadline.
            bound = conv.deadline - conv.healed_at
            if within is not None and bound > within:
                return self.verdict(
                    False, f"every live node's last read held all {len(acked)} values, but no "
                    f"round of reads succeeded on all nodes, so convergence is shown only "
                    f"{bound:.1f}s after the final heal, not within {within:g}s",
                    figures=figures)
            return self.verdict(
                True, f"all {len(acked)} acknowledged values on all {len(live)} live nodes by "
                f"their last reads (no round succeeded on every node at once)",
                figures=figures)
        if within is not None and took > within:
            return self.verdict(
                False, f"converged only {took:.2f}s after the heal, more than {within:g}s",
                figures=figures)
        return self.verdict(
            True, f"all {len(acked)} acknowledged values on all {len(live)} live nodes, "
            f"{took:.2f}s after the final heal", figures=figures)


def _broadcast_of(record: RunRecord, value: int) -> str | None:
    for op in record.history.ops:
        if op.f == "broadcast" and op.type == OK and op.value == value:
            return f"{op.node} at {op.time:.2f}s (history op {op.index})"
    return None
