"""A second, real Docker engine on this machine, for the tests of a remote engine.

It runs in a network namespace of its own, joined to this one by a veth pair, so it is
what an engine on another machine is to the harness: another address (not loopback), its
own data root (no image, volume or container of this machine's engine), its own iptables,
and files reached only through its API. Nothing of the first engine is touched: its
firewall rules, networks and containers stay as they were, and everything this makes (the
namespace, the veth pair, the daemon, its mounts and folders) goes when the context ends.

Needs root, iproute2's ``ip``, util-linux's ``nsenter`` and ``dockerd``: where one is
missing, ``unavailable()`` says which.
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
    client: docker.DockerClient


def unavailable() -> str | None:
    """Why a second engine cannot be started here; None when it can."""
    if os.geteuid() != 0:
        return "starting a second Docker engine needs root"
    missing = [tool for tool in ("ip", "nsenter", "dockerd") if shutil.which(tool) is None]
    if missing:
        return f"starting a second Docker engine needs {', '.join(missing)}"
    return None


def _sh(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")


@contextlib.contextmanager
def second_engine(storage_driver: str) -> Iterator[SecondEngine]:
    """Start the engine (with ``storage_driver``, the one this machine's engine uses: the
    kernel here may offer no other), yield it, and remove every trace of it."""
    tag = os.getpid() % 100000
    namespace, outside, inside = f"dchaos-engine-{tag}", f"dce{tag}h", f"dce{tag}n"
    subnet = f"10.223.{tag % 250 + 1}"
    host_ip, engine_ip = f"{subnet}.1", f"{subnet}.2"
    # Short: containerd's socket lives under the exec root, and a socket path has a limit.
    root = Path(tempfile.mkdtemp(prefix="dce-", dir="/tmp"))
    log = root / "dockerd.log"
    daemon: subprocess.Popen[bytes] | None = None
    try:
        _sh("ip", "netns", "add", namespace)
        _sh("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        _sh("ip", "link", "set", inside, "netns", namespace)
        _sh("ip", "addr", "add", f"{host_ip}/30", "dev", outside)
        _sh("ip", "link", "set", outside, "up")
        for command in (("ip", "addr", "add", f"{engine_ip}/30", "dev", inside),
                        ("ip", "link", "set", inside, "up"), ("ip", "link", "set", "lo", "up")):
            _sh("ip", "netns", "exec", namespace, *command)
        config = root / "daemon.json"
        config.write_text(json.dumps({"storage-driver": storage_driver}))
        url = f"tcp://{engine_ip}:{PORT}"
        # nsenter, not `ip netns exec`: that one remounts /sys, and dockerd then finds no
        # cgroups. Only the network is the namespace's; the rest is this machine's.
        with log.open("wb") as out:
            daemon = subprocess.Popen(
                ["nsenter", f"--net=/var/run/netns/{namespace}", "dockerd",
                 "--config-file", str(config), "--data-root", str(root / "data"),
                 "--exec-root", str(root / "x"), "--pidfile", str(root / "x" / "pid"),
                 "-H", url, "--tls=false", "--bridge", "none"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:  # the client asks the engine's version as it is made
                client = docker.DockerClient(base_url=url, timeout=300)
                client.ping()
                break
            except docker.errors.DockerException:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the second Docker engine did not start:\n"
                                       + log.read_text(errors="replace")[-2000:]) from None
                time.sleep(0.2)
        yield SecondEngine(url, engine_ip, client)
    finally:
        if daemon is not None:
            _stop(daemon, url, root)
        with contextlib.suppress(RuntimeError):
            _sh("ip", "netns", "delete", namespace)  # its end of the veth pair goes with it
        with contextlib.suppress(RuntimeError):
            _sh("ip", "link", "delete", outside)
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


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
