"""The ``fifo_channels`` check: each channel delivers in the order it was sent."""

from __future__ import annotations

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.vector_clock.causality import Causality
from pytest_dchaos.families.vector_clock.checks.common import SHOWN, Analysis, CausalCheck
from pytest_dchaos.record.result import RunRecord, Verdict


class FifoChannels(CausalCheck[NoOptions]):
    name = "fifo_channels"
    doc = ("Each node takes the messages of each channel in the order they were sent (what "
           "Chandy-Lamport snapshots rely on).")
    evidence = "reported"
    requires = frozenset({"dchaos_state"})

    def judge(self, options: NoOptions, record: RunRecord, facts: Analysis,
              model: Causality) -> Verdict:
        last: dict[tuple[str, str], int] = {}
        overtaken: list[str] = []
        count = 0
        for (q, r_pos), (p, s_pos) in sorted(model.edges.items()):
            if last.get((p, q), 0) > s_pos:
                count += 1
                if len(overtaken) < SHOWN:
                    overtaken.append(f"{q} took {p}'s event-{s_pos} message (its event "
                                     f"{r_pos}) after a later one of {p}'s")
            last[(p, q)] = max(last.get((p, q), 0), s_pos)
        if count:
            return self.verdict(False, f"{count} message(s) overtaken on their channel: "
                                + "; ".join(overtaken), figures={"overtaken": count})
        if not model.edges:
            return self.verdict(False, "no message between nodes was logged, so no channel "
                                "order to judge")
        return self.verdict(True, f"{len(model.edges)} messages, each channel in order",
                            figures={"messages": len(model.edges)})
