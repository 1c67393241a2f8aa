"""``shiviz.log``: a run's events in the format ShiViz parses as it is.

ShiViz (https://bestchai.bitbucket.io/shiviz/) draws a space-time diagram from a log of
events with vector clocks. The file's first line is the regular expression that parses
each event (GoVector's layout: two lines per event, ``host {clock}`` then a description),
the second is the delimiter between executions (empty: one execution), then the events.

ShiViz accepts a log only if the clocks obey its rules (own entry 1, 2, ... per logged
event; transitive; naming only logged events). The nodes' own clocks are written when they
do — that is what debugging a node means — and the harness's clocks otherwise, which always
do; the ``shiviz_log`` check says which, and why.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_dchaos.families.vector_clock.causality import Causality

REGEX = r"(?<host>\S*) (?<clock>{.*})\n(?<event>.*)"


def describe(event: Mapping[str, Any]) -> str:
    """One line a person reads in ShiViz's event panel."""
    kind, what = event.get("kind", "?"), event.get("what", "")
    if kind == "send":
        to = ", ".join(sorted(event.get("to") or {}))
        extra = (f" #{event['seq_b']}" if "seq_b" in event else
                 f" {event['amount']}" if "amount" in event else
                 f" {event['id']}" if "id" in event else "")
        return f"send {what}{extra} to {to or 'nobody'}"
    if kind == "receive":
        extra = (f" {event['origin']}#{event['seq_b']}" if "seq_b" in event else
                 f" {event['amount']}" if "amount" in event else
                 f" {event['id']}" if "id" in event else "")
        return f"receive {what}{extra} from {event.get('from')} (msg {event.get('msg_id')})"
    if kind == "deliver":
        return f"deliver {event.get('origin')}#{event.get('seq_b')}"
    if kind == "snapshot":
        return f"snapshot {event.get('id')} recorded {json.dumps(event.get('state'))}"
    return str(kind)


def write(path: Path, model: Causality, node_clocks: bool) -> str:
    """Write the ShiViz log; returns which clocks it holds, in words."""
    lines = [REGEX, ""]
    for node in model.nodes:
        for position, event in enumerate(model.events[node], start=1):
            if node_clocks:
                clock = {k: v for k, v in (event.get("vc") or {}).items() if v}
            else:
                mine = model.clocks[node][position - 1]
                clock = {n: c for n, c in zip(model.nodes, mine, strict=True) if c}
            lines.append(f"{node} {json.dumps(clock, separators=(',', ':'), sort_keys=True)}")
            lines.append(describe(event).replace("\n", " "))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ("the nodes' own vector clocks" if node_clocks else
            "the harness's clocks (the nodes' own break ShiViz's rules; see shiviz_log)")
