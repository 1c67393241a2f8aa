"""``stable_latency``: how long until a broadcast value is in every read, Maelstrom-style."""

from __future__ import annotations

import bisect
from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.checkers.latency import BOUNDS, Bounds, check_bounds, require_a_bound
from pytest_dchaos.record.history import OK, History
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.record.stats import quantiles_ms
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.yamlsource import YNode


def stable_latencies(history: History) -> tuple[dict[int, float], set[int]]:
    """Per acknowledged value: seconds from its broadcast's invocation until it became
    stable — present in every read invoked from then on — and the set of values that never
    did (lost). Reads invoked before the broadcast are not expected to hold it."""
    invoke_time: dict[int, float] = {}
    acked: set[int] = set()
    reads: list[tuple[float, frozenset[int]]] = []
    pending: dict[str, Any] = {}
    for op in history.ops:
        if op.f == "broadcast":
            if op.type == "invoke":
                invoke_time[op.value] = op.time
            elif op.type == OK:
                acked.add(op.value)
        elif op.f == "read":
            if op.type == "invoke":
                pending[op.process] = op.time
            elif op.type == OK and op.process in pending and isinstance(op.value, list):
                reads.append((pending.pop(op.process), frozenset(op.value)))
            else:
                pending.pop(op.process, None)
    reads.sort(key=lambda r: r[0])
    times = [t for t, _ in reads]
    latencies: dict[int, float] = {}
    lost: set[int] = set()
    for value in acked:
        start = bisect.bisect_left(times, invoke_time[value])
        stable_index = None
        for index in range(len(reads) - 1, start - 1, -1):
            if value not in reads[index][1]:
                break
            stable_index = index
        if stable_index is None:
            lost.add(value)
        else:
            latencies[value] = max(0.0, reads[stable_index][0] - invoke_time[value])
    return latencies, lost


class StableLatency(CheckerType[Bounds]):
    name = "stable_latency"
    performance = True
    doc = ("Stable latency of broadcasts (from the broadcast's invocation until the value is "
           "in every read invoked from then on, as Maelstrom measures it) stays under the "
           "given quantile bounds.")
    blind_to = ("Anything between reads: a value is timed at the first read that shows it "
                "everywhere from then on, so the figure is only as fine as the workload's read "
                "rate.")
    protocols = ("gossip",)
    options = s.Struct(tuple(s.Field(k, s.Duration(), f"bound on the {k}", None)
                             for k in BOUNDS))
    options_type = Bounds

    def build(self, values: dict[str, Any], node: YNode, ctx: s.ParseContext) -> Bounds:
        require_a_bound(values, node)
        return super().build(values, node, ctx)

    def check(self, options: Bounds, record: RunRecord) -> Verdict:
        latencies, lost = stable_latencies(record.history)
        if not latencies:
            return self.verdict(False, "no acknowledged broadcast became stable, so there is "
                                "no stable latency to judge")
        observed = quantiles_ms(latencies.values())
        passed, parts = check_bounds(observed, options)
        slowest = sorted(latencies.items(), key=lambda kv: -kv[1])[:5]
        detail = f"{len(latencies)} values: " + ", ".join(parts)
        if lost:
            detail += f" ({len(lost)} never stable: see convergence)"
        return self.verdict(passed, detail, figures=observed,
                            witness={"slowest": {str(v): round(t, 3) for v, t in slowest}})
