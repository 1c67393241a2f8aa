"""``latency``: client operation latency quantiles stay under bounds."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.record.stats import quantiles_ms
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.yamlsource import YNode


@dataclass(frozen=True)
class Bounds:
    """Latency quantile bounds in seconds; None where a quantile is not bounded."""

    p50: float | None
    p95: float | None
    p99: float | None
    max: float | None


#: The quantiles a bound may be put on, in the order verdicts list them.
BOUNDS = tuple(f.name for f in fields(Bounds))


@dataclass(frozen=True)
class LatencyOptions(Bounds):
    #: Only this operation (None: all of them).
    f: str | None


def check_bounds(observed: dict[str, Any], bounds: Bounds) -> tuple[bool, list[str]]:
    """Compare quantiles (ms) with bounds (seconds); returns (passed, one text per bound)."""
    passed, parts = True, []
    for key in BOUNDS:
        bound = getattr(bounds, key)
        if bound is None:
            continue
        value = observed.get(key)
        ok = value is not None and value <= bound * 1000
        passed &= ok
        parts.append(f"{key} {value:.0f}ms {'≤' if ok else '>'} {bound * 1000:.0f}ms"
                     if value is not None else f"{key}: no data")
    return passed, parts


def require_a_bound(values: dict[str, Any], node: YNode) -> None:
    """Every bound is optional, but a latency check without any would judge nothing."""
    if not any(values.get(k) is not None for k in BOUNDS):
        raise node.error("give at least one bound", hint="e.g. {p50: 400ms, max: 600ms}")


class Latency(CheckerType[LatencyOptions]):
    name = "latency"
    performance = True
    doc = ("Latency of acknowledged client operations (invoke to reply) stays under the "
           "given quantile bounds; `f` restricts it to one operation.")
    blind_to = ("Operations without a reply (timed out or failed) are left out of the "
                "quantiles; a reply's time includes the agent and harness hops on this machine.")
    options = s.Struct((
        *(s.Field(k, s.Duration(), f"bound on the {k} latency", None) for k in BOUNDS),
        s.Field("f", s.Str(), "only this operation (e.g. broadcast)", None),
    ))
    options_type = LatencyOptions

    def build(self, values: dict[str, Any], node: YNode, ctx: s.ParseContext
              ) -> LatencyOptions:
        require_a_bound(values, node)
        return super().build(values, node, ctx)

    def check(self, options: LatencyOptions, record: RunRecord) -> Verdict:
        latencies = [done.time - invoke.time for invoke, done in record.history.pairs()
                     if done is not None and done.type == "ok"
                     and (options.f is None or invoke.f == options.f)]
        what = f"{options.f} operations" if options.f else "operations"
        if not latencies:
            return self.verdict(False, f"no acknowledged {what} to measure")
        observed = quantiles_ms(latencies)
        passed, parts = check_bounds(observed, options)
        return self.verdict(passed, f"{len(latencies)} {what}: " + ", ".join(parts),
                            figures=observed)
