"""``echo``: every echo comes back as sent; a changed or missing one is named."""

from __future__ import annotations

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.maelstrom.checks.echo import Echo
from pytest_dchaos.record.history import FAIL
from tests.builders import call, history, record

NONE = NoOptions()


def echo(text: str, start: float, got: str | None = None, outcome: str = "ok") -> list:  # type: ignore[type-arg]
    return call("c1", "echo", text, start, start + 0.01, outcome,
                text if got is None else got)


def test_echo_passes_echoes_that_come_back_as_sent() -> None:
    verdict = Echo().check(NONE, record(history(echo("a", 0), echo("b", 1))))
    assert verdict.passed and "all 2 echoes" in verdict.detail


def test_echo_names_an_echo_that_came_back_changed_or_not_at_all() -> None:
    rec = record(history(echo("a", 0), echo("b", 1, got="c"), echo("d", 2, outcome=FAIL)))
    verdict = Echo().check(NONE, rec)
    assert not verdict.passed
    assert "'b' to n1 at 1.00s came back as 'c'" in verdict.detail
    assert "'d' to n1 at 2.00s ended fail" in verdict.detail
