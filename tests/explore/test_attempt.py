"""What a run keeps of a failed check: the first line of its detail, cut on a whole item
when it is long, saying there is more."""

from __future__ import annotations

from types import SimpleNamespace

from pytest_dchaos.explore.attempt import DETAIL_CHARS, _detail


def failing(detail: str) -> list[SimpleNamespace]:
    return [SimpleNamespace(name="atomicity", detail=detail)]


def test_a_short_detail_is_kept_whole_and_only_its_first_line() -> None:
    assert _detail(failing("t1 decided differently\nmore")) == \
        "atomicity: t1 decided differently"


def test_a_long_detail_ends_on_a_whole_item_and_says_there_is_more() -> None:
    items = [f"n3.1.{i} decided differently: n1 commit, n3 abort" for i in range(20)]
    kept = _detail(failing("; ".join(items)))
    assert kept.endswith("n3 abort; …")
    assert len(kept) <= len("atomicity: ") + DETAIL_CHARS + len("; …")


def test_a_long_detail_with_no_separator_is_cut_at_the_limit() -> None:
    kept = _detail(failing("x" * 500))
    assert kept == "atomicity: " + "x" * DETAIL_CHARS + "; …"


def test_no_failed_check_leaves_no_detail() -> None:
    assert _detail([]) == ""
