"""The ``dchaos`` command as a user meets it: exit codes, error messages, the report
folder, and nothing left running — including after Ctrl-C, SIGTERM and ``kill -9``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import harness_processes

DCHAOS = [sys.executable, "-m", "pytest_dchaos.cli"]
ECHO = Path(__file__).parent.parent / "nodes" / "echo_node.py"

SMALL = """\
name: small
protocol: gossip
cluster: {{nodes: 3{implementation}}}
workload: {{clients: 1, rate: 20/s, duration: {duration}, recovery: 5s}}
seed: 4
"""


def scenario(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def small(tmp_path: Path, implementation: str = "", duration: str = "2s") -> Path:
    impl = f", implementation: {implementation}" if implementation else ""
    return scenario(tmp_path, SMALL.format(implementation=impl, duration=duration))


def dchaos(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DCHAOS, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.mark.slow
def test_passing_run_writes_the_report(tmp_path: Path, no_leaks: None) -> None:
    report = tmp_path / "report"
    done = dchaos("run", small(tmp_path), "--report", report)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "small: PASSED (seed 4" in done.stdout
    assert "PASS  convergence" in done.stdout
    assert "rerun:  dchaos run" in done.stdout
    result = json.loads((report / "result.json").read_text())
    assert result["scenario"] == "small" and result["passed"] is True and result["seed"] == 4
    assert {c["name"] for c in result["checks"]} >= {"convergence", "no_invented_values"}
    assert all({"name", "passed", "detail"} <= set(c) for c in result["checks"])
    stats = result["stats"]
    assert stats["ops"]["total"] > 10 and stats["msgs_per_op"]["servers"] is not None
    assert stats["latency_ms"]["p50"] is not None
    history = [json.loads(line) for line in (report / "history.jsonl").read_text().splitlines()]
    assert {op["type"] for op in history} >= {"invoke", "ok"}
    trace = (report / "trace.jsonl").read_text().splitlines()
    assert any(json.loads(line)["ev"] == "send" for line in trace)
    assert (report / "faults.jsonl").exists()
    assert (report / "nodes" / "n1" / "stderr.log").exists()


@pytest.mark.slow
def test_seed_from_the_command_line_wins(tmp_path: Path, no_leaks: None) -> None:
    done = dchaos("run", small(tmp_path), "--report", tmp_path / "r", "--seed", "99", "-q")
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "r" / "result.json").read_text())["seed"] == 99


@pytest.mark.parametrize(("text", "expected"), [
    ("name: x\nprotocol: gossip\ncluster: {nodes: 3\n", "scenario.yaml:3: not valid YAML"),
    ("name: x\nprotocol: gosip\ncluster: {nodes: 3}\n", "did you mean 'gossip'?"),
    ("name: x\nprotocol: gossip\ncluster: {nodes: 3}\nworklaod: {}\n",
     "scenario.yaml:4: worklaod: unknown key 'worklaod' (did you mean 'workload'?)"),
    ("name: x\nprotocol: gossip\ncluster: {nodes: 3}\nfaults:\n  - {at: 1s, kill: n9}\n",
     "scenario.yaml:5: faults[0].kill: 'n9' is not a node of this cluster"),
    ("name: !!python/object/apply:os.system [echo hi]\nprotocol: gossip\ncluster: {nodes: 1}\n",
     "is not allowed"),
])
def test_invalid_scenarios_exit_2_with_one_clear_line(tmp_path: Path, text: str,
                                                      expected: str) -> None:
    done = dchaos("run", scenario(tmp_path, text))
    assert done.returncode == 2
    assert expected in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1


def test_missing_scenario_file(tmp_path: Path) -> None:
    done = dchaos("run", tmp_path / "nope.yaml")
    assert done.returncode == 2 and "no such scenario file" in done.stderr


def test_node_binary_that_does_not_exist(tmp_path: Path, no_leaks: None) -> None:
    done = dchaos("run", small(tmp_path, "{command: ./no-such-node}"), "--report", tmp_path / "r")
    assert done.returncode == 2
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr


def test_node_that_crashes_at_start_shows_its_stderr(tmp_path: Path, no_leaks: None) -> None:
    crash = scenario(tmp_path, "import sys\nprint('boom: bad config', file=sys.stderr)\n"
                     "sys.exit(3)\n", "crash.py")
    done = dchaos("run", small(tmp_path), "--report", tmp_path / "r",
                  "--node-command", f"{sys.executable} {crash}")
    assert done.returncode == 2
    assert "exit code 3" in done.stderr and "boom: bad config" in done.stderr
    assert "stderr.log" in done.stderr and "Traceback" not in done.stderr


def test_node_that_prints_non_json(tmp_path: Path, no_leaks: None) -> None:
    chatty = scenario(tmp_path, "print('hello, world', flush=True)\nimport time\n"
                      "time.sleep(30)\n", "chatty.py")
    done = dchaos("run", small(tmp_path), "--report", tmp_path / "r",
                  "--node-command", f"{sys.executable} {chatty}")
    assert done.returncode == 2
    assert "not a JSON message" in done.stderr and "'hello, world'" in done.stderr


def test_unreachable_toxiproxy(tmp_path: Path, no_leaks: None) -> None:
    done = dchaos("run", small(tmp_path), "--report", tmp_path / "r",
                  "--toxiproxy", "http://127.0.0.1:9")
    assert done.returncode == 2
    assert "cannot reach Toxiproxy at http://127.0.0.1:9" in done.stderr


@pytest.mark.slow
def test_node_command_replaces_the_implementation(tmp_path: Path, no_leaks: None) -> None:
    # The echo node answers no broadcast: the run goes through, and the checks fail.
    done = dchaos("run", small(tmp_path, duration="1s"), "--report", tmp_path / "r",
                  "--node-command", f"{sys.executable} {ECHO}", "-q")
    assert done.returncode == 1, done.stderr
    assert "FAIL  convergence" in done.stdout


def test_validate_prints_the_schedule(tmp_path: Path) -> None:
    path = scenario(tmp_path, """\
        name: v
        protocol: gossip
        cluster: {nodes: 5}
        workload: {duration: 30s}
        faults:
          - {at: 2s, every: 10s, one_of: [{kill: random}, {partition: majority_minority}],
             duration: 3s}
        """)
    first, second = dchaos("validate", path, "--seed", "3"), dchaos("validate", path,
                                                                     "--seed", "3")
    assert first.returncode == 0
    assert first.stdout == second.stdout
    assert first.stdout.count("for 3s") == 3


RANDOM_SCHEDULE = """\
    name: r
    protocol: gossip
    cluster: {nodes: 5}
    workload: {duration: 30s}
    faults:
      - {at: {between: [1s, 5s]}, every: 7s, one_of: [{kill: random}, {pause: random}]}
    """


def firings(out: str) -> list[str]:
    return [line for line in out.splitlines() if re.match(r" +\d+\.\d\ds  ", line)]


def test_validate_prints_the_seed_of_the_schedule_it_shows(tmp_path: Path) -> None:
    path = scenario(tmp_path, RANDOM_SCHEDULE)
    given = dchaos("validate", path, "--seed", "17")
    assert given.returncode == 0 and ", seed 17, " in given.stdout
    assert "drawn" not in given.stdout
    drawn = dchaos("validate", path)
    assert drawn.returncode == 0, drawn.stderr
    seed = drawn.stdout.split(", seed ", 1)[1].split(",", 1)[0]
    assert f"  seed {seed} was drawn (the scenario has none)" in drawn.stdout
    replayed = dchaos("validate", path, "--seed", seed)
    assert firings(drawn.stdout) and firings(drawn.stdout) == firings(replayed.stdout)
    own = scenario(tmp_path, RANDOM_SCHEDULE + "seed: 5\n", "own.yaml")
    assert ", seed 5, " in dchaos("validate", own).stdout


def test_validate_errors_read_as_every_dchaos_error(tmp_path: Path) -> None:
    good = scenario(tmp_path, RANDOM_SCHEDULE, "good.yaml")
    bad = scenario(tmp_path, "name: x\nprotocol: gosip\ncluster: {nodes: 3}\n", "bad.yaml")
    done = dchaos("validate", bad, good)
    assert done.returncode == 2
    assert done.stderr.startswith(f"dchaos: error: {bad}:2: ")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stdout.startswith(f"{good}: ok — r (")


def test_catalogue_lists_everything() -> None:
    done = dchaos("catalogue")
    assert done.returncode == 0
    for name in ("gossip", "partition", "kill", "convergence", "failure_detection", "local"):
        assert name in done.stdout


def test_schema_prints_the_json_schema_or_writes_it(tmp_path: Path) -> None:
    done = dchaos("schema")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(printed["properties"]["protocol"]["enum"]) >= {"gossip", "pbft", "txn"}
    target = tmp_path / "dchaos.schema.json"
    assert dchaos("schema", "--output", target).returncode == 0
    assert target.read_text(encoding="utf-8") == done.stdout
    refused = dchaos("schema", "--output", tmp_path / "no-such-folder" / "x.json")
    assert refused.returncode == 2
    assert refused.stderr.startswith("dchaos: error: --output: cannot write")


@pytest.mark.parametrize("protocol", ["gossip", "pbft", "vector_clock", "txn"])
def test_conform_passes_every_reference_node(protocol: str, tmp_path: Path,
                                             no_leaks: None) -> None:
    done = dchaos("conform", "--protocol", protocol, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"dchaos conform: {protocol}, ")
    assert "\n  FAIL" not in done.stdout and "CONFORMS: " in done.stdout
    assert "node logs" not in done.stdout  # nothing to read: the folder is gone


def test_conform_fails_a_broken_node_and_keeps_its_logs(tmp_path: Path,
                                                        no_leaks: None) -> None:
    node = Path(__file__).parent.parent / "broken_nodes" / "conform_bad_members.py"
    done = dchaos("conform", "--protocol", "gossip", "--node-command", f"{sys.executable} "
                  f"{node}", "--timeout", "2", "--logs", tmp_path, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "  FAIL  members           n1's members_ok is malformed" in done.stdout
    assert '        sent: {"msg_id":' in done.stdout and "        got:  {" in done.stdout
    assert "DOES NOT CONFORM: 13 passed, 1 failed, 1 not applicable" in done.stdout
    logs = done.stdout.rsplit("node logs: ", 1)[1].strip()
    assert Path(logs).parent == tmp_path and (Path(logs) / "n1" / "stderr.log").exists()


def test_conform_a_plain_maelstrom_node(tmp_path: Path, no_leaks: None) -> None:
    node = Path(__file__).parent.parent / "nodes" / "naive_broadcast.py"
    done = dchaos("conform", "--protocol", "gossip", "--node-command",
                  f"{sys.executable} {node}", "--nodes", "2", timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "  N/A   members           no node lists members in init_ok" in done.stdout


@pytest.mark.parametrize(("args", "expected"), [
    (["--protocol", "gossip", "--node-command", "./no-such-node"],
     "dchaos: error: node program "),
    (["--protocol", "paxos"],
     "dchaos: error: unknown protocol 'paxos'; installed: echo, g-counter, gossip, "),
    (["--protocol", "gossip", "--nodes", "0"],
     "dchaos: error: a conformance check needs at least one node, not 0"),
])
def test_conform_that_cannot_run_exits_2(args: list[str], expected: str) -> None:
    done = dchaos("conform", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(expected) and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and done.stdout == ""


def _start_long_run(tmp_path: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen([*DCHAOS, "run", str(small(tmp_path, duration="60s")),
                                "--report", str(tmp_path / "r")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    for line in process.stderr:
        if "cluster ready" in line:
            break
    else:
        raise AssertionError("the run never got ready")
    time.sleep(1.0)
    return process


def _wait_no_leaks(before: set[int]) -> set[int]:
    deadline = time.monotonic() + 10
    while (left := harness_processes() - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_a_run_stops_everything(tmp_path: Path, sig: signal.Signals) -> None:
    before = harness_processes()
    process = _start_long_run(tmp_path)
    os.kill(process.pid, sig)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 128 + sig, err  # 130 after Ctrl-C, 143 after SIGTERM
    assert "interrupted" in err and "Traceback" not in err
    assert not _wait_no_leaks(before)


HANGING_NODE = """\
import pathlib, sys, time
pathlib.Path(sys.argv[1]).touch()
time.sleep(120)
"""


def _hanging_start(tmp_path: Path, *command: str) -> subprocess.Popen[str]:
    """A dchaos command whose first run waits for a node that never answers init."""
    node = scenario(tmp_path, HANGING_NODE, "hang.py")
    path = scenario(tmp_path, SMALL.format(implementation=", start_timeout: 120s",
                                           duration="2s"))
    started = tmp_path / "node-started"
    process = subprocess.Popen([*DCHAOS, *command, str(path), "--report", str(tmp_path / "r"),
                                "--node-command", f"{sys.executable} {node} {started}"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not started.exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    return process


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
@pytest.mark.parametrize("command", [("run",), ("explore", "--budget", "5m"),
                                     ("explore", "--budget", "5m", "--workers", "2")])
def test_sigterm_exits_143_and_ctrl_c_130(tmp_path: Path, no_leaks: None,
                                          sig: signal.Signals, code: int,
                                          command: tuple[str, ...]) -> None:
    process = _hanging_start(tmp_path, *command)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "Traceback" not in err
    if command[0] == "explore":
        # Every run under way was stopped (no_leaks: with its nodes, agents and proxies,
        # in worker processes too), and what the exploration has is written.
        report = json.loads((tmp_path / "r" / "explore.json").read_text())
        assert report["interrupted"] is True


@pytest.mark.slow
def test_kill_9_of_the_harness_leaves_nothing(tmp_path: Path) -> None:
    before = harness_processes()
    process = _start_long_run(tmp_path)
    process.kill()
    process.communicate(timeout=10)
    assert not _wait_no_leaks(before), "agents or nodes outlived a killed harness"


def test_output_cut_short_by_a_pipe_is_no_traceback(tmp_path: Path, no_leaks: None) -> None:
    # `true` exits without reading, long before the interpreter has started: every write
    # of ours meets a closed pipe.
    done = subprocess.run(f"{sys.executable} -m pytest_dchaos.cli catalogue | true",
                          shell=True, capture_output=True, text=True, timeout=60, check=False)
    assert done.stderr == ""
