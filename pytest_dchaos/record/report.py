"""The report folder of a run, and the summary a person reads in the terminal.

``DIR/`` holds ``result.json`` (the verdicts and stats), ``history.jsonl`` (client
operations, Jepsen-style), ``trace.jsonl`` (every message, merged from all agents in time
order), ``faults.jsonl`` (the fault timeline), ``observations.json`` and ``states.json``
(what the family observed and what nodes reported), ``summary.md``, ``report.html`` (the
page: charts, timelines, the message diagram; see :mod:`pytest_dchaos.record.page`), and
``nodes/nX/`` with each node's ``stderr.log`` and its agent's log.

``summary.md`` and ``report.html`` are made from the folder's files alone
(:func:`render`), after the run writes them and whenever ``dchaos report DIR`` is asked to:
whatever they show, the folder holds.

A run that ends before its verdicts (it could not start, or was interrupted) leaves only
``summary.md`` saying so and why, and ``nodes/`` with what its nodes logged: no
``result.json``, so nothing reads as a verdict.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import math
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pytest_dchaos.record import page
from pytest_dchaos.record.folder import ReportFolder
from pytest_dchaos.record.lanes import Lane
from pytest_dchaos.record.result import RunFacts, RunRecord, RunResult
from pytest_dchaos.run.nemesis import Firing

#: What a finished run writes (besides ``nodes/`` and its family's artifacts).
FILES = ("result.json", "summary.md", "history.jsonl", "trace.jsonl", "faults.jsonl",
         "observations.json", "states.json", "checker-errors.log", page.PAGE)

#: A family's lanes for the page (``ProtocolFamily.report_lanes``).
LaneSource = Callable[[ReportFolder], list[Lane]]


def clear(directory: Path) -> None:
    """Remove what an earlier run wrote into ``directory``."""
    for name in FILES:
        (directory / name).unlink(missing_ok=True)


def not_run(directory: Path, scenario: str, run_id: str, seed: int, backend: str,
            why: str) -> None:
    """A folder of a run that ended before it was judged says so, and why."""
    clear(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "summary.md").write_text(
        f"# {scenario}: did not run to the end, no verdict\n\n"
        f"- backend: {backend}, seed: {seed}, run id: {run_id}\n\n"
        f"Why:\n\n```text\n{why.rstrip()}\n```\n\n"
        "There is no `result.json`: nothing was judged. What the nodes logged before the "
        "run stopped is under `nodes/`.\n", encoding="utf-8")


def write(result: RunResult, record: RunRecord, firings: list[Firing],
          artifacts: Callable[[RunRecord, Path], list[str]] | None = None,
          lanes: LaneSource | None = None) -> None:
    """The report folder; ``artifacts`` writes the protocol family's own files into it,
    ``lanes`` draws its own lanes on the page. ``result.json`` also keeps what the summary
    and the page need of the run (:class:`RunFacts`), so both can be made again from the
    folder."""
    directory = result.report_dir
    assert directory is not None
    directory.mkdir(parents=True, exist_ok=True)
    record.history.write(directory / "history.jsonl")
    with open(directory / "faults.jsonl", "w", encoding="utf-8") as out:
        for event in record.faults:
            out.write(json.dumps(event.to_json()) + "\n")
    merged = directory / "trace.jsonl"
    _merge_traces(record.trace_files, merged)
    record.trace_files = [merged]
    _dump(directory / "observations.json", record.observations)
    _dump(directory / "states.json", record.node_states)
    extra = artifacts(record, directory) if artifacts else []
    data = result.to_json()
    data["run"] = RunFacts.of(record, tuple(extra)).to_json()
    _dump(directory / "result.json", data)
    render(ReportFolder.load(directory), lanes)


def render(folder: ReportFolder, lanes: LaneSource | None = None) -> bool:
    """Make ``report.html`` and ``summary.md`` from the report folder's files (read with
    :meth:`ReportFolder.load`); False when the page could not be made. The page never costs
    the rest: if it cannot be made, stderr says why and the summary is written all the
    same."""
    target = folder.path / page.PAGE
    written = True
    try:
        page.write(folder, lanes)
    except Exception as exc:  # the page is a view: a bug in it must not fail a run
        target.unlink(missing_ok=True)
        print(f"dchaos: {target} could not be written ({type(exc).__name__}: {exc}); the "
              "rest of the report folder is complete. This is a bug in dchaos.",
              file=sys.stderr)
        written = False
    (folder.path / "summary.md").write_text(markdown(folder), encoding="utf-8")
    return written


def _dump(path: Path, data: Any) -> None:
    with open(path, "w", encoding="utf-8") as out:
        json.dump(_clean(data), out, indent=1, default=str)
        out.write("\n")


def _clean(data: Any) -> Any:
    """JSON has no NaN: write null. A family's typed observations are written field by
    field."""
    if isinstance(data, float) and math.isnan(data):
        return None
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return _clean(dataclasses.asdict(data))
    if isinstance(data, dict):
        return {str(k): _clean(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_clean(v) for v in data]
    return data


def _merge_traces(sources: list[Path], target: Path) -> None:
    """Merge per-agent traces (each in time order) into one, streaming: constant memory."""
    def events(path: Path) -> Iterator[tuple[float, str]]:
        with open(path, encoding="utf-8") as source:
            for line in source:
                try:
                    yield json.loads(line)["t"], line
                except (ValueError, KeyError):
                    continue

    existing = [p for p in sources if p.exists() and p != target]
    with open(target, "w", encoding="utf-8") as out:
        for _, line in heapq.merge(*(events(p) for p in existing), key=lambda e: e[0]):
            out.write(line if line.endswith("\n") else line + "\n")
    for path in existing:
        path.unlink()


def rerun_command(result: RunResult) -> str:
    """The command that runs this again: same scenario, seed and backend, and the same node
    and fault layer (a rerun without ``--node-command`` would test the reference node)."""
    path = result.scenario_path or "SCENARIO.yaml"
    return " ".join(["dchaos", "run", shlex.quote(path), "--seed", str(result.seed),
                     "--backend", result.backend, *map(shlex.quote, result.rerun_flags)])


#: How each status is shown, four letters at most so the verdicts line up.
MARKS = {"pass": "PASS", "fail": "FAIL", "not_applicable": "N/A", "unknown": "UNKN"}


def summary(result: RunResult) -> str:
    """The verdicts and key figures, as printed at the end of a run."""
    status = "PASSED" if result.passed else "FAILED"
    lines = [f"{result.scenario}: {status} (seed {result.seed}, {result.backend} backend)"]
    width = max((len(v.name) for v in result.checks), default=0)
    for verdict in result.checks:
        detail = verdict.detail.replace("\n", "\n" + " " * (width + 10))
        lines.append(f"  {MARKS[verdict.status]:<4}  {verdict.name:<{width}}  "
                     f"[{verdict.evidence}] {detail}")
    lines.extend(f"  note:  {note}" for note in result.notes)
    lines.append(f"  stats: {stats_line(result.stats)}")
    if result.report_dir:
        lines.append(f"  report: {result.report_dir}")
    lines.append(f"  rerun:  {rerun_command(result)}")
    return "\n".join(lines)


def stats_line(stats: dict[str, Any]) -> str:
    ops = stats.get("ops", {})
    lat = stats.get("latency_ms", {})
    mpo = stats.get("msgs_per_op", {})
    parts = [f"ops {ops.get('total', 0)} (ok {ops.get('ok', 0)}, fail {ops.get('fail', 0)}, "
             f"info {ops.get('info', 0)})"]
    if lat.get("count"):
        parts.append(f"latency p50 {lat['p50']:.1f}ms p99 {lat['p99']:.1f}ms")
    if mpo.get("servers") is not None:
        parts.append(f"msgs/op {mpo['servers']:.2f}")
    transit = stats.get("messages", {}).get("transit_ms") or {}
    if transit.get("count"):
        parts.append(f"node-to-node transit p50 {transit['p50']:.1f}ms "
                     f"p99 {transit['p99']:.1f}ms")
    stable = stats.get("stable_latency_ms")
    if stable and stable.get("count"):
        parts.append(f"stable latency p50 {stable['p50']:.0f}ms max {stable['max']:.0f}ms")
    return "; ".join(parts)


def _row(*cells: str) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _cell(text: str) -> str:
    """``text`` as one markdown table cell: a ``|`` would end the cell (even in a code span)
    and a line break the row."""
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return "<br>".join(line.strip() for line in text.splitlines()) or " "


def markdown(folder: ReportFolder) -> str:
    """``summary.md``, from the report folder's files."""
    result, facts = folder.result, folder.facts
    nodes = len(facts.nodes) if facts.nodes else result.stats.get("nodes", "?")
    lines = [
        f"# {result.scenario}: {'passed' if result.passed else 'FAILED'}",
        "",
        f"- protocol: {facts.protocol or 'unknown'}, {nodes} nodes, "
        f"implementation: {facts.implementation or 'unknown'}",
        f"- backend: {result.backend}, seed: {result.seed}, run id: {result.run_id}",
        f"- rerun: `{rerun_command(result)}`",
        *(f"- **note**: {note}" for note in result.notes),
        "",
        "## Checks",
        "",
        "| check | verdict | rests on | detail |",
        "|---|---|---|---|",
    ]
    for verdict in result.checks:
        mark = MARKS[verdict.status].lower()
        lines.append(_row(verdict.name, f"**{mark}**" if verdict.failed else mark,
                          verdict.evidence, verdict.detail))
    lines += ["", "## Figures", "", f"{stats_line(result.stats)}", ""]
    lines += ["## Fault timeline", ""]
    if folder.faults:
        lines += ["| time | event | fault |", "|---|---|---|"]
        for event in folder.faults:
            lines.append(_row(f"{event.time:.2f}s", event.action, event.description))
    else:
        lines.append("No faults.")
    if facts.incidents:
        lines += ["", "## Incidents", ""]
        for incident in facts.incidents:
            lines.append(f"- {incident.time:.2f}s {incident.node}: {incident.kind}: "
                         f"{incident.detail}")
    lines += ["", "## Files", ""]
    if (folder.path / page.PAGE).exists():
        lines.append(f"- `{page.PAGE}`: the run on one page (charts, timelines, the message "
                     "diagram): open it in a browser")
    lines += ["- `result.json`: verdicts and statistics",
              "- `history.jsonl`: client operations (invoke / ok / fail / info)",
              "- `trace.jsonl`: every message the agents carried",
              "- `faults.jsonl`: the fault timeline",
              "- `nodes/nX/stderr.log`: each node's log",
              *(f"- {line}" for line in facts.artifacts), ""]
    return "\n".join(lines)
