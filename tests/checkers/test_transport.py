"""The harness's check of its own transport: a message sent and never arriving nor dropped
is the harness's loss unless a fault explains it."""

from __future__ import annotations

from pytest_dchaos.checkers.transport import IN_FLIGHT, note, unexplained
from pytest_dchaos.record.stats import Sent, message_counts
from tests.builders import fault, isolation_links, record

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


def test_faults_and_the_end_of_the_run_explain_a_loss() -> None:
    faults = [
        fault(1.0, "start", "cut", "cut", links={("n1", "n2")}),
        fault(2.0, "end", "cut", "cut", links={("n1", "n2")}),
        fault(6.0, "start", "kill", "crash", nodes=["n3"]),
        fault(7.0, "end", "kill", "crash", nodes=["n3"]),
        fault(12.0, "start", "byz", "byzantine", nodes=["n1"]),
        fault(13.0, "end", "byz", "byzantine", nodes=["n1"]),
        fault(17.0, "start", "slow", "slow", links=isolation_links("n2", NODES), delay=1.0),
        fault(18.0, "end", "slow", "slow", links=isolation_links("n2", NODES), delay=1.0),
        fault(27.0, "start", "restart", "restart", nodes=["n3"]),  # recorded once back
    ]
    run = record(faults=faults, phases=PHASES)
    explained = [
        Sent(1.5, "n1", "n2"),  # its link was cut
        Sent(0.5, "n1", "n2"),  # in flight when the cut began
        Sent(2.3, "n1", "n2"),  # just after the heal: the proxy closed its connection
        Sent(6.5, "n1", "n3"),  # to a node that was down
        Sent(5.5, "n3", "n2"),  # from a node about to be killed
        Sent(12.5, "n1", "n2"),  # a Byzantine fault acted on n1
        Sent(22.0, "n1", "n3"),  # to a node whose restart took five seconds
        Sent(17.5, "n3", "n2"),  # a slowed link
        Sent(PHASES["final_end"] - IN_FLIGHT / 2, "n1", "n2"),  # in flight at the end
    ]
    assert unexplained(run, explained) == []
    assert note(run, explained) is None
    unexplained_ones = [Sent(2.6, "n2", "n1"), Sent(8.0, "n1", "n3"), Sent(12.5, "n2", "n3")]
    assert unexplained(run, explained + unexplained_ones) == unexplained_ones


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
