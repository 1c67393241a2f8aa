"""``failure_detection``: failed nodes marked dead in time, healthy ones never."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_dchaos.families.gossip.checks.failure_detection import FailureDetection
from pytest_dchaos.record.result import FaultEvent, Verdict
from tests.builders import check_options, fault, isolation_links, membership_samples, record

NODES = ("n1", "n2", "n3")
KILL_N3 = [fault(5.0, "start", "f1", "crash", ["n3"], kind="kill")]

State = Callable[[float, str, str], Any]


def crash_views(detected_at: dict[str, float | None]) -> State:
    """n3 crashes at 5s and stops answering; each observer marks it dead at its time."""

    def state(t: float, observer: str, member: str) -> str | None:
        if observer == "n3" and t >= 5.0:
            return None
        if member == "n3" and t >= 5.0:
            when = detected_at.get(observer)
            if when is not None and t >= when:
                return "dead"
            return "suspect" if t >= 5.5 else "alive"
        return "alive"

    return state


def judge(faults: list[FaultEvent], state: State | None, entry: str = "failure_detection",
          stop: float = 12.0, trace: Path | None = None) -> Verdict:
    observations = {}
    if state is not None:
        observations["membership"] = membership_samples(NODES, 0.0, stop, 0.5, state)
    rec = record(nodes=3, faults=faults, observations=observations,
                 trace_files=[trace] if trace is not None else [])
    return FailureDetection().check(check_options(entry), rec)


def first_contacts(folder: Path, heard: Mapping[tuple[str, str], float] | None = None,
                   everyone_at: float | None = 0.1) -> Path:
    """A message trace in which each node's first message reaches each other node at
    ``everyone_at`` (None: never), unless ``heard`` gives (sender, receiver) another time.
    The unit records' time zero is 0, so trace times are run times."""
    times = {(a, b): everyone_at for a in NODES for b in NODES if a != b}
    times.update(heard or {})
    events = [{"t": t, "ev": "recv", "id": f"{a}-{b}", "src": a, "dest": b, "type": "ping"}
              for (a, b), t in sorted(times.items(), key=lambda kv: kv[1] or 0.0)
              if t is not None]
    path = folder / "trace.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def test_passes_when_every_live_node_marks_the_crashed_one_dead_in_time() -> None:
    verdict = judge(KILL_N3, crash_views({"n1": 6.0, "n2": 7.0}))
    assert verdict.passed, verdict.detail
    assert verdict.detail == ("2 detection(s), slowest 2.00s (deadline 3s, sampled every "
                              "0.50s), none flapped back; 0 false positive(s)")
    assert verdict.figures["detections"] == 2
    assert verdict.figures["max_detection_s"] == pytest.approx(2.0)
    assert verdict.figures["false_positives"] == 0


def test_passes_when_the_crashed_node_stays_dead_to_the_end() -> None:
    verdict = judge(KILL_N3, crash_views({"n1": 6.0, "n2": 6.5}), stop=20.0)
    assert verdict.passed, verdict.detail
    assert verdict.figures["flaps"] == 0
    assert verdict.figures["not_dead_at_end"] == 0
    assert list(verdict.witness["flaps"]) == []


def flapping(back: tuple[float, float], state: str = "alive") -> State:
    """n3 crashes at 5s for good; n1 marks it dead at 6s but shows it ``state`` again from
    ``back[0]`` until ``back[1]``; n2 marks it dead at 6.5s and keeps it so."""
    detected = crash_views({"n1": 6.0, "n2": 6.5})

    def view(t: float, observer: str, member: str) -> Any:
        if (observer, member) == ("n1", "n3") and back[0] <= t < back[1]:
            return state
        return detected(t, observer, member)

    return view


def test_fails_when_an_observer_flaps_back_to_alive_while_the_node_is_still_down() -> None:
    verdict = judge(KILL_N3, flapping((8.0, 9.0)))
    assert not verdict.passed
    assert verdict.detail == (
        "1 flap(s) back from dead while still down: n1 showed n3 alive again at 8.00s after "
        "marking it dead at 6.00s (n3 down since 5.00s)")
    assert verdict.figures["flaps"] == 1
    assert verdict.figures["detections"] == 2  # the first detection itself was in time


def test_a_dead_member_shown_suspect_again_is_a_flap_too() -> None:
    verdict = judge(KILL_N3, flapping((8.0, 9.0), "suspect"))
    assert not verdict.passed
    assert "n1 showed n3 suspect again at 8.00s" in verdict.detail


def test_fails_when_a_node_down_for_good_is_shown_alive_at_the_end() -> None:
    verdict = judge(KILL_N3, flapping((10.0, 99.0)))
    assert not verdict.passed
    assert verdict.detail.endswith(
        "n1 showed n3 alive again at 10.00s after marking it dead at 6.00s (n3 down since "
        "5.00s), and still alive at the end (12.00s)")
    assert verdict.figures["not_dead_at_end"] == 1


def test_every_down_episode_is_judged_not_only_the_first(tmp_path: Path) -> None:
    faults = [fault(2.0, "start", "f1", "crash", ["n3"], kind="kill"),
              fault(6.0, "end", "f1", "crash", ["n3"], kind="kill"),
              fault(8.0, "start", "f2", "crash", ["n3"], kind="kill")]

    def state(t: float, observer: str, member: str) -> str | None:
        if observer == "n3" and (2.0 <= t < 6.0 or t >= 8.0):
            return None
        if member == "n3" and 3.0 <= t < 6.0:
            return "dead"  # detected the first time; never the second
        return "alive"

    verdict = judge(faults, state, stop=14.0, trace=first_contacts(tmp_path))
    assert not verdict.passed
    assert verdict.figures["detections"] == 2
    assert "n1 marked n3 dead never while it lasted (failed at 8.00s)" in verdict.detail
    assert "n2 marked n3 dead never while it lasted (failed at 8.00s)" in verdict.detail
    assert verdict.figures["not_dead_at_end"] == 2


def test_alive_again_once_the_node_is_back_is_no_flap() -> None:
    faults = [fault(5.0, "start", "f1", "crash", ["n3"], kind="kill"),
              fault(9.0, "end", "f1", "crash", ["n3"], kind="kill")]

    def state(t: float, observer: str, member: str) -> str | None:
        if observer == "n3" and 5.0 <= t < 9.0:
            return None
        if member == "n3" and 6.0 <= t < 8.5:
            return "dead"
        return "alive"  # the answers to the sample stamped 8.5s came after the restart

    verdict = judge(faults, state)
    assert verdict.passed, verdict.detail
    assert verdict.figures["flaps"] == 0


def test_an_observer_first_asked_late_that_still_shows_the_node_alive_missed_it() -> None:
    def state(t: float, observer: str, member: str) -> str | None:
        if observer == "n3" and t >= 5.0:
            return None
        if observer == "n2" and 5.0 <= t < 9.0:
            return None  # n2 did not answer in time to be asked
        if member == "n3" and t >= 5.0 and (observer == "n1" and t >= 6.0):
            return "dead"
        return "alive"

    verdict = judge(KILL_N3, state)
    assert not verdict.passed
    assert "n2 marked n3 dead never while it lasted (failed at 5.00s)" in verdict.detail


def test_fails_when_an_observer_never_marks_the_crashed_node_dead() -> None:
    verdict = judge(KILL_N3, crash_views({"n1": 6.0, "n2": None}))
    assert not verdict.passed
    assert "1 late or missed detection(s) (deadline 3s)" in verdict.detail
    assert "n2 marked n3 dead never while it lasted (failed at 5.00s)" in verdict.detail
    assert list(verdict.witness["misses"]) == [
        "n2 marked n3 dead never while it lasted (failed at 5.00s)"]


def test_fails_on_a_late_detection_naming_how_late() -> None:
    verdict = judge(KILL_N3, crash_views({"n1": 6.0, "n2": 9.5}))
    assert not verdict.passed
    assert "n2 marked n3 dead only after 4.50s (failed at 5.00s)" in verdict.detail


def test_the_deadline_allows_one_sampling_interval() -> None:
    verdict = judge(KILL_N3, crash_views({"n1": 8.5, "n2": 8.5}))  # 3.5s = within + 0.5s
    assert verdict.passed, verdict.detail


def test_a_longer_deadline_accepts_the_late_detection() -> None:
    verdict = judge(KILL_N3, crash_views({"n1": 6.0, "n2": 9.5}), "failure_detection: 5s",
                    stop=14.0)
    assert verdict.passed, verdict.detail


def test_nodes_option_limits_which_failures_are_judged() -> None:
    views = crash_views({"n1": None, "n2": None})
    assert not judge(KILL_N3, views).passed
    assert judge(KILL_N3, views, "failure_detection: {nodes: [n2]}").passed


def test_false_positives_are_counted_over_every_sample() -> None:
    def state(t: float, observer: str, member: str) -> str:
        marked = (observer, member) == ("n1", "n2") and (2.0 <= t < 3.0 or 7.0 <= t < 8.0)
        return "dead" if marked else "alive"

    verdict = judge([], state)
    assert not verdict.passed
    assert verdict.figures["false_positives"] == 2
    assert "n1 marked n2 dead at 7.00s while it was up and reachable" in verdict.detail


def test_fails_on_a_false_positive_naming_observer_member_and_time() -> None:
    def state(t: float, observer: str, member: str) -> str:
        return "dead" if (observer, member) == ("n1", "n2") and 4.0 <= t < 5.0 else "alive"

    verdict = judge([], state)
    assert not verdict.passed
    assert verdict.detail == ("1 false positive(s): n1 marked n2 dead at 4.00s while it was "
                              "up and reachable")
    assert verdict.figures["false_positives"] == 1


def slowed_n2(delay: float) -> list[FaultEvent]:
    """A fault slowing every link of n2 by ``delay`` each way from 3s to 4.5s."""
    links = isolation_links("n2", NODES)
    return [fault(3.0, "start", "f1", "slow", ["n1", "n2", "n3"], links, "latency", delay),
            fault(4.5, "end", "f1", "slow", ["n1", "n2", "n3"], links, "latency", delay)]


def n1_marks_n2_dead_at_4s(t: float, observer: str, member: str) -> str:
    return "dead" if (observer, member) == ("n1", "n2") and 4.0 <= t < 5.0 else "alive"


@pytest.mark.parametrize("delay", [0.75, 1.5, math.inf])
def test_a_member_behind_links_too_slow_for_any_detector_is_excused(delay: float) -> None:
    # within 3s: a detector must give up on silence within about 1.5s, and a round trip
    # through links slowed by 0.75s each way (or an unbounded bandwidth queue) takes that.
    verdict = judge(slowed_n2(delay), n1_marks_n2_dead_at_4s)
    assert verdict.passed, verdict.detail
    assert verdict.figures["false_positives"] == 0
    assert verdict.figures["excused_slow"] == 1
    assert "1 more excused" in verdict.detail
    assert verdict.witness["excused_slow"][0].startswith("n1 marked n2 dead at 4.00s, a link")


def test_links_slowed_less_than_a_detector_can_wait_excuse_nothing() -> None:
    verdict = judge(slowed_n2(0.5), n1_marks_n2_dead_at_4s)
    assert not verdict.passed
    assert verdict.figures["false_positives"] == 1 and verdict.figures["excused_slow"] == 0


def test_a_slow_fault_long_over_excuses_nothing() -> None:
    # Slowed from 3s to 4.5s; a suspicion at 9s comes after the deadline's window.
    def state(t: float, observer: str, member: str) -> str:
        return "dead" if (observer, member) == ("n1", "n2") and 9.0 <= t < 10.0 else "alive"

    verdict = judge(slowed_n2(1.5), state)
    assert not verdict.passed and verdict.figures["false_positives"] == 1


def test_false_positives_up_to_the_allowance_pass() -> None:
    def state(t: float, observer: str, member: str) -> str:
        return "dead" if (observer, member) == ("n1", "n2") and 4.0 <= t < 5.0 else "alive"

    verdict = judge([], state, "failure_detection: {max_false_positives: 1}")
    assert verdict.passed, verdict.detail
    assert "1 false positive(s)" in verdict.detail


def test_dead_right_after_a_heal_is_not_a_false_positive_but_detection_is_required(
        tmp_path: Path) -> None:
    links = isolation_links("n3", NODES)
    faults = [fault(2.0, "start", "f1", "cut", links=links),
              fault(6.0, "end", "f1", "cut", links=links)]

    def state(t: float, observer: str, member: str) -> str:
        cut_apart = "n3" in (observer, member) and observer != member
        if cut_apart and 3.0 <= t < 7.0:  # marked dead 1s in; lingers 1s after the heal
            return "dead"
        return "alive"

    verdict = judge(faults, state, trace=first_contacts(tmp_path))
    assert verdict.passed, verdict.detail
    assert verdict.figures["detections"] == 4  # n1, n2 see n3; n3 sees n1, n2
    assert verdict.figures["false_positives"] == 0


def test_an_isolated_node_that_is_never_detected_fails(tmp_path: Path) -> None:
    links = isolation_links("n3", NODES)
    faults = [fault(2.0, "start", "f1", "cut", links=links),
              fault(8.0, "end", "f1", "cut", links=links)]
    verdict = judge(faults, lambda t, o, m: "alive", trace=first_contacts(tmp_path))
    assert not verdict.passed
    assert "n1 marked n3 dead never while it lasted (failed at 2.00s)" in verdict.detail


CUT_FROM_THE_START = [fault(0.0, "start", "f1", "cut", links=isolation_links("n3", NODES)),
                      fault(11.0, "end", "f1", "cut", links=isolation_links("n3", NODES))]


def dead_from(when: float) -> State:
    """n3 and the others mark each other dead from ``when`` on."""
    return lambda t, o, m: "dead" if "n3" in (o, m) and o != m and t >= when else "alive"


def test_a_member_never_heard_from_may_be_one_still_starting_until_startup(
        tmp_path: Path) -> None:
    # Cut off from the start: nobody has heard from n3, nor n3 from anybody. Marked dead
    # only at 6s (a detector that does not suspect nodes that may still be booting), which
    # is 6s after the cut but within 3s (and a sample) of startup.
    trace = first_contacts(tmp_path, {(a, b): None for a in NODES for b in NODES
                                      if "n3" in (a, b)})
    verdict = judge(CUT_FROM_THE_START, dead_from(6.0), stop=14.0, trace=trace)
    assert verdict.passed, verdict.detail
    assert verdict.figures["detections"] == 4


def test_a_stranger_is_still_judged_once_startup_is_over(tmp_path: Path) -> None:
    trace = first_contacts(tmp_path, {(a, b): None for a in NODES for b in NODES
                                      if "n3" in (a, b)})
    verdict = judge(CUT_FROM_THE_START, dead_from(9.0), stop=14.0, trace=trace)
    assert not verdict.passed
    assert ("n1 marked n3 dead only after 4.00s (failed at 0.00s; a stranger to it, judged "
            "from 5.00s)") in verdict.detail
    shorter = judge(CUT_FROM_THE_START, dead_from(6.0), "failure_detection: {within: 3s, "
                    "startup: 1s}", stop=14.0, trace=trace)
    assert not shorter.passed and "judged from 1.00s" in shorter.detail


def test_a_member_heard_from_before_the_fault_is_no_stranger(tmp_path: Path) -> None:
    verdict = judge(CUT_FROM_THE_START, dead_from(6.0), stop=14.0,
                    trace=first_contacts(tmp_path, everyone_at=-0.2))
    assert not verdict.passed
    assert "n1 marked n3 dead only after 6.00s (failed at 0.00s)" in verdict.detail


def test_a_stranger_heard_through_a_one_way_cut_is_judged_from_its_first_message(
        tmp_path: Path) -> None:
    # Only n1 -> n3 and n2 -> n3 are cut, from the start: n3 is failed for n1, and its
    # first message reaches n1 at 0.3s. A detector that takes being heard for being
    # reachable never marks it dead; no startup allowance covers that.
    links = {("n1", "n3"), ("n2", "n3")}
    one_way = [fault(0.0, "start", "f1", "cut", ["n1", "n2", "n3"], links, "partition"),
               fault(8.0, "end", "f1", "cut", ["n1", "n2", "n3"], links, "partition")]
    trace = first_contacts(tmp_path, {("n3", "n1"): 0.3, ("n3", "n2"): 0.3,
                                      ("n1", "n3"): None, ("n2", "n3"): None})
    verdict = judge(one_way, lambda t, o, m: "alive", trace=trace)
    assert not verdict.passed
    assert ("n1 marked n3 dead never while it lasted (failed at 0.00s; a stranger to it, "
            "judged from 0.30s)") in verdict.detail


def test_a_failure_too_short_to_judge_is_not_required() -> None:
    faults = [fault(5.0, "start", "f1", "pause", ["n3"]),
              fault(6.0, "end", "f1", "pause", ["n3"])]
    verdict = judge(faults, lambda t, o, m: None if o == "n3" and 5.0 <= t < 6.0 else "alive")
    assert verdict.passed, verdict.detail
    assert verdict.detail.startswith("no node failed long enough to judge detection")
    assert verdict.figures["not_judged_too_short"] == 2


def dead_then_alive(t: float, observer: str, member: str) -> str:
    """n1 marks n3 dead at 6s, then alive again at 8s; everything else alive."""
    if (observer, member) == ("n1", "n3") and t >= 6.0:
        return "dead" if t < 8.0 else "alive"
    return "alive"


def test_alive_again_is_no_flap_when_the_member_could_still_reach_the_observer() -> None:
    # Only n1 -> n3 is cut: n3 is failed for n1 (no path both ways) yet its refutation
    # reaches n1, which may rightly believe it.
    cut = [fault(5.0, "start", "f1", "cut", ["n1", "n3"], {("n1", "n3"), ("n2", "n3")},
                 "partition")]
    verdict = judge(cut, dead_then_alive)
    assert verdict.figures["flaps"] == 0, verdict.detail


def test_alive_again_is_a_flap_when_the_member_could_not_reach_the_observer() -> None:
    cut = [fault(5.0, "start", "f1", "cut", ["n3"], isolation_links("n3", NODES),
                 "partition")]
    verdict = judge(cut, dead_then_alive)
    assert not verdict.passed and verdict.figures["flaps"] == 1


def test_fails_without_membership_observations() -> None:
    verdict = judge(KILL_N3, None)
    assert not verdict.passed
    assert "no node ever answered `members`" in verdict.detail


def test_fails_when_no_sample_has_a_view() -> None:
    verdict = judge(KILL_N3, lambda t, o, m: None)
    assert not verdict.passed
    assert "cannot be judged" in verdict.detail
