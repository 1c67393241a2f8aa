"""The family contract's shared parts: the final phase's poll."""

from __future__ import annotations

from typing import Any

from pytest_dchaos.families.base import RunContext
from pytest_dchaos.record.history import History
from tests.builders import scenario

SCENARIO = "name: p\nprotocol: gossip\ncluster: {nodes: 3}\nworkload: {recovery: 2s}\n"


class FakeClock:
    """The run's clock, moved on only by the poll's own sleeps (see ``sleeps``)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def context(clock: FakeClock, monkeypatch: Any) -> RunContext:
    def sleep(seconds: float) -> None:
        clock.now += seconds

    monkeypatch.setattr("pytest_dchaos.families.base.time.sleep", sleep)
    return RunContext(None, scenario(SCENARIO), History(), clock, {})  # type: ignore[arg-type]


def test_recovery_is_measured_from_the_start_of_the_final_phase(monkeypatch: Any) -> None:
    clock = FakeClock()
    ctx = context(clock, monkeypatch)
    clock.now = 150.0
    assert (ctx.healed_at, ctx.deadline) == (100.0, 102.0)


def test_poll_returns_the_time_it_settled(monkeypatch: Any) -> None:
    clock = FakeClock()
    ctx = context(clock, monkeypatch)
    answers = iter([False, False, True])
    assert ctx.poll(lambda: next(answers), interval=0.25) == 100.5


def test_poll_gives_up_at_the_deadline(monkeypatch: Any) -> None:
    clock = FakeClock()
    ctx = context(clock, monkeypatch)
    asked: list[float] = []

    def never() -> bool:
        asked.append(clock.now)
        return False

    assert ctx.poll(never, interval=0.5) is None
    assert asked == [100.0, 100.5, 101.0, 101.5, 102.0]


def test_poll_asks_once_even_when_recovery_is_over(monkeypatch: Any) -> None:
    clock = FakeClock()
    ctx = context(clock, monkeypatch)
    clock.now = 200.0
    assert ctx.poll(lambda: True) == 200.0
    assert ctx.poll(lambda: False) is None
