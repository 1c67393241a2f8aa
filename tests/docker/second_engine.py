"""Other, real Docker engines on this machine, as other machines, for the tests of a
remote engine and of a swarm of several machines.

Each runs in a network namespace of its own, on a network segment shared with this machine,
under a host name of its own, so it is what an engine on another machine is to the harness:
another address (not loopback), its own data root (no image, volume or container of this
machine's engine), its own iptables, and files reached only through its API. Nothing of
this machine's engine is touched: its firewall rules, networks and containers stay as they
were, and everything this makes (namespaces, veth pairs, daemons, their mounts and
folders) goes when the context ends.

Needs root, iproute2's ``ip``, util-linux's ``nsenter`` and ``unshare``, and ``dockerd``:
where one is missing, ``unavailable()`` says which.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

PORT = 2375
START_TIMEOUT = 60.0


@dataclass(frozen=True)
class SecondEngine:
    url: str                    #: what DOCKER_HOST names to reach it
    address: str                #: its address, as another machine's
    hostname: str               #: its machine's name (a swarm node's hostname)
    client: docker.DockerClient


def unavailable() -> str | None:
    """Why other engines cannot be started here; None when they can."""
    if os.geteuid() != 0:
        return "starting a second Docker engine needs root"
    missing = [tool for tool in ("ip", "nsenter", "unshare", "dockerd")
               if shutil.which(tool) is None]
    if missing:
        return f"starting a second Docker engine needs {', '.join(missing)}"
    return None


def _sh(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")


@contextlib.contextmanager
def second_engine(storage_driver: str) -> Iterator[SecondEngine]:
    """One other engine (see ``other_machines``)."""
    with other_machines(1, storage_driver) as (only,):
        yield only


@contextlib.contextmanager
def other_machines(count: int, storage_driver: str) -> Iterator[list[SecondEngine]]:
    """Start ``count`` engines, each as another machine on one network segment with this
    one, with the host name ``machine-<i>``, using ``storage_driver`` (the one this
    machine's engine uses: the kernel here may offer no other). Yield them; remove every
    trace of them after.

    The segment is a bridge in a namespace of its own, so nothing crosses this machine's
    firewall; this machine joins it with one veth pair, each engine with another."""
    tag = os.getpid() % 100000
    subnet = f"10.223.{tag % 250 + 1}"
    lan = f"dce-{tag}-lan"
    namespaces = [lan] + [f"dce-{tag}-{i}" for i in range(count)]
    outside = f"dce{tag}h"
    # Short: containerd's socket lives under the exec root, and a socket path has a limit.
    root = Path(tempfile.mkdtemp(prefix="dce-", dir="/tmp"))
    daemons: list[tuple[subprocess.Popen[bytes], str, Path]] = []
    try:
        for namespace in namespaces:
            _sh("ip", "netns", "add", namespace)
            _sh("ip", "-n", namespace, "link", "set", "lo", "up")
        _sh("ip", "-n", lan, "link", "add", "br0", "type", "bridge")
        _sh("ip", "-n", lan, "link", "set", "br0", "up")

        def plug(end: str, peer: str, into: str | None) -> None:
            """A veth pair: ``end`` in namespace ``into`` (None: here), ``peer`` on the
            segment's bridge."""
            _sh("ip", "link", "add", end, "type", "veth", "peer", "name", peer)
            _sh("ip", "link", "set", peer, "netns", lan)
            _sh("ip", "-n", lan, "link", "set", peer, "master", "br0", "up")
            if into is not None:
                _sh("ip", "link", "set", end, "netns", into)

        plug(outside, f"dce{tag}l", None)
        _sh("ip", "addr", "add", f"{subnet}.1/24", "dev", outside)
        _sh("ip", "link", "set", outside, "up")
        engines = []
        for i, namespace in enumerate(namespaces[1:]):
            end, address, hostname = f"dce{tag}e{i}", f"{subnet}.{i + 2}", f"machine-{i}"
            plug(end, f"dce{tag}b{i}", namespace)
            _sh("ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", end)
            _sh("ip", "-n", namespace, "link", "set", end, "up")
            home = root / str(i)
            home.mkdir()
            daemon, url = _start(namespace, hostname, address, home, storage_driver)
            daemons.append((daemon, url, home))
            engines.append(SecondEngine(url, address, hostname, _connect(url, daemon, home)))
        yield engines
    finally:
        for daemon, url, home in daemons:
            _stop(daemon, url, home)
        for namespace in reversed(namespaces):  # their ends of the veth pairs go too
            with contextlib.suppress(RuntimeError):
                _sh("ip", "netns", "delete", namespace)
        with contextlib.suppress(RuntimeError):
            _sh("ip", "link", "delete", outside)
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


def _start(namespace: str, hostname: str, address: str, home: Path,
           storage_driver: str) -> tuple[subprocess.Popen[bytes], str]:
    config = home / "daemon.json"
    config.write_text(json.dumps({"storage-driver": storage_driver}))
    url = f"tcp://{address}:{PORT}"
    # nsenter, not `ip netns exec`: that one remounts /sys, and dockerd then finds no
    # cgroups. Only the network and the host name are the engine's own.
    script = f'hostname {hostname} && exec nsenter --net=/var/run/netns/{namespace} "$@"'
    with (home / "dockerd.log").open("wb") as out:
        daemon = subprocess.Popen(
            ["unshare", "--uts", "sh", "-c", script, "sh", "dockerd",
             "--config-file", str(config), "--data-root", str(home / "data"),
             "--exec-root", str(home / "x"), "--pidfile", str(home / "x" / "pid"),
             "-H", url, "--tls=false", "--bridge", "none"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return daemon, url


def _connect(url: str, daemon: subprocess.Popen[bytes], home: Path) -> docker.DockerClient:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:  # the client asks the engine's version as it is made
            client = docker.DockerClient(base_url=url, timeout=300)
            client.ping()
            return client
        except docker.errors.DockerException:
            if daemon.poll() is not None or time.monotonic() > deadline:
                log = (home / "dockerd.log").read_text(errors="replace")
                raise RuntimeError(f"the Docker engine at {url} did not start:\n"
                                   + log[-2000:]) from None
            time.sleep(0.2)


def _stop(daemon: subprocess.Popen[bytes], url: str, root: Path) -> None:
    """Remove its containers, then end the daemon (and the containerd it started)."""
    if daemon.poll() is None:
        with contextlib.suppress(docker.errors.DockerException):
            client = docker.DockerClient(base_url=url, timeout=30)
            for container in client.containers.list(all=True):
                container.remove(force=True, v=True)
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
    # A containerd the daemon started may outlive a daemon that was killed.
    for pid in _processes_mentioning(str(root)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def _unmount_under(root: Path) -> None:
    """Unmount whatever the daemon left mounted under ``root`` (deepest first)."""
    with contextlib.suppress(OSError):
        points = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                  if line.split()[1].startswith(str(root))]
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
