"""``report.html``: one self-contained page per report folder, readable offline.

The page shows the verdicts (each with what it rests on, and links to the raw files it was
judged from), client latency and throughput over time with every fault shaded, a timeline
lane per node (and the family's own lanes), a space-time diagram of every node-to-node
message, the statistics, and the scenario as it ran. It is made from the folder's files
alone (:class:`~pytest_dchaos.record.folder.ReportFolder`), so ``dchaos report DIR`` makes
the same page again from a folder copied off a CI machine.

The charts are Plotly's: ``plotly.min.js`` is inlined once (nothing is fetched, so the page
works offline and from a CI artifact), and every series that grows with the run is drawn
with WebGL (``scattergl``): the space-time diagram is one trace per message type, each
message a segment of it (None-separated), so 100,000 messages cost no DOM at all.

Everything that comes from the run — check details, node logs, message types a node made
up — is untrusted text: the template escapes every value (Jinja's autoescape), the figures'
JSON is made safe inside ``<script>``, and text Plotly renders is escaped for its own
HTML-like labels.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import plotly.graph_objects as go
from markupsafe import Markup
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from pytest_dchaos import __version__
from pytest_dchaos.record.folder import ReportFolder
from pytest_dchaos.record.history import FAIL, INFO, OK, Outcome, outcome_of
from pytest_dchaos.record.lanes import Lane, fault_lanes, node_lanes
from pytest_dchaos.services import SERVICE_IDS, is_service

PAGE = "report.html"
SUMMARY = "summary.md"
#: The space-time diagram draws at most this many messages (the earliest sent); the page
#: says how many it left out. 100,000 stay well inside it.
MAX_MESSAGES = 250_000
#: Lines of each node's stderr.log shown on the page (the link opens the whole file).
LOG_TAIL = 40
#: A verdict's witness is shown up to this many characters (the rest is in result.json).
WITNESS_CHARS = 20_000
#: At most this many files are listed (a folder of thousands of node files).
MAX_FILES = 300

OUTCOME_COLOURS = {OK: "#2ca02c", FAIL: "#d62728", INFO: "#ff7f0e"}
OUTCOME_NAMES = {OK: "ok", FAIL: "fail", INFO: "unknown (info)"}
EFFECT_COLOURS = {"cut": "#d62728", "lossy": "#e377c2", "slow": "#ff7f0e",
                  "crash": "#444444", "pause": "#9467bd", "restart": "#2ca02c",
                  "byzantine": "#8c564b", "other": "#7f7f7f"}
#: Colours of lane states every page shares; a family's own states take the palette.
STATE_COLOURS = {"up": "#c7e9c0", "down": "#444444", "paused": "#9467bd",
                 "byzantine": "#8c564b", "twinned": "#17becf", "all alive": "#c7e9c0",
                 "suspect": "#ff7f0e", "dead": "#d62728", "no answer": "#d9d9d9",
                 "in doubt": "#ff7f0e", "blocked": "#d62728", **EFFECT_COLOURS}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896")
#: Which raw files a verdict that rests on each kind of evidence was judged from.
EVIDENCE_FILES = {
    "observed": ("history.jsonl", "trace.jsonl", "faults.jsonl"),
    "reported": ("states.json", "observations.json"),
    "both": ("history.jsonl", "trace.jsonl", "faults.jsonl", "states.json",
             "observations.json"),
}
PHASE_NAMES = {"workload_end": "workload end", "healed": "healed",
               "final_end": "final phase end"}


Columns = dict[str, list[Any]]


class Chart:
    """A Plotly figure whose long columns skip Plotly's validation: each trace is made,
    and validated, with its data columns empty, and the columns are put into its JSON
    (Plotly checks and copies every element of a list it is given: seconds for a run of
    100,000 messages)."""

    def __init__(self, figure: go.Figure) -> None:
        self.figure = figure
        self._columns: list[tuple[int, Columns]] = []

    def add(self, trace: Any, columns: Columns) -> None:
        self._columns.append((len(self.figure.data), columns))
        self.figure.add_trace(trace)

    def spec(self) -> dict[str, Any]:
        """The figure as Plotly.js reads it."""
        spec: dict[str, Any] = self.figure.to_plotly_json()
        for index, columns in self._columns:
            spec["data"][index].update(columns)
        return spec


def write(folder: ReportFolder,
          family_lanes: Callable[[ReportFolder], list[Lane]] | None = None) -> Path:
    """Write ``report.html`` into the folder (through a temporary file: a page cut short
    never replaces a whole one) and return its path."""
    target = folder.path / PAGE
    partial = folder.path / f".{PAGE}.partial"
    partial.write_text(build(folder, family_lanes), encoding="utf-8")
    os.replace(partial, target)
    return target


def build(folder: ReportFolder,
          family_lanes: Callable[[ReportFolder], list[Lane]] | None = None) -> str:
    """The page, as text."""
    result, facts = folder.result, folder.facts
    lanes, lanes_note = _lanes(folder, family_lanes)
    end = folder.end
    spacetime, spacetime_note = _spacetime(folder, end)
    figures = {
        "ops": _ops_figure(folder, end),
        "timeline": _timeline_figure(lanes, folder, end),
        "spacetime": spacetime,
    }
    # Here, not at the top: report imports this module to write the page.
    from pytest_dchaos.record.report import MARKS, rerun_command, stats_line

    context = {
        "version": __version__,
        "result": result,
        "facts": facts,
        "status": "PASSED" if result.passed else "FAILED",
        "rerun": rerun_command(result),
        "verdicts": [_verdict(v, folder.path) for v in result.checks],
        "marks": MARKS,
        "stats_line": stats_line(result.stats),
        "stats": _stats_rows(result.stats),
        "faults": folder.faults,
        "files": _files(folder.path),
        "logs": _logs(folder.path, facts.members),
        "problems": folder.problems,
        "lanes_note": lanes_note,
        "spacetime_note": spacetime_note,
        "ops_note": _ops_note(folder),
        "time_note": None if folder.t0 is not None else (
            "This folder does not record the run's time zero (it was written by an older "
            "dchaos): message times are placed from the first message, so they may be off "
            "from the client operations' times by the cluster's start-up time."),
        "figures_json": _script_json(figures),
        "plotly_js": Markup(_script_safe(get_plotlyjs())),
    }
    return _template().render(context)


# -- the charts --------------------------------------------------------------------------


def _ops_figure(folder: ReportFolder, end: float) -> dict[str, Any]:
    """Each operation's latency at the time it was invoked (ok, fail and unknown apart,
    log scale), and completions per time bin by outcome below; faults shaded."""
    points: dict[Outcome, tuple[list[float], list[float], list[str]]] = {
        o: ([], [], []) for o in (OK, FAIL, INFO)}
    completions: dict[Outcome, list[float]] = {o: [] for o in (OK, FAIL, INFO)}
    for invocation, completion in folder.history.pairs():
        outcome = outcome_of(completion)
        done = completion.time if completion is not None else end
        xs, ys, texts = points[outcome]
        xs.append(round(invocation.time, 4))
        ys.append(round(max(done - invocation.time, 1e-4) * 1000, 3))
        where = f" on {invocation.node}" if invocation.node else ""
        never = "" if completion is not None else ", never completed"
        texts.append(_plot_text(f"{invocation.f} by {invocation.process}{where}{never}"))
        if completion is not None:
            completions[outcome].append(completion.time)
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32],
                           vertical_spacing=0.06,
                           subplot_titles=("latency of every operation (ms, log scale)",
                                           "throughput: operations completed per second"))
    chart = Chart(figure)
    for outcome, (xs, ys, texts) in points.items():
        chart.add(go.Scattergl(
            mode="markers", name=OUTCOME_NAMES[outcome], xaxis="x", yaxis="y",
            legendgroup=outcome, marker={"color": OUTCOME_COLOURS[outcome], "size": 4,
                                         "opacity": 0.7},
            hovertemplate="%{text}<br>invoked at %{x:.3f}s, %{y:.1f} ms<extra>%{fullData.name}"
                          "</extra>"), {"x": xs, "y": ys, "text": texts})
    width = _bin_width(end)
    for outcome, times in completions.items():
        bins = Counter(math.floor(t / width) for t in times)
        keys = sorted(bins)
        figure.add_trace(go.Bar(
            x=[round((k + 0.5) * width, 4) for k in keys],
            y=[round(bins[k] / width, 3) for k in keys], width=width,
            name=OUTCOME_NAMES[outcome], legendgroup=outcome, showlegend=False,
            marker={"color": OUTCOME_COLOURS[outcome]},
            hovertemplate=f"%{{y:.1f}}/s around %{{x:.2f}}s<extra>{OUTCOME_NAMES[outcome]}"
                          "</extra>"), row=2, col=1)
    figure.update_layout(barmode="stack", bargap=0, height=560)
    figure.update_yaxes(type="log", title_text="ms", row=1, col=1)
    figure.update_yaxes(title_text="ops/s", row=2, col=1)
    figure.update_xaxes(title_text="seconds since the workload started", row=2, col=1)
    _shade(figure, folder, end)
    _layout(figure, folder)
    return chart.spec()


def _bin_width(end: float) -> float:
    """A throughput bin: a second, wider for a long run (at most ~300 bars)."""
    return max(1.0, math.ceil(end / 300)) if end > 0 else 1.0


def _timeline_figure(lanes: Sequence[Lane], folder: ReportFolder, end: float
                     ) -> dict[str, Any]:
    """Every lane as a row of horizontal bars (a trace per state), marks as points."""
    labels = _labels(lanes)
    by_state: dict[str, tuple[list[float], list[float], list[str], list[str]]] = {}
    marks: tuple[list[float], list[str], list[str]] = ([], [], [])
    for lane, label in zip(lanes, labels, strict=True):
        for span in lane.spans:
            base, widths, ys, texts = by_state.setdefault(span.state, ([], [], [], []))
            base.append(round(span.start, 4))
            widths.append(round(max(span.end - span.start, 1e-3), 4))
            ys.append(label)
            texts.append(_plot_text(f"{lane.group}: {lane.name}: {span.state}"
                                    + (f" — {span.detail}" if span.detail else "")
                                    + f" ({span.start:.2f}s to {span.end:.2f}s)"
                                    + (f"<br>{lane.source}" if lane.source else ""),
                                    keep_breaks=True))
        for mark in lane.marks:
            marks[0].append(round(mark.t, 4))
            marks[1].append(label)
            marks[2].append(_plot_text(f"{lane.name}: {mark.label}"
                                       + (f" — {mark.detail}" if mark.detail else "")
                                       + f" at {mark.t:.2f}s"))
    figure = go.Figure()
    chart = Chart(figure)
    for index, (state, (base, widths, ys, texts)) in enumerate(sorted(by_state.items())):
        chart.add(go.Bar(
            orientation="h", name=_plot_text(state),
            marker={"color": _state_colour(state, index), "line": {"width": 0}},
            hovertemplate="%{hovertext}<extra></extra>"),
            {"base": base, "x": widths, "y": ys, "hovertext": texts})
    if marks[0]:
        chart.add(go.Scatter(
            mode="markers", name="events",
            marker={"symbol": "diamond", "size": 9, "color": "#000000",
                    "line": {"color": "#ffffff", "width": 1}},
            hovertemplate="%{text}<extra></extra>"),
            {"x": marks[0], "y": marks[1], "text": marks[2]})
    figure.update_layout(
        barmode="overlay", bargap=0.25, height=max(220, 80 + 26 * len(lanes)),
        xaxis={"title": {"text": "seconds since the workload started"}},
        yaxis={"autorange": "reversed", "type": "category", "categoryorder": "array",
               "categoryarray": labels, "automargin": True})
    _shade(figure, folder, end)
    _layout(figure, folder)
    return chart.spec()


def _spacetime(folder: ReportFolder, end: float) -> tuple[dict[str, Any], str]:
    """The space-time diagram: a lane per process, each node-to-node message a segment
    from its send to its receive, a trace per message type; drops and messages that never
    arrived marked. Returns the figure and what the page says about what it shows."""
    t0 = folder.t0
    # A twin speaks as its node, and the trace names it so: no lane of its own.
    lanes = dict.fromkeys(folder.facts.nodes)
    sends: dict[str, tuple[float, str, str]] = {}  # id -> (time, sender, type)
    early: dict[str, list[tuple[str, float, str, str]]] = {}  # arrivals read before sends
    arrived: set[str] = set()
    segments: dict[str, tuple[list[float | None], list[str | None]]] = {}
    dropped: tuple[list[float | None], list[str | None]] = ([], [])
    drops: tuple[list[float], list[str], list[str]] = ([], [], [])
    counts: Counter[str] = Counter()
    cut_at: float | None = None

    def arrive(mid: str, ev: str, t: float, dest: str, why: str) -> None:
        sent_at, src, kind = sends[mid]
        arrived.add(mid)
        if ev == "recv":
            xs, ys = segments.setdefault(kind, ([], []))
            xs += (sent_at, t, None)
            ys += (src, dest, None)
            counts["received"] += 1
            return
        dropped[0].extend((sent_at, t, None))
        dropped[1].extend((src, dest, None))
        drops[0].append(t)
        drops[1].append(dest)
        drops[2].append(f"{kind} {_plot_text(src)}→{_plot_text(dest)} dropped at {t:.3f}s"
                        + (f": {_plot_text(why)}" if why else ""))
        counts["dropped"] += 1

    for event in folder.trace():
        ev = event.get("ev")
        if ev in ("client_in", "client_out"):
            service = is_service(event.get("src")) or is_service(event.get("dest"))
            counts["service" if service else "client"] += 1
            continue
        if ev not in ("send", "dup", "replay", "recv", "drop"):
            continue
        try:
            t = float(event["t"])
        except (KeyError, TypeError, ValueError):
            counts["unreadable"] += 1
            continue
        if t0 is None:
            t0 = t
        t = round(t - t0, 4)
        mid, src, dest = str(event.get("id")), str(event.get("src")), str(event.get("dest"))
        if ev in ("send", "dup", "replay"):
            if mid in sends:
                continue  # a duplicated or replayed copy leaves from the same send
            if len(sends) >= MAX_MESSAGES:
                counts["left_out"] += 1
                cut_at = t if cut_at is None else cut_at
                continue
            sends[mid] = (t, src, _plot_text(str(event.get("type", "?"))))
            lanes.setdefault(src)
            lanes.setdefault(dest)
            for waiting in early.pop(mid, ()):
                arrive(mid, *waiting)
        elif mid in sends:
            arrive(mid, ev, t, dest, str(event.get("why") or ""))
        elif cut_at is None:
            # Agents' clocks differ by a little: an arrival may be read before its send.
            early.setdefault(mid, []).append((ev, t, dest, str(event.get("why") or "")))
    figure = go.Figure()
    chart = Chart(figure)
    for index, (kind, (xs, ys)) in enumerate(sorted(segments.items())):
        chart.add(go.Scattergl(
            mode="lines", name=kind, hoverinfo="x+y+name",
            line={"width": 1, "color": PALETTE[index % len(PALETTE)]}), {"x": xs, "y": ys})
    if dropped[0]:
        chart.add(go.Scattergl(
            mode="lines", name="dropped", hoverinfo="skip",
            line={"width": 1, "color": "#999999", "dash": "dash"}),
            {"x": dropped[0], "y": dropped[1]})
        chart.add(go.Scattergl(
            mode="markers", name="drop", marker={"symbol": "x", "size": 7, "color": "#d62728"},
            hovertemplate="%{text}<extra></extra>"),
            {"x": drops[0], "y": drops[1], "text": drops[2]})
    lost = [(t, src) for mid, (t, src, _) in sends.items() if mid not in arrived]
    if lost:
        chart.add(go.Scattergl(
            mode="markers", name="never arrived",
            marker={"symbol": "circle-open", "size": 6, "color": "#000000"},
            hovertemplate="sent at %{x:.3f}s by %{y}; the trace has no receive or drop"
                          "<extra></extra>"),
            {"x": [t for t, _ in lost], "y": [src for _, src in lost]})
    order = [_plot_text(m) for m in lanes if m is not None]
    figure.update_layout(
        height=max(260, 90 + 48 * len(order)), hovermode="closest",
        xaxis={"title": {"text": "seconds since the workload started"}},
        yaxis={"type": "category", "categoryorder": "array", "categoryarray": order,
               "autorange": "reversed"})
    _shade(figure, folder, end)
    note = [f"{len(sends)} node-to-node message(s) drawn, each a line from its send (left) to "
            f"its receive: {counts['received']} receive(s), {counts['dropped']} drop(s), "
            f"{len(lost)} never arrived (still in flight at the end, or lost unrecorded)."]
    if counts["left_out"]:
        note.append(f"Not drawn: {counts['left_out']} later message(s), sent from "
                    f"{cut_at:.2f}s on — the diagram stops at {MAX_MESSAGES} messages; "
                    "trace.jsonl has them all.")
    if counts["client"]:
        note.append(f"Not drawn: {counts['client']} client message event(s) (the latency "
                    "chart shows the client operations).")
    if counts["service"]:
        note.append(f"Not drawn: {counts['service']} message(s) between nodes and "
                    f"Maelstrom's services ({', '.join(SERVICE_IDS)}); trace.jsonl has them.")
    for twin in folder.facts.twins:
        note.append(f"{twin.node}'s lane also holds what its twin {twin.member} sent and "
                    f"received: the twin speaks as {twin.node}, and the trace names it so.")
    if counts["unreadable"]:
        note.append(f"Not drawn: {counts['unreadable']} trace line(s) without a time.")
    _layout(figure, folder)
    return chart.spec(), " ".join(note)


def _shade(figure: go.Figure, folder: ReportFolder, end: float) -> None:
    """Every fault's interval shaded and labelled (to the end of the run if it never
    ended); a fault that could not be applied, and the run's phases, as vertical lines."""
    opened: dict[str, tuple[float, str, str, str]] = {}
    spans: list[tuple[float, float, str, str]] = []
    for event in folder.faults:
        if event.action == "start":
            opened[event.key] = (event.time, event.effect, event.kind, event.description)
        elif event.action == "end" and event.key in opened:
            at, effect, kind, _ = opened.pop(event.key)
            spans.append((at, event.time, effect, f"{event.key} {kind}"))
        elif event.action == "error":
            figure.add_vline(x=event.time, line={"color": "#d62728", "dash": "dash",
                                                 "width": 1})
    for key, (at, effect, kind, _) in opened.items():
        if effect == "restart" or kind == "heal":
            figure.add_vline(x=at, line={"color": EFFECT_COLOURS.get(effect, "#7f7f7f"),
                                         "width": 1, "dash": "dot"},
                             label={"text": _plot_text(f"{key} {kind}"),
                                    "textposition": "end", "font": {"size": 10}})
        else:
            spans.append((at, end, effect, f"{key} {kind} (never ended)"))
    for at, until, effect, label in spans:
        figure.add_shape(
            type="rect", xref="x", yref="paper", x0=at, x1=max(until, at + 1e-3), y0=0, y1=1,
            fillcolor=EFFECT_COLOURS.get(effect, "#7f7f7f"), opacity=0.14, layer="below",
            line={"width": 0},
            label={"text": _plot_text(label), "textposition": "top left",
                   "font": {"size": 10, "color": "#333333"}})
    for phase, name in PHASE_NAMES.items():
        when = folder.facts.phases.get(phase)
        if when is not None:
            figure.add_vline(x=when, line={"color": "#555555", "width": 1, "dash": "dot"})
            figure.add_annotation(x=when, y=1.0, yref="paper", text=name, showarrow=False,
                                  textangle=-90, xanchor="right", yanchor="top",
                                  font={"size": 9, "color": "#555555"})


def _layout(figure: go.Figure, folder: ReportFolder) -> go.Figure:
    figure.update_layout(margin={"l": 60, "r": 20, "t": 40, "b": 50}, template="plotly_white",
                         legend={"orientation": "h", "yanchor": "bottom", "y": 1.02},
                         dragmode="zoom", uirevision=folder.result.run_id)
    return figure


# -- the rest of the page ----------------------------------------------------------------


def _lanes(folder: ReportFolder, family_lanes: Callable[[ReportFolder], list[Lane]] | None
           ) -> tuple[list[Lane], str]:
    """The generic lanes, then the family's; what the page says about the family's."""
    lanes = node_lanes(folder) + fault_lanes(folder)
    protocol = folder.facts.protocol or "the protocol"
    if family_lanes is None:
        return lanes, (f"No lanes of {protocol}'s own: its family is not installed here, or "
                       "the folder does not say which protocol ran.")
    try:
        own = family_lanes(folder)
    except Exception as exc:  # a family's bug must not cost the page
        return lanes, (f"{protocol}'s own lanes could not be drawn ({type(exc).__name__}: "
                       f"{exc}); this is a bug in the family.")
    if not own:
        return lanes, (f"{protocol} has no lanes of its own for this run (nothing it "
                       "draws was observed or reported).")
    groups = ", ".join(dict.fromkeys(lane.group for lane in own))
    return lanes + own, f"Below the nodes and faults, {protocol}'s own lanes: {groups}."


def _labels(lanes: Sequence[Lane]) -> list[str]:
    """Each lane's row label: its name, with its group where two groups share a name."""
    names = Counter(lane.name for lane in lanes)
    return [_plot_text(lane.name if names[lane.name] == 1 else f"{lane.group}: {lane.name}")
            for lane in lanes]


def _state_colour(state: str, index: int) -> str:
    return STATE_COLOURS.get(state, PALETTE[index % len(PALETTE)])


def _ops_note(folder: ReportFolder) -> str:
    ops = folder.result.stats.get("ops") or {}
    return (f"{ops.get('total', 0)} operation(s): {ops.get('ok', 0)} ok, {ops.get('fail', 0)} "
            f"failed, {ops.get('info', 0)} of unknown outcome (a timeout or a crash "
            "mid-request; drawn at the time they were given up, or at the end of the run if "
            "they never completed).")


def _verdict(verdict: Any, directory: Path) -> dict[str, Any]:
    witness = ""
    if verdict.witness:
        witness = json.dumps(verdict.witness, indent=1, default=str, sort_keys=True)
        if len(witness) > WITNESS_CHARS:
            witness = (witness[:WITNESS_CHARS] + f"\n... ({len(witness) - WITNESS_CHARS} more "
                       "characters in result.json)")
    files = [name for name in EVIDENCE_FILES[verdict.evidence] if (directory / name).exists()]
    if verdict.failed and (directory / "checker-errors.log").exists():
        files.append("checker-errors.log")
    figures = ", ".join(f"{k}: {_number(v)}" for k, v in verdict.figures.items())
    return {"v": verdict, "witness": witness, "files": files, "figures": figures}


def _stats_rows(stats: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in stats.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and all(
                not isinstance(v, Mapping) for v in value.values()):
            rows.append((name, ", ".join(f"{k} {_number(v)}" for k, v in value.items())))
        elif isinstance(value, Mapping) and value:
            rows.extend(_stats_rows(value, f"{name}."))
        else:
            rows.append((name, _number(value)))
    return rows


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)
    if value is None:
        return "—"
    return str(value)


def _files(directory: Path) -> list[tuple[str, str, str]]:
    """``(href, name, size)`` of the folder's files, the top-level ones first. The summary
    is listed without its size: it is written after the page (the page must come out the
    same when ``dchaos report`` makes it again, with the summary there)."""
    found: list[tuple[int, str, Path]] = []
    for root, dirs, names in os.walk(directory):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            parts = path.relative_to(directory).parts
            if parts in ((PAGE,), (f".{PAGE}.partial",), (SUMMARY,)):
                continue
            found.append((len(parts), "/".join(parts), path))
        if len(found) > MAX_FILES:
            break
    found.sort(key=lambda f: (f[0] > 1, f[1]))
    out = [(SUMMARY, SUMMARY, "")]
    for _, relative, path in found[:MAX_FILES]:
        try:
            size = _size(path.stat().st_size)
        except OSError:
            size = "?"
        out.append(("/".join(quote(part) for part in relative.split("/")), relative, size))
    return out


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _logs(directory: Path, members: Iterable[str]) -> list[dict[str, str]]:
    """The last lines of each node's stderr.log."""
    nodes = directory / "nodes"
    names = list(members) or (sorted(p.name for p in nodes.iterdir() if p.is_dir())
                              if nodes.is_dir() else [])
    out = []
    for member in names:
        log = nodes / member / "stderr.log"
        if not log.is_file():
            continue
        try:
            with open(log, encoding="utf-8", errors="replace") as source:
                lines = source.read()[-200_000:].splitlines()[-LOG_TAIL:]
        except OSError:
            continue
        out.append({"node": member, "href": f"nodes/{quote(member)}/stderr.log",
                    "tail": "\n".join(line[:500] for line in lines)})
    return out


def _plot_text(text: str, *, keep_breaks: bool = False) -> str:
    """Text for Plotly, which reads a few HTML tags and entities in labels: escaped, so
    whatever a node wrote shows as written."""
    escaped = html.escape(text, quote=False)
    return escaped.replace("&lt;br&gt;", "<br>") if keep_breaks else escaped


def _script_safe(text: str) -> str:
    """Text that cannot end the ``<script>`` element it is in."""
    return text.replace("</script", "<\\/script").replace("<!--", "<\\!--")


def _script_json(data: Any) -> Markup:
    """JSON for a ``<script type="application/json">``: ``<``, ``>`` and ``&`` as
    escapes, so nothing in it can close the element."""
    text = json.dumps(data, separators=(",", ":"))
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e")
                  .replace("&", "\\u0026"))


_ENVIRONMENT: jinja2.Environment | None = None


def _template() -> jinja2.Template:
    global _ENVIRONMENT
    if _ENVIRONMENT is None:
        _ENVIRONMENT = jinja2.Environment(
            loader=jinja2.PackageLoader("pytest_dchaos.record", "templates"),
            autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
            lstrip_blocks=True)
    return _ENVIRONMENT.get_template("report.html.j2")

