"""The local backend: agents and nodes as local processes, links through a local Toxiproxy.

The fault layer is, in order of preference: the Toxiproxy server named by URL
(``--toxiproxy URL``), a real ``toxiproxy-server`` found on PATH, or the embedded
Toxiproxy-compatible server started as a child process. ``--toxiproxy embedded`` forces the
last. Nothing needs installing beyond this package.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest_dchaos
import reference_nodes
from pytest_dchaos import agent as agent_module
from pytest_dchaos.backends.base import Backend
from pytest_dchaos.backends.local.processes import ChildProcess, kill_group
from pytest_dchaos.cluster.agentlink import AgentLink
from pytest_dchaos.cluster.network import Network
from pytest_dchaos.cluster.running import Cluster, ClusterPlan
from pytest_dchaos.cluster.toxiproxy_driver import ToxiproxyDriver
from pytest_dchaos.errors import HarnessError

READY_TIMEOUT = 15.0
EMBEDDED = "embedded"


class LocalBackend(Backend):
    name = "local"
    doc = "nodes and agents as local processes; links through a local Toxiproxy (default)"

    def provision(self, plan: ClusterPlan) -> Cluster:
        if plan.image and not plan.command:
            raise HarnessError(
                f"the local backend runs commands, but this scenario names only the image "
                f"{plan.image!r}; use --backend docker, or give a command"
            )
        if plan.reference:
            plan = replace(plan, command=this_python(plan.command))
        plan = replace(plan, env={**node_environment(), **plan.env})
        check_command(plan.command)
        plan.workdir.mkdir(parents=True, exist_ok=True)
        driver, layer_closer = start_fault_layer(plan)
        cluster = Cluster(plan, Network(driver, {}))
        cluster.add_closer(layer_closer)
        try:
            self._start_agents(plan, cluster)
        except BaseException:
            cluster.close()
            raise
        return cluster

    def _start_agents(self, plan: ClusterPlan, cluster: Cluster) -> None:
        agent_path = Path(agent_module.__file__)
        children: dict[str, ChildProcess] = {}

        def stop_agents() -> None:
            pids = cluster.pids()
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(lambda n: _stop_agent(cluster, n, children[n], pids.get(n)),
                              list(children)))

        cluster.add_closer(stop_agents)
        for node in plan.node_ids:
            workdir = plan.workdir / node
            workdir.mkdir(parents=True, exist_ok=True)
            children[node] = ChildProcess(
                f"the agent of {node}",
                [sys.executable, str(agent_path), "--workdir", str(workdir)],
                log_path=workdir / "agent.log",
            )
        ready = {node: child.wait_ready(READY_TIMEOUT) for node, child in children.items()}
        names = {(a, b): proxy_name(plan.run_id, a, b)
                 for a in plan.node_ids for b in plan.peers(a).values()}
        proxies = [
            {"name": name, "listen": "127.0.0.1:0",
             "upstream": f"127.0.0.1:{ready[b]['peer']}", "enabled": True}
            for (a, b), name in names.items()
        ]
        listen = cluster.network.driver.populate(proxies) if proxies else {}
        cluster.network.proxies.update(names)
        for node in plan.node_ids:
            link = AgentLink(node, ("127.0.0.1", ready[node]["control"]), cluster.handle_event)
            cluster.attach(node, link)
            links = {ident: listen[names[(node, b)]] for ident, b in plan.peers(node).items()}
            link.call("configure", node_id=plan.identity(node), links=links,
                      seed=plan.seed * 1000 + plan.node_ids.index(node))


def _stop_agent(cluster: Cluster, node: str, child: ChildProcess, node_pid: int | None) -> None:
    link = cluster.agents.get(node)
    if link is not None and child.alive:
        with contextlib.suppress(HarnessError):  # a dead agent is stopped below anyway
            link.call("shutdown", timeout=5)
        link.close()
    child.stop(grace=5)
    kill_group(node_pid)  # the node has its own process group; make sure it is gone


def proxy_name(run_id: str, src: str, dest: str) -> str:
    return f"dchaos_{run_id}_{src}_{dest}"


def this_python(command: Sequence[str]) -> tuple[str, ...]:
    """A reference node's ``python3 -m ...`` run by this interpreter, which has what the
    node imports."""
    words = tuple(command)
    return (sys.executable, *words[1:]) if words[:1] == ("python3",) else words


def check_command(command: Sequence[str], *,
                  relative: str = "in a scenario are from the scenario's folder") -> None:
    """A node command that cannot run is a clear error before anything starts; ``relative``
    says where relative paths were taken from."""
    if not command:
        raise HarnessError("no node command to run")
    program = command[0]
    if os.sep in program:
        if not os.path.exists(program):
            raise HarnessError(f"node program {program!r} does not exist "
                               f"(relative paths {relative})")
        if os.path.isdir(program) or not os.access(program, os.X_OK):
            raise HarnessError(f"node program {program!r} is not executable "
                               f"(chmod +x {program}, or run it through its interpreter)")
    elif shutil.which(program) is None:
        raise HarnessError(f"node program {program!r} is not on PATH")


def _pythonpath_with(package: ModuleType) -> str:
    """PYTHONPATH with the folder that holds ``package`` first, however it was installed."""
    root = str(Path(str(package.__file__)).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return root + (os.pathsep + path if path else "")


def node_environment() -> dict[str, str]:
    """Environment for nodes: reference nodes importable however the package was installed."""
    return {"PYTHONPATH": _pythonpath_with(reference_nodes)}


def start_fault_layer(plan: ClusterPlan) -> tuple[ToxiproxyDriver, Callable[[], None]]:
    """Reach or start the Toxiproxy server for this run; returns (driver, closer)."""
    choice = plan.toxiproxy
    if choice and choice != EMBEDDED:
        driver = ToxiproxyDriver(choice)
        driver.version()  # fail now, clearly, if it is not there
        return driver, lambda: _delete_proxies(driver, plan.run_id)
    binary = shutil.which("toxiproxy-server") if choice is None else None
    log = plan.workdir / "toxiproxy.log"
    if binary:
        port = _free_port()
        child = ChildProcess("toxiproxy-server",
                             [binary, "-host", "127.0.0.1", "-port", str(port)], log_path=log)
        driver = ToxiproxyDriver(f"http://127.0.0.1:{port}")
        _wait_api(driver, child)
    else:
        child = ChildProcess(
            "the embedded Toxiproxy server",
            [sys.executable, "-m", "pytest_dchaos.toxiproxy", "-host", "127.0.0.1",
             "-port", "0", "-seed", str(plan.seed), "--exit-with-stdin"],
            log_path=log,
            env={**os.environ, "PYTHONPATH": _pythonpath_with(pytest_dchaos)},
        )
        try:
            ready = child.wait_ready(READY_TIMEOUT)
        except BaseException:
            child.stop(grace=2)
            raise
        driver = ToxiproxyDriver(f"http://{ready['api']}")
    return driver, lambda: child.stop(grace=5)


def _delete_proxies(driver: ToxiproxyDriver, run_id: str) -> None:
    """On a shared server, remove only this run's proxies."""
    prefix = proxy_name(run_id, "", "")[:-1]
    for name in driver.proxies():
        if name.startswith(prefix):
            driver.delete_proxy(name)



def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_api(driver: ToxiproxyDriver, child: ChildProcess) -> None:
    if not driver.wait_ready(READY_TIMEOUT, lambda: child.alive):
        child.stop(grace=1)
        raise HarnessError(f"toxiproxy-server did not come up; see {child.log_path}")
