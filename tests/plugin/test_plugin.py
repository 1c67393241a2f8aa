"""The pytest plugin, end to end in pytester sessions: collection of scenario files, the
marker and its result fixture, the hand-driven cluster fixture, options and ini keys, and
failures that read as explanations rather than tracebacks."""

from __future__ import annotations

import json
import shlex
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree

import pytest

from pytest_dchaos.checkers.transport import LOST
from pytest_dchaos.cli import _parser as dchaos_parser
from pytest_dchaos.errors import HarnessWarning
from pytest_dchaos.plugin import warn_of_the_harness
from pytest_dchaos.record.result import RunResult

ECHO = Path(__file__).parent.parent / "nodes" / "echo_node.py"
INVENTS = Path(__file__).parent.parent / "broken_nodes" / "gossip_invents.py"

SMALL = """\
name: {name}
protocol: gossip
cluster: {{nodes: 3}}
workload: {{clients: 1, rate: 20/s, duration: 1s, recovery: 5s}}
seed: 8
"""


def write(pytester: pytest.Pytester, path: str, text: str) -> Path:
    target = pytester.path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(text))
    return target


def test_collects_every_scenario_file_named_after_the_scenario(
        pytester: pytest.Pytester) -> None:
    write(pytester, "scenarios/a.yaml", SMALL.format(name="first-scenario"))
    write(pytester, "scenarios/sub/b.yml", SMALL.format(name="second-scenario"))
    write(pytester, "scenarios/not-a-scenario.yaml", "key: value\nother: [1, 2]\n")
    result = pytester.runpytest_subprocess("--collect-only", "-q", "scenarios")
    result.stdout.fnmatch_lines(["scenarios/a.yaml::first-scenario",
                                 "scenarios/sub/b.yml::second-scenario", "*2 tests collected*"])


@pytest.mark.slow
def test_a_passing_scenario_passes(pytester: pytest.Pytester) -> None:
    write(pytester, "ok.yaml", SMALL.format(name="healthy"))
    result = pytester.runpytest_subprocess("ok.yaml", "--dchaos-report-dir", "reports")
    result.assert_outcomes(passed=1)
    (folder,) = (pytester.path / "reports").glob("healthy-*")
    saved = json.loads((folder / "result.json").read_text())
    assert saved["passed"] is True and saved["seed"] == 8


@pytest.mark.slow
def test_a_run_that_cannot_start_leaves_no_earlier_verdict_in_sight(
        pytester: pytest.Pytester) -> None:
    # What a CI artifact would show: the folders of both runs, the second without a verdict.
    write(pytester, "ok.yaml", SMALL.format(name="flaky-start"))
    pytester.runpytest_subprocess("ok.yaml", "--dchaos-report-dir", "reports") \
        .assert_outcomes(passed=1)
    result = pytester.runpytest_subprocess("ok.yaml", "--dchaos-report-dir", "reports",
                                           "--dchaos-node-command", "./no-such-node")
    result.assert_outcomes(failed=1)
    folders = sorted((pytester.path / "reports").glob("flaky-start-*"))
    assert len(folders) == 2
    (passed,) = [f for f in folders if (f / "result.json").exists()]
    (failed,) = [f for f in folders if f != passed]
    assert json.loads((passed / "result.json").read_text())["passed"] is True
    summary = (failed / "summary.md").read_text()
    assert "did not run to the end, no verdict" in summary and "does not exist" in summary


def test_an_invalid_scenario_fails_with_its_line_and_no_traceback(
        pytester: pytest.Pytester) -> None:
    write(pytester, "bad.yaml", """\
        name: broken
        protocol: gossip
        cluster: {nodes: 3}
        checks: [convergense]
        """)
    result = pytester.runpytest_subprocess("bad.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*bad.yaml:4: checks[[]0]: unknown check 'convergense' (did you mean 'convergence'[?])*"])
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*site-packages*")


@pytest.mark.slow
def test_a_failed_check_explains_itself_and_how_to_rerun(pytester: pytest.Pytester) -> None:
    # The echo node keeps the contract but answers no broadcast: convergence must fail.
    write(pytester, "fails.yaml", SMALL.format(name="no-broadcast"))
    result = pytester.runpytest_subprocess(
        "fails.yaml", f"--dchaos-node-command={sys.executable} {ECHO}", "--dchaos-seed=5")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*no-broadcast: FAILED (seed 5, local backend)*",
        "*FAIL  convergence*no broadcast was acknowledged*",
        "*rerun:  dchaos run *fails.yaml --seed 5 --backend local*",
    ])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_a_file_too_big_to_be_a_scenario_fails_its_item_at_once(
        pytester: pytest.Pytester) -> None:
    with open(pytester.path / "dump.yaml", "w", encoding="utf-8") as out:
        out.write(SMALL.format(name="dump") + "values:\n")
        out.write("  - 1\n" * (8 * 1024 * 1024 // 6))  # parsed whole, this took 82 s
    result = pytester.runpytest_subprocess("dump.yaml", timeout=60)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*dump.yaml: the file is 8.0 MiB (* bytes), more than the "
                                 "1 MiB a scenario file may be*"])


@pytest.mark.slow
def test_marker_hands_the_result_to_the_test(pytester: pytest.Pytester) -> None:
    write(pytester, "scenarios/ok.yaml", SMALL.format(name="marked"))
    write(pytester, "test_marked.py", """\
        import pytest

        @pytest.mark.dchaos("scenarios/ok.yaml", seed=21)
        def test_run(dchaos_result):
            assert dchaos_result.passed
            assert dchaos_result.seed == 21
            assert dchaos_result.check("convergence").passed
            assert dchaos_result.stats["ops"]["total"] > 5
        """)
    result = pytester.runpytest_subprocess("test_marked.py", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_marker_with_a_bad_path_fails_cleanly(pytester: pytest.Pytester) -> None:
    write(pytester, "test_missing.py", """\
        import pytest

        @pytest.mark.dchaos("nowhere.yaml")
        def test_run(dchaos_result):
            pass
        """)
    result = pytester.runpytest_subprocess("test_missing.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*scenario could not run: *nowhere.yaml: no such scenario "
                                 "file*"])


@pytest.mark.slow
def test_cluster_fixture_drives_faults_by_hand(pytester: pytest.Pytester) -> None:
    write(pytester, "test_manual.py", f"""\
        import sys, time

        ECHO = ({sys.executable!r}, {str(ECHO)!r})

        def seen(cluster, node):
            return cluster.request(node, {{"type": "seen"}})["values"]

        def test_partition(dchaos_cluster):
            cluster = dchaos_cluster(nodes=2, topology="none", node_command=ECHO)
            with cluster.partitioned(["n1"], ["n2"]):
                cluster.request("n1", {{"type": "relay", "to": "n2", "value": 1}})
                time.sleep(0.2)
                assert seen(cluster, "n2") == []
            cluster.request("n1", {{"type": "relay", "to": "n2", "value": 2}})
            deadline = time.monotonic() + 5
            while seen(cluster, "n2") != [2] and time.monotonic() < deadline:
                time.sleep(0.02)
            assert seen(cluster, "n2") == [2]
        """)
    result = pytester.runpytest_subprocess("test_manual.py")
    result.assert_outcomes(passed=1)


@pytest.mark.slow
def test_options_come_from_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makeini("""\
        [pytest]
        dchaos_seed = 1234
        dchaos_report_dir = from-ini
        """)
    write(pytester, "ok.yaml", SMALL.format(name="ini"))
    result = pytester.runpytest_subprocess("ok.yaml")
    result.assert_outcomes(passed=1)
    (folder,) = (pytester.path / "from-ini").glob("ini-*")
    saved = json.loads((folder / "result.json").read_text())
    assert saved["seed"] == 1234


def test_bad_seed_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    write(pytester, "ok.yaml", SMALL.format(name="seedless"))
    result = pytester.runpytest_subprocess("ok.yaml", "--dchaos-seed=abc")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--dchaos-seed must be a whole number, got 'abc'*"])


# --- JUnit XML (--junitxml): what CI reads ---------------------------------------------


def junit_cases(path: Path) -> dict[str, ElementTree.Element]:
    return {str(case.get("name")): case for case in ElementTree.parse(path).iter("testcase")}


def properties(case: ElementTree.Element) -> dict[str, str]:
    return {str(p.get("name")): str(p.get("value")) for p in case.iter("property")}


def checks_of(props: dict[str, str]) -> dict[str, str]:
    return {name.removeprefix("dchaos_check."): status for name, status in props.items()
            if name.startswith("dchaos_check.")}


def assert_reruns(command: str, scenario: str, seed: int) -> None:
    """The rerun property is a dchaos command line for this scenario and seed, its path
    relative to where pytest ran (the checkout, on a CI machine)."""
    words = shlex.split(command)
    assert words[0] == "dchaos"
    args = dchaos_parser().parse_args(words[1:])
    assert (args.command, args.path, args.seed) == ("run", scenario, seed)


@pytest.mark.slow
def test_junit_xml_tells_a_passing_run_from_the_properties_alone(
        pytester: pytest.Pytester) -> None:
    write(pytester, "scenarios/ok.yaml", SMALL.format(name="junit-pass"))
    write(pytester, "test_marked.py", """\
        import pytest

        @pytest.mark.dchaos("scenarios/ok.yaml", seed=21)
        def test_marked(dchaos_result):
            assert dchaos_result.passed
        """)
    result = pytester.runpytest_subprocess("scenarios/ok.yaml", "test_marked.py",
                                           "--junitxml=junit.xml", "--dchaos-report-dir=reports")
    result.assert_outcomes(passed=2)
    cases = junit_cases(pytester.path / "junit.xml")
    for name, seed in (("junit-pass", 8), ("test_marked", 21)):
        props = properties(cases[name])
        (folder,) = (pytester.path / "reports").glob(f"{name}-*")
        saved = json.loads((folder / "result.json").read_text())
        assert props["dchaos_verdict"] == "pass"
        assert props["dchaos_scenario"] == "junit-pass"
        assert props["dchaos_seed"] == str(seed) == str(saved["seed"])
        assert props["dchaos_backend"] == "local"
        assert props["dchaos_report"] == str(folder)
        assert_reruns(props["dchaos_rerun"], "scenarios/ok.yaml", seed)
        # Every check of result.json, with its status; node_contract is always judged.
        assert checks_of(props) == {c["name"]: c["status"] for c in saved["checks"]}
        assert checks_of(props)["convergence"] == "pass"
        assert checks_of(props)["node_contract"] == "pass"


@pytest.mark.slow
def test_junit_xml_names_the_failed_check_the_seed_and_the_rerun(
        pytester: pytest.Pytester) -> None:
    # A node whose reads report a value nobody broadcast: no_invented_values fails.
    command = json.dumps([sys.executable, str(INVENTS)])  # JSON is YAML, quoted
    write(pytester, "fails.yaml", SMALL.format(name="junit-fail").replace(
        "cluster: {nodes: 3}", f"cluster: {{nodes: 3, implementation: {{command: {command}}}}}"))
    result = pytester.runpytest_subprocess("fails.yaml", "--junitxml=junit.xml",
                                           "--dchaos-seed=5", "--dchaos-report-dir=reports")
    result.assert_outcomes(failed=1)
    case = junit_cases(pytester.path / "junit.xml")["junit-fail"]
    props = properties(case)
    assert props["dchaos_verdict"] == "fail"
    assert props["dchaos_seed"] == "5"
    assert checks_of(props)["no_invented_values"] == "fail"
    assert checks_of(props)["node_contract"] == "pass"
    assert_reruns(props["dchaos_rerun"], "fails.yaml", 5)
    (folder,) = (pytester.path / "reports").glob("junit-fail-*")
    assert props["dchaos_report"] == str(folder)
    # The failure's text in the same file says what was invented, and how to rerun it.
    failure = case.find("failure")
    assert failure is not None and failure.text is not None
    assert "FAIL  no_invented_values" in failure.text
    assert f"rerun:  dchaos run {pytester.path / 'fails.yaml'} --seed 5" in failure.text


def test_junit_xml_tells_a_run_that_could_not_happen(pytester: pytest.Pytester) -> None:
    write(pytester, "ok.yaml", SMALL.format(name="junit-error"))
    result = pytester.runpytest_subprocess("ok.yaml", "--junitxml=junit.xml",
                                           "--dchaos-node-command=./no-such-node")
    result.assert_outcomes(failed=1)
    props = properties(junit_cases(pytester.path / "junit.xml")["junit-error"])
    assert props == {"dchaos_verdict": "error"}


# --- explorations as pytest items (--dchaos-explore) ------------------------------------

QUICK = """\
name: {name}
protocol: gossip
cluster: {{nodes: 3}}
workload: {{clients: 1, rate: 20/s, duration: 1s, recovery: 1s}}
checks: [convergence]
seed: 8
"""


@pytest.mark.slow
def test_an_exploration_that_finds_a_failure_fails_with_minimal_yaml_and_its_rerun(
        pytester: pytest.Pytester) -> None:
    # The echo node answers no broadcast, so the first schedule already fails; shrinking
    # removes every fault and minimal.yaml still fails.
    write(pytester, "explored.yaml", QUICK.format(name="explored"))
    result = pytester.runpytest_subprocess(
        "explored.yaml", f"--dchaos-node-command={sys.executable} {ECHO}",
        "--dchaos-explore=60s", "--dchaos-explore-runs=1", "--dchaos-seed=3",
        "--dchaos-report-dir=reports", "--dchaos-toxiproxy=embedded")
    result.assert_outcomes(failed=1)
    [folder] = (pytester.path / "reports").glob("explored-explore-*")
    minimal = folder / "minimal.yaml"
    assert minimal.exists()
    result.stdout.fnmatch_lines([
        "*dchaos explore found a failure*",
        "*found: run 1 failed convergence*",
        f"*minimal: {minimal}*",
        f"*rerun it: dchaos run {minimal} --backend local*",
    ])
    result.stdout.no_fnmatch_line("*Traceback*")


@pytest.mark.slow
def test_an_exploration_that_finds_nothing_passes(pytester: pytest.Pytester) -> None:
    # Three seconds of recovery: a node back from a crash gets the values it lost by the
    # reference node's anti-entropy, once a second, so one second can be too little for a
    # correct node (seed 2 once drew a restart and a kill of n1 and failed 1 run in 3).
    write(pytester, "healthy.yaml",
          QUICK.format(name="healthy").replace("recovery: 1s", "recovery: 3s"))
    result = pytester.runpytest_subprocess(
        "healthy.yaml", "--dchaos-explore=60s", "--dchaos-explore-runs=2", "--dchaos-seed=2",
        "--dchaos-explore-workers=2", "--dchaos-explore-faults=kill,one_way",
        "--dchaos-report-dir=reports", "--dchaos-toxiproxy=embedded")
    result.assert_outcomes(passed=1)
    [folder] = (pytester.path / "reports").glob("healthy-explore-*")
    report = json.loads((folder / "explore.json").read_text())
    assert report["seed"] == 2 and len(report["runs"]) == 2 and report["found"] is None
    assert report["workers"] == 2 and {r["worker"] for r in report["runs"]} == {1, 2}
    assert report["faults"] == ["kill", "one_way"]
    assert {s for r in report["runs"] for s in r["shapes"]} <= {"kill", "one_way"}


def test_faults_an_exploration_cannot_draw_fail_the_item_saying_why(
        pytester: pytest.Pytester) -> None:
    write(pytester, "healthy.yaml", QUICK.format(name="healthy"))
    result = pytester.runpytest_subprocess("healthy.yaml", "--dchaos-explore=1m",
                                           "--dchaos-explore-faults=kill_leader")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*--faults: kill_leader cannot be drawn here: this protocol "
                                 "names no leading node*"])
    assert not (pytester.path / "dchaos-reports").exists()


@pytest.mark.parametrize(("flags", "message"), [
    (["--dchaos-explore=soon"], "--dchaos-explore: expected a duration"),
    (["--dchaos-explore=0s"], "--dchaos-explore must be above zero"),
    (["--dchaos-explore=1m", "--dchaos-explore-runs=many"],
     "--dchaos-explore-runs must be a whole number"),
    (["--dchaos-explore=1m", "--dchaos-explore-workers=0"],
     "--dchaos-explore-workers must be a whole number above zero"),
])
def test_bad_exploration_options_are_usage_errors(pytester: pytest.Pytester,
                                                  flags: list[str], message: str) -> None:
    write(pytester, "healthy.yaml", QUICK.format(name="healthy"))
    result = pytester.runpytest_subprocess("healthy.yaml", *flags)
    assert result.ret != 0
    result.stderr.fnmatch_lines([f"*{message}*"])


@pytest.mark.slow
def test_scenario_files_run_side_by_side_under_pytest_xdist(pytester: pytest.Pytester) -> None:
    # Two runs at once, one per xdist worker: each with its own cluster, ports, embedded
    # Toxiproxy and report folder, and neither sees the other's.
    write(pytester, "a.yaml", SMALL.format(name="side-a"))
    write(pytester, "b.yaml", SMALL.format(name="side-b"))
    result = pytester.runpytest_subprocess("-n", "2", "-v", "a.yaml", "b.yaml",
                                           "--dchaos-report-dir", "reports")
    result.assert_outcomes(passed=2)
    workers = {line.split("]")[0] for line in result.stdout.lines
               if "PASSED" in line and line.startswith("[gw")}
    assert workers == {"[gw0", "[gw1"}, result.stdout.str()
    (a,) = (pytester.path / "reports").glob("side-a-*")
    (b,) = (pytester.path / "reports").glob("side-b-*")
    results = [json.loads((folder / "result.json").read_text()) for folder in (a, b)]
    assert all(r["passed"] for r in results)
    assert results[0]["run_id"] != results[1]["run_id"]
    assert a.name.endswith(results[0]["run_id"]) and b.name.endswith(results[1]["run_id"])


def test_a_run_the_harness_failed_warns_even_when_it_passed() -> None:
    lost = f"{LOST}3 message(s) between nodes that were up ..."
    result = RunResult("s", passed=True, seed=1, checks=[], stats={}, run_id="r",
                       notes=["cluster.placement is ignored", lost])
    with pytest.warns(HarnessWarning) as caught:
        warn_of_the_harness(result)
    assert [str(w.message) for w in caught] == [f"s: {lost}"]
