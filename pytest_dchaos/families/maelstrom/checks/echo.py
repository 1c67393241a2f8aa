"""``echo``: every echo comes back with the text it carried (Maelstrom's echo checker)."""

from __future__ import annotations

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.checkers.conditions import Conditions, out_of_reach
from pytest_dchaos.record.history import OK, outcome_of
from pytest_dchaos.record.result import RunRecord, Verdict

SHOWN = 5


class Echo(CheckerType[NoOptions]):
    name = "echo"
    doc = ("Every `echo` is answered `echo_ok` with the text it carried in `echo`. As in "
           "Maelstrom, an echo that failed or got no answer is an error too: echoing needs "
           "nothing but the node itself — unless it was out of the node's reach (not "
           "delivered, or outstanding while the harness had the node down: crashed, "
           "stopped, paused or restarting), which is counted apart.")
    protocols = ("echo",)

    def check(self, options: NoOptions, record: RunRecord) -> Verdict:
        pairs = [(i, c) for i, c in record.history.pairs() if i.f == "echo"]
        if not pairs:
            return self.verdict(False, "no echo was sent, so nothing shows the node echoes")
        conditions = Conditions(record.faults, record.nodes)
        wrong, excused = [], 0
        for invoke, completion in pairs:
            outcome = outcome_of(completion)
            got = completion.value if completion is not None else None
            if outcome != OK and out_of_reach(record, conditions, invoke, completion):
                excused += 1
            elif outcome != OK:
                wrong.append(f"{invoke.value!r} to {invoke.node} at {invoke.time:.2f}s "
                             f"ended {outcome}"
                             + (f" ({completion.error})" if completion and completion.error
                                else ""))
            elif got != invoke.value:
                wrong.append(f"{invoke.value!r} to {invoke.node} at {invoke.time:.2f}s came "
                             f"back as {got!r}")
        apart = (f" ({excused} more out of the node's reach while the harness had it down)"
                 if excused else "")
        if wrong:
            return self.verdict(
                False, f"{len(wrong)} of {len(pairs) - excused} echoes wrong{apart}: "
                + "; ".join(wrong[:SHOWN]), witness={"wrong": wrong[:50]})
        if excused == len(pairs):
            return self.verdict(False, f"none of the {len(pairs)} echoes reached a running "
                                "node, so nothing shows the node echoes")
        return self.verdict(True, f"all {len(pairs) - excused} echoes came back as "
                            f"sent{apart}")
