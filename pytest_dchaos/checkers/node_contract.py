"""``node_contract``: the nodes kept the node contract for the whole run (always checked).

A node that prints anything but JSON messages on stdout, or that exits without being told
to, is broken whatever the protocol: this check names the node, what it did and where its
log is, instead of letting the symptom surface as some other check's mystery failure.
"""

from __future__ import annotations

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.record.result import RunRecord, Verdict


class NodeContract(CheckerType[NoOptions]):
    name = "node_contract"
    doc = ("No node printed a non-message line on stdout or exited on its own; "
           "checked in every run.")
    blind_to = ("A node that answers wrongly but well-formed: this check judges only the "
                "framing (one JSON message per line) and that the process stayed up unless the "
                "scenario stopped it.")

    def check(self, options: NoOptions, record: RunRecord) -> Verdict:
        problems = [i for i in record.incidents if i.kind in ("bad_output", "crash",
                                                               "agent_lost")]
        if not problems:
            return self.verdict(True, "every node spoke only JSON messages and none crashed")
        lines = [f"{p.node} at {p.time:.2f}s: {p.detail}" for p in problems[:10]]
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        nodes = sorted({p.node for p in problems})
        logs = ", ".join(f"nodes/{n}/stderr.log" for n in nodes)
        return self.verdict(
            False,
            f"{len(problems)} contract violation(s){more}: " + "; ".join(lines)
            + f" — see {logs} in the report folder",
            witness={"incidents": [p.__dict__ for p in problems]},
        )
