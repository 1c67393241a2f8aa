"""``unique_ids``: an id handed out twice is named with both operations."""

from __future__ import annotations

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.families.maelstrom.checks.unique_ids import UniqueIds
from pytest_dchaos.record.history import INFO
from tests.builders import call, history, record

NONE = NoOptions()


def generate(id_: object, start: float, node: str = "n1", outcome: str = "ok") -> list:  # type: ignore[type-arg]
    return call("c1", "generate", None, start, start + 0.01, outcome, id_, node)


def test_unique_ids_names_an_id_handed_out_twice() -> None:
    rec = record(history(generate(1, 0), generate(2, 1), generate(1, 2, node="n2")))
    verdict = UniqueIds().check(NONE, rec)
    assert not verdict.passed
    assert "1 of 3 ids handed out again" in verdict.detail
    assert "c1 from n2 at 2.01s (history op 5) got 1, as c1 from n1 at 0.01s" in verdict.detail


def test_unique_ids_tells_json_values_apart_and_ignores_unknown_generates() -> None:
    rec = record(history(generate(1, 0), generate("1", 1), generate([1, "a"], 2),
                         generate({"n": 1}, 3), generate(1, 4, outcome=INFO)))
    assert UniqueIds().check(NONE, rec).passed
