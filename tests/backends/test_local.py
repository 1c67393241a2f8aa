"""The local backend's fault layer when a ``toxiproxy-server`` binary is used: it cannot
listen on port 0, so the harness picks its port, and runs side by side (``explore
--workers``, pytest-xdist) must never pick the same one or reach each other's server.

The binary here is a stand-in that runs the embedded server with the flags it is given
(``-host``, ``-port``), which is all the harness relies on."""

from __future__ import annotations

import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pytest_dchaos.backends.local import backend
from pytest_dchaos.backends.local.processes import ChildProcess
from pytest_dchaos.cluster.toxiproxy_driver import ToxiproxyDriver


@pytest.fixture
def server_binary(tmp_path: Path) -> str:
    path = tmp_path / "bin" / "toxiproxy-server"
    path.parent.mkdir()
    # --exit-with-stdin: it stops as soon as the harness lets go of it (no grace to wait).
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pytest_dchaos.toxiproxy "$@" '
                    '--exit-with-stdin\n')
    path.chmod(0o755)
    return str(path)


def started(binary: str, log: Path) -> tuple[ChildProcess, ToxiproxyDriver]:
    return backend._start_toxiproxy_server(binary, log)


def test_the_port_picked_is_free_and_outside_the_range_port_0_is_given_from() -> None:
    low, high = backend._ephemeral_range()
    for _ in range(20):
        port = backend.free_port()
        assert not low <= port <= high
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free: this would raise


def test_servers_started_side_by_side_each_get_a_port_of_their_own(
        tmp_path: Path, server_binary: str, no_leaks: None) -> None:
    with ThreadPoolExecutor(max_workers=4) as starting:
        servers = list(starting.map(lambda i: started(server_binary, tmp_path / f"{i}.log"),
                                    range(4)))
    try:
        assert len({driver.url for _, driver in servers}) == 4
        # Each driver reaches its own server: a proxy made on one is on no other.
        first = servers[0][1]
        first.populate([{"name": "only_here", "listen": "127.0.0.1:0",
                         "upstream": "127.0.0.1:9", "enabled": True}])
        assert "only_here" in first.proxies()
        assert all("only_here" not in driver.proxies() for _, driver in servers[1:])
    finally:
        for child, _ in servers:
            child.stop(grace=5)


def test_a_port_taken_before_the_server_listens_is_given_up_for_another(
        tmp_path: Path, server_binary: str, no_leaks: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))  # taken, not listening: nothing answers on it
        busy = taken.getsockname()[1]
        picks = iter([busy])
        real = backend.free_port
        monkeypatch.setattr(backend, "free_port", lambda: next(picks, None) or real())
        child, driver = started(server_binary, tmp_path / "toxiproxy.log")
        try:
            assert driver.url != f"http://127.0.0.1:{busy}"
            assert driver.version()
        finally:
            child.stop(grace=5)
