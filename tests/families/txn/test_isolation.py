"""The isolation check on hand-built histories: each anomaly class caught and named by its
own edges, from the client history alone, and with reported versions cross-checked."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_dchaos.families.txn.checks.isolation import Isolation, IsolationOptions
from pytest_dchaos.record.history import FAIL, INFO, OK, Op
from pytest_dchaos.record.result import RunRecord, Verdict
from tests.builders import history, record, scenario, txn

NONE = IsolationOptions(allow=())


def run(*txns: list[Op], states: dict[str, dict[str, Any]] | None = None,
        nodes: int = 3) -> RunRecord:
    rec = record(history(*txns), nodes=nodes)
    rec.node_states = states or {}
    return rec


def judge(rec: RunRecord, options: IsolationOptions = NONE) -> Verdict:
    return Isolation().check(options, rec)


def T(n: int, *ops: list[Any], outcome: str = OK) -> list[Op]:
    """Transaction ``n`` (T1, T2 as the verdicts name them: its index in the history)."""
    return txn(f"c{n}", list(ops), float(n), float(n) + 0.5, outcome)


def r(key: int, value: Any) -> list[Any]:
    return ["r", key, value]


def w(key: int, value: Any) -> list[Any]:
    return ["w", key, value]


def found(verdict: Verdict, name: str) -> list[dict[str, Any]]:
    return list(verdict.witness.get(name, []))


# -- each anomaly, caught and named ----------------------------------------------------------


def test_g0_a_write_cycle_is_named_g0() -> None:
    # T2 read T1's x and overwrote it; T1 read T2's y and overwrote it: each wrote over
    # the other (ww both ways; the reads' wr edges are weaker than neither).
    verdict = judge(run(T(1, w(0, 1), r(1, 2), w(1, 1)), T(2, r(0, 1), w(0, 2), w(1, 2))))
    assert not verdict.passed
    assert verdict.detail.startswith("G0: 1 (T1 -ww (key 0)-> T2 -ww (key 1)-> T1)")
    assert verdict.figures["G1c"] == verdict.figures["G-single"] == verdict.figures["G2"] == 0
    (cycle,) = found(verdict, "G0")
    assert [(s["from"], s["kind"], s["key"], s["to"]) for s in cycle["cycle"]] == [
        (1, "ww", 0, 2), (2, "ww", 1, 1)]
    assert "judged from the client history alone" in verdict.detail


def test_g1a_an_aborted_read() -> None:
    verdict = judge(run(T(1, w(0, 1), outcome=FAIL), T(2, r(0, 1))))
    assert not verdict.passed
    assert verdict.detail.startswith(
        "G1a: 1 (T2 read key 0 = 1, written by T1, which failed (aborted))")
    assert found(verdict, "G1a")[0]["txns"] == [2, 1]


def test_g1b_an_intermediate_read() -> None:
    verdict = judge(run(T(1, w(0, 1), w(0, 2)), T(2, r(0, 1))))
    assert not verdict.passed
    assert verdict.detail.startswith("G1b: 1 (T2 read key 0 = 1, which T1 overwrote itself")


def test_g1c_a_cycle_of_reads() -> None:
    verdict = judge(run(T(1, w(0, 1), r(1, 2)), T(2, w(1, 2), r(0, 1))))
    assert not verdict.passed
    assert verdict.detail.startswith("G1c: 1 (T1 -wr (key 0)-> T2 -wr (key 1)-> T1)")
    assert verdict.figures["G0"] == verdict.figures["G-single"] == 0


def test_g_single_read_skew() -> None:
    # T2 saw x before T1 and y after it.
    verdict = judge(run(T(1, w(0, 1), w(1, 1)), T(2, r(0, None), r(1, 1))))
    assert not verdict.passed
    assert verdict.detail.startswith("G-single: 1 (T1 -wr (key 1)-> T2 -rw (key 0)-> T1)")
    assert verdict.figures["G2"] == 0


def test_g2_write_skew() -> None:
    verdict = judge(run(T(1, r(0, None), w(1, 1)), T(2, r(1, None), w(0, 2))))
    assert not verdict.passed
    assert verdict.detail.startswith("G2: 1 (T1 -rw (key 0)-> T2 -rw (key 1)-> T1)")
    assert verdict.figures["G-single"] == 0
    # Write skew is what snapshot isolation allows; read skew it does not.
    assert judge(run(T(1, r(0, None), w(1, 1)), T(2, r(1, None), w(0, 2))),
                 IsolationOptions(allow=("G2",))).passed


def test_lost_update() -> None:
    verdict = judge(run(T(1, r(0, None), w(0, 1)), T(2, r(0, None), w(0, 2))))
    assert not verdict.passed
    assert "lost-update: 1 (T1, T2 all read key 0 = its initial state and all wrote key 0)" \
        in verdict.detail
    assert found(verdict, "lost-update")[0]["txns"] == [1, 2]


def test_a_non_repeatable_read_is_a_g_single() -> None:
    # T2 read x twice and saw T1's write the second time: the first read came before it.
    verdict = judge(run(T(1, w(0, 1)), T(2, r(0, None), r(0, 1))))
    assert not verdict.passed
    assert verdict.detail.startswith("G-single: 1 (T1 -wr (key 0)-> T2 -rw (key 0)-> T1)")


# -- the component is not the cycle ----------------------------------------------------------

# T1 and T2 write x and y in opposite orders (as n1 reports); T3 read T1's x, which T2
# overwrote. The component {T1, T2, T3} has ww, wr and rw edges; the write cycle in it has
# only ww.
DIRTY_WRITE = (T(1, w(0, 1), w(1, 1)), T(2, w(0, 2), w(1, 2)), T(3, r(0, 1)))
DIRTY_STATE = {"n1": {"decisions": {}, "versions": {"0": [1, 2], "1": [2, 1]}}}


def test_a_write_cycle_with_a_reader_attached_is_g0_not_g2() -> None:
    verdict = judge(run(*DIRTY_WRITE, states=DIRTY_STATE, nodes=1))
    assert not verdict.passed
    assert verdict.figures["G0"] == 1 and verdict.figures["G2"] == 0
    assert verdict.detail.startswith(
        "G0: 1 (T1 -ww (key 0, as n1 reports)-> T2 -ww (key 1, as n1 reports)-> T1)")
    # The reader's own cycle has one anti-dependency: it is G-single, and says so.
    (single,) = found(verdict, "G-single")
    assert [s["kind"] for s in single["cycle"]].count("rw") == 1


def test_allowing_g2_does_not_hide_a_dirty_write() -> None:
    verdict = judge(run(*DIRTY_WRITE, states=DIRTY_STATE, nodes=1),
                    IsolationOptions(allow=("G2",)))
    assert not verdict.passed
    assert verdict.detail.startswith("G0: 1")


def test_allowed_anomalies_are_reported_not_failed() -> None:
    verdict = judge(run(*DIRTY_WRITE, states=DIRTY_STATE, nodes=1),
                    IsolationOptions(allow=("G0", "G-single")))
    assert verdict.passed, verdict.detail
    assert "(tolerated: G0 1, G-single 1)" in verdict.detail


# -- what is not an anomaly ----------------------------------------------------------------


def test_a_serial_history_passes_without_any_node_state() -> None:
    verdict = judge(run(T(1, r(0, None), w(0, 1), w(1, 1)),
                        T(2, r(0, 1), w(0, 2), r(1, 1)),
                        T(3, r(1, 1), r(0, 2), w(1, 3)),
                        T(4, r(1, 3))))
    assert verdict.passed, verdict.detail
    assert verdict.detail == ("4 committed transactions, no anomaly (judged from the client "
                              "history alone: no node reports versions)")
    assert verdict.figures["edges"] == {"ww": 2, "wr": 4, "rw": 1}


def test_an_unknown_transaction_whose_write_was_read_committed() -> None:
    verdict = judge(run(T(1, w(0, 1), outcome=INFO), T(2, r(0, 1))))
    assert verdict.passed, verdict.detail
    assert verdict.figures["transactions"] == 2
    assert verdict.detail.startswith("1 committed transactions and 1 unknown that wrote (they "
                                     "may have), no anomaly")


def test_an_unknown_transaction_s_reads_are_not_reads_of_the_initial_state() -> None:
    # T1's read was never answered: it must not count as reading nothing (which would make
    # it a reader of the initial state, overwritten by T2, and a lost update with T3).
    verdict = judge(run(T(1, r(0, None), w(0, 1), outcome=INFO), T(2, r(0, None), w(0, 2))))
    assert verdict.passed, verdict.detail


def test_failed_transactions_are_not_in_the_graph() -> None:
    verdict = judge(run(T(1, r(0, None), w(0, 1), outcome=FAIL), T(2, r(0, None), w(0, 2))))
    assert verdict.passed, verdict.detail
    assert verdict.figures["transactions"] == 1


# -- reported versions: more order, and cross-checked -------------------------------------


def test_reported_versions_add_the_order_reads_cannot_show() -> None:
    # Blind writes: the history cannot order them, n2's versions can.
    blind = (T(1, w(0, 1), w(1, 1)), T(2, w(0, 2), w(1, 2)))
    assert judge(run(*blind)).passed
    states = {"n1": {"versions": {"0": [1, 2]}}, "n2": {"versions": {"1": [2, 1]}},
              "n3": {"versions": {}}}
    verdict = judge(run(*blind, states=states))
    assert verdict.detail.startswith(
        "G0: 1 (T1 -ww (key 0, as n1 reports)-> T2 -ww (key 1, as n2 reports)-> T1)")
    assert "with the version orders reported by n1, n2, n3, cross-checked" in verdict.detail


@pytest.mark.parametrize(("versions", "expected"), [
    ({"0": [1, 7]}, "n2 lists key 0 = 7, which no client wrote"),
    ({"0": [1, 3]}, "n2 lists key 0 = 3, written by T3, which failed (aborted)"),
    ({"0": [1, 1]}, "n2 lists key 0 = 1 twice"),
    ({"0": [2]}, "n2 lists key 0 without 1, which T2 read"),
])
def test_reported_versions_that_contradict_the_history_fail(versions: dict[str, Any],
                                                             expected: str) -> None:
    verdict = judge(run(T(1, w(0, 1)), T(2, r(0, 1), w(0, 2)), T(3, w(0, 3), outcome=FAIL),
                        states={"n2": {"versions": versions}}))
    assert not verdict.passed
    assert verdict.detail.startswith("the versions the nodes report contradict the client "
                                     "history: ")
    assert expected in verdict.detail
    assert verdict.witness["mismatches"][0] == expected


def test_a_reported_order_overrules_a_read_before_a_write_and_makes_a_cycle() -> None:
    # T2 read T1's 1 and wrote 2; n2 says 2 came first. Then T2 read a version its own
    # write preceded: G1c through n2's word, and the check says whose word it is.
    verdict = judge(run(T(1, w(0, 1)), T(2, r(0, 1), w(0, 2)),
                        states={"n2": {"versions": {"0": [2, 1]}}}))
    assert not verdict.passed
    assert verdict.detail.startswith(
        "G1c: 1 (T1 -wr (key 0)-> T2 -ww (key 0, as n2 reports)-> T1)")
    assert verdict.witness["overruled"] == ["n2 lists key 0 = 2 before 1, which T2 saw first"]


def test_two_nodes_listing_a_key_in_different_orders_fail() -> None:
    blind = (T(1, w(0, 1)), T(2, w(0, 2)))
    verdict = judge(run(*blind, states={"n1": {"versions": {"0": [1, 2]}},
                                        "n2": {"versions": {"0": [2, 1]}}}))
    assert not verdict.passed
    assert "n1 lists key 0 = 1 before 2, n2 the other way round" in verdict.detail


def test_reported_versions_of_the_reference_shape_pass() -> None:
    serial = (T(1, r(0, None), w(0, 1)), T(2, r(0, 1), w(0, 2)), T(3, w(3, 5)))
    states = {"n1": {"versions": {"0": [1, 2]}}, "n2": {"versions": {}},
              "n3": {"versions": {"3": [5]}}}
    verdict = judge(run(*serial, states=states))
    assert verdict.passed, verdict.detail


# -- the option ----------------------------------------------------------------------------


def test_the_allow_option_takes_every_anomaly_name() -> None:
    text = ("name: unit\nprotocol: txn\ncluster: {nodes: 3}\nchecks:\n"
            "  - isolation: {allow: [G0, G1a, G1b, G1c, G-single, G2, lost-update]}\n")
    (check,) = scenario(text).checks
    assert check.options == IsolationOptions(
        allow=("G0", "G1a", "G1b", "G1c", "G-single", "G2", "lost-update"))


# -- internal consistency and the consistency models ------------------------------------------


def test_a_read_that_misses_its_own_earlier_write_is_internal_at_every_model() -> None:
    rec = run(T(1, w(0, 1), r(0, None)))
    for model in ("read-uncommitted", "read-committed", "serializable"):
        verdict = judge(rec, IsolationOptions(allow=(), model=model))
        assert not verdict.passed, model
        assert verdict.detail.startswith(
            "internal: 1 (T1 read key 0 = None after it wrote 1 itself)"), verdict.detail


def test_a_read_of_its_own_write_and_a_non_repeatable_read_are_not_internal() -> None:
    verdict = judge(run(T(1, w(0, 1), r(0, 1))))
    assert verdict.passed, verdict.detail
    # Two reads that differ with no write between: read committed allows that.
    nonrepeatable = run(T(1, w(0, 1)), T(2, r(0, None), r(0, 1)))
    assert judge(nonrepeatable, IsolationOptions(allow=(), model="read-committed")).passed
    assert judge(nonrepeatable, IsolationOptions(allow=(), model="repeatable-read")).failed


INTERMEDIATE = (T(1, w(0, 1), w(0, 2)), T(2, r(0, 1)))


def test_read_uncommitted_proscribes_only_dirty_writes() -> None:
    verdict = judge(run(*INTERMEDIATE), IsolationOptions(allow=(), model="read-uncommitted"))
    assert verdict.passed, verdict.detail
    assert verdict.detail.startswith("2 committed transactions, no anomaly read-uncommitted "
                                     "proscribes (tolerated: G1b 1)")
    committed = judge(run(*INTERMEDIATE), IsolationOptions(allow=(), model="read-committed"))
    assert not committed.passed and committed.detail.startswith("G1b: 1")
    dirty_write = run(T(1, w(0, 1), r(1, 2), w(1, 1)), T(2, r(0, 1), w(0, 2), w(1, 2)))
    ru = judge(dirty_write, IsolationOptions(allow=(), model="read-uncommitted"))
    assert not ru.passed and ru.detail.startswith("G0: 1")


def test_the_model_option_takes_maelstrom_names_and_refuses_others() -> None:
    head = "name: unit\nprotocol: txn\ncluster: {nodes: 3}\nchecks:\n"
    (check,) = scenario(head + "  - isolation: {model: read-committed}\n").checks
    assert check.options == IsolationOptions(allow=(), model="read-committed")
    assert check.options.allowed() == {"G-single", "G2", "lost-update"}
    with pytest.raises(Exception, match="'read-comitted' is not one of read-uncommitted"):
        scenario(head + "  - isolation: {model: read-comitted}\n")


# -- many readers of one version --------------------------------------------------------------


def blind_store(n: int) -> RunRecord:
    """A store whose reads never see a write: each transaction reads key 0 as None and
    writes a new value of it. Nothing orders the versions, so each of the n readers of the
    initial state precedes each of the n writers: n * n anti-dependencies."""
    return run(*(T(i, r(0, None), w(0, i)) for i in range(1, n + 1)))


def test_many_readers_of_one_version_go_through_a_hub_same_verdict_far_fewer_edges(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_dchaos.families.txn.checks import dependencies

    hubbed = judge(blind_store(300))
    monkeypatch.setattr(dependencies, "HUB_AT", 10**9)
    direct = judge(blind_store(300))
    assert not hubbed.passed and not direct.passed
    for name in ("G0", "G1c", "G-single", "G2", "lost-update"):
        assert hubbed.figures[name] == direct.figures[name], name
    assert direct.figures["edges"]["rw"] == 300 * 299
    # Each reader into three hubs at most (the one for the others' writes, and the two
    # chains that reach every transaction that did both but itself).
    assert hubbed.figures["edges"]["rw"] <= 3 * 300
    # A cycle through hubs is told as the transactions' own edges.
    (cycle,) = found(hubbed, "G2")[:1]
    assert all(step["from"] > 0 and step["to"] > 0 for step in cycle["cycle"])
    assert [step["kind"] for step in cycle["cycle"]] == ["rw", "rw"]


def test_a_hub_never_leads_a_transaction_back_to_itself(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # T1 read the initial state and wrote the next version: no anti-dependency on itself.
    from pytest_dchaos.families.txn.checks import dependencies

    monkeypatch.setattr(dependencies, "HUB_AT", 0)
    verdict = judge(run(T(1, r(0, None), w(0, 1)), T(2, r(1, None), w(1, 1), r(0, 1))))
    assert verdict.passed, verdict.detail


@pytest.mark.parametrize("seed", range(40))
def test_hubs_change_no_verdict_on_random_histories(seed: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    from pytest_dchaos.families.txn.checks import dependencies

    rng = random.Random(seed)
    written: dict[int, list[int]] = {0: [], 1: [], 2: []}
    txns = []
    for i in range(1, 40):
        ops = []
        for _ in range(rng.randint(1, 4)):
            key = rng.randrange(3)
            if rng.random() < 0.5:
                seen = written[key]
                ops.append(r(key, rng.choice(seen) if seen and rng.random() < 0.6 else None))
            else:
                value = len(written[key]) + 1
                written[key].append(value)
                ops.append(w(key, value))
        txns.append(T(i, *ops))
    rec = run(*txns)
    for model in ("read-uncommitted", "read-committed", "snapshot-isolation",
                  "serializable"):
        options = IsolationOptions(allow=(), model=model)
        monkeypatch.setattr(dependencies, "HUB_AT", 0)  # a hub for every version
        hubbed = judge(rec, options)
        monkeypatch.setattr(dependencies, "HUB_AT", 10**9)  # never
        direct = judge(rec, options)
        # A path through a hub is an anti-dependency the direct graph has too, where it
        # may be taken as the ww or wr edge beside it: the same cycles, so the same
        # verdict at every model, though a hub can name a cycle by its rw edge as well.
        assert hubbed.passed == direct.passed, (model, hubbed.detail, direct.detail)
        names = ("G0", "G1c", "G-single", "G2")
        assert {n for n in names if hubbed.figures[n]} >= \
            {n for n in names if direct.figures[n]}, model


def test_a_read_of_a_value_nobody_wrote_is_garbage_at_every_model() -> None:
    # A store that answers 0 for a key nobody wrote, where the workload says null.
    rec = run(T(1, w(0, 1)), T(2, r(1, 0)))
    for model in ("read-uncommitted", "serializable"):
        verdict = judge(rec, IsolationOptions(allow=(), model=model))
        assert not verdict.passed
        assert verdict.detail.startswith(
            "garbage: 1 (T2 read key 1 = 0, which no transaction wrote)"), verdict.detail
