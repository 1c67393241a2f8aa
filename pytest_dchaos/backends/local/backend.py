"""The local backend: agents and nodes as local processes, links through a local Toxiproxy.

The fault layer is, in order of preference: the Toxiproxy server named by URL
(``--toxiproxy URL``), a real ``toxiproxy-server`` found on PATH, or the embedded
Toxiproxy-compatible server started as a child process. ``--toxiproxy embedded`` forces the
last. Nothing needs installing beyond this package.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import resource
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest_dchaos
import reference_nodes
from pytest_dchaos import agent as agent_module
from pytest_dchaos.backends.base import Backend
from pytest_dchaos.backends.local.processes import (
    ChildProcess,
    ForkedProcess,
    kill_group,
    log_tail,
)
from pytest_dchaos.cluster.agentlink import AgentLink, Request
from pytest_dchaos.cluster.network import Network
from pytest_dchaos.cluster.running import Cluster, ClusterPlan
from pytest_dchaos.cluster.toxiproxy_driver import (
    LINKS_PER_SERVER,
    FaultLayer,
    ToxiproxyDriver,
    as_one,
    servers_for,
)
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
        agents: dict[str, ForkedProcess] = {}
        workdirs = {str(plan.workdir / node): node for node in plan.node_ids}
        # One interpreter imports the agent and forks one agent per node (a fresh
        # interpreter each would cost about 0.1 s of CPU per node).
        brood = ChildProcess(
            "the agents",
            [sys.executable, str(Path(agent_module.__file__)),
             *(word for workdir in workdirs for word in ("--workdir", workdir))],
            log_path=plan.workdir / "agents.log",
        )

        def stop_agents() -> None:
            _stop_agents(cluster, agents)
            brood.stop(grace=5)  # end of file on stdin stops any agent not yet ready

        cluster.add_closer(stop_agents)
        ready = self._await_agents(brood, workdirs, agents)
        names = {(a, b): proxy_name(plan.run_id, a, b)
                 for a in plan.node_ids for b in plan.peers(a).values()}
        index = {node: i for i, node in enumerate(plan.node_ids)}
        proxies = [
            {"name": name, "listen": f"{listen_host(index[a])}:0",
             "upstream": f"127.0.0.1:{ready[b]['peer']}", "enabled": True}
            for (a, b), name in names.items()
        ]
        listen = cluster.network.driver.populate(proxies) if proxies else {}
        cluster.network.proxies.update(names)
        for node in plan.node_ids:
            cluster.attach(node, AgentLink(node, ("127.0.0.1", ready[node]["control"]),
                                           cluster.handle_event))
        configured = [
            cluster.agents[node].submit("configure", links={
                ident: listen[names[(node, b)]] for ident, b in plan.peers(node).items()},
                **plan.agent_settings(node))
            for node in plan.node_ids]
        for reply in configured:
            reply.result()

    @staticmethod
    def _await_agents(brood: ChildProcess, workdirs: dict[str, str],
                      agents: dict[str, ForkedProcess]) -> dict[str, dict[str, Any]]:
        """Each agent's ready line (ports, pid), by node, each agent put in ``agents`` as
        it comes (so that the cluster's closer stops it even if a later one fails); one
        that does not come is an error naming the nodes and the end of their logs."""
        ready: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + READY_TIMEOUT

        def failed(why: str, nodes: list[str]) -> HarnessError:
            logs = "".join(log_tail(log if (log := Path(w) / "agent.log").exists()
                                    else brood.log_path)  # it failed before it had a log
                           for w, node in workdirs.items() if node in nodes[:3])
            return HarnessError(f"the agent of {', '.join(nodes)} {why}{logs}")

        while len(ready) < len(workdirs):
            try:
                event = brood.read_event(max(0.0, deadline - time.monotonic()))
            except HarnessError as exc:
                raise failed(f"did not start: {exc}",
                             [n for n in workdirs.values() if n not in ready]) from None
            node = workdirs.get(str(event.get("workdir")))
            if node is None or event.get("event") not in ("ready", "exited"):
                raise HarnessError(f"the agents printed {event!r} instead of ready lines")
            if event["event"] == "exited":
                if node not in ready:
                    raise failed(f"exited with code {event.get('code')} at start", [node])
                continue
            ready[node] = event
            agents[node] = ForkedProcess(f"the agent of {node}", event["pid"])
        return ready


def _stop_agents(cluster: Cluster, agents: dict[str, ForkedProcess]) -> None:
    """Every agent is asked to shut down (killing its node) before any answer is awaited:
    nodes that outlived their peers would keep sending to them, every message a refused
    connection through a proxy, and a hundred nodes stopped one after another spent
    seconds on that alone."""
    pids = cluster.pids()
    asked: list[Request] = []
    for node, agent in agents.items():
        link = cluster.agents.get(node)
        if link is not None and agent.alive:
            with contextlib.suppress(HarnessError):  # a dead agent is stopped below anyway
                asked.append(link.submit("shutdown"))
    deadline = time.monotonic() + 5
    for request in asked:
        with contextlib.suppress(HarnessError):
            request.result(timeout=max(0.1, deadline - time.monotonic()))
    for node in agents:
        link = cluster.agents.get(node)
        if link is not None:
            link.close()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda agent: agent.stop(grace=5), agents.values()))
    for node in agents:
        kill_group(pids.get(node))  # the node has its own process group; make sure it is gone


def listen_host(source: int) -> str:
    """Where the proxies of the links from the ``source``-th node listen. On Linux every
    127.x.y.z is this machine, and each node's links get an address of their own: the
    kernel looks for a free port for ``:0`` among the ports bound on the same address, a
    search that grows with them (binding the 9,900 proxies of 100 nodes on one address
    took 7.6 s, on a hundred addresses 0.1 s)."""
    if sys.platform != "linux":
        return "127.0.0.1"
    return f"127.1.{source // 250}.{source % 250 + 1}"


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


def start_fault_layer(plan: ClusterPlan) -> tuple[FaultLayer, Callable[[], None]]:
    """Reach or start the Toxiproxy server(s) for this run; returns (driver, closer).

    A server this run starts serves at most :func:`links_per_server` links; a larger
    cluster gets several, side by side (a user's shared server, ``--toxiproxy URL``, is
    one)."""
    choice = plan.toxiproxy
    if choice and choice != EMBEDDED:
        driver = ToxiproxyDriver(choice)
        driver.version()  # fail now, clearly, if it is not there
        return driver, lambda: _delete_proxies(driver, plan.run_id)
    links = sum(len(plan.peers(node)) for node in plan.node_ids)
    count = servers_for(links, links_per_server())
    binary = shutil.which("toxiproxy-server") if choice is None else None
    logs = [plan.workdir / ("toxiproxy.log" if i == 0 else f"toxiproxy-{i + 1}.log")
            for i in range(count)]
    servers: list[ChildProcess] = []

    def stop_servers() -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda child: child.stop(grace=5), servers))

    drivers: list[ToxiproxyDriver] = []
    try:
        if binary:
            for log in logs:
                child, driver = _start_toxiproxy_server(binary, log)
                servers.append(child)
                drivers.append(driver)
        else:
            servers.extend(ChildProcess(
                "the embedded Toxiproxy server",
                [sys.executable, "-m", "pytest_dchaos.toxiproxy", "-host", "127.0.0.1",
                 "-port", "0", "-seed", str(plan.seed + i), "--exit-with-stdin"],
                log_path=log,
                env={**os.environ, "PYTHONPATH": _pythonpath_with(pytest_dchaos)},
            ) for i, log in enumerate(logs))  # started side by side, then awaited
            drivers.extend(ToxiproxyDriver(f"http://{child.wait_ready(READY_TIMEOUT)['api']}")
                           for child in servers)
    except BaseException:
        stop_servers()
        raise
    return as_one(drivers), stop_servers


def links_per_server() -> int:
    """Links one Toxiproxy server this run starts takes: each is a listening socket and,
    while used, two connections, within the open-file limit the server can raise itself
    to; and no more than 2,500, so that a large cluster's bytes are forwarded by more
    than one process."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return LINKS_PER_SERVER
    return max(1, min(LINKS_PER_SERVER, (hard - 256) // 3))


def _delete_proxies(driver: ToxiproxyDriver, run_id: str) -> None:
    """On a shared server, remove only this run's proxies."""
    prefix = proxy_name(run_id, "", "")[:-1]
    for name in driver.proxies():
        if name.startswith(prefix):
            driver.delete_proxy(name)



def _start_toxiproxy_server(binary: str, log: Path) -> tuple[ChildProcess, ToxiproxyDriver]:
    """Start ``toxiproxy-server`` on a port of the harness's choosing.

    It cannot listen on port 0 and say which port it got, so the port is picked, freed and
    then taken by the server; what else might take it in between is kept out: other
    harness processes (runs side by side, ``explore --workers``, pytest-xdist) pick under
    one lock, held until the server answers; everything that listens on port 0 (agents,
    proxies, the embedded server) gets a port from the kernel's ephemeral range, which the
    pick avoids. A server that still cannot listen exits, and another port is tried.
    """
    for _ in range(PORT_ATTEMPTS):
        with _port_lock():
            port = free_port()
            child = ChildProcess("toxiproxy-server",
                                 [binary, "-host", "127.0.0.1", "-port", str(port)],
                                 log_path=log)
            driver = ToxiproxyDriver(f"http://127.0.0.1:{port}")
            try:
                up = driver.wait_ready(READY_TIMEOUT, _running(child))
            except BaseException:
                child.stop(grace=1)
                raise
            if up and child.alive:
                return child, driver
            timed_out = child.alive
            child.stop(grace=1)
            if timed_out:
                break
    raise HarnessError(f"toxiproxy-server did not come up; see {log}")


def _running(child: ChildProcess) -> Callable[[], bool]:
    return lambda: child.alive


#: Ports tried for toxiproxy-server before giving up.
PORT_ATTEMPTS = 3
#: Per user: another user's lock file is not ours to open.
_PORT_LOCK = Path(tempfile.gettempdir()) / f"dchaos-ports-{os.getuid()}.lock"


@contextlib.contextmanager
def _port_lock() -> Iterator[None]:
    """One harness process at a time picks a port and starts the server that takes it."""
    with open(_PORT_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def free_port() -> int:
    """A free port on 127.0.0.1 outside the kernel's range for port 0, so that no socket
    bound to port 0 is given it before the server that is meant to take it does."""
    low, high = _ephemeral_range()
    below, above = range(10000, low), range(high + 1, 65536)
    choices = below if len(below) >= len(above) else above
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.choice(choices)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise HarnessError(f"no free port on 127.0.0.1 in {choices.start}-{choices.stop - 1} "
                       "for toxiproxy-server")


def _ephemeral_range() -> tuple[int, int]:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        low, high = (int(word) for word in text.split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default, and near what other systems use
    return low, high
