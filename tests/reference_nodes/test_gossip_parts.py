"""The gossip node's parts in isolation: merge rules, digests, overlays, timeouts, params."""

from __future__ import annotations

import random

import pytest

from reference_nodes.common.maelstrom import Params, RPCError
from reference_nodes.gossip.config import GossipConfig
from reference_nodes.gossip.membership import ALIVE, DEAD, SUSPECT, Membership, Record
from reference_nodes.gossip.overlay import Overlay, circulant_offsets
from reference_nodes.gossip.piggyback import PiggybackQueue
from reference_nodes.gossip.rtt import RoundTripEstimator
from reference_nodes.gossip.values import ValueLog, decode, encode, new_origin

IDS = [f"n{i}" for i in range(1, 6)]


def test_records_merge_by_incarnation_then_status() -> None:
    m = Membership("n1", IDS)
    assert m.apply(Record("n2", SUSPECT, 0)) is not None
    assert m.apply(Record("n2", ALIVE, 0)) is None  # alive does not beat suspect at equal inc
    assert m.apply(Record("n2", ALIVE, 1)).after == Record("n2", ALIVE, 1)  # a refutation
    assert m.apply(Record("n2", DEAD, 1)) is not None
    assert m.apply(Record("n2", SUSPECT, 1)) is None  # nothing at inc 1 beats dead
    assert m.apply(Record("n2", ALIVE, 2)) is not None  # ... but a rejoin at inc 2 does
    assert m.apply(Record("n9", DEAD, 5)) is None  # strangers are ignored
    assert "n9" not in m.statuses()


def test_a_node_refutes_rumours_about_itself() -> None:
    m = Membership("n1", IDS)
    change = m.apply(Record("n1", SUSPECT, 0))
    assert change is not None and change.after == Record("n1", ALIVE, 1)
    assert m.apply(Record("n1", DEAD, 0)) is None  # older than what we already said
    assert m.apply(Record("n1", DEAD, 4)).after == Record("n1", ALIVE, 5)
    # A restarted node learns how far an earlier life of it got.
    fresh = Membership("n1", IDS)
    assert fresh.apply(Record("n1", ALIVE, 7)) is None and fresh.incarnation == 7


def test_own_verdicts_follow_the_lifecycle() -> None:
    m = Membership("n1", IDS)
    assert m.suspect("n1") is None  # never about ourselves
    assert m.suspect("n2").after == Record("n2", SUSPECT, 0)
    assert m.suspect("n2") is None
    assert m.declare_dead("n2").after == Record("n2", DEAD, 0)
    assert m.suspect("n2") is None  # the dead are not suspected again
    assert m.statuses()["n2"] == DEAD and m.incarnations()["n2"] == 0


def test_record_wire_format() -> None:
    assert Record.from_wire(["n2", "dead", 3]) == Record("n2", DEAD, 3)
    assert Record("n2", DEAD, 3).to_wire() == ["n2", "dead", 3]
    for bad in (["n2", "zombie", 1], ["n2", "dead"], ["n2", "dead", True], "n2", [2, "dead", 1],
                ["n2", "alive", -1]):
        with pytest.raises(ValueError):
            Record.from_wire(bad)


def test_piggyback_queue_spends_a_bounded_budget_freshest_first() -> None:
    queue = PiggybackQueue(cluster_size=25, retransmit_mult=3)
    assert queue.limit == 15  # 3 * ceil(log2(26))
    queue.add("n2")
    for _ in range(5):
        queue.take(1)
    queue.add("n3")
    assert queue.take(1) == ["n3"]  # least-sent first
    sent = sum(len(queue.take(2)) for _ in range(40))
    assert len(queue) == 0 and sent == 15 + 15 - 5 - 1
    queue.add("n4")
    assert queue.take(3, skip={"n4"}) == []


def test_value_log_vectors_describe_exactly_what_is_known() -> None:
    a, b = ValueLog(), ValueLog()
    for value in (10, 20, 30):
        a.append("n1.x", value)
    assert a.vector() == {"n1.x": 3} and a.sorted() == [10, 20, 30]
    assert b.add_all(a.beyond(b.vector())) == [("n1.x", 1), ("n1.x", 2), ("n1.x", 3)]
    assert b.beyond(a.vector()) == []
    # Out of order: a gap keeps the vector back until it is filled.
    assert b.add("n2.y", 2, 7) and b.vector() == {"n1.x": 3}
    assert a.beyond(b.vector()) == [] and b.beyond(a.vector()) == [("n2.y", 2, 7)]
    assert b.add("n2.y", 1, 5) and b.vector() == {"n1.x": 3, "n2.y": 2}
    assert not b.add("n2.y", 1, 5)
    # The same value under two origins is one value to a reader.
    b.add("n3.z", 1, 10)
    assert b.sorted() == [5, 7, 10, 20, 30] and len(b) == 5 and 7 in b
    assert a.beyond({"n1.x": 2}) == [("n1.x", 3, 30)]
    assert a.beyond({"n1.x": -5}) == a.beyond({})


def test_entries_wire_format() -> None:
    entries = [("n1.x", 1, 10), ("n2.y", 4, -3), ("n1.x", 2, 11)]
    assert sorted(decode(encode(entries))) == sorted(entries)
    assert encode(entries) == {"n1.x": [[1, 10], [2, 11]], "n2.y": [[4, -3]]}
    for bad in ([1], {"n1": [[1]]}, {"n1": [[0, 1]]}, {"n1": [[1, True]]}, {"n1": 5}):
        with pytest.raises(ValueError):
            decode(bad)
    assert new_origin("n1") != new_origin("n1")  # a restarted node never reuses numbers


@pytest.mark.parametrize("n", [8, 25, 40, 100])
def test_circulant_overlay_is_symmetric_low_diameter_and_the_same_everywhere(n: int) -> None:
    ids = [f"n{i}" for i in range(1, n + 1)]
    views = [Overlay(me, random.Random(n).sample(ids, n), "circulant", 6) for me in ids[:3]]
    for v in views[1:]:
        assert all(v.neighbours_of(x) == views[0].neighbours_of(x) for x in ids)
    overlay = views[0]
    assert all(len(overlay.neighbours_of(x)) == 6 for x in ids)
    assert all(x in overlay.neighbours_of(y) for x in ids for y in overlay.neighbours_of(x))
    diameter = overlay.diameter()
    assert diameter is not None and diameter <= {8: 2, 25: 3, 40: 3, 100: 5}[n]


def test_overlay_modes() -> None:
    ids = [f"n{i}" for i in range(1, 26)]
    assert Overlay("n1", ids, "auto", 6).mode == "full"
    assert Overlay("n1", ids, "full", 6).neighbours == frozenset(ids) - {"n1"}
    assert Overlay("n1", [f"n{i}" for i in range(1, 41)], "auto", 6).mode == "circulant"
    assert Overlay("n1", ids[:4], "circulant", 6).mode == "full"  # too small to be sparse
    topo = Overlay("n1", ids, "topology", 6)
    assert topo.neighbours == frozenset()
    topo.set_topology({"n1": ["n2", "n3", "n99", "n1"], "n2": ["n1"]})
    assert topo.neighbours == {"n2", "n3"} and topo.neighbours_of("n2") == {"n1"}
    assert circulant_offsets(25, 6) == circulant_offsets(25, 6)


def test_round_trip_estimator_adapts_and_clamps() -> None:
    est = RoundTripEstimator(initial=0.5, minimum=0.1, maximum=5.0, adaptive=True)
    assert est.timeout("n2") == 0.5
    for _ in range(50):
        est.observe("n2", 0.2)
    assert 0.2 < est.timeout("n2") < 0.3  # ~RTT + a margin, not the initial 0.5
    for _ in range(10):
        est.observe("n3", 1.0)  # one slow member ...
    assert est.timeout("n3") > 1.0  # ... gets a timeout that fits it
    fast = RoundTripEstimator(initial=0.5, minimum=0.1, maximum=5.0, adaptive=True)
    for _ in range(50):
        fast.observe("n2", 0.001)
    assert fast.timeout("n2") == 0.1
    fixed = RoundTripEstimator(initial=0.3, minimum=0.1, maximum=5.0, adaptive=False)
    fixed.observe("n2", 2.0)
    assert fixed.timeout("n2") == 0.3


def test_config_defaults_and_validation() -> None:
    default = GossipConfig.from_params(Params({}))
    assert default == GossipConfig()
    assert default.as_params()["probe_interval_ms"] == 150
    custom = GossipConfig.from_params(Params({"gossip_interval_ms": 50, "overlay": "topology",
                                              "indirect_probes": 0}))
    assert custom.gossip_interval == 0.05 and custom.overlay == "topology"
    with pytest.raises(RPCError, match="overlay"):
        GossipConfig.from_params(Params({"overlay": "ring"}))
    with pytest.raises(RPCError, match="probe_timeout_min_ms"):
        GossipConfig.from_params(Params({"probe_timeout_min_ms": 900,
                                         "probe_timeout_max_ms": 100}))
