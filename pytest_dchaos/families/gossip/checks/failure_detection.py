"""``failure_detection``: failed nodes are marked dead in time, healthy ones never are.

Judged from the membership views sampled during the run (the gossip family's monitor asks
every node for ``members`` every ``membership_interval``) against the conditions rebuilt
from the fault timeline (see ``conditions``). A member must be marked dead by an observer
within ``within`` once it has crashed, been paused, or been cut off from the observer with
no path of working links between them — if that lasted long enough to judge. Marking a
member dead while it was up and both links between the two had been intact for ``within``
is a false positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.checkers.conditions import Conditions
from pytest_dchaos.families.gossip.observations import (
    DEAD,
    MEMBERSHIP,
    MembershipSample,
    membership_samples,
)
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s


@dataclass(frozen=True)
class FailureDetectionOptions:
    within: float
    max_false_positives: int
    #: None: every node.
    nodes: tuple[str, ...] | None


class FailureDetection(CheckerType[FailureDetectionOptions]):
    name = "failure_detection"
    doc = ("Every live node marks a crashed, paused or cut-off node dead within `within`; "
           "no node is marked dead while it is up and reachable (false positives, at most "
           "`max_false_positives`). `nodes` limits which failed nodes are judged.")
    protocols = ("gossip",)
    evidence = "reported"
    requires = frozenset({"members"})
    needs = frozenset({MEMBERSHIP})
    options = s.Struct((
        s.Field("within", s.Duration(), "detection deadline", 3.0),
        s.Field("max_false_positives", s.Int(min=0), "false positives allowed", 0),
        s.Field("nodes", s.ListOf(s.NodeRef(selectors=())), "judge only these failed nodes",
                None),
    ), shorthand="within")
    options_type = FailureDetectionOptions

    def check(self, options: FailureDetectionOptions, record: RunRecord) -> Verdict:
        answered = [smp for smp in membership_samples(record) if smp.views]
        if not answered:
            return self.verdict(False, "no node ever answered `members`, so failure "
                                "detection cannot be judged (does the node implement it?)")
        within = options.within
        interval = _interval(answered)
        conditions = Conditions(record.faults, record.nodes)
        end = answered[-1].t
        targets = set(options.nodes or record.nodes)

        detections: list[float] = []
        misses: list[str] = []
        too_short = 0
        for observer in record.nodes:
            for member in targets:
                if member == observer:
                    continue
                for start, stop in conditions.failure_intervals(observer, member, end):
                    if stop - start < within + interval:
                        too_short += 1
                        continue
                    seen = [smp.t for smp in answered
                            if start <= smp.t < stop and smp.state(observer, member) == DEAD]
                    if not any(observer in smp.views for smp in answered
                               if start <= smp.t <= start + within + interval):
                        continue  # the observer could not be asked (paused, overloaded)
                    if seen and seen[0] - start <= within + interval:
                        detections.append(seen[0] - start)
                    else:
                        when = (f"only after {seen[0] - start:.2f}s" if seen
                                else "never while it lasted")
                        misses.append(f"{observer} marked {member} dead {when} "
                                      f"(failed at {start:.2f}s)")

        false_positives = []
        previous: dict[tuple[str, str], str] = {}
        for sample in answered:
            t = sample.t
            for observer, view in sample.views.items():
                for member, state in view.items():
                    key = (observer, member)
                    was = previous.get(key)
                    previous[key] = state
                    if (state == DEAD and was != DEAD and member != observer
                            and member in record.nodes
                            and conditions.healthy(observer, member, t, within)):
                        false_positives.append(f"{observer} marked {member} dead at {t:.2f}s "
                                               "while it was up and reachable")

        figures = {
            "detections": len(detections),
            "max_detection_s": round(max(detections), 3) if detections else None,
            "false_positives": len(false_positives),
            "sample_interval_s": round(interval, 3),
            "not_judged_too_short": too_short,
        }
        problems = []
        if misses:
            problems.append(f"{len(misses)} late or missed detection(s) (deadline "
                            f"{within:g}s): " + "; ".join(misses[:5]))
        if len(false_positives) > options.max_false_positives:
            problems.append(f"{len(false_positives)} false positive(s): "
                            + "; ".join(false_positives[:5]))
        witness = {"misses": misses[:50], "false_positives": false_positives[:50]}
        if problems:
            return self.verdict(False, "; ".join(problems), witness, figures)
        if not detections:
            return self.verdict(True, "no node failed long enough to judge detection; "
                                f"{len(false_positives)} false positive(s) in "
                                f"{len(answered)} samples", witness, figures)
        return self.verdict(
            True, f"{len(detections)} detection(s), slowest {max(detections):.2f}s "
            f"(deadline {within:g}s, sampled every {interval:.2f}s); "
            f"{len(false_positives)} false positive(s)", witness, figures)


def _interval(samples: list[MembershipSample]) -> float:
    if len(samples) < 2:
        return 0.0
    gaps = sorted(b.t - a.t for a, b in pairwise(samples))
    return gaps[len(gaps) // 2]
