"""Figures of a run: quantiles, operation statistics, message counts, msgs per op."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pytest_dchaos.record.history import FAIL, INFO, History
from pytest_dchaos.record.stats import message_counts, msgs_per_op, op_stats, quantile, quantiles_ms
from tests.builders import broadcast, call, history, read


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0.0, 1.0), (0.1, 1.0), (0.25, 1.0), (0.26, 2.0), (0.5, 2.0), (0.75, 3.0), (0.76, 4.0),
     (0.99, 4.0), (1.0, 4.0)],
)
def test_quantile_is_nearest_rank(q: float, expected: float) -> None:
    assert quantile([1.0, 2.0, 3.0, 4.0], q) == expected


def test_quantile_of_one_value_is_that_value() -> None:
    assert quantile([7.5], 0.0) == quantile([7.5], 0.99) == 7.5


def test_quantile_of_nothing_is_nan() -> None:
    assert math.isnan(quantile([], 0.5))


def test_quantiles_ms_of_a_hundred_values() -> None:
    seconds = [i / 1000 for i in range(100, 0, -1)]  # 1ms..100ms, unsorted
    assert quantiles_ms(seconds) == {"count": 100, "p0": 1.0, "p50": 50.0, "p95": 95.0,
                                     "p99": 99.0, "max": 100.0}


def test_quantiles_ms_rounds_to_hundredths() -> None:
    assert quantiles_ms([0.0012345])["p50"] == 1.23


def test_quantiles_ms_of_nothing() -> None:
    assert quantiles_ms([]) == {"count": 0, "p0": None, "p50": None, "p95": None,
                                "p99": None, "max": None}


def test_op_stats_counts_outcomes_and_latencies() -> None:
    h = history(
        broadcast(1, 0.0, 0.010),
        broadcast(2, 1.0, 1.030, process="c3"),
        broadcast(3, 2.0, 2.5, outcome=INFO, process="c4"),
        read([1, 2], 0.5, 0.520),
        read(None, 3.0, 3.1, outcome=FAIL, process="c5"),
        call("c6", "read", None, 4.0, None),  # never completed: unknown
    )
    stats = op_stats(h)
    assert stats["ops"] == {"total": 6, "ok": 3, "fail": 1, "info": 2}
    assert stats["ops_by_f"] == {"broadcast": {"ok": 2, "info": 1},
                                 "read": {"ok": 1, "fail": 1, "info": 1}}
    assert stats["latency_ms"]["count"] == 3
    assert stats["latency_ms"]["p0"] == pytest.approx(10.0)
    assert stats["latency_ms"]["max"] == pytest.approx(30.0)
    assert stats["latency_ms_by_f"]["broadcast"]["count"] == 2
    assert stats["latency_ms_by_f"]["read"]["p50"] == pytest.approx(20.0)


def test_op_stats_of_an_empty_history() -> None:
    stats = op_stats(History.of([]))
    assert stats["ops"] == {"total": 0, "ok": 0, "fail": 0, "info": 0}
    assert stats["latency_ms"]["count"] == 0
    assert stats["ops_by_f"] == {}


def event(ev: str, src: str, dest: str, type_: str = "gossip") -> dict[str, Any]:
    return {"t": 0.0, "ev": ev, "id": "m", "src": src, "dest": dest, "type": type_, "size": 10}


def test_message_counts_servers_clients_drops_and_types() -> None:
    events = [
        event("send", "n1", "n2"),
        event("send", "n2", "n1"),
        event("dup", "n1", "n3"),
        event("replay", "n2", "n3"),  # an earlier message sent again is one more message
        event("mutate", "n1", "n2"),  # a message changed on its way is not another one
        event("send", "n1", "n2", "ihave"),
        event("client_in", "c1", "n1", "broadcast"),
        event("client_out", "n1", "c1", "broadcast_ok"),
        event("drop", "n1", "n3"),
        event("send", "n1", "n9"),  # not a node of this cluster
        event("recv", "n1", "n2"),  # receipts do not count: Maelstrom counts sends
    ]
    counts = message_counts(events, ["n1", "n2", "n3"])
    counts.pop("transit_ms")  # see the transit test below
    assert counts == {"servers": 5, "clients": 2, "all": 7, "dropped": 1,
                      "by_type": {"gossip": 4, "ihave": 1}}
    assert list(counts["by_type"]) == ["gossip", "ihave"]  # most sent first


def test_message_counts_count_service_traffic_among_servers_as_maelstrom_does() -> None:
    events = [
        event("client_in", "c1", "n1", "add"),
        event("client_out", "n1", "seq-kv", "cas"),
        event("client_in", "seq-kv", "n1", "cas_ok"),
        event("client_out", "n1", "c1", "add_ok"),
    ]
    counts = message_counts(events, ["n1"])
    assert (counts["servers"], counts["clients"], counts["all"]) == (2, 2, 4)
    assert counts["by_type"] == {"cas": 1, "cas_ok": 1}


def test_message_counts_of_no_events() -> None:
    assert message_counts([], ["n1"]) == {"servers": 0, "clients": 0, "all": 0, "dropped": 0,
                                          "transit_ms": quantiles_ms([]), "by_type": {}}


def test_transit_times_node_to_node_messages_in_either_reading_order() -> None:
    # Each node's trace is read on its own: n2's arrivals may come before n1's sends.
    events = [
        {"ev": "recv", "id": "a", "src": "n1", "dest": "n2", "type": "gossip", "t": 10.103},
        {"ev": "recv", "id": "b", "src": "n1", "dest": "n2", "type": "gossip", "t": 10.2},
        {"ev": "send", "id": "a", "src": "n1", "dest": "n2", "type": "gossip", "t": 10.0},
        {"ev": "send", "id": "b", "src": "n1", "dest": "n2", "type": "gossip", "t": 10.09},
        {"ev": "send", "id": "c", "src": "n2", "dest": "n1", "type": "gossip", "t": 11.0},
        {"ev": "recv", "id": "c", "src": "n2", "dest": "n1", "type": "gossip", "t": 11.105},
        {"ev": "send", "id": "d", "src": "n2", "dest": "n1", "type": "gossip", "t": 12.0},
    ]  # d never arrived: no transit
    transit = message_counts(events, ["n1", "n2"])["transit_ms"]
    assert transit["count"] == 3
    assert (transit["p0"], transit["p50"], transit["max"]) == (103.0, 105.0, 110.0)


def test_msgs_per_op_divides_by_invocations() -> None:
    h = history(broadcast(1, 0.0, 0.1), broadcast(2, 0.2, 0.3, process="c3"),
                read([1], 0.4, 0.5), call("c4", "read", None, 0.6, None))
    assert msgs_per_op({"servers": 10, "clients": 8, "all": 18}, h) == {
        "servers": 2.5, "clients": 2.0, "all": 4.5}


def test_msgs_per_op_rounds_to_thousandths() -> None:
    h = history(broadcast(1, 0.0, 0.1), broadcast(2, 0.2, 0.3, process="c3"),
                broadcast(3, 0.4, 0.5, process="c4"))
    assert msgs_per_op({"servers": 10, "clients": 0, "all": 10}, h)["servers"] == 3.333


def test_msgs_per_op_without_operations_is_none() -> None:
    assert msgs_per_op({"servers": 10}, History.of([])) == {"servers": None, "clients": None,
                                                            "all": None}
