"""Nodes nobody here wrote, and a Toxiproxy server the run did not start."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_dchaos.cluster.toxiproxy_driver import ToxiproxyDriver
from pytest_dchaos.registry import Registry
from pytest_dchaos.run.runner import RunOptions, run_scenario
from pytest_dchaos.scenario.loader import parse_scenario

NAIVE = (sys.executable, str(Path(__file__).parent.parent / "nodes" / "naive_broadcast.py"))

SCENARIO = """\
name: foreign
protocol: gossip
cluster: {nodes: 4, topology: line}
network: {latency: 2ms}
workload: {clients: 2, rate: 30/s, duration: 2s, recovery: 5s}
faults:
  - {at: 0.5s, partition: {isolate: n4}, duration: 1s}
checks:
  - convergence
  - no_invented_values
  - msgs_per_op: {max: 50}
  - failure_detection
seed: 2
"""


def run(tmp_path: Path, **options: object):  # type: ignore[no-untyped-def]
    registry = Registry()
    scenario = parse_scenario(textwrap.dedent(SCENARIO), str(tmp_path / "s.yaml"), registry)
    return run_scenario(scenario, RunOptions(report_dir=tmp_path / "r", **options), registry)


@pytest.mark.slow
def test_a_plain_maelstrom_broadcast_node_runs_unchanged(tmp_path: Path,
                                                          no_leaks: None) -> None:
    result = run(tmp_path, node_command=NAIVE, toxiproxy="embedded")
    verdicts = {v.name: v for v in result.checks}
    assert verdicts["node_contract"].passed, verdicts["node_contract"].detail
    assert verdicts["no_invented_values"].passed
    assert verdicts["msgs_per_op"].passed
    # It has no anti-entropy: what n4 missed while isolated stays missing.
    assert not verdicts["convergence"].passed
    assert "n4 lacks" in verdicts["convergence"].detail
    # It lists no extension, so it was sent none: the check that needs `members` is not
    # applicable, neither passed nor failed.
    assert verdicts["failure_detection"].status == "not_applicable"
    assert "no node offers members" in verdicts["failure_detection"].detail
    assert result.record is not None and result.record.node_states == {}
    assert result.record.extensions == dict.fromkeys(("n1", "n2", "n3", "n4"), frozenset())


CALM = """\
name: foreign-calm
protocol: gossip
cluster: {nodes: 3}
workload: {clients: 2, rate: 30/s, duration: 2s, recovery: 5s}
checks: [convergence, no_invented_values, failure_detection, rejoin]
seed: 4
"""


@pytest.mark.slow
def test_a_node_that_dies_on_unknown_types_is_sent_nothing_outside_maelstrom(
        tmp_path: Path, no_leaks: None) -> None:
    registry = Registry()
    scenario = parse_scenario(CALM, str(tmp_path / "s.yaml"), registry)
    result = run_scenario(scenario, RunOptions(report_dir=tmp_path / "r",
                                               node_command=(*NAIVE, "--die-on-unknown")),
                          registry)
    statuses = {v.name: v.status for v in result.checks}
    assert statuses == {"convergence": "pass", "no_invented_values": "pass",
                        "failure_detection": "not_applicable", "rejoin": "not_applicable",
                        "node_contract": "pass"}, result.checks
    assert result.passed


@pytest.fixture
def shared_toxiproxy() -> Iterator[str]:
    """A Toxiproxy server the harness did not start, as a team would run one."""
    server = subprocess.Popen([sys.executable, "-m", "pytest_dchaos.toxiproxy", "-host",
                               "127.0.0.1", "-port", "0", "--exit-with-stdin"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    ready = json.loads(server.stdout.readline())
    try:
        yield f"http://{ready['api']}"
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)
        server.stdout.close()


@pytest.mark.slow
def test_a_toxiproxy_server_given_by_url(tmp_path: Path, shared_toxiproxy: str,
                                         no_leaks: None) -> None:
    driver = ToxiproxyDriver(shared_toxiproxy)
    driver.populate([{"name": "someone_else", "listen": "127.0.0.1:0",
                      "upstream": "127.0.0.1:9"}])
    result = run(tmp_path, toxiproxy=shared_toxiproxy)
    assert result.check("convergence").passed
    assert result.check("failure_detection").passed
    # The run removed its own proxies and left the others alone.
    assert list(driver.proxies()) == ["someone_else"]


#: No fault at all: every message must arrive.
STEADY = """\
name: steady
protocol: gossip
cluster: {nodes: 3}
workload: {clients: 2, rate: 30/s, duration: 5s, recovery: 2s}
seed: 3
"""


@pytest.mark.slow
def test_messages_the_harness_itself_lost_are_said_to_be_its_own(
        tmp_path: Path, shared_toxiproxy: str, no_leaks: None) -> None:
    # The transport breaks under the run, as a proxy dialing a dead address would: a
    # moment into the run, the proxy of n1->n2 is pointed at a server that takes every
    # byte and passes nothing on. No fault of the scenario explains what n2 then misses.
    sink = socket.create_server(("127.0.0.1", 0))
    taken: list[socket.socket] = []
    driver = ToxiproxyDriver(shared_toxiproxy)
    done = threading.Event()

    def swallow() -> None:
        while not done.is_set():
            with contextlib.suppress(OSError):
                sink.settimeout(0.1)
                conn, _ = sink.accept()
                taken.append(conn)
                threading.Thread(target=_drain, args=(conn,), daemon=True).start()

    def break_the_link() -> None:
        while not done.wait(0.05):
            broken = [name for name in driver.proxies() if name.endswith("_n1_n2")]
            if broken:
                done.wait(0.5)
                driver.set_upstream(broken[0], f"127.0.0.1:{sink.getsockname()[1]}")
                return

    threads = [threading.Thread(target=swallow), threading.Thread(target=break_the_link)]
    for thread in threads:
        thread.start()
    registry = Registry()
    scenario = parse_scenario(textwrap.dedent(STEADY), str(tmp_path / "s.yaml"), registry)
    try:
        result = run_scenario(scenario, RunOptions(report_dir=tmp_path / "r",
                                                   toxiproxy=shared_toxiproxy), registry)
    finally:
        done.set()
        for thread in threads:
            thread.join()
        for conn in taken:
            conn.close()
        sink.close()
    (said,) = [n for n in result.notes if "the harness lost" in n]
    assert "n1->n2" in said and "this is a bug in dchaos" in said
    assert "n2->n1" not in said and "n3->n2" not in said


def _drain(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while conn.recv(65536):
            pass
