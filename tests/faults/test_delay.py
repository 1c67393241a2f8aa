"""``delay_of``: how long a slowing fault holds a message back, as the timeline records it
(``FaultEvent.delay``) for checkers that must tell a slow member from a dead one."""

from __future__ import annotations

import math

import pytest

from pytest_dchaos.record.result import FaultEvent
from tests.builders import registry, scenario

HEAD = "name: d\nprotocol: gossip\ncluster: {nodes: 3}\nworkload: {duration: 10s}\nfaults:\n"


def delay(fault: str) -> float:
    entry = scenario(HEAD + f"  - {{at: 1s, duration: 1s, {fault}}}\n").faults[0]
    fault_type = registry().fault(entry.kind)
    assert fault_type is not None
    return fault_type.delay_of(entry.options)


@pytest.mark.parametrize(("fault", "seconds"), [
    ("latency: {latency: 200ms, jitter: 50ms}", 0.25),
    ("toxic: {type: latency, attributes: {latency: 1000, jitter: 500}}", 1.5),
    ("toxic: {type: bandwidth, attributes: {rate: 10}}", math.inf),
    ("toxic: {type: slow_close, attributes: {delay: 100}}", 0.0),
    ("message: {delay: 300ms}", 0.3),
    ("message: {reorder: 0.5, window: 80ms}", 0.08),
    ("message: {drop: 0.5}", 0.0),
    ("kill: n1", 0.0),
    ("partition: {isolate: n1}", 0.0),
])
def test_a_fault_says_how_long_it_holds_a_message_back(fault: str, seconds: float) -> None:
    assert delay(fault) == pytest.approx(seconds)


@pytest.mark.parametrize("seconds", [0.0, 0.75, math.inf])
def test_the_timeline_keeps_the_delay_through_json(seconds: float) -> None:
    event = FaultEvent(1.0, "start", "f1", "latency", "latency", ("n1",), "slow",
                       (("n1", "n2"),), seconds)
    data = event.to_json()
    assert ("delay" in data) == bool(seconds)  # absent for the faults that delay nothing
    assert FaultEvent.from_json(data) == event
