"""The ``causal_delivery`` check: nothing delivered before its causal past."""

from __future__ import annotations

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.vector_clock.causality import Causality
from pytest_dchaos.families.vector_clock.checks.common import SHOWN, Analysis, CausalCheck
from pytest_dchaos.record.result import RunRecord, Verdict


class CausalDelivery(CausalCheck[NoOptions]):
    name = "causal_delivery"
    doc = ("No node delivers a broadcast before every broadcast in its causal past (what "
           "its origin had delivered when it sent it); none is delivered twice, and none "
           "that was never broadcast.")
    evidence = "reported"
    requires = frozenset({"dchaos_state"})

    def judge(self, options: NoOptions, record: RunRecord, facts: Analysis,
              model: Causality) -> Verdict:
        violations: list[str] = []
        count = deliveries = 0
        for node, events in facts.logs.items():
            delivered: dict[str, int] = {}
            for position, event in enumerate(events, start=1):
                if event.get("kind") != "deliver":
                    continue
                deliveries += 1
                origin, seq = str(event.get("origin")), event.get("seq_b")
                key = (origin, seq if isinstance(seq, int) else -1)
                problem = None
                if key not in model.broadcasts and facts.sources.get(origin) != "missing":
                    problem = f"{node} delivered {origin}#{seq}, which {origin} never broadcast"
                elif isinstance(seq, int) and delivered.get(origin, 0) >= seq:
                    problem = f"{node} delivered {origin}#{seq} twice"
                elif isinstance(seq, int) and delivered.get(origin, 0) != seq - 1:
                    problem = (f"{node} delivered {origin}#{seq} before {origin}#"
                               f"{delivered.get(origin, 0) + 1} (same origin, earlier)")
                else:
                    for other, need in sorted(model.causal_past.get(key, {}).items()):
                        if delivered.get(other, 0) < need:
                            problem = (f"{node} delivered {origin}#{seq} (its event {position}) "
                                       f"before {other}#{delivered.get(other, 0) + 1}, "
                                       f"which is in its causal past")
                            break
                if problem:
                    count += 1
                    if len(violations) < SHOWN:
                        violations.append(problem)
                if isinstance(seq, int):
                    delivered[origin] = max(delivered.get(origin, 0), seq)
        figures = {"deliveries": deliveries, "violations": count,
                   "broadcasts": len(model.broadcasts)}
        if count:
            return self.verdict(False, f"{count} of {deliveries} deliveries broke causal "
                                f"order: " + "; ".join(violations),
                                witness={"violations": violations}, figures=figures)
        if not deliveries:
            return self.verdict(False, "no node delivered any broadcast", figures=figures)
        return self.verdict(True, f"{deliveries} deliveries of {len(model.broadcasts)} "
                            "broadcasts, all in causal order", figures=figures)
