"""The Swarm backend on a real, one-machine swarm (``docker swarm init`` by the ``swarm``
fixture, left after the session as it was found): nodes are services, a restart is a new
task on the same machine with the node's volume, and nothing of a run outlives it —
services, tasks, containers, configs, networks, volumes — however it ends.

The shipped scenarios that between them inject every fault kind run on the swarm too
(tests/docker/test_docker_backend.py, ``ON_SWARM``)."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import docker
import pytest

from pytest_dchaos.backends.docker import dockerenv
from pytest_dchaos.backends.swarm.backend import ENGINES_ENV
from pytest_dchaos.errors import HarnessError
from pytest_dchaos.manual import LiveCluster, start_cluster
from pytest_dchaos.registry import Registry
from pytest_dchaos.run.runner import RunOptions
from pytest_dchaos.scenario.loader import parse_scenario
from tests.docker.conftest import cannot_run
from tests.docker.second_engine import SecondEngine, other_machines, unavailable
from tests.docker.test_docker_backend import SCENARIO, build_user_image, start_long_run

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def left(client: docker.DockerClient, run_id: str | None = None) -> dict[str, int]:
    """What of a run (of every run, without ``run_id``) is still on the engine."""
    selector = {"label": f"{dockerenv.RUN}={run_id}" if run_id else dockerenv.RUN}
    return {"services": len(client.services.list(filters=selector)),
            "configs": len(client.configs.list(filters=selector)),
            "containers": len(client.containers.list(all=True, filters=selector)),
            "networks": len(client.networks.list(filters=selector)),
            "volumes": len(client.volumes.list(filters=selector))}


NOTHING = {"services": 0, "configs": 0, "containers": 0, "networks": 0, "volumes": 0}


def task_of(service: Any) -> dict[str, Any]:
    (running,) = [t for t in service.tasks() if t["DesiredState"] == "running"]
    return running


def spreads(live: LiveCluster, message: int, source: str, reader: str) -> None:
    """Broadcast ``message`` on gossip node ``source``; ``reader`` reads it within 10 s."""
    assert live.request(source, {"type": "broadcast", "message": message})["type"] \
        == "broadcast_ok"
    deadline = time.monotonic() + 10
    while message not in live.request(reader, {"type": "read"}).get("messages", []):
        assert time.monotonic() < deadline, f"{reader} never heard of {message}"
        time.sleep(0.2)


def test_nodes_are_services_and_a_restart_is_a_new_task_with_the_nodes_disk(
        swarm: docker.DockerClient, tmp_path: Path) -> None:
    options = RunOptions(backend="swarm", report_dir=tmp_path)
    with start_cluster(protocol="gossip", nodes=3, options=options) as live:
        run_id = live.cluster.plan.run_id
        service = swarm.services.get(f"dchaos-{run_id}-n2")
        assert service.attrs["Spec"]["Labels"][dockerenv.RUN] == run_id
        network = swarm.networks.get(f"dchaos-{run_id}")
        assert network.attrs["Driver"] == "overlay" and network.attrs["Attachable"]
        before = task_of(service)
        container = swarm.containers.get(before["Status"]["ContainerStatus"]["ContainerID"])
        assert container.exec_run(
            ["sh", "-c", "echo on disk > /var/lib/dchaos/node/kept.txt"]).exit_code == 0
        assert live.request("n2", {"type": "broadcast", "message": 7})["type"] == "broadcast_ok"
        live.kill("n2")
        live.restart("n2")
        after = task_of(service)
        assert after["ID"] != before["ID"] and after["NodeID"] == before["NodeID"]
        again = swarm.containers.get(after["Status"]["ContainerStatus"]["ContainerID"])
        assert again.exec_run(["cat", "/var/lib/dchaos/node/kept.txt"]).output == b"on disk\n"
        # The links into n2 name the new task's address, not the service's name, which
        # Swarm's DNS may go on giving the dead task; and they carry n1's news to it.
        address = again.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        upstreams = {name: proxy["upstream"]
                     for name, proxy in live.cluster.network.driver.proxies().items()}
        assert {upstreams[f"{run_id}_{a}_n2"] for a in ("n1", "n3")} == {f"{address}:7001"}
        spreads(live, 8, "n1", "n2")
        live.pause("n3")
        assert swarm.containers.get(
            task_of(swarm.services.get(f"dchaos-{run_id}-n3"))["Status"]["ContainerStatus"]
            ["ContainerID"]).status == "paused"
        live.resume("n3")
        live.cluster.flush_traces()
        assert (live.cluster.node_dir("n1") / "trace.jsonl").stat().st_size > 0
    # Both of n2's containers told their part of its agent's log; its folder came back.
    log = (live.cluster.node_dir("n2") / "agent.log").read_text()
    assert log.count('"event": "ready"') == 2, log
    assert (live.cluster.node_dir("n2") / "kept.txt").read_text() == "on disk\n"
    assert left(swarm, run_id) == NOTHING


def test_a_users_image_gets_the_agent_as_a_config(swarm: docker.DockerClient, tmp_path: Path,
                                                  user_images: list[str]) -> None:
    node = (Path(__file__).parent.parent / "nodes" / "naive_broadcast.py").read_bytes()
    image = build_user_image(swarm, "dchaos-test-swarm-node:1",
                             'COPY node.py /app/node.py\nCMD ["python3", "/app/node.py"]\n',
                             {"node.py": node}, user_images)
    options = RunOptions(backend="swarm", node_image=image, report_dir=tmp_path)
    with start_cluster(protocol="gossip", nodes=2, options=options) as live:
        run_id = live.cluster.plan.run_id
        (config,) = swarm.configs.list(filters={"label": f"{dockerenv.RUN}={run_id}"})
        assert b"def main" in base64.b64decode(config.attrs["Spec"]["Data"])  # the agent
        assert live.request("n1", {"type": "broadcast", "message": 3})["type"] == "broadcast_ok"
    assert left(swarm, run_id) == NOTHING


def test_an_engine_in_no_swarm_is_one_clear_error(second_engine: SecondEngine,
                                                  tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", second_engine.url)
    with pytest.raises(HarnessError, match=r"is in none: start one with `docker swarm init`"):
        start_cluster(protocol="gossip", nodes=2,
                      options=RunOptions(backend="swarm", report_dir=tmp_path))
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(SCENARIO))
    done = subprocess.run([sys.executable, "-m", "pytest_dchaos.cli", "run", str(path),
                           "--backend", "swarm", "--report", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "docker swarm init" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM])  # Ctrl-C: the same path, on Docker
def test_an_interrupted_run_leaves_nothing_on_the_swarm(swarm: docker.DockerClient,
                                                        tmp_path: Path,
                                                        sig: signal.Signals) -> None:
    harness = start_long_run(tmp_path, backend="swarm")
    assert left(swarm)["services"] == 5  # four nodes and Toxiproxy
    os.kill(harness.pid, sig)
    _, err = harness.communicate(timeout=90)
    assert harness.returncode == 128 + sig, err
    assert left(swarm) == NOTHING


def test_what_a_killed_harness_left_on_the_swarm_is_cleaned_up(swarm: docker.DockerClient,
                                                               tmp_path: Path) -> None:
    harness = start_long_run(tmp_path, backend="swarm")
    os.kill(harness.pid, signal.SIGKILL)
    harness.communicate(timeout=10)
    assert left(swarm)["services"] == 5, "a killed harness left nothing: the test proves nothing"
    cleanup = subprocess.run([sys.executable, "-m", "pytest_dchaos.cli", "cleanup"],
                             capture_output=True, text=True, timeout=120, check=False)
    assert cleanup.returncode == 0, cleanup.stderr
    assert "5 service(s)" in cleanup.stdout, cleanup.stdout
    assert left(swarm) == NOTHING


def test_a_swarm_of_two_machines_places_nodes_on_both_and_acts_through_each_engine(
        engine: docker.DockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    # Two engines as two other machines (tests/docker/second_engine.py), made a swarm: the
    # harness reaches the manager by DOCKER_HOST and the worker by DCHAOS_SWARM_ENGINES,
    # and neither has an image until the run carries them there.
    why = unavailable()
    if why is not None:
        cannot_run(why)
    with other_machines(2, engine.info()["Driver"]) as (manager, worker):
        manager.client.swarm.init(advertise_addr=manager.address,
                                  listen_addr=f"{manager.address}:2377")
        manager.client.swarm.reload()
        worker.client.swarm.join(remote_addrs=[f"{manager.address}:2377"],
                                 join_token=manager.client.swarm.attrs["JoinTokens"]["Worker"],
                                 advertise_addr=worker.address,
                                 listen_addr=f"{worker.address}:2377")
        monkeypatch.setenv("DOCKER_HOST", manager.url)
        monkeypatch.setenv(ENGINES_ENV, f"{worker.hostname}={worker.url}")
        options = RunOptions(backend="swarm", report_dir=tmp_path)
        # Round robin from the manager would put n2 on the worker; the scenario's placement
        # puts n3 there instead, and the rest on the manager.
        scenario = parse_scenario(textwrap.dedent(f"""\
            name: placed
            protocol: gossip
            cluster:
              nodes: 3
              placement:
                - {{nodes: n3, constraints: ["node.hostname=={worker.hostname}"]}}
                - {{nodes: [n1, n2], constraints: ["node.role==manager"]}}
            workload: {{clients: 1, rate: 1/s, duration: 1s}}
            checks: [convergence]
            """), "<placed>", Registry())
        with start_cluster(scenario, options=options) as live:
            run_id = live.cluster.plan.run_id
            said = capfd.readouterr().err
            assert said.count("copying the image") == 2, said  # here -> manager -> worker
            on = {node: task_of(manager.client.services.get(f"dchaos-{run_id}-{node}"))
                  ["NodeID"] for node in ("n1", "n2", "n3")}
            worker_id = worker.client.info()["Swarm"]["NodeID"]
            assert [node for node, machine in on.items() if machine == worker_id] == ["n3"]
            service = manager.client.services.get(f"dchaos-{run_id}-n3")
            before = task_of(service)
            on_worker = worker.client.containers.get(
                before["Status"]["ContainerStatus"]["ContainerID"])
            on_worker.exec_run(["sh", "-c", "echo on disk > /var/lib/dchaos/node/kept.txt"])
            live.kill("n3")
            live.restart("n3")
            after = task_of(service)
            assert after["ID"] != before["ID"] and after["NodeID"] == before["NodeID"]
            again = worker.client.containers.get(after["Status"]["ContainerStatus"]
                                                 ["ContainerID"])
            assert again.exec_run(["cat", "/var/lib/dchaos/node/kept.txt"]).output \
                == b"on disk\n"
            # What n3, on the worker, is told reaches n1 and n2, on the manager: the links
            # cross the machines through the overlay.
            spreads(live, 7, "n3", "n1")
        assert (live.cluster.node_dir("n3") / "kept.txt").read_text() == "on disk\n"
        assert left(manager.client, run_id) == NOTHING
        selector = {"label": f"{dockerenv.RUN}={run_id}"}
        assert worker.client.containers.list(all=True, filters=selector) == []
        assert worker.client.volumes.list(filters=selector) == []


def test_keep_leaves_a_failed_run_up_and_cleanup_removes_it(
        swarm: docker.DockerClient, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""\
        name: kept
        protocol: gossip
        cluster: {nodes: 3}
        workload: {clients: 1, rate: 5/s, duration: 2s}
        checks: [{msgs_per_op: {max: 0.01}}]
        """))
    done = subprocess.run([sys.executable, "-m", "pytest_dchaos.cli", "run", str(path),
                           "--backend", "swarm", "--keep", "--report", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 1, done.stderr
    run_id = done.stderr.split("kept the cluster of run ")[1].split()[0]
    assert f"services dchaos-{run_id}-n1..n3 and dchaos-{run_id}-toxiproxy" in done.stderr
    assert left(swarm, run_id) | {"containers": 0} == {
        "services": 4, "configs": 0, "containers": 0, "networks": 1, "volumes": 3}
    assert all(task_of(service)["Status"]["State"] == "running"
               for service in swarm.services.list(filters={"label": f"{dockerenv.RUN}={run_id}"}))
    assert dockerenv.leftover_runs(swarm) == [], "a kept cluster is not a dead run's leftover"
    cleanup = subprocess.run([sys.executable, "-m", "pytest_dchaos.cli", "cleanup", "--run",
                              run_id], capture_output=True, text=True, timeout=180, check=False)
    assert cleanup.returncode == 0 and "4 service(s)" in cleanup.stdout, cleanup.stdout
    deadline = time.monotonic() + 60
    while left(swarm, run_id) != NOTHING:  # the swarm takes the task containers down after
        assert time.monotonic() < deadline, left(swarm, run_id)
        time.sleep(0.5)
