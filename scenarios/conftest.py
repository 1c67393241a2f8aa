"""The shipped scenarios as this project's own tests: every one runs a whole cluster, so
every one is marked ``slow`` and stays out of the fast tier (``pytest -m "not slow"``)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE) and item.path.suffix in (".yaml", ".yml"):
            item.add_marker(pytest.mark.slow)
