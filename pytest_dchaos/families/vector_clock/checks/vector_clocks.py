"""The ``vector_clocks`` check: the clocks nodes report encode exactly the harness's
happens-before.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import pairwise

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.vector_clock.causality import Causality
from pytest_dchaos.families.vector_clock.checks.common import SHOWN, Analysis, CausalCheck
from pytest_dchaos.record.result import RunRecord, Verdict


def _problems_text(model: Causality) -> str:
    parts = [f"{count} {kind.replace('_', ' ')}(s), e.g. {model.problems[kind][0]}"
             for kind, count in model.problem_counts.items()]
    return "; ".join(parts)


class VectorClocks(CausalCheck[NoOptions]):
    name = "vector_clocks"
    doc = ("The vector clocks nodes report order two events exactly when one happened "
           "before the other in the harness's own happens-before (message trace plus each "
           "node's order): no false order, no missed order, every concurrent pair "
           "concurrent. Also fails when a log claims a receive the trace never carried.")
    evidence = "both"
    requires = frozenset({"dchaos_state"})
    blind_to = ("The order of a node's own events beyond what the trace pins down (its "
                "sends to each peer in the order written): a log that reorders its local "
                "events — deliveries, snapshot recordings — consistently with its clocks is "
                "believed; the events of a node that left no log are not judged.")

    def judge(self, options: NoOptions, record: RunRecord, facts: Analysis,
              model: Causality) -> Verdict:
        judged = [n for n in model.nodes if facts.sources[n] != "missing"]
        own: dict[str, list[int]] = {}
        broken: list[str] = []
        for node in judged:
            entries = facts.own_entries(node)
            if any(b <= a for a, b in pairwise(entries)):
                broken.append(f"{node}'s own clock entry does not rise with each event")
            own[node] = entries
        columns = {n: model.column(n) for n in judged}
        false_order = missed = 0
        examples: list[str] = []
        total = model.total_events()
        ordered_pairs = 0
        for node in judged:
            for position, event in enumerate(model.events[node], start=1):
                truth = model.clocks[node][position - 1]
                ordered_pairs += sum(truth) - 1
                claimed_clock = event.get("vc") or {}
                for other in judged:
                    if other == node:
                        continue
                    true_prefix = truth[columns[other]]
                    claimed = bisect_right(own[other], int(claimed_clock.get(other, 0)))
                    if claimed == true_prefix:
                        continue
                    if claimed > true_prefix:
                        false_order += claimed - true_prefix
                        what = (f"{node} event {position} ({event.get('kind')}) claims to come "
                                f"after {other} event {claimed}, but only {other}'s first "
                                f"{true_prefix} happened before it")
                    else:
                        missed += true_prefix - claimed
                        what = (f"{node} event {position} ({event.get('kind')}) does not "
                                f"order {other} event {true_prefix} before it, though it "
                                "happened before")
                    if len(examples) < SHOWN:
                        examples.append(what)
        pairs = total * (total - 1) // 2
        figures = {"events": total, "pairs": pairs, "ordered_pairs": ordered_pairs,
                   "concurrent_pairs": pairs - ordered_pairs, "false_order": false_order,
                   "missed_order": missed}
        skipped = facts.missing()
        note = (f" ({', '.join(skipped)} left no log and was not judged)" if skipped else "")
        if model.problem_counts:
            broken.append(_problems_text(model))
        if broken or false_order or missed:
            if false_order or missed:
                broken.append(f"{false_order} pair(s) ordered that are not, {missed} "
                              "happened-before pair(s) not ordered: " + "; ".join(examples))
            return self.verdict(False, "; ".join(broken) + note,
                                witness={"examples": examples}, figures=figures)
        return self.verdict(True, f"{total} events, {pairs} pairs: the reported clocks order "
                            f"exactly the {ordered_pairs} pairs that happened-before and "
                            f"leave the {pairs - ordered_pairs} concurrent pairs concurrent"
                            + note, figures=figures)
