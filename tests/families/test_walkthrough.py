"""docs/architecture.md's "Writing a protocol family" is a real, working family.

Every snippet of the walkthrough is a verbatim excerpt of the file it names in
``examples/gcounter_dchaos/``, so the doc cannot drift from code that type-checks; and the
example family, registered for one test, runs its scenario on the local backend: its own
node passes, and a node that never merges its peers' counts fails ``final_value``.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_dchaos.record.result import RunResult
from pytest_dchaos.registry import Registry, register, unregister
from pytest_dchaos.run.runner import RunOptions, run_scenario
from pytest_dchaos.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
EXAMPLES = ROOT / "examples"
PACKAGE = "gcounter_dchaos"
SCENARIO = EXAMPLES / PACKAGE / "scenarios" / "partition-heals.yaml"
BROKEN = ROOT / "tests" / "broken_nodes" / "gcounter_own_adds_only.py"

HEADING = "### Writing a protocol family"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
NAMED = re.compile(rf"^# {PACKAGE}/(\S+)\n")


def walkthrough() -> str:
    text = DOC.read_text()
    start = text.index(HEADING)
    end = text.find("\n## ", start)
    return text[start:end if end >= 0 else len(text)]


def snippets() -> list[tuple[str, str]]:
    """``(file, excerpt)`` for each code block of the walkthrough but the folder tree."""
    found = []
    for language, block in FENCE.findall(walkthrough()):
        if language == "text":
            continue
        named = NAMED.match(block)
        assert named, f"a {language} snippet of the walkthrough names no file:\n{block}"
        found.append((named.group(1), block[named.end():]))
    return found


SNIPPETS = snippets()


@pytest.mark.parametrize(("name", "excerpt"), SNIPPETS, ids=[n for n, _ in SNIPPETS])
def test_each_snippet_is_an_excerpt_of_the_file_it_names(name: str, excerpt: str) -> None:
    path = EXAMPLES / PACKAGE / name
    assert path.is_file(), f"the walkthrough shows {PACKAGE}/{name}, which examples/ lacks"
    # Whole lines, in order, nothing left out: a reader may paste it.
    assert "\n" + excerpt in "\n" + path.read_text(), (
        f"docs/architecture.md's {PACKAGE}/{name} snippet is not an excerpt of {path}; "
        "copy the changed lines over")


def test_the_walkthrough_shows_every_part_of_a_family() -> None:
    shown = {name for name, _ in SNIPPETS}
    assert {"workload.py", "observations.py", "family.py", "checks/final_value.py",
            "pyproject.toml"} <= shown


def test_the_folder_tree_lists_files_the_example_has() -> None:
    tree = next(block for language, block in FENCE.findall(walkthrough())
                if language == "text")
    folders: list[str] = []
    for line in tree.splitlines()[1:]:  # the first line is the package itself
        words = line.split(maxsplit=1)
        depth = (len(line) - len(line.lstrip())) // 2 - 1
        if depth > len(folders):
            continue  # a description's second line
        name = words[0]
        del folders[depth:]
        if name.endswith("/"):
            folders.append(name)
            continue
        path = EXAMPLES / PACKAGE / "".join(folders) / name
        optional = len(words) > 1 and words[1].startswith("optional")
        assert optional or path.exists(), f"the walkthrough's tree lists {path}, which is missing"


@pytest.fixture
def gcounter(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """The example family registered for this test only (the catalogue test must not see
    it), importable here and by the nodes the runs start."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    family = importlib.import_module(f"{PACKAGE}.family")
    register(family)
    try:
        yield Registry()
    finally:
        unregister(family)


def test_the_example_scenario_is_valid(gcounter: Registry) -> None:
    scenario = load_scenario(SCENARIO, gcounter)
    assert scenario.protocol == "gcounter"
    assert scenario.faults, "without a fault the final phase has nothing to repair"


def run(registry: Registry, tmp_path: Path, node_command: tuple[str, ...] | None) -> RunResult:
    options = RunOptions(report_dir=tmp_path / "report", node_command=node_command,
                         toxiproxy="embedded", extra_env={"PYTHONPATH": str(EXAMPLES)})
    return run_scenario(load_scenario(SCENARIO, registry), options, registry)


@pytest.mark.slow
def test_the_example_node_passes_its_scenario(gcounter: Registry, tmp_path: Path,
                                              no_leaks: None) -> None:
    # No node command: the family's own, `python3 -m gcounter_dchaos.node`.
    result = run(gcounter, tmp_path, None)
    assert result.passed, "\n".join(f"{v.name}: {v.detail}" for v in result.checks)
    assert {v.name for v in result.checks} == {"final_value", "node_contract"}


@pytest.mark.slow
def test_a_node_that_never_merges_fails_final_value(gcounter: Registry, tmp_path: Path,
                                                    no_leaks: None) -> None:
    result = run(gcounter, tmp_path, (sys.executable, str(BROKEN)))
    verdict = result.check("final_value")
    assert not verdict.passed, verdict.detail
    # Each node reads only its own adds: every one of them is named with its wrong read.
    for node in ("n1", "n2", "n3"):
        assert re.search(rf"\b{node} read \d+", verdict.detail), verdict.detail
    assert "acknowledged" in verdict.detail
    assert result.check("node_contract").passed, "the broken node must only break one thing"
