"""The Docker backend on the real engine: containers, the Toxiproxy container, cleanup.

Skipped, with the reason and how to enable them, where no Docker engine answers or the base
image can be neither found nor built (see conftest.py). The first test on a fresh machine
builds the base image with debootstrap (about 35 s).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import docker
import docker.errors
import pytest

from pytest_dchaos.backends.docker import dockerenv
from pytest_dchaos.errors import HarnessError
from pytest_dchaos.registry import Registry
from pytest_dchaos.run.runner import RunOptions, run_scenario
from pytest_dchaos.scenario.loader import load_scenario, parse_scenario
from tests.docker.second_engine import SecondEngine

SCENARIO = """\
name: docker-partition
protocol: gossip
cluster: {nodes: 4, params: {startup_grace_ms: 500}}
network: {latency: 2ms}
workload: {clients: 2, rate: 30/s, duration: 6s, recovery: 8s}
faults:
  - {at: 1.5s, partition: {groups: [[n1, n2], [n3, n4]]}, duration: 3s}
checks:
  - convergence: {within: 5s}
  - no_invented_values
  - failure_detection: {within: 3s}
  - rejoin: {within: 5s}
seed: 21
"""


def labelled(client: docker.DockerClient, run_id: str | None = None) -> tuple[int, int]:
    selector = {"label": f"{dockerenv.RUN}={run_id}" if run_id else dockerenv.RUN}
    return (len(client.containers.list(all=True, filters=selector)),
            len(client.networks.list(filters=selector)))


def start_long_run(tmp_path: Path, pytest_session: bool = False,
                   backend: str = "docker") -> subprocess.Popen[str]:
    """A one-minute scenario in containers — by ``dchaos run``, or as a pytest session —
    returned once its cluster is up."""
    path = tmp_path / "long.yaml"
    path.write_text(textwrap.dedent(SCENARIO).replace("duration: 6s", "duration: 60s"))
    report = str(tmp_path / "r")
    command = ([sys.executable, "-m", "pytest", str(path), "-s", "-q", "-p", "no:cacheprovider",
                "--dchaos-backend", backend, "--dchaos-progress", "--dchaos-report-dir", report]
               if pytest_session else
               [sys.executable, "-m", "pytest_dchaos.cli", "run", str(path), "--backend",
                backend, "--report", report])
    harness = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, cwd=tmp_path)
    assert harness.stderr is not None
    for line in harness.stderr:
        if "cluster ready" in line:
            return harness
    raise AssertionError(f"the run never got ready (exit {harness.wait(timeout=30)})")


def run(tmp_path: Path, backend: str):  # type: ignore[no-untyped-def]
    registry = Registry()
    scenario = parse_scenario(textwrap.dedent(SCENARIO), str(tmp_path / "s.yaml"), registry)
    return run_scenario(scenario, RunOptions(backend=backend, report_dir=tmp_path / backend),
                        registry)


@pytest.mark.docker
@pytest.mark.slow
def test_a_scenario_runs_in_containers_and_leaves_nothing(
        engine: docker.DockerClient, tmp_path: Path) -> None:
    result = run(tmp_path, "docker")
    assert result.passed, "\n".join(f"{v.name}: {v.detail}" for v in result.checks)
    assert labelled(engine, result.run_id) == (0, 0)
    # The agents wrote their traces and the nodes their logs through the bind mounts.
    assert (tmp_path / "docker" / "trace.jsonl").stat().st_size > 0
    assert "started" in (tmp_path / "docker" / "nodes" / "n1" / "stderr.log").read_text()


@pytest.mark.docker
@pytest.mark.slow
def test_same_verdicts_as_the_local_backend(engine: docker.DockerClient,
                                            tmp_path: Path) -> None:
    docker_run, local_run = run(tmp_path, "docker"), run(tmp_path, "local")
    assert ([(v.name, v.passed) for v in docker_run.checks]
            == [(v.name, v.passed) for v in local_run.checks])


@pytest.mark.docker
@pytest.mark.slow
def test_what_a_killed_harness_left_is_cleaned_up(engine: docker.DockerClient,
                                                  tmp_path: Path) -> None:
    harness = start_long_run(tmp_path)
    os.kill(harness.pid, signal.SIGKILL)
    harness.communicate(timeout=10)
    run_id = next(iter(dockerenv.leftover_runs(engine)), None)
    assert run_id is not None, "a killed harness left nothing to clean: the test proves nothing"
    assert labelled(engine, run_id)[0] == 5  # four nodes and the Toxiproxy container
    cleanup = subprocess.run([sys.executable, "-m", "pytest_dchaos.cli", "cleanup"],
                             capture_output=True, text=True, timeout=120, check=False)
    assert cleanup.returncode == 0, cleanup.stderr
    assert "5 container(s), 1 network(s)" in cleanup.stdout
    assert labelled(engine, run_id) == (0, 0)


def test_docker_not_running_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(SCENARIO))
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest_dchaos.cli", "run", str(path),
                           "--backend", "docker", "--report", str(tmp_path / "r")],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 2
    assert "Docker is not running or not installed" in done.stderr
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 30


@pytest.mark.docker
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to become a user outside the docker group")
def test_permission_denied_on_the_socket_is_one_clear_error(engine: docker.DockerClient) -> None:
    # `nobody` is outside the docker group: the engine's socket refuses it, as it refuses a
    # user who was never added to the group.
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           sys.executable, "-m", "pytest_dchaos.cli", "cleanup"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "permission denied on the Docker socket" in done.stderr
    assert "add your user to the docker group" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
@pytest.mark.docker
def test_a_port_in_use_is_one_clear_error(engine: docker.DockerClient) -> None:
    from pytest_dchaos.backends.docker import images
    from pytest_dchaos.backends.docker.backend import _run

    # The backend only ever asks for engine-chosen ports; a taken one is still one line.
    image = images.node_image(engine, lambda text: None)
    run_id = "porttest"
    network = engine.networks.create(f"dchaos-{run_id}",
                                     labels=dockerenv.run_labels(run_id, "network"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        try:
            with pytest.raises(HarnessError, match=r"a port is already in use.*free it"):
                _run(engine, image, ["sleep", "30"], f"dchaos-{run_id}-n1", network.name,
                     run_id, "node", False, entrypoint=[],
                     ports={"7000/tcp": ("127.0.0.1", port)})
        finally:
            dockerenv.remove_run(engine, run_id)
    assert labelled(engine, run_id) == (0, 0)


@pytest.mark.docker
@pytest.mark.slow
def test_process_faults_are_container_operations(engine: docker.DockerClient,
                                                 tmp_path: Path) -> None:
    from pytest_dchaos.manual import start_cluster

    with start_cluster(protocol="gossip", nodes=3,
                       options=RunOptions(backend="docker", report_dir=tmp_path)) as live:
        container = engine.containers.get(f"dchaos-{live.cluster.plan.run_id}-n2")
        (live.cluster.node_dir("n2") / "kept.txt").write_text("on disk")
        live.kill("n2")
        container.reload()
        assert container.status == "exited"
        live.restart("n2")
        container.reload()
        assert container.status == "running"
        assert live.request("n2", {"type": "read"})["type"] == "read_ok"
        assert (live.cluster.node_dir("n2") / "kept.txt").read_text() == "on disk"
        live.cluster.stop("n2", grace=2.0)
        container.reload()
        assert container.status == "exited"
        live.restart("n2")
        assert live.request("n2", {"type": "read"})["type"] == "read_ok"
        live.pause("n3")
        engine.containers.get(f"dchaos-{live.cluster.plan.run_id}-n3").reload()
        assert engine.containers.get(f"dchaos-{live.cluster.plan.run_id}-n3").status == "paused"
        live.resume("n3")
        assert live.request("n3", {"type": "read"})["type"] == "read_ok"
        assert not live.cluster.incidents
    assert labelled(engine, live.cluster.plan.run_id) == (0, 0)


@pytest.mark.docker
@pytest.mark.slow
def test_messages_to_a_restarted_container_arrive_at_once(engine: docker.DockerClient,
                                                          tmp_path: Path) -> None:
    # While n2's container is down, n1 still sends to it (its channel to n2 retransmits).
    # A proxy left open would take those connections and dial the missing container for
    # seconds, and n1's first messages after n2 is back would wait behind them (a 2PC
    # participant asking its restarted coordinator, blocked for 3 s). The links into a
    # container that is down are cut instead: what is sent meanwhile is lost, what is sent
    # once it is back arrives.
    from pytest_dchaos.manual import start_cluster

    with start_cluster(protocol="vector_clock", nodes=2,
                       options=RunOptions(backend="docker", report_dir=tmp_path)) as live:
        live.kill("n2")
        for value in range(5):
            live.request("n1", {"type": "cbcast", "message": value})
            time.sleep(0.2)
        live.restart("n2")
        back = time.time()
        live.request("n1", {"type": "cbcast", "message": 100})
        time.sleep(1.5)
        run_dir = live.cluster.plan.workdir
    sent, arrived = {}, {}
    for node in ("n1", "n2"):
        for line in (run_dir / node / "trace.jsonl").read_text().splitlines():
            event = json.loads(line)
            if event["src"] == "n1" and event["dest"] == "n2":
                if event["ev"] == "send" and event["t"] > back:
                    sent[event["id"]] = event["t"]
                elif event["ev"] == "recv":
                    arrived[event["id"]] = event["t"]
    assert sent, "n1 sent n2 nothing once it was back: the test proves nothing"
    late = {mid: round(arrived.get(mid, math.inf) - at, 2) for mid, at in sent.items()
            if arrived.get(mid, math.inf) - at > 0.5}
    assert not late, f"messages to n2 after it came back, and how late they arrived: {late}"
    assert labelled(engine, live.cluster.plan.run_id) == (0, 0)


@pytest.mark.docker
@pytest.mark.slow
def test_a_cluster_past_one_servers_links_gets_a_toxiproxy_container_per_share(
        engine: docker.DockerClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 100 nodes (9,900 links) are more than one Python Toxiproxy process gets through in
    # time: the links are split over containers, as over processes on the local backend.
    from pytest_dchaos.backends.docker import backend
    from pytest_dchaos.cluster.toxiproxy_driver import ToxiproxyShards
    from pytest_dchaos.manual import start_cluster

    monkeypatch.setattr(backend, "LINKS_PER_SERVER", 5)  # 4 nodes, 12 links: 3 servers
    with start_cluster(protocol="vector_clock", nodes=4,
                       options=RunOptions(backend="docker", report_dir=tmp_path)) as live:
        run_id = live.cluster.plan.run_id
        shards = live.cluster.network.driver
        assert isinstance(shards, ToxiproxyShards)
        assert sorted(c.name for c in engine.containers.list(
            filters={"label": f"{dockerenv.RUN}={run_id}"}) if "toxiproxy" in c.name) == [
            f"dchaos-{run_id}-toxiproxy", f"dchaos-{run_id}-toxiproxy-2",
            f"dchaos-{run_id}-toxiproxy-3"]
        assert [len(driver.proxies()) for driver in shards.drivers] == [4, 4, 4]
        link = ("n4", "n1")  # on the last server
        assert live.cluster.host.proxy_hosts[link] == f"dchaos-{run_id}-toxiproxy-3"
        live.request("n4", {"type": "cbcast", "message": 1})
        live.cut([link])
        live.request("n4", {"type": "cbcast", "message": 2})
        time.sleep(0.5)
        assert [d["message"] for d in live.request("n1", {"type": "read"})["delivered"]
                if d["sender"] == "n4"] == [1]  # 2 waits behind the cut
        live.heal()
        deadline = time.monotonic() + 5
        while len([d for d in live.request("n1", {"type": "read"})["delivered"]
                   if d["sender"] == "n4"]) < 2:
            assert time.monotonic() < deadline, "n1 never got 2 after the heal"
            time.sleep(0.1)
    assert labelled(engine, run_id) == (0, 0)
    assert (live.cluster.plan.workdir / "toxiproxy-3.log").exists()  # each server's log kept


@pytest.mark.docker
@pytest.mark.slow
def test_a_paused_container_is_killed_without_waiting_for_its_frozen_agent(
        engine: docker.DockerClient, tmp_path: Path) -> None:
    from pytest_dchaos.manual import start_cluster

    with start_cluster(protocol="gossip", nodes=2,
                       options=RunOptions(backend="docker", report_dir=tmp_path)) as live:
        live.pause("n2")
        live.kill("n2")  # no flush asked of the frozen agent: it could never answer
        container = engine.containers.get(f"dchaos-{live.cluster.plan.run_id}-n2")
        container.reload()
        assert container.status == "exited"
        assert [i.kind for i in live.cluster.incidents] == ["trace_cut"]
        live.restart("n2")
        assert live.request("n2", {"type": "read"})["type"] == "read_ok"
    assert labelled(engine, live.cluster.plan.run_id) == (0, 0)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_removes_its_containers(engine: docker.DockerClient, tmp_path: Path,
                                                   sig: signal.Signals) -> None:
    harness = start_long_run(tmp_path)
    assert labelled(engine)[0] >= 5
    os.kill(harness.pid, sig)
    _, err = harness.communicate(timeout=60)
    assert harness.returncode == 128 + sig, err  # 130 after Ctrl-C, 143 after SIGTERM
    assert labelled(engine) == (0, 0)


@pytest.mark.docker
@pytest.mark.slow
def test_a_cancelled_pytest_session_removes_its_containers(engine: docker.DockerClient,
                                                           tmp_path: Path) -> None:
    # What a CI job's timeout or cancel does: SIGTERM to pytest, mid-scenario.
    session = start_long_run(tmp_path, pytest_session=True)
    assert labelled(engine)[0] >= 5
    session.send_signal(signal.SIGTERM)
    out, _ = session.communicate(timeout=60)
    assert session.returncode == 2, out  # pytest's "interrupted"
    assert labelled(engine) == (0, 0)


def build_user_image(engine: docker.DockerClient, tag: str, dockerfile: str,
                     files: dict[str, bytes], built: list[str], base: str | None = None) -> str:
    """A user's image, built the way a user would, on the base this machine has."""
    import io
    import tarfile

    from pytest_dchaos.backends.docker import images

    base = base or images.base_image(engine, lambda text: None)
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in {"Dockerfile": f"FROM {base}\n{dockerfile}".encode(),
                           **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    engine.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    built.append(tag)
    return tag


USER_SCENARIO = """\
name: user-image
protocol: gossip
cluster: {nodes: 3}
workload: {clients: 1, rate: 20/s, duration: 2s, recovery: 5s}
checks: [convergence, no_invented_values]
seed: 3
"""


@pytest.mark.docker
@pytest.mark.slow
def test_a_users_image_runs_with_the_agent_copied_in(engine: docker.DockerClient,
                                                       tmp_path: Path,
                                                       user_images: list[str]) -> None:
    node = (Path(__file__).parent.parent / "nodes" / "naive_broadcast.py").read_bytes()
    image = build_user_image(engine, "dchaos-test-user-node:1",
                             'COPY node.py /app/node.py\nCMD ["python3", "/app/node.py"]\n',
                             {"node.py": node}, user_images)
    registry = Registry()
    scenario = parse_scenario(USER_SCENARIO, str(tmp_path / "s.yaml"), registry)
    result = run_scenario(scenario, RunOptions(backend="docker", node_image=image,
                                               report_dir=tmp_path / "r"), registry)
    assert result.passed, "\n".join(f"{v.name}: {v.detail}" for v in result.checks)
    assert labelled(engine, result.run_id) == (0, 0)


@pytest.mark.docker
@pytest.mark.slow
def test_an_image_without_python_is_one_clear_error(engine: docker.DockerClient,
                                                     tmp_path: Path,
                                                     user_images: list[str]) -> None:
    image = build_user_image(engine, "dchaos-test-no-python:1",
                             "RUN rm -f /usr/bin/python3*\n", {}, user_images)
    path = tmp_path / "s.yaml"
    path.write_text(USER_SCENARIO)
    done = subprocess.run([sys.executable, "-m", "pytest_dchaos.cli", "run", str(path),
                           "--backend", "docker", "--node-image", image,
                           "--node-command", "/bin/true", "--report", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert "needs python3" in done.stderr and "Traceback" not in done.stderr
    assert labelled(engine) == (0, 0)


@pytest.mark.slow
@pytest.mark.docker
def test_a_missing_image_is_one_clear_error(engine: docker.DockerClient,
                                            tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(USER_SCENARIO)
    done = subprocess.run([sys.executable, "-m", "pytest_dchaos.cli", "run", str(path),
                           "--backend", "docker", "--node-image", "no-such-image:404",
                           "--report", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "'no-such-image:404' does not exist here and cannot be pulled" in done.stderr
    assert labelled(engine) == (0, 0)


@pytest.mark.docker
@pytest.mark.slow
def test_keep_leaves_a_failed_cluster_up_and_says_how_to_remove_it(
        engine: docker.DockerClient, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(USER_SCENARIO.replace("checks: [convergence, no_invented_values]",
                                          "checks: [{msgs_per_op: {max: 0.01}}]"))
    done = subprocess.run([sys.executable, "-m", "pytest_dchaos.cli", "run", str(path),
                           "--backend", "docker", "--keep", "--report", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr
    assert "kept the cluster of run" in done.stderr
    run_id = done.stderr.split("kept the cluster of run ")[1].split()[0]
    assert labelled(engine, run_id) == (4, 1)
    assert dockerenv.leftover_runs(engine) == [], "a kept cluster is not a dead run's leftover"
    cleanup = subprocess.run([sys.executable, "-m", "pytest_dchaos.cli", "cleanup", "--run",
                              run_id], capture_output=True, text=True, timeout=120, check=False)
    assert cleanup.returncode == 0 and "4 container(s), 1 network(s)" in cleanup.stdout
    assert labelled(engine, run_id) == (0, 0)


@pytest.mark.docker
@pytest.mark.slow
def test_a_named_toxiproxy_image_is_used(engine: docker.DockerClient, tmp_path: Path,
                                         user_images: list[str]) -> None:
    from pytest_dchaos.backends.docker import images

    # A Toxiproxy-compatible image whose entrypoint is the server, as the official one's is.
    node_image = images.node_image(engine, lambda text: None)
    proxy_image = build_user_image(
        engine, "dchaos-test-toxiproxy:1",
        'ENTRYPOINT ["python3", "-m", "pytest_dchaos.toxiproxy"]\n', {}, user_images,
        base=node_image)
    registry = Registry()
    failing = USER_SCENARIO.replace("checks: [convergence, no_invented_values]",
                                    "checks: [convergence, {msgs_per_op: {max: 0.01}}]")
    scenario = parse_scenario(failing, str(tmp_path / "s.yaml"), registry)
    # Keep the (failed) cluster so the Toxiproxy container can be looked at.
    result = run_scenario(scenario, RunOptions(backend="docker", report_dir=tmp_path / "r",
                                               toxiproxy_image=proxy_image, keep=True),
                          registry)
    try:
        assert result.check("convergence").passed, "the named Toxiproxy carried no traffic"
        container = engine.containers.get(f"dchaos-{result.run_id}-toxiproxy")
        assert proxy_image in container.image.tags
    finally:
        dockerenv.reap(engine, runs=[result.run_id])
    assert labelled(engine, result.run_id) == (0, 0)


@pytest.mark.docker
@pytest.mark.slow
def test_a_remote_engine_gets_images_volumes_and_files_copied_back(
        engine: docker.DockerClient, second_engine: SecondEngine, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
        user_images: list[str]) -> None:
    from pytest_dchaos.backends.docker import images
    from pytest_dchaos.manual import start_cluster

    # A user's image built here, and a second engine, at another address, that has no
    # image at all: the run must carry both images over, keep node folders in volumes
    # there, and copy their files back.
    node = (Path(__file__).parent.parent / "nodes" / "naive_broadcast.py").read_bytes()
    image = build_user_image(engine, "dchaos-test-remote-node:1",
                             'COPY node.py /app/node.py\nCMD ["python3", "/app/node.py"]\n',
                             {"node.py": node}, user_images)
    remote = second_engine.client
    assert remote.images.list() == []
    monkeypatch.setenv("DOCKER_HOST", second_engine.url)
    options = RunOptions(backend="docker", node_image=image, report_dir=tmp_path)
    with start_cluster(protocol="gossip", nodes=3, options=options) as live:
        run_id = live.cluster.plan.run_id
        said = capfd.readouterr().err
        assert f"copying the image {image}" in said and f"copying the image {images.node_tag()}" \
            in said, said
        assert live.cluster.network.driver.url.startswith(f"http://{second_engine.address}:")
        container = remote.containers.get(f"dchaos-{run_id}-n2")
        mounts = container.attrs["Mounts"]
        assert [m["Type"] for m in mounts] == ["volume"], mounts
        assert live.request("n2", {"type": "broadcast", "message": 7})["type"] == "broadcast_ok"
        container.exec_run(["sh", "-c", "echo on disk > /var/lib/dchaos/node/kept.txt"])
        live.kill("n2")
        live.restart("n2")
        assert container.exec_run(["cat", "/var/lib/dchaos/node/kept.txt"]).output == b"on disk\n"
        live.cluster.flush_traces()
        trace = (live.cluster.node_dir("n1") / "trace.jsonl").read_text()
        assert '"broadcast"' in trace or '"gossip"' in trace, "n1's trace was not copied back"
        assert len(remote.volumes.list(filters={"label": f"{dockerenv.RUN}={run_id}"})) == 3
        assert labelled(engine, run_id) == (0, 0)  # nothing of it on this machine's engine
    assert (live.cluster.node_dir("n2") / "kept.txt").read_text() == "on disk\n"
    assert (live.cluster.node_dir("n2") / "agent.log").stat().st_size > 0
    assert labelled(remote, run_id) == (0, 0)
    assert remote.volumes.list(filters={"label": f"{dockerenv.RUN}={run_id}"}) == []


SCENARIOS = Path(__file__).parent.parent.parent / "scenarios"
SHIPPED = sorted(p for family in ("gossip", "vector_clock", "txn", "pbft")
                 for p in (SCENARIOS / family).glob("*.yaml")
                 if not p.stem.startswith("glomers") and p.stem != "healthy-n7")


def features(path: Path) -> frozenset[tuple[str, str]]:
    """What a shipped scenario asks of a backend, per family: each fault kind it injects
    (a container is killed, paused, restarted, cut off, made Byzantine...), twins, and
    per-link network settings (toxics set up before the run)."""
    scenario = load_scenario(path, Registry())
    family = scenario.protocol
    kinds = {f.kind for f in scenario.faults} | {c for f in scenario.faults
                                                 for c, _ in f.choices}
    if any(kind == "restart" or (kind in ("kill", "stop") and f.duration)
           for f in scenario.faults for kind in (f.kind, *(c for c, _ in f.choices))):
        kinds.add("restart")  # a node back with its disk: a new task on Swarm
    if scenario.cluster.twins:
        kinds.add("twins")
    if scenario.network.links:
        kinds.add("per-link network")
    return frozenset((family, k) for k in kinds | {"runs"})


def covering(paths: list[Path], *, per_family: bool = True) -> list[Path]:
    """Few scenarios that, between them, ask the Docker backend everything all of them do
    (every family, every fault kind per family; without ``per_family``, every fault kind):
    greedy set cover, ties to the first by name, so the choice is stable and follows new
    scenarios on its own."""
    wanted = {path: features(path) if per_family else {k for _, k in features(path)}
              for path in paths}
    left = set().union(*wanted.values())
    chosen: list[Path] = []
    while left:
        best = max(paths, key=lambda p: (len(wanted[p] & left), -paths.index(p)))
        chosen.append(best)
        left -= wanted[best]
    return sorted(chosen)


#: The protocols run the same in containers as in processes; what differs is how nodes
#: start, crash, pause and are cut off. So containers get the few scenarios that cover
#: every family's fault kinds; every shipped scenario runs on the local backend as a test
#: item of its own.
IN_CONTAINERS = covering(SHIPPED)
#: Swarm differs from Docker only in how containers start, stop and come back (a task, a
#: new task with the node's volume) and in the overlay network, never by family: it gets
#: the few scenarios that cover every fault kind.
ON_SWARM = covering(SHIPPED, per_family=False)
CONTAINER_RUNS = [(p, "docker") for p in IN_CONTAINERS] + [(p, "swarm") for p in ON_SWARM]


def test_the_container_runs_cover_every_family_and_fault_kind() -> None:
    assert set().union(*map(features, IN_CONTAINERS)) == set().union(*map(features, SHIPPED))
    assert len(IN_CONTAINERS) < len(SHIPPED) / 2
    kinds = {k for p in SHIPPED for _, k in features(p)}
    assert {k for p in ON_SWARM for _, k in features(p)} == kinds
    assert {"kill", "pause", "restart", "partition", "byzantine", "twins"} <= kinds
    assert len(ON_SWARM) <= len(IN_CONTAINERS) / 2  # what makes the Swarm set worth having


# Every scenario of the container set runs on Docker, and those of the Swarm set on Swarm,
# with the same verdicts: one after the other (side by side, a loaded machine made a
# failure detector miss its deadline).
@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize(("path", "backend"), CONTAINER_RUNS,
                         ids=[f"{backend}:{p.parent.name}/{p.stem}"
                              for p, backend in CONTAINER_RUNS])
def test_shipped_scenarios_pass_in_containers_too(engine: docker.DockerClient,
                                                  tmp_path: Path, path: Path, backend: str,
                                                  request: pytest.FixtureRequest) -> None:
    # The same scenarios run on the local backend as collected test items; here the same
    # checks must pass in containers. (The 25-node Glomers ones and seven PBFT replicas are
    # left out, to keep CI short.)
    if backend == "swarm":
        request.getfixturevalue("swarm")
    registry = Registry()
    result = run_scenario(load_scenario(path, registry),
                          RunOptions(backend=backend, report_dir=tmp_path), registry)
    said = "\n".join([*(f"{v.name}: {v.detail}" for v in result.checks),
                      *(f"note: {note}" for note in result.notes)])
    assert result.passed, said
    assert not any("the harness lost" in note for note in result.notes), said
    assert labelled(engine, result.run_id) == (0, 0)
    if backend == "swarm":
        assert engine.services.list(filters={"label": f"{dockerenv.RUN}={result.run_id}"}) \
            == []


#: A plain Maelstrom node that keeps a g-counter in seq-kv (tests/nodes/service_node.py),
#: standard library only, so it runs in the base image as ``python3 -c`` with no file.
SERVICE_NODE = (Path(__file__).parent.parent / "nodes" / "service_node.py").read_text()

SERVICE_COUNTER = """\
name: counter-in-seq-kv
protocol: g-counter
cluster: {nodes: 3}
network: {latency: 2ms}
workload: {clients: 3, rate: 30/s, duration: 3s, recovery: 5s}
faults: [{at: 1s, partition: {isolate: n3}, duration: 1s}]
checks: [final_count]
seed: 4
"""


@pytest.mark.docker
@pytest.mark.slow
def test_maelstrom_services_answer_nodes_in_containers(engine: docker.DockerClient,
                                                       tmp_path: Path) -> None:
    # Services live in the harness and are reached through each agent's connection, so a
    # node in a container reaches seq-kv as a local one does, partitions notwithstanding.
    registry = Registry()
    scenario = parse_scenario(SERVICE_COUNTER, str(tmp_path / "s.yaml"), registry)
    result = run_scenario(scenario, RunOptions(
        backend="docker", report_dir=tmp_path / "r",
        node_command=("python3", "-c", SERVICE_NODE, "counter")), registry)
    assert result.passed, "\n".join(f"{v.name}: {v.detail}" for v in result.checks)
    trace = [json.loads(line) for line in (tmp_path / "r" / "trace.jsonl").read_text()
             .splitlines()]
    asked = {e["type"] for e in trace if e["ev"] == "client_out" and e["dest"] == "seq-kv"}
    answered = {e["type"] for e in trace if e["ev"] == "client_in" and e["src"] == "seq-kv"}
    assert {"read", "cas"} <= asked and {"read_ok", "cas_ok"} <= answered
    assert labelled(engine, result.run_id) == (0, 0)


EXPLORED = """\
name: explored-in-containers
protocol: gossip
cluster: {nodes: 3}
workload: {clients: 1, rate: 20/s, duration: 2s, recovery: 2s}
checks: [no_invented_values]
"""


@pytest.mark.docker
@pytest.mark.slow
def test_explore_runs_a_node_given_by_its_path_here_in_containers(
        engine: docker.DockerClient, tmp_path: Path) -> None:
    # A broken node as a user has it: a script on this machine, no image. Its folder goes
    # into the node image read-only at the same path, so the script runs there; that it
    # did shows in the verdict (the reference node invents no value), in every run of the
    # exploration and in minimal.yaml's rerun, which is made for the Docker backend.
    broken = Path(__file__).parent.parent / "broken_nodes" / "gossip_invents.py"
    path = tmp_path / "s.yaml"
    path.write_text(EXPLORED)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "pytest_dchaos.cli", "explore", str(path), "--backend", "docker",
         "--budget", "2m", "--runs", "1", "--confirm", "1", "--shrink-budget", "10s",
         "--seed", "4", "--report", str(out), "--node-command", f"python3 {broken}"],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stderr
    assert "found: run 1 failed no_invented_values" in done.stdout
    assert f"rerun it: dchaos run {out / 'minimal.yaml'} --backend docker" in done.stdout
    assert "minimal.yaml rerun: FAIL (no_invented_values)" in done.stdout
    said = (f"the node command's files go into the node containers read-only, at the same "
            f"paths: {broken.parent}")
    assert done.stderr.count(said) == 1, done.stderr  # said once, not once a run
    assert "Traceback" not in done.stderr
    assert labelled(engine) == (0, 0)
