"""``no_invented_values``: no read returns a value that no client broadcast."""

from __future__ import annotations

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.record.history import FAIL, INVOKE, OK
from pytest_dchaos.record.result import RunRecord, Verdict


class NoInventedValues(CheckerType[NoOptions]):
    name = "no_invented_values"
    doc = ("No read (during the run or final) returns a value no client ever broadcast, nor "
           "one whose broadcast definitely failed.")
    blind_to = ("A value a node holds but never returns in a read.")
    protocols = ("gossip",)

    def check(self, options: NoOptions, record: RunRecord) -> Verdict:
        ops = record.history.ops
        invoked = {op.value for op in ops if op.f == "broadcast" and op.type == INVOKE}
        failed = {op.value for op in ops if op.f == "broadcast" and op.type == FAIL}
        succeeded = {op.value for op in ops if op.f == "broadcast" and op.type == OK}
        definitely_failed = failed - succeeded
        invented: dict[int, str] = {}
        resurrected: dict[int, str] = {}
        reads = 0
        for op in ops:
            if op.f != "read" or op.type != OK or not isinstance(op.value, list):
                continue
            reads += 1
            for value in op.value:
                where = f"{op.node} at {op.time:.2f}s (history op {op.index})"
                if value not in invoked:
                    invented.setdefault(value, where)
                elif value in definitely_failed:
                    resurrected.setdefault(value, where)
        if not reads:
            return self.verdict(False, "no read succeeded, so nothing shows the values are "
                                "genuine")
        if invented or resurrected:
            parts = []
            if invented:
                shown = ", ".join(f"{v} (read on {w})" for v, w in list(invented.items())[:5])
                parts.append(f"{len(invented)} value(s) never broadcast: {shown}")
            if resurrected:
                shown = ", ".join(f"{v} (read on {w})"
                                  for v, w in list(resurrected.items())[:5])
                parts.append(f"{len(resurrected)} value(s) whose broadcast definitely "
                             f"failed: {shown}")
            return self.verdict(False, "; ".join(parts),
                                witness={"invented": list(invented)[:50],
                                          "resurrected": list(resurrected)[:50]})
        return self.verdict(True, f"{reads} reads returned only broadcast values")
