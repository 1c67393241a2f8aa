"""Fixtures: clusters of node processes wired by the test router, always torn down."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from .router import GOSSIP_COMMAND, Router

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
def make_cluster(tmp_path: Path) -> Iterator[MakeCluster]:
    """``make_cluster(n, params=FAST, latency=0.0, command=...)`` → a started Router."""
    routers: list[Router] = []

    def make(n: int, *, params: dict[str, Any] | None = None, latency: float = 0.0,
             command: Sequence[str] = GOSSIP_COMMAND,
             topology: dict[str, list[str]] | None = None) -> Router:
        log_dir = tmp_path / f"cluster{len(routers)}"
        log_dir.mkdir()
        router = Router([f"n{i}" for i in range(1, n + 1)], log_dir=log_dir, command=command,
                        params=FAST if params is None else params, latency=latency,
                        topology=topology)
        routers.append(router)
        return router.start()

    yield make
    for router in routers:
        router.close()
