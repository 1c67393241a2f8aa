"""The ``delivered_everywhere`` check: every acknowledged broadcast reaches every live
node.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.families.vector_clock.checks.common import SHOWN
from pytest_dchaos.families.vector_clock.observations import delivering
from pytest_dchaos.families.vector_clock.workload import broadcast_message
from pytest_dchaos.record.history import OK
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s


@dataclass(frozen=True)
class DeliveredEverywhereOptions:
    #: None: by the end of the final phase.
    within: float | None


class DeliveredEverywhere(CheckerType[DeliveredEverywhereOptions]):
    name = "delivered_everywhere"
    doc = ("Every acknowledged broadcast is delivered on every node that is live at the end "
           "(read after the faults heal), optionally within a time of the final heal.")
    protocols = ("vector_clock",)
    blind_to = ("Whether a node delivered what a read lists (a read is the node's word; "
                "causal_delivery holds reads to the logs where there are any); nodes down "
                "at the end, which cannot be read; broadcasts never acknowledged (a cbcast "
                "that timed out may or may not have happened), which are not required.")
    options = s.Struct((s.Field("within", s.Duration(), "time after the final heal by which "
                                "every live node must have delivered everything", None),))
    options_type = DeliveredEverywhereOptions

    def check(self, options: DeliveredEverywhereOptions, record: RunRecord) -> Verdict:
        seen = delivering(record)
        if seen is None:
            return self.verdict(False, "the final phase did not run, so nothing was read")
        acknowledged = {broadcast_message(op.value) for op in record.history.ops
                        if op.f == "cbcast" and op.type == OK}
        if not acknowledged:
            return self.verdict(False, "no broadcast was acknowledged, so there is nothing "
                                "to find on the nodes")
        reads = seen.final_reads
        missing = {n: sorted(acknowledged - set(reads.get(n, []))) for n in seen.live_nodes}
        unread = [n for n in seen.live_nodes if n not in reads]
        lacking = {n: m for n, m in missing.items() if m and n not in unread}
        if unread or lacking:
            parts = [f"{n} lacks {len(m)} (e.g. {m[:SHOWN]})" for n, m in lacking.items()]
            if unread:
                parts.append(f"no final read succeeded on {', '.join(unread)}")
            return self.verdict(False, f"of {len(acknowledged)} acknowledged broadcasts: " +
                                "; ".join(parts), witness={"missing": lacking})
        took = (seen.converged_at - seen.healed_at
                if seen.converged_at is not None else None)
        within = options.within
        if within is not None and took is not None and took > within:
            return self.verdict(False, f"every live node delivered all {len(acknowledged)} "
                                f"broadcasts, but {took:.2f}s after the heal (> {within:g}s)")
        return self.verdict(True, f"{len(seen.live_nodes)} live nodes delivered all "
                            f"{len(acknowledged)} acknowledged broadcasts"
                            + (f", {took:.2f}s after the heal" if took is not None else ""),
                            figures={"seconds": took})
