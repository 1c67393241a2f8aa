"""The ``liveness`` check: requests are accepted again after the last fault ends."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.families.pbft.checks.common import PBFT_OPS, bound_note
from pytest_dchaos.record.history import OK
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s


def _fault_end(record: RunRecord) -> float:
    """When the last fault ended (a fault that never ends counts from its start)."""
    end = 0.0
    for event in record.faults:
        if event.action in ("start", "end"):
            end = max(end, event.time)
    return end


@dataclass(frozen=True)
class LivenessOptions:
    within: float


class Liveness(CheckerType[LivenessOptions]):
    name = "liveness"
    doc = ("After the last fault ends, requests are accepted again within `within` (the "
           "final phase keeps sending probe requests, so this is judged even when the "
           "workload ended first).")
    protocols = ("pbft",)
    blind_to = ("Each replica's own progress: one request accepted by f+1 matching replies "
                "is enough, so a replica that stays behind, or serves no client, goes "
                "unseen.")
    options = s.Struct((
        s.Field("within", s.Duration(), "time after the last fault ended", 5.0),
    ))
    options_type = LivenessOptions

    def check(self, options: LivenessOptions, record: RunRecord) -> Verdict:
        since = _fault_end(record)
        # Requests sent after the fault: one in flight before it may have been committed
        # before it, and proves nothing about the cluster after it.
        accepted = sorted(c.time for i, c in record.history.pairs()
                          if c is not None and c.type == OK and i.f in PBFT_OPS
                          and i.time >= since)
        if not accepted:
            left = record.phases.get("workload_end", record.scenario.workload.duration) - since
            if left < options.within:
                # Clients sent for less than the deadline after the fault: a cluster that
                # recovers in time may still not have been asked anything it could answer.
                return self.not_applicable(
                    f"the workload ended {max(left, 0.0):.2f}s after the last fault ended "
                    f"(+{since:.2f}s), less than the {options.within:g}s liveness allows: "
                    "too little to judge by (end the faults earlier)")
            return self.verdict(False, f"no request was accepted after the last fault ended "
                                f"at +{since:.2f}s" + bound_note(record))
        delay = accepted[0] - since
        figures = {"since_s": round(since, 3), "first_accepted_after_s": round(delay, 3)}
        if delay > options.within:
            return self.verdict(False, f"the first request accepted after the last fault "
                                f"(+{since:.2f}s) came {delay:.2f}s later (> "
                                f"{options.within:g}s)" + bound_note(record),
                                figures=figures)
        if not record.faults:
            return self.verdict(True, f"no faults; the first request was accepted at "
                                f"+{accepted[0]:.2f}s", figures=figures)
        return self.verdict(True, f"a request sent after the last fault ended (+{since:.2f}s) "
                            f"was accepted {delay:.2f}s after it" + bound_note(record),
                            figures=figures)
