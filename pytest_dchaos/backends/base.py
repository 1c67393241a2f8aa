"""The backend contract: how a cluster's processes and network come to exist.

A backend turns a :class:`ClusterPlan` into a provisioned :class:`Cluster` — agents up and
reachable, one fault-layer proxy per directed link, agents told which proxy leads where —
but with no node started yet: the runner first hangs protocol setup on
``cluster.on_node_started`` and then calls ``cluster.start()``. Where the nodes run is the
backend's :class:`~pytest_dchaos.cluster.host.Host`, handed to the cluster when the backend
creates it (``Cluster(plan, network, host)``; the default acts through the agents).
Everything a backend starts must be stopped by ``cluster.close()`` (register it with
``cluster.add_closer``), and if provisioning fails half-way, the backend stops what it
already started before raising.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar

from pytest_dchaos.cluster.running import Cluster, ClusterPlan


class Backend(ABC):
    #: The name users pick it by: ``--backend NAME`` / ``--dchaos-backend=NAME``.
    name: ClassVar[str]
    #: One line for ``dchaos catalogue`` and ``--help``.
    doc: ClassVar[str]
    #: Whether it spreads nodes over machines and so honours ``cluster.placement``; a run
    #: on a backend that does not says it ignores it.
    places_nodes: ClassVar[bool] = False

    @abstractmethod
    def provision(self, plan: ClusterPlan) -> Cluster:
        """Start agents and links for ``plan``; raise :class:`HarnessError` if impossible."""


def side_by_side(nodes: Iterable[str], work: Callable[[str], None], workers: int = 4) -> None:
    """``work(node)`` for every node, ``workers`` at a time; the first error is raised once
    the calls already begun have ended, and those not begun are dropped, so that whatever
    a failed or interrupted start made is there for the cleanup to find."""
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        for future in [pool.submit(work, node) for node in nodes]:
            future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
