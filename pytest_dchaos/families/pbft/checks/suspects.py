"""The ``suspects`` check: malicious-node detection, without false accusations."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.families.pbft.checks.common import bound_note, honest_states, listing, no_state
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s


def _first_bad(record: RunRecord, node: str, since: float, by_agent: bool) -> float:
    """When ``node`` first sent anything after turning Byzantine at ``since`` (seconds
    into the run): its first bad message. Where its agent made it a traitor
    (``by_agent``), the first message the agent changed or sent again: the others went
    out as the node wrote them. The turn itself if the trace shows none."""
    t0 = record.history.t0
    first = None
    bad = ("mutate", "replay") if by_agent else ("send",)
    for event in record.trace():
        if event.get("ev") in bad and event.get("src") == node:
            t = float(event.get("t", 0)) - t0
            if t >= since and (first is None or t < first):
                first = t
    return first if first is not None else since


@dataclass(frozen=True)
class SuspectsOptions:
    #: None: the nodes the byzantine faults name.
    nodes: tuple[str, ...] | None
    within: float
    max_false: int


class Suspects(CheckerType[SuspectsOptions]):
    name = "suspects"
    doc = ("Malicious-node detection: every honest replica lists each misbehaving replica in "
           "`suspects` — within `within` of its first message after it turned Byzantine (of "
           "the first its agent changed or replayed, for a `message` fault's traitor), "
           "when the replica reports `evidence` with times — and no honest replica lists an "
           "honest one that no fault touched.")
    protocols = ("pbft",)
    evidence = "reported"
    requires = frozenset({"dchaos_state"})
    blind_to = ("Whether a suspicion is justified: `suspects` and `evidence` are each "
                "replica's own belief, timed by its own clock, and nothing the harness "
                "observes says whom a replica suspects; replicas that answer no "
                "dchaos_state.")
    options = s.Struct((
        s.Field("nodes", s.ListOf(s.NodeRef(()), scalar_ok=True), "the misbehaving replicas "
                "(default: those the byzantine faults name)", None),
        s.Field("within", s.Duration(), "detection deadline", 1.0),
        s.Field("max_false", s.Int(min=0), "honest replicas wrongly suspected, allowed", 0),
    ))
    options_type = SuspectsOptions

    def check(self, options: SuspectsOptions, record: RunRecord) -> Verdict:
        missing = no_state(self, record)
        if missing:
            return missing
        starts: dict[str, float] = {}
        by_agent: set[str] = set()  # traitors a message fault made (mutate, replay)
        for event in record.faults:
            if event.effect == "byzantine" and event.action == "start":
                for node in event.nodes:
                    starts.setdefault(node, event.time)
                    if event.kind == "message":
                        by_agent.add(node)
        targets = list(options.nodes) if options.nodes else sorted(starts)
        if not targets:
            return self.verdict(False, "no replica turned Byzantine and none is named in "
                                "`nodes`, so there is nothing to detect")
        # A crash, a pause or a cut link may make an honest replica look faulty; the links
        # a traitor's messages are changed on (a mutating message fault) do not: their
        # receivers are as honest as any.
        touched = {n for e in record.faults for n in e.nodes} | {
            n for e in record.faults if e.effect != "byzantine" for link in e.links
            for n in link}
        t0 = record.history.t0
        misses, delays, false = [], [], []
        honest = honest_states(record)
        for target in targets:
            turned = starts.get(target, 0.0)
            bad_at = _first_bad(record, target, turned, target in by_agent)
            for replica, state in sorted(honest.items()):
                if replica == target or replica in targets:
                    continue
                if target not in (state.get("suspects") or []):
                    misses.append(f"{replica} never suspected {target}")
                    continue
                times = [float(e["at"]) for e in (state.get("evidence") or {}).get(target, [])
                         if isinstance(e, dict) and isinstance(e.get("at"), (int, float))]
                if times:
                    seen = min(times) - t0
                    # Silence and stalls are seen before (or without) any message: from
                    # the turn, then.
                    delay = seen - bad_at if seen >= bad_at else max(0.0, seen - turned)
                    delays.append(delay)
                    if delay > options.within:
                        misses.append(f"{replica} suspected {target} {delay:.2f}s after its "
                                      f"first bad message (> {options.within:g}s)")
        for replica, state in sorted(honest.items()):
            for suspect in state.get("suspects") or []:
                if suspect not in targets and suspect not in starts and suspect not in touched:
                    false.append(f"{replica} suspects {suspect}, which is honest")
        problems = misses + (false if len(false) > options.max_false else [])
        figures = {"targets": targets, "max_s": round(max(delays), 3) if delays else None,
                   "false_suspicions": len(false)}
        if problems:
            return self.verdict(False, listing(problems) + bound_note(record),
                                figures=figures)
        timing = f" within {max(delays):.2f}s of the first bad message" if delays else \
            " (no evidence times reported, so detection was not timed)"
        return self.verdict(True, f"every honest replica suspects {', '.join(targets)}"
                            f"{timing}; {len(false)} honest replica(s) wrongly suspected"
                            + bound_note(record), figures=figures)
