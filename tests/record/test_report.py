"""The report folder's summary.md, as a markdown viewer (a CI artifact page) shows it."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_dchaos.record import report
from pytest_dchaos.record.result import FaultEvent, RunResult, Verdict
from tests.builders import record


def cells(row: str) -> list[str]:
    """A table row's cells as GitHub's markdown reads them: split on every ``|`` that no
    backslash escapes, then ``\\|`` is a ``|`` and ``\\\\`` a backslash."""
    assert row.startswith("| ") and row.endswith(" |"), row
    parts = re.split(r"(?<!\\)\|", row[1:-1])
    return [re.sub(r"\\(.)", r"\1", part.strip()) for part in parts]


def table(text: str, heading: str) -> list[list[str]]:
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [cells(row) for row in rows[2:]]  # past the header and its rule


def test_a_pipe_or_a_line_break_in_a_cell_keeps_the_table_whole(tmp_path: Path) -> None:
    partition = "partition n1 n2 | n3 n4 n5"
    verdict = Verdict("convergence", "fail", "n3 | n4 never saw 7\nsee C:\\logs\\|n3")
    run = record(faults=[FaultEvent(1.5, "start", "f0", "partition", partition),
                         FaultEvent(4.0, "end", "f0", "partition", partition)])
    result = RunResult("pipes", passed=False, seed=1, checks=[verdict], stats={},
                       run_id="abc", report_dir=tmp_path)
    report.write(result, run, [])
    text = (tmp_path / "summary.md").read_text()
    assert table(text, "Fault timeline") == [["1.50s", "start", partition],
                                             ["4.00s", "end", partition]]
    ((name, mark, evidence, detail),) = table(text, "Checks")
    assert (name, mark, evidence) == ("convergence", "**fail**", "observed")
    assert detail == "n3 | n4 never saw 7<br>see C:\\logs\\|n3"
