"""The black-box linearizability checker on hand-made register histories: each violation
must be caught and its counterexample must name the operations that cannot be ordered."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import pytest

from pytest_dchaos.checkers.linearizability import (
    Budget,
    LinearizabilityResult,
    Operation,
    check,
    check_operations,
    operations_of,
)
from pytest_dchaos.record.history import FAIL, INFO, INVOKE, OK, History, Op
from tests.builders import history


def call(client: str, f: str, key: Any, start: float, end: float | None, outcome: str = OK,
         error: str | None = None, **fields: Any) -> list[Op]:
    """A register operation as a client records it (``end`` None: it never completed). A
    read's result is ``result``; the rest of ``fields`` are its arguments."""
    result = fields.pop("result", None)
    value = {"key": key, **fields}
    ops = [Op(0, client, INVOKE, f, value, start)]
    if end is not None:
        done = {**value, "value": result} if f == "read" else value
        ops.append(Op(0, client, outcome, f, done, end, None, error))
    return ops


def write(client: str, value: Any, start: float, end: float | None, outcome: str = OK,
          key: Any = 1) -> list[Op]:
    return call(client, "write", key, start, end, outcome, value=value)


def read(client: str, result: Any, start: float, end: float, outcome: str = OK,
         error: str | None = None, key: Any = 1) -> list[Op]:
    return call(client, "read", key, start, end, outcome, error, result=result)


def cas(client: str, old: Any, new: Any, start: float, end: float | None,
        outcome: str = OK, error: str | None = None, key: Any = 1) -> list[Op]:
    return call(client, "cas", key, start, end, outcome, error, **{"from": old, "to": new})


def judge(*groups: list[Op], budget: Budget | None = None) -> LinearizabilityResult:
    return check(history(*groups), budget or Budget())


def named(result: LinearizabilityResult) -> list[str]:
    """The counterexample's operations, as ``client f`` strings, by invocation."""
    (counterexample,) = result.counterexamples
    return [f"{op.client} {op.f}" for op in counterexample.operations]


# -- what passes ------------------------------------------------------------------------


def test_a_correct_concurrent_history_passes() -> None:
    # c1's and c2's writes overlap, so either may be last; the reads settle which was:
    # c3 sees 2 while both are open, c4 then sees 1 after both completed (1 went last).
    result = judge(write("c1", 1, 0.0, 3.0), write("c2", 2, 0.5, 2.0),
                   read("c3", 2, 1.0, 2.5), read("c4", 1, 3.5, 4.0),
                   cas("c5", 1, 3, 4.5, 5.0), read("c3", 3, 5.5, 6.0))
    assert result.status == "pass" and result.linearizable
    assert result.operations == 6
    assert result.summary().startswith("linearizable: 6 operations over 1 key")


def test_a_read_of_a_missing_key_reads_none_before_any_write() -> None:
    result = judge(read("c1", None, 0.0, 1.0, FAIL, "error 20: key does not exist"),
                   write("c2", 1, 2.0, 3.0), read("c1", 1, 4.0, 5.0))
    assert result.status == "pass"
    assert result.dropped == 0  # the failed read counted, as a read of nothing


def test_operations_keep_their_clients_times_and_results() -> None:
    (r,), dropped = operations_of(history(read("c7", 4, 1.5, 2.5)))
    assert (r.client, r.f, r.key, r.value, r.call, r.ret, r.outcome) == \
        ("c7", "read", 1, 4, 1.5, 2.5, OK)
    (c,), _ = operations_of(history(cas("c1", 1, 2, 0.0, None)))
    assert c.value == (1, 2) and c.ret == math.inf and c.outcome == INFO
    assert dropped == 0


# -- what fails, and the counterexample ------------------------------------------------------


def test_a_stale_read_is_caught_and_named() -> None:
    # 2 overwrote 1 before the read began, and the read still returned 1.
    result = judge(write("c1", 1, 0.0, 1.0), write("c2", 2, 1.5, 2.0),
                   read("c3", 1, 3.0, 4.0))
    assert result.status == "fail" and not result.linearizable
    (counterexample,) = result.counterexamples
    assert counterexample.blocked.client == "c3" and counterexample.blocked.value == 1
    assert [(v, w.client if w else None) for v, w in counterexample.holding] == [(2, "c2")]
    assert named(result) == ["c1 write", "c2 write", "c3 read"]
    assert counterexample.prefix == 3
    assert ("key 1: c3 read key 1 → 1 [3.000, 4.000] s cannot be ordered — only c1 write "
            "key 1 := 1 [0.000, 1.000] s leaves 1, and c2 write key 1 := 2 [1.500, 2.000] s "
            "began after that completed and completed before the read began") \
        in result.summary()


def test_a_lost_write_is_caught() -> None:
    # The write was acknowledged; a later read finds no such key.
    result = judge(write("c1", 5, 0.0, 1.0),
                   read("c2", None, 2.0, 3.0, FAIL, "error 20: key does not exist"))
    assert result.status == "fail"
    assert named(result) == ["c1 write", "c2 read"]
    assert ("c2 read key 1 → None [2.000, 3.000] s cannot be ordered — the register holds "
            "None only until it is first written, and c1 write key 1 := 5 [0.000, 1.000] s "
            "completed before the read began") in result.summary()


def test_a_cas_that_succeeded_against_a_value_that_was_no_longer_there() -> None:
    result = judge(write("c1", 7, 0.0, 1.0), write("c3", 1, 1.5, 2.0),
                   cas("c2", 7, 8, 3.0, 4.0))
    assert result.status == "fail"
    (counterexample,) = result.counterexamples
    assert counterexample.blocked.f == "cas" and counterexample.blocked.client == "c2"
    assert named(result) == ["c1 write", "c3 write", "c2 cas"]
    assert "c2 cas key 1 7 → 8 [3.000, 4.000] s cannot be ordered — only c1 write" \
        in result.summary()
    assert "completed before the cas began" in result.summary()


def test_a_cas_that_succeeded_against_a_value_never_written() -> None:
    result = judge(write("c1", 1, 0.0, 1.0), cas("c2", 7, 8, 2.0, 3.0),
                   read("c3", 8, 4.0, 5.0))
    assert result.status == "fail"
    assert named(result) == ["c2 cas"]
    assert ("c2 cas key 1 7 → 8 [2.000, 3.000] s cannot be ordered — no operation that may "
            "have taken effect leaves 7") in result.summary()


def test_a_failed_write_did_not_happen() -> None:
    # The store said the write failed, yet its value was read.
    result = judge(write("c1", 9, 0.0, 1.0, FAIL), read("c2", 9, 2.0, 3.0))
    assert result.status == "fail" and result.dropped == 1
    assert named(result) == ["c2 read"]
    assert "no operation that may have taken effect leaves 9" in result.summary()


def test_a_cas_whose_precondition_failed_did_not_happen() -> None:
    result = judge(write("c1", 1, 0.0, 1.0),
                   cas("c2", 1, 2, 2.0, 3.0, FAIL, "error 22: precondition failed"),
                   read("c3", 2, 4.0, 5.0))
    assert result.status == "fail"
    assert named(result) == ["c3 read"]


def test_without_a_few_operations_to_show_it_the_search_names_its_furthest_point() -> None:
    # Two writes overlap everything; the reads see 1, then 2, then 1 again, which no order
    # gives; c4's write of 3 is still open at the last read.
    result = judge(write("c1", 1, 0.0, 10.0), write("c2", 2, 0.0, 10.0),
                   read("c3", 1, 1.0, 2.0), read("c3", 2, 3.0, 4.0),
                   read("c3", 1, 5.0, 6.0), write("c4", 3, 5.5, 20.0))
    assert result.status == "fail"
    (counterexample,) = result.counterexamples
    assert counterexample.blocked.call == 5.0
    assert sorted(v for v, _ in counterexample.holding) == [2, 3]
    assert named(result) == ["c2 write", "c3 read", "c4 write"]
    assert ("c3 read key 1 → 1 [5.000, 6.000] s cannot be ordered — whatever order the 6 "
            "operations invoked before it completed take, the register then holds 2 (left "
            "by c2 write key 1 := 2 [0.000, 10.000] s) or 3 (left by c4 write key 1 := 3 "
            "[5.500, 20.000] s); still open then: c4 write key 1 := 3") in result.summary()


# -- unknown outcomes ----------------------------------------------------------------------


def test_an_unknown_write_that_happened_explains_a_later_read() -> None:
    result = judge(write("c1", 1, 0.0, 1.0), write("c2", 2, 1.5, None, INFO),
                   read("c3", 1, 2.0, 3.0), read("c3", 2, 4.0, 5.0))
    assert result.status == "pass"


def test_an_unknown_write_may_never_have_happened() -> None:
    # Timed out (info) with no completion at all: the later reads never see it.
    result = judge(write("c1", 1, 0.0, 1.0), write("c2", 2, 1.5, None),
                   read("c3", 1, 2.0, 3.0), read("c3", 1, 9.0, 10.0))
    assert result.status == "pass"


def test_an_unknown_write_cannot_take_effect_before_it_was_invoked() -> None:
    result = judge(read("c3", 2, 0.0, 1.0), write("c2", 2, 1.5, 2.0, INFO))
    assert result.status == "fail"
    assert named(result) == ["c3 read", "c2 write"]
    assert ("only c2 write key 1 := 2 [1.500 s, outcome unknown] leaves 2, and it began "
            "after the read completed") in result.summary()


def test_an_unknown_write_happens_once() -> None:
    # Taking effect between the two reads of 1 and 2 is fine; 2 again after 3 is not.
    result = judge(write("c1", 1, 0.0, 1.0), write("c2", 2, 1.5, None, INFO),
                   read("c3", 2, 2.0, 3.0), write("c1", 3, 4.0, 5.0),
                   read("c3", 2, 6.0, 7.0))
    assert result.status == "fail"
    assert named(result) == ["c1 write", "c3 read"]
    assert result.counterexamples[0].blocked.call == 6.0


def test_an_unknown_cas_may_or_may_not_have_happened() -> None:
    maybe = cas("c2", 1, 2, 1.5, None, INFO)
    assert judge(write("c1", 1, 0.0, 1.0), maybe, read("c3", 2, 2.0, 3.0)).status == "pass"
    assert judge(write("c1", 1, 0.0, 1.0), maybe, read("c3", 1, 2.0, 3.0)).status == "pass"
    # Not against a value that was never there.
    assert judge(write("c1", 5, 0.0, 1.0), maybe, read("c3", 2, 2.0, 3.0)).status == "fail"


def test_reads_with_unknown_or_failed_outcomes_are_dropped() -> None:
    result = judge(write("c1", 1, 0.0, 1.0), read("c2", 7, 2.0, 3.0, INFO),
                   read("c2", 8, 4.0, 5.0, FAIL, "timeout"))
    assert result.status == "pass" and result.dropped == 2


# -- budget and keys ---------------------------------------------------------------------


def crowded(writers: int) -> list[list[Op]]:
    """Many overlapping writes, each read while they all overlap; after them, two reads of
    different values, though nothing changed the register between them. No few operations
    show that alone: the search must try every order of the writes before it can say no
    (about writers * 2^writers configurations)."""
    ops = [write(f"c{i}", i, 0.0, 10.0) for i in range(writers)]
    reads = [read(f"r{i}", i, 0.0, 10.0) for i in range(writers)]
    return [*ops, *reads, read("cy", 0, 11.0, 12.0), read("cz", 1, 13.0, 14.0)]


def test_a_search_over_budget_is_unknown_never_a_pass() -> None:
    result = judge(*crowded(12), budget=Budget(max_states=50))
    assert result.status == "unknown" and not result.linearizable
    (key,) = result.keys
    assert key.status == "unknown" and key.reason == "over 50 states"
    assert result.summary().startswith("unknown: the search gave up on 1 of 1 key")
    assert not result.counterexamples


def test_a_search_out_of_time_is_unknown() -> None:
    result = judge(*crowded(14), budget=Budget(max_seconds=0.0))
    assert result.status == "unknown" and result.keys[0].reason == "out of time"


def test_with_enough_budget_the_same_search_fails() -> None:
    result = judge(*crowded(8))
    assert result.status == "fail" and result.states > 50


def test_each_key_is_its_own_register() -> None:
    # As one register this would be a stale read; over two keys it is fine.
    result = judge(write("c1", 1, 0.0, 1.0, key="a"), write("c2", 2, 1.5, 2.0, key="b"),
                   read("c3", 1, 3.0, 4.0, key="a"), read("c4", 2, 3.0, 4.0, key="b"))
    assert result.status == "pass"
    assert [(k.key, k.status, k.operations) for k in result.keys] == \
        [("a", "pass", 2), ("b", "pass", 2)]


def test_one_bad_key_fails_the_history_and_only_that_key() -> None:
    result = judge(write("c1", 1, 0.0, 1.0, key="a"), read("c3", 1, 2.0, 3.0, key="a"),
                   write("c2", 1, 0.0, 1.0, key="b"), read("c4", 2, 2.0, 3.0, key="b"))
    assert result.status == "fail"
    assert {k.key: k.status for k in result.keys} == {"a": "pass", "b": "fail"}
    assert result.counterexamples[0].key == "b"
    assert result.summary().startswith("not linearizable: 1 of 2 keys — key 'b': ")


def test_an_unknown_key_does_not_hide_a_failing_one() -> None:
    ops = [o for group in crowded(12) for o in group]
    bad = [*write("cx", 1, 0.0, 1.0, key=2), *read("cw", 2, 11.0, 12.0, key=2)]
    result = check(History.of(sorted([*ops, *bad], key=lambda o: o.time)),
                   Budget(max_states=50))
    assert result.status == "fail"
    assert [k.status for k in result.keys] == ["unknown", "fail"]


@pytest.mark.parametrize("value", [[1, 2], {"a": [1]}])
def test_json_values_compare_by_content(value: Any) -> None:
    copy: Any = type(value)(value)
    assert judge(write("c1", value, 0.0, 1.0), read("c2", copy, 2.0, 3.0)).status == "pass"


def test_ready_made_operations_can_be_checked() -> None:
    ops = [Operation(0, "c1", "k", "write", 1, 0.0, 1.0),
           Operation(1, "c2", "k", "read", 1, 2.0, 3.0)]
    assert check_operations(ops).status == "pass"


# -- against brute force --------------------------------------------------------------------


def brute_force(ops: list[Operation]) -> bool:
    """Whether some subset of the unknown operations and some order of everything kept
    respects real time and the register: every order tried, one by one."""
    unknown = [op for op in ops if op.outcome == INFO]
    for mask in range(1 << len(unknown)):
        kept = [op for op in ops if op.outcome == OK] + \
            [op for i, op in enumerate(unknown) if mask >> i & 1]
        if any(ordered(order) for order in itertools.permutations(kept)):
            return True
    return False


def ordered(order: tuple[Operation, ...]) -> bool:
    for i, later in enumerate(order):
        if any(later.ret < earlier.call for earlier in order[:i]):
            return False
    state: Any = None
    for op in order:
        if op.f == "read" and op.value != state:
            return False
        if op.f == "cas" and op.value[0] != state:
            return False
        state = op.written if op.f != "read" else state
    return True


def random_history(rng: random.Random, unique: bool) -> list[Operation]:
    """Up to six operations on one key; ``unique``: nearly every write and cas leaves a
    value of its own, as the workloads draw them (the search's reductions for such values
    apply)."""
    ops = []
    for i in range(rng.randrange(1, 7)):
        call_at = rng.randrange(8)
        ret = call_at + rng.randrange(0, 4) if rng.random() < 0.8 else math.inf
        f = rng.choice(["read", "read", "write", "cas"])
        written = [None, *range(1, i + 1)]
        value: Any
        if f == "read":
            value = rng.choice(written if unique else [None, 0, 1, 2])
            ret = call_at + 1.0 if ret == math.inf else ret
        elif f == "write":
            # None now and then: the register's first value, written again.
            value = (i + 1 if rng.random() < 0.8 else None) if unique else rng.randrange(3)
        else:
            value = (rng.choice(written), i + 1) if unique else \
                (rng.randrange(3), rng.randrange(3))
        ops.append(Operation(i, f"c{i}", "k", f, value, float(call_at), float(ret),
                             INFO if ret == math.inf else OK))
    return ops


def test_agrees_with_brute_force_on_small_random_histories() -> None:
    rng = random.Random(7)
    verdicts = []
    for n in range(1000):
        ops = random_history(rng, unique=n % 2 == 0)
        expected = brute_force(ops)
        assert check_operations(ops).linearizable == expected, ops
        verdicts.append(expected)
    assert 200 < sum(verdicts) < 800  # both kinds of history were drawn
