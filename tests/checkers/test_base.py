"""The checker contract: every check's typed options match the options it declares."""

from __future__ import annotations

import pytest

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.yamlsource import YNode
from tests.builders import assert_options_type_matches, registry

CHECKERS = registry().checkers


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_options_type_has_a_field_per_declared_option(name: str) -> None:
    assert_options_type_matches(CHECKERS[name])


class Bare(CheckerType[NoOptions]):
    name = "bare"
    doc = "for the test"

    def check(self, options: NoOptions, record: RunRecord) -> Verdict:
        raise AssertionError("not judged here")


def test_a_check_without_options_gets_the_shared_empty_options() -> None:
    node = YNode(None, 1, 1, "s.yaml")
    values = Bare.options.parse(node, "bare", s.ParseContext())
    assert Bare().build(values, node, s.ParseContext()) == NoOptions()
