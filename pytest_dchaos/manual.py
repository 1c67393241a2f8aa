"""A cluster a test drives by hand (the ``dchaos_cluster`` fixture).

For what a scenario file cannot say: a test starts a cluster, sends requests, cuts and
heals the network, kills and restarts nodes, and asserts what it likes in between. The
faults are the same fault layer and process control the scenarios use.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pytest_dchaos.cluster.network import Link, partition_links
from pytest_dchaos.cluster.running import Cluster
from pytest_dchaos.faults.messages import MessageOptions
from pytest_dchaos.registry import Registry
from pytest_dchaos.run.runner import Run, RunOptions, apply_baseline
from pytest_dchaos.scenario.loader import resolve_command
from pytest_dchaos.scenario.model import (
    ClusterSpec,
    Implementation,
    NetworkSpec,
    Scenario,
    frozen_mapping,
)


class LiveCluster:
    """A started cluster plus convenient fault controls. Use as a context manager, or let
    the fixture close it."""

    def __init__(self, cluster: Cluster, scenario: Scenario, report_dir: Path) -> None:
        self.cluster = cluster
        self.scenario = scenario
        self.report_dir = report_dir
        self._keys = itertools.count(1)

    @property
    def nodes(self) -> tuple[str, ...]:
        return self.cluster.node_ids

    def request(self, node: str, body: Mapping[str, Any], *, client: str = "c1",
                timeout: float = 5.0) -> dict[str, Any]:
        """Send ``body`` to ``node`` as ``client`` and return the reply body."""
        return self.cluster.request(node, body, client=client, timeout=timeout)

    def _key(self, what: str) -> str:
        return f"manual{next(self._keys)}_{what}"

    def partition(self, *groups: Sequence[str]) -> str:
        """Cut every link between ``groups`` (unlisted nodes form one more group)."""
        key = self._key("partition")
        self.cluster.network.cut(key, partition_links(groups, self.nodes))
        return key

    def isolate(self, node: str) -> str:
        return self.partition([node])

    def cut(self, links: Iterable[Link]) -> str:
        """Cut the given directed links (one-way partitions)."""
        key = self._key("cut")
        self.cluster.network.cut(key, links)
        return key

    def slow(self, latency: float, jitter: float = 0.0,
             links: Iterable[Link] | None = None) -> str:
        """Add ``latency`` seconds (± ``jitter``) on ``links`` (default all)."""
        key = self._key("latency")
        self.cluster.network.set_latency(key, self.cluster.network.links if links is None
                                         else links, latency, jitter)
        return key

    def lose(self, drop: float = 0.0, duplicate: float = 0.0, reorder: float = 0.0,
             links: Iterable[Link] | None = None) -> str:
        """Message-level faults in the agents on ``links`` (default all)."""
        key = self._key("messages")
        chosen = self.cluster.network.links if links is None else frozenset(links)
        options = MessageOptions(drop=drop, duplicate=duplicate, reorder=reorder, window=0.05,
                                 delay=0.0, types=(), links=frozenset(chosen))
        self.cluster.set_rules(key, options.rules())
        return key

    def revert(self, key: str) -> None:
        """Undo one fault returned by the methods above."""
        self.cluster.network.revert(key)
        self.cluster.clear_rules(key)

    def heal(self) -> None:
        """Undo every network and message fault (the baseline latency stays)."""
        self.cluster.network.heal()
        for key in self.cluster.rule_keys():
            self.cluster.clear_rules(key)

    @contextmanager
    def partitioned(self, *groups: Sequence[str]) -> Iterator[str]:
        key = self.partition(*groups)
        try:
            yield key
        finally:
            self.revert(key)

    def kill(self, node: str) -> None:
        self.cluster.kill(node)

    def pause(self, node: str) -> None:
        self.cluster.pause(node)

    def resume(self, node: str) -> None:
        self.cluster.resume(node)

    def restart(self, node: str) -> None:
        self.cluster.restart(node)

    def close(self) -> None:
        """Stop the cluster, its message traces written out first (a container's agent
        would otherwise go with what it had buffered)."""
        try:
            self.cluster.flush_traces()
        finally:
            self.cluster.close()

    def __enter__(self) -> LiveCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_cluster(
    scenario: Scenario | None = None,
    *,
    protocol: str = "gossip",
    nodes: int = 3,
    topology: str | None = None,
    params: Mapping[str, Any] | None = None,
    latency: float = 0.0,
    node_command: Sequence[str] | None = None,
    options: RunOptions | None = None,
    registry: Registry | None = None,
) -> LiveCluster:
    """Start a cluster from ``scenario`` (its cluster and network sections) or from the
    keyword arguments, ready for requests: nodes initialised and set up by their family."""
    registry = registry or Registry()
    if scenario is None:
        scenario = Scenario(
            name=f"manual-{protocol}",
            protocol=protocol,
            cluster=ClusterSpec(nodes=nodes, params=frozen_mapping(params), topology=topology,
                                implementation=Implementation(command=resolve_command(
                                    node_command, os.getcwd())
                                    if node_command else None)),
            network=NetworkSpec(latency=latency),
            seed=0,
        )
    run = Run(scenario, options or RunOptions(), registry)
    run.report_dir.mkdir(parents=True, exist_ok=True)
    cluster = registry.backend(run.options.backend).provision(run.plan())
    try:
        apply_baseline(cluster, run.scenario.network)
        run.family.setup(cluster, run.scenario)
        cluster.start()
    except BaseException:
        cluster.close()
        raise
    return LiveCluster(cluster, run.scenario, run.report_dir)
