"""Helpers for testing a node without the harness's agents and fault layer: the in-memory
router, the conformance kit that checks a node against the node contract, and pytest
fixtures (see docs/conformance.md)."""

from __future__ import annotations

from pytest_dchaos.families.conformance import Finding
from pytest_dchaos.testing.conformance import (
    ConformanceReport,
    assert_conforms,
    check_conformance,
)
from pytest_dchaos.testing.router import Call, Router, full_topology
from pytest_dchaos.testing.waiting import eventually

__all__ = [
    "Call",
    "ConformanceReport",
    "Finding",
    "Router",
    "assert_conforms",
    "check_conformance",
    "eventually",
    "full_topology",
]
