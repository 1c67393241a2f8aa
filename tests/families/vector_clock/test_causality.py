"""The harness's happens-before: built from node logs, confirmed by the message trace."""

from __future__ import annotations

from typing import Any

from pytest_dchaos.families.vector_clock import causality

Log = list[dict[str, Any]]


def send(to: dict[str, int], what: str = "cbcast", **extra: Any) -> dict[str, Any]:
    return {"kind": "send", "what": what, "to": to, **extra}


def receive(src: str, msg_id: int, what: str = "cbcast", **extra: Any) -> dict[str, Any]:
    return {"kind": "receive", "from": src, "msg_id": msg_id, "what": what, **extra}


def carried(*messages: tuple[str, int, str], lost: tuple[tuple[str, int, str], ...] = ()
            ) -> list[dict[str, Any]]:
    """A trace in which each (src, msg_id, dest) was sent and, unless lost, received."""
    trace = []
    copies = [(m, True) for m in messages] + [(m, False) for m in lost]
    for number, ((src, msg_id, dest), arrived) in enumerate(copies):
        mid = f"{src}:1.{number}"
        trace.append({"ev": "send", "id": mid, "src": src, "dest": dest, "mi": msg_id})
        if arrived:
            trace.append({"ev": "recv", "id": mid, "src": src, "dest": dest})
    return trace


def test_clocks_follow_program_order_and_confirmed_messages() -> None:
    # n1: a, send m1 to n2 | n2: b, receive m1, c | n3: d (concurrent with everything)
    logs = {"n1": [{"kind": "start"}, send({"n2": 1})],
            "n2": [{"kind": "start"}, receive("n1", 1), {"kind": "start"}],
            "n3": [{"kind": "start"}]}
    model = causality.build(logs, ["n1", "n2", "n3"], carried(("n1", 1, "n2")))
    assert model.clocks["n2"] == [(0, 1, 0), (2, 2, 0), (2, 3, 0)]
    assert model.happened_before(("n1", 1), ("n2", 3))
    assert not model.happened_before(("n2", 1), ("n1", 2))
    assert not model.happened_before(("n3", 1), ("n2", 3))
    assert not model.problem_counts


def test_a_receive_the_trace_never_carried_is_no_edge_and_is_reported() -> None:
    logs = {"n1": [send({"n2": 1})], "n2": [receive("n1", 1)]}
    model = causality.build(logs, ["n1", "n2"], carried(lost=(("n1", 1, "n2"),)))
    assert model.problem_counts["unconfirmed_receive"] == 1
    assert "never carried" in model.problems["unconfirmed_receive"][0]
    assert not model.happened_before(("n1", 1), ("n2", 1))


def test_a_retransmission_reuses_its_msg_id_and_one_delivered_copy_confirms() -> None:
    trace = carried(("n1", 7, "n2"), lost=(("n1", 7, "n2"),))
    model = causality.build({"n1": [send({"n2": 7})], "n2": [receive("n1", 7)]},
                            ["n1", "n2"], trace)
    assert model.happened_before(("n1", 1), ("n2", 1))
    assert not model.problem_counts


def test_a_receive_logged_before_its_own_send_is_a_cycle_not_a_hang() -> None:
    # n1 receives n2's message before sending its own; n2 receives n1's before sending.
    logs = {"n1": [receive("n2", 1), send({"n2": 1})],
            "n2": [receive("n1", 1), send({"n1": 1})]}
    trace = carried(("n1", 1, "n2"), ("n2", 1, "n1"))
    model = causality.build(logs, ["n1", "n2"], trace)
    assert model.problem_counts["cycle"] == 1
    assert len(model.clocks["n1"]) == 2 and len(model.clocks["n2"]) == 2


def test_causal_past_of_a_broadcast_is_what_its_origin_had_delivered() -> None:
    # n1 broadcasts #1; n2 delivers it, then broadcasts its own #1; n3 delivers n2#1.
    logs = {
        "n1": [send({"n2": 1, "n3": 2}, seq_b=1), {"kind": "deliver", "origin": "n1",
                                                  "seq_b": 1}],
        "n2": [receive("n1", 1, origin="n1", seq_b=1),
               {"kind": "deliver", "origin": "n1", "seq_b": 1},
               send({"n1": 1, "n3": 2}, seq_b=1),
               {"kind": "deliver", "origin": "n2", "seq_b": 1}],
        "n3": [],
    }
    trace = carried(("n1", 1, "n2"), ("n1", 2, "n3"), ("n2", 1, "n1"), ("n2", 2, "n3"))
    model = causality.build(logs, ["n1", "n2", "n3"], trace)
    assert model.causal_past[("n1", 1)] == {}
    assert model.causal_past[("n2", 1)] == {"n1": 1}


def test_delivered_sends_joins_sends_and_receives_by_agent_id() -> None:
    trace = carried(("n1", 1, "n2"), lost=(("n1", 2, "n3"),))
    trace.append({"ev": "send", "id": "n1:1.9", "src": "n1", "dest": "n2"})  # no msg_id
    assert causality.delivered_sends(trace) == {("n1", 1, "n2")}


def test_a_log_that_reorders_its_own_sends_is_caught_by_the_trace() -> None:
    # n1 wrote msg 1 then msg 2 to n2; its log claims the opposite order.
    logs = {"n1": [send({"n2": 2}), send({"n2": 1})], "n2": []}
    model = causality.build(logs, ["n1", "n2"], carried(("n1", 1, "n2"), ("n1", 2, "n2")))
    assert model.problem_counts["send_order"] == 1
    assert "logged its send of msg_id 2 to n2 before msg_id 1" in \
        model.problems["send_order"][0]
    honest = {"n1": [send({"n2": 1}), send({"n2": 2})], "n2": []}
    assert not causality.build(honest, ["n1", "n2"],
                               carried(("n1", 1, "n2"), ("n1", 2, "n2"))).problem_counts
