"""Scenario files: YAML with positions → validated, frozen, typed model."""

from __future__ import annotations

from pytest_dchaos.scenario.loader import load_scenario, parse_scenario
from pytest_dchaos.scenario.model import (
    CheckSpec,
    ClusterSpec,
    FaultSpec,
    Implementation,
    LinkLatency,
    NetworkSpec,
    Scenario,
    WorkloadSpec,
)

__all__ = [
    "CheckSpec",
    "ClusterSpec",
    "FaultSpec",
    "Implementation",
    "LinkLatency",
    "NetworkSpec",
    "Scenario",
    "WorkloadSpec",
    "load_scenario",
    "parse_scenario",
]
