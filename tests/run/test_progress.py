"""The progress a person watches while a run is under way."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from pytest_dchaos.run.progress import Progress


@dataclass
class FakeCluster:
    status_of: dict[str, str]

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(self.status_of)

    def status(self, node: str) -> str:
        return self.status_of[node]


@dataclass
class FakeNemesis:
    cluster: FakeCluster
    faults: list[str] = field(default_factory=list)

    def active(self) -> list[str]:
        return list(self.faults)


@dataclass
class FakeSpec:
    rate: float


@dataclass
class FakeWorkload:
    spec: FakeSpec
    counts: dict[str, int]


@dataclass
class FakeHistory:
    t: float

    def now(self) -> float:
        return self.t


def watching(t: float, done: int, rate: float, statuses: dict[str, str],
             faults: list[str] | None = None) -> tuple[Progress, FakeCluster, io.StringIO]:
    out = io.StringIO()
    progress = Progress(out, interactive=False)
    cluster = FakeCluster(statuses)
    fakes: list[Any] = [FakeHistory(t), FakeWorkload(FakeSpec(rate), {"ok": done, "fail": 0,
                                                                       "info": 0}),
                        FakeNemesis(cluster, faults or [])]
    progress.workload(*fakes, duration=20.0)
    return progress, cluster, out


def test_a_node_still_down_after_its_fault_is_shown() -> None:
    progress, _, _ = watching(8.0, 80, 10, {"n1": "running", "n2": "down", "n3": "paused"})
    line = progress.status_line()
    assert "faults: none" in line
    assert line.endswith("| down: n2 | paused: n3")


def test_a_node_coming_back_is_logged_at_once() -> None:
    progress, cluster, out = watching(8.0, 80, 10, {"n1": "running", "n2": "down"})
    progress.tick()
    cluster.status_of["n2"] = "running"
    progress.tick()  # within LOG_EVERY of the last line: only a change prints
    first, second = out.getvalue().splitlines()
    assert first.endswith("faults: none | down: n2") and second.endswith("faults: none")


def test_a_rate_well_short_of_the_one_asked_is_shown() -> None:
    progress, _, _ = watching(10.0, 370, 300, {"n1": "running"})
    assert "| rate 37/s of 300/s asked |" in progress.status_line()


def test_a_rate_close_to_the_one_asked_is_not_news() -> None:
    progress, _, _ = watching(10.0, 2500, 300, {"n1": "running"})
    assert "rate" not in progress.status_line()
    progress, _, _ = watching(0.5, 1, 300, {"n1": "running"})  # too early to tell
    assert "rate" not in progress.status_line()
