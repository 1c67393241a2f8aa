"""What a backend provides to the cluster it provisioned: the :class:`Host` contract.

A :class:`~pytest_dchaos.cluster.running.Cluster` talks to its nodes through their agents,
whatever the backend. What differs is where the node processes live: how one is killed,
paused, resumed and made ready to start again, where its files are, and whether the cluster
can outlive the harness. A backend says so with one :class:`Host` it hands to the cluster
when it creates it; faults, the runner and tests driving a cluster by hand see no
difference.

:class:`AgentHost` is the default: the node process is the agent's child and the agent
acts on it (the local backend). The Docker backend's host acts on containers.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

from pytest_dchaos.errors import HarnessError

if TYPE_CHECKING:
    from pytest_dchaos.cluster.running import Cluster


class Host(Protocol):
    """Where a cluster's nodes run. The cluster calls these, and only the cluster: it keeps
    each node's status and fails the requests a dead node leaves unanswered."""

    def kill(self, cluster: Cluster, node: str) -> None:
        """SIGKILL ``node``'s process (its folder stays)."""

    def stop(self, cluster: Cluster, node: str, grace: float) -> None:
        """SIGTERM, and SIGKILL if the node has not exited after ``grace`` seconds."""

    def pause(self, cluster: Cluster, node: str) -> None:
        """Freeze the node (SIGSTOP, or its container); it keeps its sockets and state."""

    def resume(self, cluster: Cluster, node: str) -> None:
        """Undo :meth:`pause`."""

    def prepare_restart(self, cluster: Cluster, node: str) -> None:
        """Return once a killed node can be started again, its agent reachable; raise
        :class:`HarnessError` if it cannot."""

    def fetch_files(self, cluster: Cluster, node: str) -> None:
        """Bring ``node``'s files (stderr, trace, event logs) into ``cluster.node_dir(node)``,
        where they are not written there directly; raise :class:`HarnessError` if they
        cannot be had."""

    def keep_instructions(self, cluster: Cluster) -> str | None:
        """How a person reaches and removes the cluster if it is kept running past the
        harness (``--keep``); None if this host cannot keep it."""


class AgentHost:
    """The node process is the agent's child, and the agent acts on it: the local backend.
    The agent stays up through kills and restarts, so its link does too."""

    #: How long a killed process may take to be gone before a restart gives up.
    RESTART_TIMEOUT = 5.0

    def kill(self, cluster: Cluster, node: str) -> None:
        cluster.agents[node].call("signal", action="kill")

    def stop(self, cluster: Cluster, node: str, grace: float) -> None:
        agent = cluster.agents[node]
        agent.call("signal", action="stop")
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not agent.call("status")["alive"]:
                return
            time.sleep(0.02)
        agent.call("signal", action="kill")

    def pause(self, cluster: Cluster, node: str) -> None:
        cluster.agents[node].call("signal", action="pause")

    def resume(self, cluster: Cluster, node: str) -> None:
        cluster.agents[node].call("signal", action="resume")

    def prepare_restart(self, cluster: Cluster, node: str) -> None:
        deadline = time.monotonic() + self.RESTART_TIMEOUT
        while time.monotonic() < deadline:
            if not cluster.agents[node].call("status")["alive"]:
                return
            time.sleep(0.01)
        raise HarnessError(f"node {node} did not stop within {self.RESTART_TIMEOUT:g}s of "
                           "SIGKILL")

    def fetch_files(self, cluster: Cluster, node: str) -> None:
        """The agent writes into the node's folder on this machine: nothing to fetch."""

    def keep_instructions(self, cluster: Cluster) -> str | None:
        """Local processes read a pipe from the harness and go with it: not kept."""
        return None
