"""The transaction family's lanes on the report page: transactions in doubt.

Two views of it. Observed: the client transactions each node coordinated whose outcome
the client never learned, from the request until the client gave up (timed out, or to the
end of the run) — whether they committed, the client cannot tell. Reported: the spans each node
says it was blocked, a participant that voted and waits on its coordinator's decision
(``dchaos_state_ok.blocked``), and the transactions it still had pending at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pytest_dchaos.record.folder import ReportFolder
from pytest_dchaos.record.history import INFO, outcome_of
from pytest_dchaos.record.lanes import Lane, Mark, Span, held

GROUP = "transactions in doubt"
IN_DOUBT = "in doubt"
BLOCKED = "blocked"


def in_doubt_lanes(run: ReportFolder) -> list[Lane]:
    end = run.end
    unknown: dict[str, list[tuple[float, float, str]]] = {}
    for invocation, completion in run.history.pairs():
        if invocation.f != "txn" or outcome_of(completion) != INFO or invocation.node is None:
            continue
        why = completion.error if completion is not None and completion.error else "no answer"
        until = completion.time if completion is not None else end
        unknown.setdefault(invocation.node, []).append(
            (invocation.time, until, f"{invocation.process} op {invocation.index}: {why}"))
    lanes = []
    for node in run.facts.nodes or tuple(sorted(unknown)):
        if node in unknown:
            lanes.append(Lane(GROUP, f"{node} clients in doubt",
                              _overlaps(unknown[node], IN_DOUBT, end),
                              source="observed: its clients' transactions of unknown outcome"))
        state = run.states.get(node)
        if not isinstance(state, Mapping):
            continue
        spans = list(_blocked(state.get("blocked"), run.t0, end))
        pending = [str(t) for t, d in (state.get("decisions") or {}).items()
                   if d == "pending"] if isinstance(state.get("decisions"), Mapping) else []
        marks = ((Mark(end, f"{len(pending)} pending", ", ".join(sorted(pending)[:20])),)
                 if pending else ())
        if spans or marks:
            lanes.append(Lane(GROUP, f"{node} blocked", _overlaps(spans, BLOCKED, end), marks,
                              source="reported: its dchaos_state blocked spans and decisions"))
    return lanes


def _blocked(blocked: object, t0: float | None, end: float
             ) -> Iterable[tuple[float, float, str]]:
    """The reported blocked spans in run time (the node's times are epoch seconds)."""
    if not isinstance(blocked, Mapping) or t0 is None:
        return
    for txn, span in blocked.items():
        if not isinstance(span, Mapping) or not isinstance(span.get("since"), int | float):
            continue
        until = span.get("until")
        coordinator = span.get("coordinator") or str(txn).split(".", 1)[0]
        yield (float(span["since"]) - t0,
               float(until) - t0 if isinstance(until, int | float) else end,
               f"{txn}, coordinator {coordinator}"
               + ("" if isinstance(until, int | float) else ", never decided"))


def _overlaps(spans: list[tuple[float, float, str]], state: str, end: float
              ) -> tuple[Span, ...]:
    """Overlapping spans as one row: the state while any is open, its tooltip how many and
    which."""
    edges = sorted([(s, 1, d) for s, _, d in spans] + [(e, -1, d) for _, e, d in spans],
                   key=lambda x: (x[0], x[1]))
    open_: list[str] = []
    points: list[tuple[float, str | None, str]] = []
    for t, delta, detail in edges:
        if delta > 0:
            open_.append(detail)
        elif detail in open_:
            open_.remove(detail)
        shown = "; ".join(open_[:5]) + (f"; and {len(open_) - 5} more" if len(open_) > 5
                                         else "")
        points.append((t, state if open_ else None, f"{len(open_)}: {shown}"))
    return held(points, end)
