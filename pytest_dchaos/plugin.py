"""The pytest plugin: scenario files as test items, a marker, and cluster fixtures.

* ``pytest scenarios/`` collects every scenario YAML file (a mapping with ``protocol`` and
  ``cluster``) as one test item named after the scenario. A failed check fails the item with
  the verdicts, the evidence and the command that reruns it with the same seed.
* ``@pytest.mark.dchaos("path.yaml")`` on a test that asks for the ``dchaos_result``
  fixture runs that scenario (path relative to the test file) and hands over its result.
* ``dchaos_cluster`` starts clusters the test drives by hand.
* ``dchaos_router`` (from :mod:`pytest_dchaos.testing.fixtures`) starts node processes on
  the in-memory router, for unit-testing a node without agents or fault layer.

Options: ``--dchaos-backend``, ``--dchaos-seed``, ``--dchaos-report-dir``,
``--dchaos-node-command``, ``--dchaos-toxiproxy``, ``--dchaos-progress``, each also an ini
key (``dchaos_backend`` ...) for ``[tool.pytest.ini_options]``.

``--dchaos-explore BUDGET`` (with ``--dchaos-explore-runs N``, ``--dchaos-explore-workers
N`` and ``--dchaos-explore-faults NAMES``) makes each collected scenario file an exploration
(``dchaos explore``) instead of one run: the item fails when a failure was found, with the
path of ``minimal.yaml`` and the command that reruns it.
"""

from __future__ import annotations

import dataclasses
import io
import re
import shlex
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_dchaos.checkers.transport import harness_failures
from pytest_dchaos.errors import DchaosError, HarnessWarning
from pytest_dchaos.explore.base_scenario import BaseScenario
from pytest_dchaos.explore.explorer import ExploreOptions, Explorer, fault_names
from pytest_dchaos.interrupts import sigterm_interrupts
from pytest_dchaos.manual import LiveCluster, start_cluster
from pytest_dchaos.record import report
from pytest_dchaos.record.result import RunResult
from pytest_dchaos.registry import Registry
from pytest_dchaos.run.progress import Progress
from pytest_dchaos.run.runner import RunOptions, default_report_dir, run_scenario
from pytest_dchaos.scenario.loader import load_scenario, resolve_command
from pytest_dchaos.scenario.yamlsource import MAX_BYTES
from pytest_dchaos.units import UnitError, parse_duration

# The testing kit's fixtures come with the plugin, so a user's suite needs no conftest.
pytest_plugins = ["pytest_dchaos.testing.fixtures"]

OPTIONS = {
    "backend": "where nodes run: local (default), docker or swarm",
    "seed": "seed for every random choice (default: each scenario's, else a fresh one)",
    "report_dir": "folder for run reports (default: dchaos-reports under the rootdir)",
    "node_command": "run this executable as every node, instead of the scenarios' "
                    "implementations",
    "node_image": "with the docker or swarm backend: run every node in this image (it needs "
                  "python3)",
    "toxiproxy_image": "with the docker or swarm backend: the Toxiproxy image to use",
    "toxiproxy": "Toxiproxy server URL, or 'embedded' (default: toxiproxy-server on PATH, "
                 "else the embedded one)",
    "explore": "explore each collected scenario file for this long (like 15m) instead of "
               "running it once: fail with the minimal scenario found (dchaos explore)",
    "explore_runs": "with --dchaos-explore: search at most N schedules per scenario",
    "explore_workers": "with --dchaos-explore: search N schedules side by side, each in a "
                       "worker process (local backend; default 1)",
    "explore_faults": "with --dchaos-explore: draw only these faults, comma-separated "
                      "(kinds, shapes, twins; as dchaos explore --faults)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dchaos", "chaos testing of distributed protocols")
    for name, help_text in OPTIONS.items():
        flag = "--dchaos-" + name.replace("_", "-")
        group.addoption(flag, dest=f"dchaos_{name}", default=None, help=help_text)
        parser.addini(f"dchaos_{name}", help_text, default=None)
    group.addoption("--dchaos-progress", action="store_true", default=False,
                    help="print run progress to stderr (use with -s)")
    parser.addini("dchaos_collect", "collect scenario YAML files as tests (default true)",
                  type="bool", default=True)


_RESTORE_SIGTERM = pytest.StashKey[Callable[[], None]]()


def pytest_configure(config: pytest.Config) -> None:
    seed = _setting(config, "seed")
    if seed is not None and not str(seed).strip().isdigit():
        raise pytest.UsageError(f"--dchaos-seed must be a whole number, got {seed!r}")
    config.addinivalue_line(
        "markers",
        "dchaos(path, **overrides): run the scenario at path (relative to the test file) "
        "and hand its result to the test through the dchaos_result fixture; overrides: "
        "seed, backend, node_command",
    )
    _explore_budget(config)  # a bad one is a usage error before anything runs
    # A cancelled CI job sends SIGTERM: let the runs unwind and remove what they started.
    config.stash[_RESTORE_SIGTERM] = sigterm_interrupts()


def pytest_unconfigure(config: pytest.Config) -> None:
    restore = config.stash.get(_RESTORE_SIGTERM, None)
    if restore is not None:
        restore()


def _explore_budget(config: pytest.Config) -> float | None:
    """``--dchaos-explore`` in seconds (None: run scenarios once); checked with its runs."""
    text = _setting(config, "explore")
    runs = _setting(config, "explore_runs")
    if runs is not None and not str(runs).strip().isdigit():
        raise pytest.UsageError(f"--dchaos-explore-runs must be a whole number, got {runs!r}")
    workers = _setting(config, "explore_workers")
    if workers is not None and (not str(workers).strip().isdigit() or int(workers) < 1):
        raise pytest.UsageError(f"--dchaos-explore-workers must be a whole number above zero, "
                                f"got {workers!r}")
    if text is None:
        return None
    try:
        budget = parse_duration(str(text))
    except UnitError as exc:
        raise pytest.UsageError(f"--dchaos-explore: {exc}") from None
    if budget <= 0:
        raise pytest.UsageError("--dchaos-explore must be above zero (e.g. 15m)")
    return budget


def _setting(config: pytest.Config, name: str) -> Any:
    value = config.getoption(f"dchaos_{name}")
    if value is None:
        value = config.getini(f"dchaos_{name}")
    return value or None


def run_options(config: pytest.Config, name: str, **overrides: Any) -> RunOptions:
    """RunOptions from command line and ini, with per-test ``overrides``."""
    seed = overrides.get("seed", _setting(config, "seed"))
    seed = int(seed) if seed is not None else None  # validated in pytest_configure
    command = overrides.get("node_command", _setting(config, "node_command"))
    image = overrides.get("node_image", _setting(config, "node_image"))
    if isinstance(command, str):
        command = resolve_command(shlex.split(command),
                                  None if image else str(config.invocation_params.dir))
    report_root = Path(_setting(config, "report_dir") or config.rootpath / "dchaos-reports")
    if not report_root.is_absolute():
        report_root = config.invocation_params.dir / report_root
    return RunOptions(
        backend=overrides.get("backend") or _setting(config, "backend") or "local",
        seed=seed,
        # Each run makes its own folder, <name>-<time>-<run id>, under the root: a run that
        # cannot start must not leave a CI artifact showing an earlier run's verdict.
        report_root=report_root,
        report_name=name,
        node_command=tuple(command) if command else None,
        node_image=image,
        toxiproxy=_setting(config, "toxiproxy"),
        toxiproxy_image=_setting(config, "toxiproxy_image"),
        progress=Progress(sys.stderr) if config.getoption("dchaos_progress") else None,
    )


_registry: Registry | None = None


def registry() -> Registry:
    global _registry
    if _registry is None:
        _registry = Registry()
    return _registry


# -- scenario files as test items --------------------------------------------------------


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    if not parent.config.getini("dchaos_collect") or not _looks_like_scenario(file_path):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


def _looks_like_scenario(path: Path) -> bool:
    """A mapping with protocol and cluster at the top: cheap to tell, even when invalid
    (a file too big to be a scenario is told from its beginning, and its item says so)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read(MAX_BYTES)
    except (OSError, UnicodeDecodeError):
        return False
    keys = set(re.findall(r"^([A-Za-z_]+)\s*:", text, flags=re.MULTILINE))
    return {"protocol", "cluster"} <= keys


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        name = self.path.stem
        try:
            # The item reports a file too big, or not YAML, when it runs (with its line).
            if self.path.stat().st_size <= MAX_BYTES:
                data = yaml.safe_load(self.path.read_text(encoding="utf-8"))
                if isinstance(data, dict) and isinstance(data.get("name"), str):
                    name = data["name"]
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            pass
        yield ScenarioItem.from_parent(self, name=name)


class ScenarioFailed(Exception):
    """A scenario ran and a check failed."""

    def __init__(self, result: RunResult) -> None:
        super().__init__(result.scenario)
        self.result = result


class ExplorationFound(Exception):
    """An exploration of a scenario found a failure and shrunk it."""

    def __init__(self, text: str) -> None:
        super().__init__(text)


class ScenarioItem(pytest.Item):
    def runtest(self) -> None:
        if _setting(self.config, "explore") is not None:
            return self._explore()
        try:
            scenario = load_scenario(self.path, registry())
            result = run_scenario(scenario, run_options(self.config, self.name), registry())
        except DchaosError as exc:
            self.user_properties.append(("dchaos_verdict", "error"))
            raise ScenarioCouldNotRun(exc) from None
        self.user_properties.extend(junit_properties(result, self.config.invocation_params.dir))
        if not result.passed:
            raise ScenarioFailed(result)  # its summary has the notes
        warn_of_the_harness(result)

    def _explore(self) -> None:
        budget = _explore_budget(self.config)
        assert budget is not None
        runs_text = _setting(self.config, "explore_runs")
        workers_text = _setting(self.config, "explore_workers")
        options = run_options(self.config, self.name)
        # Its own folder, as every run's: <name>-explore-<time>-<id> under the report root.
        out = default_report_dir(f"{self.name}-explore", uuid.uuid4().hex[:8],
                                 options.report_root)
        try:
            base = BaseScenario.load(self.path, registry(), options.node_command)
            explorer = Explorer(base, ExploreOptions(
                report_dir=out, budget=budget, seed=options.seed,
                runs=int(runs_text) if runs_text is not None else None,
                run=RunOptions(backend=options.backend, toxiproxy=options.toxiproxy,
                               toxiproxy_image=options.toxiproxy_image),
                stream=sys.stderr if self.config.getoption("dchaos_progress") else io.StringIO(),
                workers=int(workers_text) if workers_text is not None else 1,
                faults=fault_names(_setting(self.config, "explore_faults")),
            ), registry())
            result = explorer.run()
        except DchaosError as exc:
            raise ScenarioCouldNotRun(exc) from None
        self.user_properties.append(("dchaos_explore", str(out)))
        if result.interrupted:
            raise KeyboardInterrupt
        if result.found is not None:
            raise ExplorationFound(explorer.summary())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, ExplorationFound):
            return f"dchaos explore found a failure\n{excinfo.value.args[0]}"
        if isinstance(excinfo.value, ScenarioFailed):
            return explain(excinfo.value.result)
        if isinstance(excinfo.value, ScenarioCouldNotRun):
            return f"scenario could not run: {excinfo.value.args[0]}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario {self.name}"


class ScenarioCouldNotRun(Exception):
    """The scenario was invalid or the harness could not run it (shown without traceback)."""


def junit_properties(result: RunResult, root: Path) -> list[tuple[str, str]]:
    """What a CI job needs from the JUnit XML alone (``--junitxml``, where each becomes a
    ``<property>`` of the test case): the run's verdict, each check's status, the seed, the
    command that reruns it, and the report folder with the evidence. ``dchaos_verdict`` is
    ``pass``, ``fail``, or (set where the run could not happen) ``error``, as ``dchaos run``
    exits 0, 1 or 2.

    The rerun command names the scenario relative to ``root`` (where pytest was started)
    when it is under it: on a CI machine that is the checkout, so the command works as it is
    in anyone's checkout of the same repository.
    """
    rerun = result
    if result.scenario_path is not None:
        path = Path(result.scenario_path)
        if path.is_absolute() and path.is_relative_to(root):
            rerun = dataclasses.replace(result, scenario_path=str(path.relative_to(root)))
    properties = [
        ("dchaos_verdict", "pass" if result.passed else "fail"),
        ("dchaos_scenario", result.scenario),
        ("dchaos_seed", str(result.seed)),
        ("dchaos_backend", result.backend),
        ("dchaos_rerun", report.rerun_command(rerun)),
    ]
    if result.report_dir is not None:
        properties.append(("dchaos_report", str(result.report_dir)))
    properties.extend((f"dchaos_check.{v.name}", v.status) for v in result.checks)
    return properties


def warn_of_the_harness(result: RunResult) -> None:
    """A pytest warning for each way the harness failed the nodes in this run: a passing
    item shows nothing of the run's notes otherwise."""
    for note in harness_failures(result.notes):
        warnings.warn(HarnessWarning(f"{result.scenario}: {note}"), stacklevel=2)


def explain(result: RunResult) -> str:
    """A failed run, for a person: which checks failed, their evidence, how to rerun."""
    lines = [report.summary(result)]
    for verdict in result.failed_checks():
        shown = {k: v for k, v in verdict.witness.items() if v}
        if shown:
            lines.append(f"  witness for {verdict.name}: {_short(shown)}")
    return "\n".join(lines)


def _short(value: Any, limit: int = 600) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + " ..."


# -- the marker and fixtures -------------------------------------------------------------


@pytest.fixture
def dchaos_result(request: pytest.FixtureRequest) -> RunResult:
    """The result of the scenario named by the test's ``@pytest.mark.dchaos(path)``."""
    marker = request.node.get_closest_marker("dchaos")
    if marker is None or not marker.args:
        raise pytest.UsageError(
            f"{request.node.nodeid}: dchaos_result needs @pytest.mark.dchaos('scenario.yaml')")
    path = Path(marker.args[0])
    if not path.is_absolute():
        path = Path(request.node.path).parent / path
    unknown = set(marker.kwargs) - {"seed", "backend", "node_command", "node_image"}
    if unknown:
        raise pytest.UsageError(f"@pytest.mark.dchaos: unknown option(s) "
                                f"{', '.join(sorted(unknown))}; allowed: seed, backend, "
                                "node_command, node_image")
    options = run_options(request.config, request.node.name, **marker.kwargs)
    try:
        scenario = load_scenario(path, registry())
        result = run_scenario(scenario, options, registry())
    except DchaosError as exc:
        request.node.user_properties.append(("dchaos_verdict", "error"))
        pytest.fail(f"scenario could not run: {exc}", pytrace=False)
    request.node.user_properties.extend(
        junit_properties(result, request.config.invocation_params.dir))
    warn_of_the_harness(result)  # after the JUnit properties: a warning may be an error
    return result


@pytest.fixture
def dchaos_cluster(request: pytest.FixtureRequest) -> Iterator[Callable[..., LiveCluster]]:
    """A factory that starts clusters to drive by hand; all are stopped after the test.

    ``dchaos_cluster(protocol="gossip", nodes=3, topology=None, params=None, latency=0.0,
    node_command=None)`` or ``dchaos_cluster(path="scenario.yaml")`` (its cluster and
    network sections) returns a :class:`~pytest_dchaos.manual.LiveCluster`.
    """
    started: list[LiveCluster] = []

    def start(path: str | Path | None = None, **kwargs: Any) -> LiveCluster:
        scenario = None
        if path is not None:
            source = Path(path)
            if not source.is_absolute():
                source = Path(request.node.path).parent / source
            scenario = load_scenario(source, registry())
        options = run_options(request.config, f"{request.node.name}-cluster{len(started) + 1}")
        try:
            cluster = start_cluster(scenario, options=options, registry=registry(), **kwargs)
        except DchaosError as exc:
            pytest.fail(f"cluster could not start: {exc}", pytrace=False)
        started.append(cluster)
        return cluster

    yield start
    for cluster in reversed(started):
        cluster.close()
