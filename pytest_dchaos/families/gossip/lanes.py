"""The gossip family's lanes on the report page: each node's membership view over the run,
from the ``members`` samples its monitor took (reported: what each node said)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_dchaos.families.gossip.observations import ALIVE, DEAD, MEMBERSHIP, SUSPECT
from pytest_dchaos.record.folder import ReportFolder
from pytest_dchaos.record.lanes import Lane, held

GROUP = "membership views"
ALL_ALIVE = "all alive"
NO_ANSWER = "no answer"


def membership_lanes(run: ReportFolder) -> list[Lane]:
    """A lane per node: what its ``members`` answers said of the others, sample by sample —
    all alive, some suspect, some dead (the worst decides the state; the tooltip names
    them) — or no answer in time. None when the run took no samples (only the failure
    detection and rejoin checks ask for them)."""
    samples = [s for s in run.observations.get(MEMBERSHIP) or ()
               if isinstance(s, Mapping) and isinstance(s.get("t"), int | float)]
    if not samples:
        return []
    samples.sort(key=lambda s: float(s["t"]))
    observers = run.facts.nodes or tuple(sorted(
        {str(o) for s in samples for o in _views(s)}))
    lanes = []
    for observer in observers:
        points: list[tuple[float, str | None, str]] = []
        for sample in samples:
            view = _views(sample).get(observer)
            if not isinstance(view, Mapping):
                points.append((float(sample["t"]), NO_ANSWER, ""))
                continue
            points.append((float(sample["t"]), *_state(observer, view)))
        lanes.append(Lane(GROUP, f"{observer} sees", held(points, run.end),
                          source="reported: each node's members answers, as sampled"))
    return lanes


def _views(sample: Mapping[str, Any]) -> Mapping[str, Any]:
    views = sample.get("views")
    return views if isinstance(views, Mapping) else {}


def _state(observer: str, view: Mapping[str, Any]) -> tuple[str, str]:
    """The worst a view says of the others, and whom it says it of."""
    others = {str(m): str(s) for m, s in view.items() if m != observer}
    dead = sorted(m for m, s in others.items() if s == DEAD)
    suspect = sorted(m for m, s in others.items() if s == SUSPECT)
    odd = sorted(f"{m} {s}" for m, s in others.items() if s not in (ALIVE, SUSPECT, DEAD))
    words = [*(f"{m} dead" for m in dead), *(f"{m} suspect" for m in suspect), *odd]
    if dead:
        return DEAD, ", ".join(words)
    if suspect:
        return SUSPECT, ", ".join(words)
    if odd:
        return "other", ", ".join(words)
    return ALL_ALIVE, f"{len(others)} other(s) alive"
