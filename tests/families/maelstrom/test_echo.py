"""``echo``: every echo comes back as sent; a changed or missing one is named."""

from __future__ import annotations

from dataclasses import replace

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.maelstrom.checks.echo import Echo
from pytest_dchaos.record.history import FAIL, TAKEN_DOWN
from tests.builders import call, fault, history, record

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


def test_echoes_out_of_the_nodes_reach_are_counted_apart() -> None:
    # n1 stopped from 1 s to 2 s: the echo sent then was refused (never delivered).
    invoke, done = echo("b", 1.5, outcome=FAIL)
    refused = replace(done, error=f"{TAKEN_DOWN}n1 is not running")
    down = [fault(1.0, "start", "s", "crash", ["n1"]), fault(2.0, "end", "s", "crash", ["n1"])]
    verdict = Echo().check(NONE, record(history(echo("a", 0), [invoke, refused],
                                                echo("c", 3)), faults=down))
    assert verdict.passed
    assert verdict.detail == ("all 2 echoes came back as sent (1 more out of the node's reach "
                              "while the harness had it down)")
    # An echo that failed while the node was up is still wrong.
    verdict = Echo().check(NONE, record(history(echo("a", 0), [invoke, refused],
                                                echo("d", 3, outcome=FAIL)), faults=down))
    assert not verdict.passed and "1 of 2 echoes wrong" in verdict.detail


def test_no_echo_that_reached_the_node_shows_nothing() -> None:
    invoke, done = echo("a", 0.5, outcome=FAIL)
    refused = replace(done, error=f"{TAKEN_DOWN}n1 is starting (init not answered)")
    verdict = Echo().check(NONE, record(history([invoke, refused])))
    assert not verdict.passed and "none of the 1 echoes reached a running node" in verdict.detail
