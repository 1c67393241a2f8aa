"""Figures of a run: operation counts, latency quantiles, messages per operation.

Message counting follows Maelstrom: a message counts when a node sends it (whether or not
the network then delivers it); ``servers`` are node-to-node messages and those between
nodes and Maelstrom's services (``seq-kv`` ...: Maelstrom counts every message that
involves no client among its servers'), ``clients`` those between clients and nodes;
msgs-per-op divides by the number of client operations invoked.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from pytest_dchaos.record.history import INVOKE, History, outcome_of
from pytest_dchaos.services import is_service

QUANTILES = (("p0", 0.0), ("p50", 0.5), ("p95", 0.95), ("p99", 0.99), ("max", 1.0))


class Sent(NamedTuple):
    """A node-to-node message as its sender's agent took it: when (epoch seconds), from
    whom, to whom."""

    t: float
    src: str
    dest: str


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank) of already sorted values."""
    if not sorted_values:
        return math.nan
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]


def quantiles_ms(seconds: Iterable[float]) -> dict[str, float | int]:
    """``{count, p0, p50, p95, p99, max}`` of durations given in seconds, in milliseconds."""
    values = sorted(seconds)
    out: dict[str, float | int] = {"count": len(values)}
    for label, q in QUANTILES:
        out[label] = round(quantile(values, q) * 1000, 2) if values else None  # type: ignore
    return out


def op_stats(history: History) -> dict[str, Any]:
    """Counts by outcome and function, and latency quantiles of ok operations."""
    counts: Counter[str] = Counter()
    by_f: dict[str, Counter[str]] = {}
    latencies: dict[str, list[float]] = {}
    for invocation, completion in history.pairs():
        outcome = outcome_of(completion)
        counts[outcome] += 1
        by_f.setdefault(invocation.f, Counter())[outcome] += 1
        if completion is not None and completion.type == "ok":
            latencies.setdefault(invocation.f, []).append(completion.time - invocation.time)
    all_latencies = [x for values in latencies.values() for x in values]
    return {
        "ops": {"total": sum(counts.values()), "ok": counts["ok"], "fail": counts["fail"],
                "info": counts["info"]},
        "ops_by_f": {f: dict(c) for f, c in sorted(by_f.items())},
        "latency_ms": quantiles_ms(all_latencies),
        "latency_ms_by_f": {f: quantiles_ms(v) for f, v in sorted(latencies.items())},
    }


def message_counts(events: Iterable[dict[str, Any]], nodes: Iterable[str],
                   vanished: list[Sent] | None = None) -> dict[str, Any]:
    """Count trace events: messages sent between servers and to/from clients, by type; and
    the transit of node-to-node messages (``transit_ms``: from the sending agent taking a
    message to the receiving agent getting it — the latency the scenario injected plus the
    harness's own transport, which a node's timeouts feel too).

    Given ``vanished``, add to it each node-to-node message that was sent and neither
    arrived nor was dropped by an agent (a fault cut its link, or it was in flight at the
    end, or the transport lost it: :mod:`pytest_dchaos.checkers.transport` tells which)."""
    nodes = set(nodes)
    servers = 0
    clients = 0
    dropped = 0
    by_type: Counter[str] = Counter()
    # The trace comes file by file: a message's arrival may be read before its sending.
    sent: dict[str, Sent] = {}
    arrived: dict[str, float] = {}
    drops: set[str] = set()
    transit: list[float] = []
    for event in events:
        ev = event.get("ev")
        if ev in ("send", "dup", "replay") and event.get("src") in nodes \
                and event.get("dest") in nodes:
            servers += 1
            by_type[str(event.get("type"))] += 1
            if ev == "send":
                mid, at = str(event.get("id")), float(event.get("t", 0.0))
                if (got := arrived.pop(mid, None)) is not None:
                    transit.append(got - at)
                else:
                    sent[mid] = Sent(at, event["src"], event["dest"])
        elif ev == "recv" and event.get("src") in nodes:
            mid, at = str(event.get("id")), float(event.get("t", 0.0))
            if (left := sent.pop(mid, None)) is not None:
                transit.append(at - left.t)
            elif mid not in arrived:  # a duplicate's second arrival counts once
                arrived[mid] = at
        elif ev in ("client_in", "client_out"):
            # A node's request to a service and the service's answer, each sent once.
            if is_service(event.get("src")) or is_service(event.get("dest")):
                servers += 1
                by_type[str(event.get("type"))] += 1
            else:
                clients += 1
        elif ev == "drop":
            dropped += 1
            if vanished is not None:
                drops.add(str(event.get("id")))
    if vanished is not None:
        vanished.extend(s for mid, s in sent.items() if mid not in drops)
    return {"servers": servers, "clients": clients, "all": servers + clients,
            "dropped": dropped, "transit_ms": quantiles_ms(transit),
            "by_type": dict(by_type.most_common())}


def msgs_per_op(messages: dict[str, Any], history: History) -> dict[str, float | None]:
    ops = sum(1 for op in history.ops if op.type == INVOKE)
    if not ops:
        return {"servers": None, "clients": None, "all": None}
    return {key: round(messages.get(key, 0) / ops, 3) for key in ("servers", "clients", "all")}
