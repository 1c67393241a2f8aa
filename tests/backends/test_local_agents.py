"""The local backend's agents: one interpreter imports the agent and forks one per node;
and its fault layer, one Toxiproxy server or, for a large cluster, several driven as one.

Each forked agent must be what a lone agent is — its own process and session, its log in
its node's folder, gone when told or when the harness lets go of its stdin — and an agent
that cannot start must be an error that names its node, at once, not after a timeout.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from pytest_dchaos import agent as agent_module
from pytest_dchaos.backends.local import backend
from pytest_dchaos.backends.local.backend import LocalBackend
from pytest_dchaos.backends.local.processes import ChildProcess, ForkedProcess
from pytest_dchaos.cluster.toxiproxy_driver import ToxiproxyShards
from pytest_dchaos.errors import HarnessError
from pytest_dchaos.manual import start_cluster
from pytest_dchaos.run.runner import RunOptions


def brood(tmp_path: Path, workdirs: list[Path]) -> ChildProcess:
    return ChildProcess("the agents", [
        sys.executable, agent_module.__file__,
        *(word for w in workdirs for word in ("--workdir", str(w)))],
        log_path=tmp_path / "agents.log")


def gone_within(process: ForkedProcess, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while process.alive and time.monotonic() < deadline:
        time.sleep(0.02)
    return not process.alive


def test_each_forked_agent_is_a_process_and_session_of_its_own(tmp_path: Path) -> None:
    workdirs = {str(tmp_path / n): n for n in ("n1", "n2", "n3")}
    parent = brood(tmp_path, [Path(w) for w in workdirs])
    agents: dict[str, ForkedProcess] = {}
    try:
        ready = LocalBackend._await_agents(parent, workdirs, agents)
        assert set(ready) == {"n1", "n2", "n3"}
        pids = {line["pid"] for line in ready.values()}
        assert len(pids) == 3 and parent.proc.pid not in pids
        assert len({line["control"] for line in ready.values()}) == 3
        for node, process in agents.items():
            assert os.getsid(process.pid) == process.pid, node
            assert (tmp_path / node / "agent.log").exists()

        agents["n2"].stop(grace=5)  # one agent told to stop: only it goes
        assert not agents["n2"].alive
        assert agents["n1"].alive and agents["n3"].alive
    finally:
        parent.stop(grace=5)  # end of file on the shared stdin: the others go too
    assert gone_within(agents["n1"], 5) and gone_within(agents["n3"], 5)
    assert parent.proc.returncode == 0


def test_an_agent_that_cannot_start_is_named_at_once_with_its_log(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    workdirs = {str(tmp_path / "n1"): "n1", str(blocker / "n2"): "n2"}
    parent = brood(tmp_path, [Path(w) for w in workdirs])
    agents: dict[str, ForkedProcess] = {}
    began = time.monotonic()
    try:
        with pytest.raises(HarnessError, match=r"the agent of n2 exited with code 1 at start"
                           ) as failure:
            LocalBackend._await_agents(parent, workdirs, agents)
    finally:
        parent.stop(grace=5)
    assert time.monotonic() - began < 5  # not the 15 s a silent agent is given
    assert "n2" not in agents
    assert "NotADirectoryError" in str(failure.value)  # from the log it had: the brood's


def test_a_cluster_past_one_servers_links_gets_several_servers_driven_as_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "LINKS_PER_SERVER", 5)  # 4 nodes, 12 links: 3 servers
    live = start_cluster(protocol="gossip", nodes=4, options=RunOptions(
        report_dir=tmp_path, toxiproxy="embedded"))
    try:
        shards = live.cluster.network.driver
        assert isinstance(shards, ToxiproxyShards)
        on_each = [set(driver.proxies()) for driver in shards.drivers]
        assert [len(names) for names in on_each] == [4, 4, 4]
        assert set().union(*on_each) == set(live.cluster.network.proxies.values())

        link = ("n4", "n1")  # its proxy is on the last server
        proxy = live.cluster.network.proxies[link]
        assert proxy in on_each[2]
        live.cluster.network.cut("test", [link])
        assert shards.drivers[2].proxies()[proxy]["enabled"] is False
        live.cluster.network.set_latency("slow", [link], 0.05)
        assert [t["name"] for t in shards.drivers[2].proxies()[proxy]["toxics"]] == [
            "slow_latency_0"]
        live.cluster.network.heal()
        healed = shards.drivers[2].proxies()[proxy]
        assert healed["enabled"] is True and healed["toxics"] == []
        servers = [process for process in descendants() if "pytest_dchaos.toxiproxy" in process]
        assert len(servers) == 3
    finally:
        live.close()
    assert not [process for process in descendants() if "pytest_dchaos.toxiproxy" in process]


def descendants() -> list[str]:
    """The command lines of this process's children and their children."""
    found, parents = [], {os.getpid()}
    for _ in range(3):
        children = set()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
                if int(stat[1]) in parents:
                    children.add(int(pid))
                    found.append(Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " "))
            except OSError:
                continue
        parents = children
    return found
