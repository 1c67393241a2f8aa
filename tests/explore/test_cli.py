"""``dchaos explore`` on input it cannot explore: exit 2 and one clear line, before any
run starts."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_dchaos.cli import main

GOOD = """\
name: small
protocol: gossip
cluster: {nodes: 3}
workload: {duration: 2s, recovery: 1s}
checks: [convergence]
"""


@pytest.fixture(autouse=True)
def keep_sigterm() -> Iterator[None]:
    """``main`` makes SIGTERM unwind like Ctrl-C; give pytest its own handler back."""
    handler = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, handler)


def explore(tmp_path: Path, text: str | None, *flags: str) -> int:
    path = tmp_path / "s.yaml"
    if text is not None:
        path.write_text(text)
    return main(["explore", str(path), "--report", str(tmp_path / "out"), *flags])


@pytest.mark.parametrize(("text", "flags", "message"), [
    (GOOD.replace("checks: [convergence]", "checks: []"), ("--budget", "1m"),
     "checks: has no checks, so no run of it can fail"),
    (GOOD.replace("[convergence]", "[{convergence: {expect: fail}}]"), ("--budget", "1m"),
     "expects a violation (convergence: expect: fail)"),
    (GOOD, ("--budget", "0s"), "--budget must be above zero"),
    (GOOD, ("--budget", "soon"), "--budget: expected a duration"),
    (GOOD, ("--budget", "1m", "--runs", "0"), "--runs must be at least 1"),
    (GOOD, ("--budget", "1m", "--confirm", "0"), "--confirm must be at least 1"),
    (GOOD, ("--budget", "1m", "--workers", "0"), "--workers must be at least 1"),
    (GOOD, ("--budget", "1m", "--workers", "2", "--backend", "docker"),
     "--workers 2 runs schedules side by side on the local backend only"),
    (GOOD, ("--budget", "1m", "--faults", "meteor"), "--faults: 'meteor' is not a fault"),
    (GOOD, ("--budget", "1m", "--faults", "byzantine"),
     "--faults: byzantine cannot be drawn here: no replica may turn Byzantine here"),
    (GOOD, ("--budget", "1m", "--faults", " , "), "--faults names no fault"),
    (None, ("--budget", "1m"), "no such scenario file"),
    (GOOD.replace("nodes: 3", "nodes: three"), ("--budget", "1m"), "cluster.nodes"),
])
def test_bad_input_exits_2_with_one_clear_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None,
        flags: tuple[str, ...], message: str) -> None:
    assert explore(tmp_path, text, *flags) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dchaos: error: ")
    assert message in lines[0]
    assert out == ""
    assert not (tmp_path / "out" / "runs").exists()


def test_budget_and_report_are_required(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["explore", str(tmp_path / "s.yaml")])
    assert exited.value.code == 2
    assert "--budget" in capsys.readouterr().err
