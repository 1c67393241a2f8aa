"""Helpers for testing a node without the harness: the in-memory router, a conformance kit
that checks a node against the node contract, and pytest fixtures (docs/conformance.md)."""

from __future__ import annotations

from pytest_dchaos.testing.router import Call, Router, full_topology
from pytest_dchaos.testing.waiting import eventually

__all__ = ["Call", "Router", "eventually", "full_topology"]
