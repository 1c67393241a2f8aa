"""The harness's check of its own transport: a message sent and never arriving nor dropped
is the harness's loss unless a fault explains it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pytest_dchaos.checkers.transport import IN_FLIGHT, note, unexplained
from pytest_dchaos.record.result import FaultEvent, IncidentRecord
from pytest_dchaos.record.stats import Sent, message_counts
from pytest_dchaos.scenario.model import NetworkSpec
from tests.builders import fault, record

NODES = ("n1", "n2", "n3")
PHASES = {"startup_s": 99.0, "workload_end": 20.0, "final_end": 30.0}


def test_a_message_no_fault_explains_is_the_harnesss_loss() -> None:
    lost = [Sent(5.0, "n1", "n2"), Sent(6.0, "n1", "n2"), Sent(7.0, "n3", "n2")]
    run = record(phases=PHASES)
    assert unexplained(run, lost) == lost
    said = note(run, lost)
    assert said is not None
    assert "lost 3 message(s)" in said and "n1->n2 2, n3->n2 1" in said
    assert "the first sent at 5.0s" in said and "bug in dchaos" in said


CUT = [fault(1.0, "start", "cut", "cut", links={("n1", "n2")}),
       fault(2.0, "end", "cut", "cut", links={("n1", "n2")})]
KILL = [fault(6.0, "start", "kill", "crash", nodes=["n3"]),
        fault(7.0, "end", "kill", "crash", nodes=["n3"])]
BYZANTINE = [fault(12.0, "start", "byz", "byzantine", nodes=["n1"]),
             fault(13.0, "end", "byz", "byzantine", nodes=["n1"])]
RESTART = [fault(27.0, "start", "restart", "restart", nodes=["n3"])]  # recorded once back


def slow(delay: float) -> list[FaultEvent]:
    return [fault(5.0, "start", "slow", "slow", links={("n1", "n2")}, delay=delay),
            fault(25.0, "end", "slow", "slow", links={("n1", "n2")}, delay=delay)]


def untraced(node: str, at: float) -> list[IncidentRecord]:
    return [IncidentRecord(at, node, "trace_cut", "killed while paused")]


@pytest.mark.parametrize(("faults", "incidents", "latency", "message", "explained"), [
    (CUT, [], 0.0, Sent(1.5, "n1", "n2"), True),  # its link was cut
    (CUT, [], 0.0, Sent(0.5, "n1", "n2"), True),  # in flight when the cut began
    (CUT, [], 0.0, Sent(2.3, "n1", "n2"), True),  # just after the heal
    (CUT, [], 0.0, Sent(2.6, "n2", "n1"), False),
    (KILL, [], 0.0, Sent(6.5, "n1", "n3"), True),  # to a node that was down
    (KILL, [], 0.0, Sent(5.5, "n3", "n2"), True),  # from a node about to be killed
    (KILL, [], 0.0, Sent(8.0, "n1", "n3"), False),
    (BYZANTINE, [], 0.0, Sent(12.5, "n1", "n2"), True),  # a Byzantine fault acted on n1
    (BYZANTINE, [], 0.0, Sent(12.5, "n2", "n3"), False),  # ... not on these
    (RESTART, [], 0.0, Sent(22.0, "n1", "n3"), True),  # to a node whose restart took 5 s
    (RESTART, [], 0.0, Sent(12.0, "n1", "n3"), False),
    (slow(10.0), [], 0.0, Sent(20.0, "n1", "n2"), True),  # slowed past the end of the run
    (slow(1.0), [], 0.0, Sent(20.0, "n1", "n2"), False),  # slowed, but due long before
    (slow(10.0), [], 0.0, Sent(20.0, "n2", "n1"), False),  # the other way is not slowed
    ([], [], 5.0, Sent(24.0, "n1", "n2"), True),  # the scenario's latency: due after the end
    ([], [], 0.0, Sent(24.0, "n1", "n2"), False),
    ([], untraced("n2", 10.0), 0.0, Sent(8.0, "n1", "n2"), True),  # its arrival went untraced
    ([], untraced("n2", 10.0), 0.0, Sent(15.0, "n1", "n2"), False),
    ([], [], 0.0, Sent(PHASES["final_end"] - IN_FLIGHT / 2, "n1", "n2"), True),  # the end
])
def test_what_explains_a_loss(faults: list[FaultEvent], incidents: list[IncidentRecord],
                              latency: float, message: Sent, explained: bool) -> None:
    run = record(faults=faults, incidents=incidents, phases=PHASES)
    run = replace(run, scenario=replace(run.scenario, network=NetworkSpec(latency=latency)))
    assert unexplained(run, [message]) == ([] if explained else [message])


def test_the_trace_gives_what_was_sent_and_neither_arrived_nor_was_dropped() -> None:
    def event(ev: str, mid: str, src: str, dest: str, t: float) -> dict[str, object]:
        return {"t": t, "ev": ev, "id": mid, "src": src, "dest": dest, "type": "x", "size": 1}

    events = [
        event("recv", "a1", "n1", "n2", 1.1),  # read before its sending (another file)
        event("send", "a1", "n1", "n2", 1.0),
        event("send", "a2", "n1", "n2", 2.0),
        event("drop", "a2", "n1", "n2", 2.0),  # the agent said why
        event("send", "a3", "n1", "n3", 3.0),
        event("drop", "a4", "n2", "n3", 4.0),  # the receiver's drop, read first
        event("send", "a4", "n2", "n3", 4.0),
        event("send", "a5", "n1", "c1", 5.0),  # to a client: not node to node
    ]
    vanished: list[Sent] = []
    message_counts(events, NODES, vanished)
    assert vanished == [Sent(3.0, "n1", "n3")]
