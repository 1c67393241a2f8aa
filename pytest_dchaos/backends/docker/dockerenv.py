"""Reaching the Docker engine, labelling what a run makes, and removing what runs left.

Everything the Docker backend creates carries ``dchaos.run=<run id>`` plus the harness's
host, pid and process start time. A run removes its own things when it ends — on success,
failure, error, Ctrl-C or SIGTERM. If the harness itself was killed (``kill -9``), the
labels let the next run, or ``dchaos cleanup``, tell that its owner is gone and remove what
it left: a run is dead when it was started on this host by a process that no longer exists
(or whose pid now belongs to a younger process).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker
import docker.errors

from pytest_dchaos.errors import HarnessError

RUN = "dchaos.run"
HOST = "dchaos.host"
PID = "dchaos.pid"
PID_START = "dchaos.pid_start"
ROLE = "dchaos.role"
KEEP = "dchaos.keep"

Say = Callable[[str], None]


def connect() -> docker.DockerClient:
    """A client for the engine at DOCKER_HOST (or the local socket), or a clear error."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        text = str(exc)
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        if "Permission denied" in text or "PermissionError" in text:
            raise HarnessError(
                f"permission denied on the Docker socket ({where}): add your user to the "
                "docker group (then log in again), or run as root") from None
        if "FileNotFoundError" in text or "No such file" in text or "Connection refused" in text:
            raise HarnessError(
                f"Docker is not running or not installed (nothing answers at {where}): "
                "start the Docker engine, or use --backend local") from None
        raise HarnessError(f"cannot reach the Docker engine at {where}: {text}") from None
    return client


LOOPBACK = ("localhost", "127.0.0.1", "::1")
#: Where this machine's own engine answers, when DOCKER_HOST names another.
LOCAL_SOCKET = "unix:///var/run/docker.sock"


def local_engine() -> docker.DockerClient | None:
    """This machine's own engine, if one answers on its socket: the images a remote
    engine lacks are carried from it (see ``images.carry``). None when there is none."""
    if not Path(LOCAL_SOCKET.removeprefix("unix://")).exists():
        return None
    try:
        client = docker.DockerClient(base_url=LOCAL_SOCKET, timeout=300)
        client.ping()
    except docker.errors.DockerException:
        return None
    return client
REMOTE_ENV = "DCHAOS_DOCKER_REMOTE"


@dataclass(frozen=True)
class Engine:
    """Where the engine is, seen from the harness.

    A local engine (a unix socket, or TCP on loopback) shares this machine's file system,
    so node folders are bind mounts and published ports are reached on 127.0.0.1. A remote
    engine (DOCKER_HOST=tcp://host:2376 or ssh://user@host) does not: node folders are
    volumes whose files are copied back into the report, the agent is copied into user
    images, and ports are published on the engine host's interfaces and reached by its name.
    """

    address: str          #: where the harness reaches the ports a container publishes
    publish: str          #: the host interface the engine publishes them on
    shares_files: bool    #: bind mounts of this machine's folders work
    #: The engine runs on this machine (its socket, or TCP on loopback); False for an
    #: engine elsewhere, which gets the images it lacks from this machine's engine.
    on_this_machine: bool = True

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Engine:
        env = os.environ if environ is None else environ
        url = env.get("DOCKER_HOST", "")
        host = urlsplit(url).hostname if "://" in url else None
        forced = env.get(REMOTE_ENV, "") not in ("", "0")
        if url.startswith(("unix://", "npipe://")) or not url or host in LOOPBACK:
            return cls("127.0.0.1", "127.0.0.1", shares_files=not forced)
        return cls(host or "127.0.0.1", "0.0.0.0", shares_files=False, on_this_machine=False)


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (tells pid reuse apart)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def run_labels(run_id: str, role: str, keep: bool = False) -> dict[str, str]:
    pid = os.getpid()
    labels = {RUN: run_id, HOST: socket.gethostname(), PID: str(pid),
              PID_START: _process_start(pid) or "", ROLE: role}
    if keep:
        labels[KEEP] = "1"  # may outlive its harness on purpose: only cleanup removes it
    return labels


def _owner_alive(labels: dict[str, str]) -> bool | None:
    """True/False for runs started on this host; None when they belong to another host."""
    if labels.get(HOST) != socket.gethostname():
        return None
    try:
        pid = int(labels.get(PID, ""))
    except ValueError:
        return False
    started = _process_start(pid)
    return started is not None and started == labels.get(PID_START)


@dataclass
class Removed:
    runs: int = 0
    containers: int = 0
    networks: int = 0
    volumes: int = 0
    services: int = 0

    def __str__(self) -> str:
        services = f"{self.services} service(s), " if self.services else ""
        return (f"{services}{self.containers} container(s), {self.networks} network(s), "
                f"{self.volumes} volume(s) of {self.runs} run(s)")


def _swarm_manager(client: docker.DockerClient) -> bool:
    try:
        return bool(client.info().get("Swarm", {}).get("ControlAvailable"))
    except docker.errors.APIError:
        return False


def remove_run(client: docker.DockerClient, run_id: str) -> Removed:
    """Remove every service, config, container, network and volume labelled with
    ``run_id`` (services and configs only where the engine manages a swarm)."""
    removed = Removed(runs=1)
    selector = {"label": f"{RUN}={run_id}"}
    if _swarm_manager(client):
        removed.services = remove_services(client, selector)
    # Sparse: a full listing inspects each container, and one that a swarm removes
    # meanwhile would fail it.
    containers = client.containers.list(all=True, filters=selector, sparse=True)
    with ThreadPoolExecutor(max_workers=4) as pool:  # the engine removes them side by side
        removed.containers += sum(pool.map(_remove_container, containers))
    for network in client.networks.list(filters=selector):
        try:
            network.remove()
            removed.networks += 1
        except docker.errors.NotFound:
            pass
    removed.volumes += remove_volumes(client, selector)
    return removed


def _remove_container(container: Any) -> bool:
    try:
        container.remove(force=True, v=True)
        return True
    except docker.errors.NotFound:
        return False


def remove_volumes(client: docker.DockerClient, selector: dict[str, str]) -> int:
    count = 0
    for volume in client.volumes.list(filters=selector):
        try:
            volume.remove(force=True)
            count += 1
        except docker.errors.NotFound:
            pass
    return count


#: How long the containers of removed services may take to go (a swarm removes them
#: in the background) before their network and volumes are removed anyway.
SERVICE_GRACE = 30.0


def remove_services(client: docker.DockerClient, selector: dict[str, str]) -> int:
    """Remove the swarm services and configs ``selector`` picks, and wait for their
    containers on this engine to go (a network or volume in use cannot be removed)."""
    count = 0
    for service in client.services.list(filters=selector):
        try:
            service.remove()
            count += 1
        except docker.errors.NotFound:
            pass
    deadline = time.monotonic() + SERVICE_GRACE
    while count and time.monotonic() < deadline and client.containers.list(
            all=True, filters=selector, sparse=True):
        time.sleep(0.2)
    for config in client.configs.list(filters=selector):
        with contextlib.suppress(docker.errors.NotFound):
            config.remove()
    return count


def leftover_runs(client: docker.DockerClient, *, everything: bool = False) -> list[str]:
    """Runs with containers or networks whose harness is gone (or all, with everything)."""
    owners: dict[str, dict[str, str]] = {}
    for container in client.containers.list(all=True, filters={"label": RUN}, sparse=True):
        labels = container.attrs.get("Labels") or {}
        owners.setdefault(labels.get(RUN, ""), labels)
    for network in client.networks.list(filters={"label": RUN}):
        labels = network.attrs.get("Labels") or {}
        owners.setdefault(labels.get(RUN, ""), labels)
    if _swarm_manager(client):
        for service in client.services.list(filters={"label": RUN}):
            labels = service.attrs.get("Spec", {}).get("Labels") or {}
            owners.setdefault(labels.get(RUN, ""), labels)
    dead = []
    for run_id, labels in owners.items():
        if everything or (_owner_alive(labels) is False and labels.get(KEEP) != "1"):
            dead.append(run_id)
    return sorted(r for r in dead if r)


def remove_images(client: docker.DockerClient) -> int:
    """Remove the images dchaos built (node images first: they sit on the base)."""
    count = 0
    for kind in ("node", "base"):
        for image in client.images.list(filters={"label": f"dchaos.image={kind}"}):
            try:
                client.images.remove(image.id, force=True)
                count += 1
            except docker.errors.APIError:
                pass  # in use by a running container of a live run
    return count


def reap(client: docker.DockerClient, *, everything: bool = False,
         runs: list[str] | None = None) -> Removed:
    """Remove what dead runs left behind (every run's, with ``everything``; kept clusters
    only when asked by ``everything`` or by run id in ``runs``)."""
    total = Removed()
    for run_id in runs if runs is not None else leftover_runs(client, everything=everything):
        removed = remove_run(client, run_id)
        total.runs += 1
        total.containers += removed.containers
        total.networks += removed.networks
        total.volumes += removed.volumes
        total.services += removed.services
    return total
