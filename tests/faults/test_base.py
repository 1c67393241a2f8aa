"""The fault contract: a fault built by the default ``build`` matches the options it
declares."""

from __future__ import annotations

import pytest

from tests.builders import assert_options_type_matches, registry

FAULTS = registry().faults
# The others override ``build``: their options change shape on validation (a partition's
# forms become links, a kill's nodes a tuple).
BUILT_BY_DEFAULT = sorted(n for n, f in FAULTS.items() if hasattr(f, "options_type"))


def test_some_fault_is_built_by_default() -> None:
    assert "byzantine" in BUILT_BY_DEFAULT


@pytest.mark.parametrize("name", BUILT_BY_DEFAULT)
def test_options_type_has_a_field_per_declared_option(name: str) -> None:
    assert_options_type_matches(FAULTS[name])
