"""``failure_detection``: failed nodes are marked dead in time and stay dead while they are
down; healthy ones never are marked dead.

Judged from the membership views sampled during the run (the gossip family's monitor asks
every node for ``members`` every ``membership_interval``) against the conditions rebuilt
from the fault timeline (see ``conditions``). Every *down episode* of a member as seen
from an observer — crashed, paused, or cut off from the observer with no path of working
links between them — is judged on its own, over every sample taken while it lasted (if it
lasted long enough to judge):

* the observer must mark the member dead within ``within``;
* once it has, it must keep it dead until the episode ends. Showing it alive or suspect
  again is a *flap* (unless the member could reach the observer meanwhile: cut off one way,
  it may refute): a down member cannot refute, so nothing the observer may believe can
  outrank its own death verdict (SWIM orders suspect below dead at one incarnation, and
  only the member raises its incarnation). A dead→suspect move matters as much as
  dead→alive: suspects are still members, sent traffic and counted on;
* so a member down for good must not be shown alive or suspect in the observer's last
  view (a miss or a flap, named as one; the figure ``not_dead_at_end`` counts them).

A member the observer had never heard from when it failed (no message of it had reached
the observer, says the message trace) is a stranger: to the observer it may be a node that
has not started yet, since a cluster's nodes start one after another. Its clock starts at
``startup`` (5 s after the workload began by default) or when its first message reaches the
observer, whichever comes first — so a cluster cut apart from its very start is judged, but
not held to a deadline no detector could meet without suspecting nodes still booting. A
member cut off one way still talks to the observer, is heard, and gets no such allowance.

Marking a member dead while it was up and both links between the two had been intact for
``within`` is a false positive, counted over every sample — unless a fault had slowed a link
of the member too much for any detector to tell it from a dead one. A detector that must
notice a crash within ``within`` has to give up on a silent member well before that: allow
it half, a probe and its answer included. A link a fault slows by at least ``within / 4``
each way makes that round trip longer than the detector may wait, so a live member behind it
is, to every such detector, indistinguishable from a dead one (no failure detector is both
complete and accurate in an asynchronous network). Those suspicions are excused, and
counted (``excused_slow``); the network's own baseline latency never excuses anything: a
detector must be tuned to the network it runs on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import pairwise

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.checkers.conditions import Conditions
from pytest_dchaos.families.gossip.observations import (
    DEAD,
    MEMBERSHIP,
    MembershipSample,
    membership_samples,
)
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s

#: A fault slowing a member's link by ``within / SLOW_FRACTION`` or more each way excuses
#: marking it dead: the round trip then outlasts half the detection deadline.
SLOW_FRACTION = 4
#: The monitor stamps a sample when it asks and waits up to max(interval, 0.5 s) for the
#: answers, so a view stamped this close to a heal or restart may already show its effect.
ANSWER_WAIT = 0.5


@dataclass(frozen=True)
class FailureDetectionOptions:
    within: float
    max_false_positives: int
    #: None: every node.
    nodes: tuple[str, ...] | None
    #: Until when (seconds since the workload began) a member never heard from may be
    #: taken for one still starting.
    startup: float


@dataclass
class _Findings:
    detections: list[float]
    misses: list[str]
    flaps: list[str]
    #: Episodes lasting to the end whose last view shows the member not dead (each also
    #: counted as a miss or a flap, which name it).
    not_dead_at_end: int = 0
    too_short: int = 0


class FailureDetection(CheckerType[FailureDetectionOptions]):
    name = "failure_detection"
    doc = ("Every live node marks a crashed, paused or cut-off node dead within `within` and "
           "keeps it dead while it stays down (shown alive or suspect again is a flap; shown "
           "so at the end while down for good fails too); every down episode is judged. No "
           "node is marked dead while it is up and reachable (false positives, counted over "
           "every sample, at most `max_false_positives`); one of a member whose links a fault "
           "slowed by `within`/4 or more each way is excused, since no detector meeting "
           "`within` can tell it from a dead one. `nodes` limits which failed nodes are "
           "judged. A member the observer never heard from is judged from `startup` on "
           "(or from its first message, if sooner): until then it may be one still "
           "starting.")
    blind_to = ("Whether a view is the node's own detection or a rumour it took from a peer, "
                "and anything between two samples of the membership monitor "
                "(`membership_interval`): a flap shorter than that is missed.")
    protocols = ("gossip",)
    evidence = "reported"
    requires = frozenset({"members"})
    needs = frozenset({MEMBERSHIP})
    options = s.Struct((
        s.Field("within", s.Duration(), "detection deadline", 3.0),
        s.Field("max_false_positives", s.Int(min=0), "false positives allowed", 0),
        s.Field("nodes", s.ListOf(s.NodeRef(selectors=())), "judge only these failed nodes",
                None),
        s.Field("startup", s.Duration(), "until this long after the workload began, a "
                "member the observer never heard from may be one still starting", 5.0),
    ), shorthand="within")
    options_type = FailureDetectionOptions

    def check(self, options: FailureDetectionOptions, record: RunRecord) -> Verdict:
        answered = [smp for smp in membership_samples(record) if smp.views]
        if not answered:
            return self.verdict(False, "no node ever answered `members`, so failure "
                                "detection cannot be judged (does the node implement it?)")
        within = options.within
        interval = _interval(answered)
        conditions = Conditions(record.faults, record.nodes)
        heard = record.derive("gossip_first_heard", _first_heard)
        found = _judge_episodes(answered, conditions, record.nodes,
                                set(options.nodes or record.nodes), within, interval,
                                partial(_clock_starts, heard, options.startup))
        false_positives, excused = _false_positives(answered, record.nodes, conditions,
                                                    within)

        detections = found.detections
        figures = {
            "detections": len(detections),
            "max_detection_s": round(max(detections), 3) if detections else None,
            "flaps": len(found.flaps),
            "not_dead_at_end": found.not_dead_at_end,
            "false_positives": len(false_positives),
            "excused_slow": len(excused),
            "sample_interval_s": round(interval, 3),
            "not_judged_too_short": found.too_short,
        }
        problems = []
        if found.misses:
            problems.append(f"{len(found.misses)} late or missed detection(s) (deadline "
                            f"{within:g}s): " + "; ".join(found.misses[:5]))
        if found.flaps:
            problems.append(f"{len(found.flaps)} flap(s) back from dead while still down: "
                            + "; ".join(found.flaps[:5]))
        if len(false_positives) > options.max_false_positives:
            problems.append(f"{len(false_positives)} false positive(s): "
                            + "; ".join(false_positives[:5]))
        witness = {"misses": found.misses[:50], "flaps": found.flaps[:50],
                   "false_positives": false_positives[:50], "excused_slow": excused[:50]}
        if problems:
            return self.verdict(False, "; ".join(problems), witness, figures)
        if not detections:
            return self.verdict(True, "no node failed long enough to judge detection; "
                                f"{len(false_positives)} false positive(s) in "
                                f"{len(answered)} samples{_excused_text(excused, within)}",
                                witness, figures)
        return self.verdict(
            True, f"{len(detections)} detection(s), slowest {max(detections):.2f}s "
            f"(deadline {within:g}s, sampled every {interval:.2f}s), none flapped back; "
            f"{len(false_positives)} false positive(s){_excused_text(excused, within)}",
            witness, figures)


def _excused_text(excused: list[str], within: float) -> str:
    if not excused:
        return ""
    return (f" ({len(excused)} more excused: a fault slowed the member's links by "
            f"{within / SLOW_FRACTION:g}s or more each way)")


def _first_heard(record: RunRecord) -> dict[tuple[str, str], float]:
    """When each node's first message reached each other node, (sender, receiver) -> run
    time, from the message trace (what the agents delivered; empty without one)."""
    t0 = record.history.t0
    nodes = set(record.nodes)
    first: dict[tuple[str, str], float] = {}
    for event in record.trace():
        if event.get("ev") != "recv":
            continue
        src, dest = str(event.get("src")), str(event.get("dest"))
        if src in nodes and dest in nodes:
            t = float(event["t"]) - t0
            if t < first.get((src, dest), math.inf):
                first[(src, dest)] = t
    return first


def _clock_starts(first_heard: dict[tuple[str, str], float], startup: float,
                  observer: str, member: str, failed: float) -> float:
    """When an episode's deadline starts to run: when the member failed, unless the
    observer had never heard from it by then (a stranger, perhaps still starting): then at
    ``startup``, or at its first message if that comes sooner."""
    heard = first_heard.get((member, observer))
    if heard is not None and heard <= failed:
        return failed
    starts = max(failed, startup)
    return starts if heard is None else min(starts, heard)


def _judge_episodes(answered: list[MembershipSample], conditions: Conditions,
                    nodes: tuple[str, ...], targets: set[str], within: float,
                    interval: float, clock_starts: Callable[[str, str, float], float]
                    ) -> _Findings:
    """Every down episode of every judged member, from every observer's point of view."""
    found = _Findings([], [], [])
    end = answered[-1].t
    blur = max(interval, ANSWER_WAIT)
    for observer in nodes:
        for member in targets:
            if member == observer:
                continue
            for failed, stop in conditions.failure_intervals(observer, member, end):
                start = clock_starts(observer, member, failed)
                if stop - start < within + interval:
                    found.too_short += 1
                    continue
                # Views stamped just before the episode ended may already show its end.
                last = math.inf if stop >= end else stop - blur
                seen = [(smp.t, state) for smp in answered
                        if start <= smp.t < last and observer in smp.views
                        and (state := smp.state(observer, member)) is not None]
                _judge_episode(found, observer, member, start, seen, within + interval,
                               failed=failed, down_for_good=stop >= end,
                               heard=partial(conditions.could_reach, member, observer))
    return found


def _judge_episode(found: _Findings, observer: str, member: str, start: float,
                   seen: list[tuple[float, str]], deadline: float, *, failed: float,
                   down_for_good: bool, heard: Callable[[float, float], bool]) -> None:
    """One observer's answers about one member through one episode in which it was down.

    ``heard(a, b)``: whether the member could reach the observer at some moment between
    ``a`` and ``b``. Under a one-way cut it can: it is failed for the observer (no path both
    ways) yet its refutation may arrive, so showing it alive again is no flap. ``start`` is
    when the deadline began to run: ``failed`` itself, or later for a stranger."""
    if not seen:
        return  # the observer could not be asked (paused, overloaded)
    first_dead = next((t for t, state in seen if state == DEAD), None)
    asked_in_time = seen[0][0] <= start + deadline
    undetected_past = next((t for t, state in seen if state != DEAD
                            and t > start + deadline
                            and (first_dead is None or t < first_dead)), None)
    if first_dead is not None and first_dead - start <= deadline:
        found.detections.append(first_dead - start)
    elif asked_in_time or undetected_past is not None:
        when = (f"only after {first_dead - start:.2f}s" if first_dead is not None
                else "never while it lasted")
        since = "" if start == failed else f"; a stranger to it, judged from {start:.2f}s"
        found.misses.append(f"{observer} marked {member} dead {when} (failed at {failed:.2f}s"
                            f"{since})")
    # Otherwise first asked after the deadline and already dead: in time or not, nobody
    # can tell, so it is neither a detection nor a miss.
    last_t, last_state = seen[-1]
    at_end = ""
    if down_for_good and last_state != DEAD:
        found.not_dead_at_end += 1
        at_end = f", and still {last_state} at the end ({last_t:.2f}s)"
    back = next(((t, state) for t, state in seen
                 if first_dead is not None and t > first_dead and state != DEAD
                 and not heard(first_dead, t)), None)
    if back is not None:
        found.flaps.append(f"{observer} showed {member} {back[1]} again at {back[0]:.2f}s "
                           f"after marking it dead at {first_dead:.2f}s ({member} down "
                           f"since {start:.2f}s){at_end}")


def _false_positives(answered: list[MembershipSample], nodes: tuple[str, ...],
                     conditions: Conditions, within: float) -> tuple[list[str], list[str]]:
    """Each time an observer newly marks a member dead while it was up and reachable: the
    false positives, and those excused because a fault had slowed the member's links past
    what a detector meeting ``within`` can wait for (see the module's docstring)."""
    false_positives: list[str] = []
    excused: list[str] = []
    previous: dict[tuple[str, str], str] = {}
    for sample in answered:
        t = sample.t
        for observer, view in sample.views.items():
            for member, state in view.items():
                key = (observer, member)
                was = previous.get(key)
                previous[key] = state
                if (state == DEAD and was != DEAD and member != observer
                        and member in nodes and conditions.healthy(observer, member, t, within)):
                    what = f"{observer} marked {member} dead at {t:.2f}s"
                    slowed = conditions.slowest_to(member, t, within)
                    if slowed >= within / SLOW_FRACTION:
                        excused.append(f"{what}, a link of {member} slowed by "
                                       f"{_seconds(slowed)} each way")
                    else:
                        false_positives.append(f"{what} while it was up and reachable")
    return false_positives, excused


def _seconds(delay: float) -> str:
    return "an unbounded queue" if math.isinf(delay) else f"{delay:g}s"


def _interval(samples: list[MembershipSample]) -> float:
    if len(samples) < 2:
        return 0.0
    gaps = sorted(b.t - a.t for a, b in pairwise(samples))
    return gaps[len(gaps) // 2]
