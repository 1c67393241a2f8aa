"""The ``shiviz_log`` check: the nodes' event logs open in ShiViz as they are."""

from __future__ import annotations

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.vector_clock.causality import Causality
from pytest_dchaos.families.vector_clock.checks.common import Analysis, CausalCheck
from pytest_dchaos.record.result import RunRecord, Verdict


class ShivizLog(CausalCheck[NoOptions]):
    name = "shiviz_log"
    doc = ("The clocks in the nodes' event logs obey the rules ShiViz enforces (own entry "
           "1, 2, ... per logged event; only logged events of logged hosts; transitive), "
           "so the logs open in ShiViz as they are.")
    evidence = "reported"
    requires = frozenset({"dchaos_state"})

    def judge(self, options: NoOptions, record: RunRecord, facts: Analysis,
              model: Causality) -> Verdict:
        if facts.clock_problems:
            return self.verdict(False, "ShiViz would reject the nodes' clocks: " +
                                "; ".join(facts.clock_problems))
        return self.verdict(True, f"{sum(len(v) for v in facts.logs.values())} events whose "
                            "clocks ShiViz accepts (see shiviz.log in the report)")
