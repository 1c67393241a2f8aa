"""Fixtures: clusters of node processes wired by the in-memory router, always torn down."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_dchaos.testing import Router, full_topology
from pytest_dchaos.testing.commands import node_ids
from pytest_dchaos.testing.fixtures import RouterFactory

REPO_ROOT = Path(__file__).resolve().parents[2]
GOSSIP_COMMAND = (sys.executable, "-m", "reference_nodes.gossip")

# Fast protocol periods so cluster tests take seconds; still well above scheduling noise.
FAST = {
    "probe_interval_ms": 100,
    "suspicion_timeout_ms": 600,
    "gossip_interval_ms": 50,
    "anti_entropy_interval_ms": 300,
    "startup_grace_ms": 2000,
}

MakeCluster = Callable[..., Router]


@pytest.fixture
def make_cluster(dchaos_router: RouterFactory) -> MakeCluster:
    """``make_cluster(n, params=FAST, latency=0.0, command=...)`` → a started gossip Router
    (every node a neighbour of every other unless ``topology`` says otherwise)."""

    def make(n: int, *, params: dict[str, Any] | None = None, latency: float = 0.0,
             command: Sequence[str] = GOSSIP_COMMAND,
             topology: dict[str, list[str]] | None = None) -> Router:
        return dchaos_router(command, n, params=FAST if params is None else params,
                             latency=latency, topology=topology or full_topology(node_ids(n)))

    return make
