"""A space-time (Lamport) diagram of a run's messages, as one standalone SVG document.

Each node has a horizontal lane, labelled at the left; time flows left to right, in seconds
since the workload started. A node-to-node message is a line from its send (time, sender's
lane) to its receive (time, receiver's lane), coloured by message type (legend at the
bottom): the steeper the line, the faster the delivery, and lines that cross are messages
overtaking one another. How to read the other marks:

- a thinner second arrow with the same id: a duplicate copy that was also received;
- a dashed line ending in an X: a dropped copy, the X at the time of the drop (it reaches
  the receiver's lane when the receiver was down, and stops part way otherwise);
- a short dotted stub ending in a circle: sent, but the trace holds neither a receive nor a
  drop (still in flight when the trace ended, or lost without a record);
- translucent bands: faults, over the lanes of the nodes they affect (the whole height when
  they name none), from start to end, or to the right edge when they never ended, coloured
  by effect; a crash or restart that never ended is a vertical line, and a fault the harness
  could not apply is a red dashed line.

Hover any mark for its details (SVG ``<title>`` tooltips). Messages between nodes that have
no lane, receives and drops whose send the trace lacks, and client traffic are not drawn.
When messages are left out for ``max_messages``, the time axis ends at the last one drawn.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from pytest_dchaos.record.result import Effect, FaultEvent

WIDTH, LEFT, RIGHT = 1200, 90, 30  # the left margin holds the lane labels
TOP, LANE, AXIS, LEGEND_ROW = 64, 60, 60, 18  # the top margin holds the title and summary
STUB = 14  # horizontal length of a mark whose end time says nothing useful
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")
EFFECT_COLOURS = {"cut": "#d62728", "slow": "#ff7f0e", "crash": "#444444",
                  "pause": "#9467bd", "restart": "#2ca02c", "other": "#8c8c8c"}
# Node output is untrusted: characters XML forbids even as references would break the file.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass
class _Message:
    """One node-to-node message: its send, and the receives and drops of all its copies."""

    mid: str
    type: str
    src: str
    dest: str
    sent: float
    received: list[float] = field(default_factory=list)
    dropped: list[tuple[float, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Frame:
    """Where things go: run time to x, node to the y of its lane's centre line."""

    start: float
    end: float
    lanes: Mapping[str, float]

    def x(self, t: float) -> float:
        return LEFT + (t - self.start) / (self.end - self.start) * (WIDTH - LEFT - RIGHT)

    @property
    def bottom(self) -> float:
        return TOP + LANE * len(self.lanes)


def render_svg(events: Iterable[Mapping[str, Any]], nodes: Sequence[str], t0: float,
               faults: Sequence[FaultEvent] = (), *, title: str = "",
               max_messages: int = 1500, types: Collection[str] | None = None) -> str:
    """The space-time diagram of trace ``events`` (any order; times are epoch seconds, drawn
    as seconds since ``t0``) with one lane per node of ``nodes``, in that order, and the
    ``faults`` timeline (times already relative to ``t0``) as bands.

    Only messages whose type is in ``types`` are drawn when it is given, and only the
    ``max_messages`` earliest sent; the summary line says how many were left out.
    """
    if max_messages < 1:
        raise ValueError(f"max_messages must be at least 1, got {max_messages}")
    lanes = {node: TOP + LANE * (i + 0.5) for i, node in enumerate(dict.fromkeys(nodes))}
    messages = _collect(events, t0, lanes, types)
    shown = messages[:max_messages]
    frame = _frame(shown, () if len(shown) < len(messages) else faults, lanes)
    colours = {name: i % len(PALETTE) for i, name in enumerate(sorted({m.type for m in shown}))}
    fault_marks, effects = _faults(faults, frame)
    legend, legend_height = _legend(shown, colours, effects, frame.bottom + AXIS)
    height = round(frame.bottom + AXIS + legend_height + 12)
    heads = "".join(
        f'<marker id="head{i}" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" '
        f'markerHeight="7" markerUnits="userSpaceOnUse" orient="auto">'
        f'<path d="M0,0 L8,4 L0,8 z" fill="{PALETTE[i]}"/></marker>'
        for i in sorted(set(colours.values())))
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
        f"<defs>{heads}</defs>",
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text class="title" x="{LEFT}" y="22" font-size="16" font-weight="bold">'
        f"{_text(title)}</text>",
        f'<text class="summary" x="{LEFT}" y="44">{_text(_summary(shown, messages, types))}'
        "</text>",
        *fault_marks,
        *_lanes(frame),
        _axis(frame),
        *(mark for m in shown for mark in _message(m, frame, colours[m.type])),
        legend,
        "</svg>",
    ])


def _collect(events: Iterable[Mapping[str, Any]], t0: float, lanes: Mapping[str, float],
             types: Collection[str] | None) -> list[_Message]:
    """The drawable messages, earliest sent first, each with its receives and drops."""
    sends: dict[str, _Message] = {}
    outcomes: list[tuple[str, str, float, str]] = []
    for event in events:
        ev, mid = event.get("ev"), str(event.get("id") or "")
        if not mid or ev not in ("send", "recv", "drop"):
            continue
        t = float(event["t"]) - t0
        if ev == "send" and mid not in sends:
            sends[mid] = _Message(mid, str(event.get("type")), str(event.get("src")),
                                  str(event.get("dest")), t)
        elif ev != "send":
            outcomes.append((str(ev), mid, t, str(event.get("why") or "unknown reason")))
    for ev, mid, t, why in outcomes:
        if mid in sends:
            if ev == "recv":
                sends[mid].received.append(t)
            else:
                sends[mid].dropped.append((t, why))
    drawable = [m for m in sends.values() if m.src in lanes and m.dest in lanes
                and (types is None or m.type in types)]
    return sorted(drawable, key=lambda m: (m.sent, m.mid))


def _frame(messages: Sequence[_Message], faults: Sequence[FaultEvent],
           lanes: Mapping[str, float]) -> _Frame:
    """The time range covering ``messages`` and ``faults``, always including zero."""
    times = [0.0, *(f.time for f in faults)]
    for m in messages:
        times += [m.sent, *m.received, *(t for t, _ in m.dropped)]
    start, end = min(times), max(times)
    return _Frame(start, end if end - start > 1e-6 else start + 1.0, lanes)


def _summary(shown: Sequence[_Message], messages: Sequence[_Message],
             types: Collection[str] | None) -> str:
    """The line under the title: how many messages, what became of them, what was left out."""
    if not messages:
        return "no messages" + (f" of type {', '.join(sorted(types))}" if types else "")
    delivered = sum(1 for m in shown if m.received)
    dropped = sum(1 for m in shown if m.dropped and not m.received)
    counts = (f"{delivered} delivered, {dropped} dropped, "
              f"{len(shown) - delivered - dropped} in flight/unknown")
    if len(shown) < len(messages):
        return (f"showing the first {len(shown)} of {len(messages)} messages "
                f"({len(messages) - len(shown)} left out): {counts}")
    return f"{len(messages)} messages: {counts}"


def _message(m: _Message, frame: _Frame, colour: int) -> list[str]:
    """The marks of one message: an arrow per receive, a crossed line per drop, else a stub."""
    x1, y1, y2 = frame.x(m.sent), frame.lanes[m.src], frame.lanes[m.dest]
    route, data = f"{m.type} {m.src}→{m.dest} sent {m.sent:.3f}s", {"id": m.mid}
    stroke = f'stroke="{PALETTE[colour]}" stroke-width="1.3"'
    marks = []
    for i, t in enumerate(sorted(m.received)):
        tip = f"{route}, received {t:.3f}s ({(t - m.sent) * 1000:.1f} ms)"
        line = _line(x1, y1, frame.x(t), y2, f'{stroke} marker-end="url(#head{colour})"'
                     + (' stroke-opacity="0.6"' if i else ""))
        marks.append(_group("msg dup" if i else "msg", tip + (", duplicate copy" if i else ""),
                            line, **data))
    for t, why in sorted(m.dropped):
        x2 = max(frame.x(t), x1 + STUB)
        y = y1 + (y2 - y1) * (1.0 if why == "node down" else 0.4)
        cross = (f'<path d="M{x2 - 4:.1f},{y - 4:.1f} l8,8 m0,-8 l-8,8" stroke="#222" '
                 'stroke-width="1.6"/>')
        marks.append(_group("msg dropped", f"{route}, dropped {t:.3f}s ({why})",
                            _line(x1, y1, x2, y, f'{stroke} stroke-dasharray="4 3"'), cross,
                            **data))
    if not marks:
        x2, y = x1 + STUB, y1 + (y2 - y1) * 0.25
        circle = f'<circle cx="{x2:.1f}" cy="{y:.1f}" r="2.5" fill="none" {stroke}/>'
        marks.append(_group("msg unknown", f"{route}, in flight/unknown (no receive or drop "
                            "recorded)", _line(x1, y1, x2, y, f'{stroke} stroke-dasharray="1 2"'),
                            circle, **data))
    return marks


def _faults(faults: Sequence[FaultEvent], frame: _Frame) -> tuple[list[str], set[Effect]]:
    """The fault marks inside the frame, and the effects they show (for the legend)."""
    opened: dict[str, FaultEvent] = {}
    spans: list[tuple[FaultEvent, float | None]] = []
    marks, effects = [], set()
    for fault in sorted(faults, key=lambda f: f.time):
        if fault.action == "start":
            opened[fault.key] = fault
        elif fault.action == "end" and fault.key in opened:
            spans.append((opened.pop(fault.key), fault.time))
        elif fault.action == "error" and frame.start <= fault.time <= frame.end:
            x = frame.x(fault.time)
            marks.append(_group("fault error", f"could not apply {fault.kind}: "
                                f"{fault.description}", _line(x, TOP, x, frame.bottom,
                                'stroke="#d62728" stroke-dasharray="6 3"')))
    spans += [(fault, None) for fault in opened.values()]
    for fault, end in spans:
        if fault.time > frame.end:
            continue
        colour = EFFECT_COLOURS.get(fault.effect, EFFECT_COLOURS["other"])
        until = f"until {end:.3f}s" if end is not None else "never ended"
        tip = f"{fault.kind}: {fault.description} ({fault.effect}, from {fault.time:.3f}s, {until})"
        x1, rows = frame.x(max(fault.time, frame.start)), _fault_rows(fault, frame)
        if end is None and fault.effect in ("crash", "restart"):
            cls, shapes = "fault marker", [_line(x1, top, x1, bottom, f'stroke="{colour}" '
                                                 'stroke-width="2"') for top, bottom in rows]
        else:
            width = max(frame.x(min(frame.end if end is None else end, frame.end)) - x1, 1.0)
            cls, shapes = "fault", [f'<rect x="{x1:.1f}" y="{top:.1f}" width="{width:.1f}" '
                                    f'height="{bottom - top:.1f}" fill="{colour}" '
                                    'fill-opacity="0.15"/>' for top, bottom in rows]
        label = (f'<text x="{x1 + 3:.1f}" y="{rows[0][0] + 11:.1f}" font-size="10" '
                 f'fill="{colour}">{_text(fault.kind)}</text>')
        marks.append(_group(cls, tip, *shapes, label, effect=fault.effect, key=fault.key))
        effects.add(fault.effect if fault.effect in EFFECT_COLOURS else "other")
    return marks, effects


def _fault_rows(fault: FaultEvent, frame: _Frame) -> list[tuple[float, float]]:
    """Top and bottom of each lane the fault affects, or of the whole plot if it names none."""
    named = set(fault.nodes) | {node for link in fault.links for node in link}
    rows = [(y - LANE / 2 + 3, y + LANE / 2 - 3) for node, y in frame.lanes.items()
            if node in named]
    return rows or [(TOP, frame.bottom)]


def _lanes(frame: _Frame) -> list[str]:
    return [f'<g class="lane" data-node={_attr(node)}>'
            + _line(LEFT, y, WIDTH - RIGHT, y, 'stroke="#999"')
            + f'<text x="{LEFT - 10}" y="{y + 4:.1f}" text-anchor="end" font-weight="bold">'
            f"{_text(node)}</text></g>" for node, y in frame.lanes.items()]


def _axis(frame: _Frame) -> str:
    """Ticks every 1, 2 or 5 times a power of ten, about ten of them, with faint gridlines."""
    step = 10.0 ** math.floor(math.log10((frame.end - frame.start) / 10))
    step *= next(m for m in (1, 2, 5, 10) if step * m * 10 >= frame.end - frame.start)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    y, parts = frame.bottom, ['<g class="axis">']
    for k in range(math.ceil(frame.start / step - 1e-9), math.floor(frame.end / step + 1e-9) + 1):
        x = frame.x(k * step)
        parts += [_line(x, TOP, x, y, 'stroke="#000" stroke-opacity="0.07"'),
                  _line(x, y, x, y + 5, 'stroke="#333"'),
                  f'<text x="{x:.1f}" y="{y + 18:.1f}" text-anchor="middle" font-size="11">'
                  f"{k * step:.{decimals}f} s</text>"]
    parts += [_line(LEFT, y, WIDTH - RIGHT, y, 'stroke="#333"'),
              f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.1f}" y="{y + 36:.1f}" '
              'text-anchor="middle" font-size="11">seconds since the workload started</text>',
              "</g>"]
    return "".join(parts)


def _legend(shown: Sequence[_Message], colours: Mapping[str, int], effects: Collection[str],
            y: float) -> tuple[str, float]:
    """The legend rows (types, then drop and unknown marks, then fault effects) and height."""
    entries = [(f'stroke="{PALETTE[i]}" stroke-width="3"', name) for name, i in colours.items()]
    if any(m.dropped for m in shown):
        entries.append(('stroke="#222" stroke-dasharray="4 3"', "dropped (X)"))
    if any(not m.received and not m.dropped for m in shown):
        entries.append(('stroke="#222" stroke-dasharray="1 2"', "in flight/unknown (o)"))
    entries += [(f'stroke="{EFFECT_COLOURS[e]}" stroke-width="8" stroke-opacity="0.3"',
                 f"fault: {e}") for e in sorted(effects)]
    parts, x, row = ['<g class="legend">'], float(LEFT), 0
    for style, label in entries:
        width = 30 + 6.5 * len(label)
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, row = float(LEFT), row + 1
        ly = y + row * LEGEND_ROW
        parts += [_line(x, ly - 4, x + 16, ly - 4, style),
                  f'<text x="{x + 20:.1f}" y="{ly:.1f}" font-size="11">{_text(label)}</text>']
        x += width
    parts.append("</g>")
    return "".join(parts), (row + 1) * LEGEND_ROW if entries else 0.0


def _group(cls: str, tip: str, *shapes: str, **data: str) -> str:
    attrs = "".join(f" data-{name}={_attr(value)}" for name, value in data.items())
    return f'<g class="{cls}"{attrs}><title>{_text(tip)}</title>{"".join(shapes)}</g>'


def _line(x1: float, y1: float, x2: float, y2: float, style: str) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" {style}/>'


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("", value))


def _attr(value: str) -> str:
    return quoteattr(_NOT_XML.sub("", value))
