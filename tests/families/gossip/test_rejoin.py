"""``rejoin``: after the last fault every live node sees every other live node alive."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_dchaos.families.gossip.checks.rejoin import Rejoin
from pytest_dchaos.record.result import Verdict
from tests.builders import check_options, fault, isolation_links, membership_samples, record

NODES = ("n1", "n2", "n3")
HEALED = 10.0
#: n3 cut off from 2s until the heal at 10s: the last change of the timeline.
PARTITION = [fault(2.0, "start", "f1", "cut", links=isolation_links("n3", NODES)),
             fault(HEALED, "end", "f1", "cut", links=isolation_links("n3", NODES))]

State = Callable[[float, str, str], Any]


def readmitted_at(when: dict[tuple[str, str], float]) -> State:
    """Everyone alive, except the (observer, member) pairs in ``when``: dead until then."""

    def state(t: float, observer: str, member: str) -> str:
        due = when.get((observer, member))
        return "dead" if due is not None and t < due else "alive"

    return state


def judge(state: State | None, entry: str = "rejoin", *, start: float = 0.0,
          stop: float = 16.0, down_at_end: tuple[str, ...] = ()) -> Verdict:
    observations = {}
    if state is not None:
        observations["membership"] = membership_samples(NODES, start, stop, 0.5, state)
    rec = record(nodes=3, faults=PARTITION, observations=observations,
                 phases={"healed": HEALED}, down_at_end=down_at_end)
    return Rejoin().check(check_options(entry), rec)


def test_passes_when_every_pair_is_alive_soon_after_the_heal() -> None:
    verdict = judge(readmitted_at({("n1", "n3"): 11.0, ("n2", "n3"): 12.5}))
    assert verdict.passed, verdict.detail
    assert verdict.detail.startswith("all 3 live nodes see each other alive, at most 2.50s "
                                     "after the last fault")
    assert "(10.00s)" in verdict.detail
    assert verdict.figures == {"slowest_rejoin_s": 2.5, "pairs": 6}


def test_fails_when_a_node_is_never_readmitted() -> None:
    verdict = judge(readmitted_at({("n1", "n3"): 99.0}))
    assert not verdict.passed
    assert verdict.detail == "1 pair(s) not re-admitted within 10s: n1 still sees n3 as dead"
    assert list(verdict.witness["late"]) == ["n1 still sees n3 as dead"]


def test_fails_when_readmission_is_late_naming_how_late() -> None:
    verdict = judge(readmitted_at({("n2", "n1"): 13.0}), "rejoin: 2s")
    assert not verdict.passed
    assert "n2 re-admitted n1 only 3.00s after the last fault (10.00s)" in verdict.detail


def test_flapping_counts_from_the_last_time_it_became_alive() -> None:
    def state(t: float, observer: str, member: str) -> str:
        flapping = (observer, member) == ("n3", "n2") and 12.0 <= t < 14.0
        return "suspect" if flapping else "alive"

    verdict = judge(state, "rejoin: 3s")
    assert not verdict.passed
    assert "n3 re-admitted n2 only 4.00s after the last fault" in verdict.detail


def test_a_pair_that_goes_dead_after_the_heal_fails() -> None:
    def state(t: float, observer: str, member: str) -> str:
        return "dead" if (observer, member) == ("n1", "n2") and t >= HEALED else "alive"

    verdict = judge(state)
    assert not verdict.passed
    assert "n1 still sees n2 as dead" in verdict.detail


def test_a_node_down_at_the_end_is_not_expected_back() -> None:
    def state(t: float, observer: str, member: str) -> str | None:
        if observer == "n3":
            return None
        return "dead" if member == "n3" else "alive"

    verdict = judge(state, down_at_end=("n3",))
    assert verdict.passed, verdict.detail
    assert verdict.figures["pairs"] == 2


def test_a_live_node_that_never_answers_fails() -> None:
    verdict = judge(lambda t, o, m: None if o == "n2" else "alive")
    assert not verdict.passed
    assert "n2 still sees n1 as no answer" in verdict.detail


def test_fails_without_membership_observations() -> None:
    verdict = judge(None)
    assert not verdict.passed
    assert "no membership view was sampled after the last fault" in verdict.detail


def test_fails_when_sampling_stopped_before_the_heal() -> None:
    verdict = judge(lambda t, o, m: "alive", stop=9.5)
    assert not verdict.passed
    assert "no membership view was sampled after the last fault (10.00s" in verdict.detail


@pytest.mark.parametrize("within", ["5s", "10s"])
def test_within_bounds_the_rejoin(within: str) -> None:
    verdict = judge(readmitted_at({("n1", "n2"): 14.0}), f"rejoin: {within}")
    assert verdict.passed, verdict.detail
