"""The shrinking algorithm on deterministic predicates: which faults it keeps, which it
drops, how far it shortens and moves faults earlier, and that removing one never moves
another."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pytest_dchaos.explore.schedule import FaultEntry, entry_seconds
from pytest_dchaos.explore.shrink import Shrinker, Trim, moved_text, shrink


def faults(count: int) -> list[FaultEntry]:
    return [{"at": f"{100 * i}ms", "kill": f"n{i + 1}", "duration": "4s"}
            for i in range(count)]


def names(schedule: Sequence[FaultEntry]) -> set[str]:
    return {str(f["kill"]) for f in schedule}


def counting(predicate: Callable[[Sequence[FaultEntry]], bool]
             ) -> tuple[Callable[[Sequence[FaultEntry]], bool], list[int]]:
    calls = [0]

    def wrapped(schedule: Sequence[FaultEntry]) -> bool:
        calls[0] += 1
        return predicate(schedule)
    return wrapped, calls


def test_keeps_exactly_the_two_faults_the_failure_needs() -> None:
    start = faults(8)
    result = shrink(start, lambda s: {"n3", "n6"} <= names(s))
    assert names(result.faults) == {"n3", "n6"}
    assert result.complete
    # Times are absolute: removing faults leaves the others where they were; only a move
    # step changes a time, and only to an earlier one.
    by_node = {f["kill"]: entry_seconds(f["at"]) for f in start}
    for step in result.steps:
        times = [(by_node[f["kill"]], entry_seconds(f["at"])) for f in step.faults]
        assert all(now == was if step.action == "remove" else now <= was
                   for was, now in times)


def test_a_failure_that_needs_no_fault_shrinks_to_none_in_one_step() -> None:
    predicate, calls = counting(lambda s: True)
    result = shrink(faults(5), predicate)
    assert result.faults == []
    assert calls[0] == 1  # the empty schedule, and nothing is left to shorten


def test_one_needed_fault_among_many_is_found_in_few_tries() -> None:
    predicate, calls = counting(lambda s: "n13" in names(s))
    result = shrink(faults(32), predicate, min_duration=4.0)
    assert names(result.faults) == {"n13"}
    assert calls[0] <= 2 * 6 + 2  # about two tries per halving, not 32


def test_durations_are_halved_while_the_failure_holds() -> None:
    # Fails while n2's fault lasts 1 s or more; n1's is needed at any length.
    def predicate(schedule: Sequence[FaultEntry]) -> bool:
        by = {f["kill"]: entry_seconds(f["duration"]) for f in schedule}
        return "n1" in by and by.get("n2", 0.0) >= 1.0

    result = shrink(faults(3), predicate, min_duration=0.1)
    durations = {f["kill"]: entry_seconds(f["duration"]) for f in result.faults}
    assert durations == {"n1": 0.1, "n2": 1.0}
    # The failure does not depend on when: both faults end up at the start.
    assert [entry_seconds(f["at"]) for f in result.faults] == [0.0, 0.0]
    assert any(s.action == "shorten" and not s.still_fails for s in result.steps)


def test_faults_without_duration_are_kept_as_they_are() -> None:
    start: list[FaultEntry] = [{"at": "1s", "restart": "n1"}, {"at": "2s", "restart": "n2"}]
    result = shrink(start, lambda s: [f["at"] for f in s] == ["1s", "2s"])
    assert result.faults == start


def test_every_step_is_recorded_and_no_candidate_is_tried_twice() -> None:
    seen: list[str] = []

    def predicate(schedule: Sequence[FaultEntry]) -> bool:
        seen.append(repr(schedule))
        return {"n1", "n4"} <= names(schedule)

    result = shrink(faults(6), predicate, min_duration=4.0)
    assert len(seen) == len(set(seen)) == len(result.steps)
    assert [s.still_fails for s in result.steps] == [
        {"n1", "n4"} <= names(s.faults) for s in result.steps]


def test_stopping_early_keeps_the_smallest_confirmed_schedule() -> None:
    budget = [3]

    def should_stop() -> bool:
        budget[0] -= 1
        return budget[0] < 0

    shrinker = Shrinker(faults(8), lambda s: "n2" in names(s), should_stop=should_stop)
    result = shrinker.run()
    assert not result.complete
    assert len(result.steps) == 3
    assert "n2" in names(result.faults) and len(result.faults) < 8
    assert shrinker.best == result.faults


def test_the_input_is_not_changed() -> None:
    start = faults(4)
    copy = [dict(f) for f in start]
    shrink(start, lambda s: "n1" in names(s))
    assert start == copy


def test_the_run_is_trimmed_workload_clients_and_nodes_while_the_failure_holds() -> None:
    start: list[FaultEntry] = [{"at": "1s", "kill": "n2", "duration": "1s"},
                               {"at": "3s", "kill": "n4", "duration": "2s"}]
    seen: list[Trim] = []

    # Fails with n2's crash alone, with at least two clients and three nodes.
    def predicate(schedule: Sequence[FaultEntry], trim: Trim) -> bool:
        seen.append(trim)
        return "n2" in names(schedule) and trim.clients >= 2 and trim.nodes >= 3

    result = Shrinker(start, lambda s: False, trim=Trim(10.0, 8, 6, min_nodes=2),
                      still_fails_trimmed=predicate).run()
    assert names(result.faults) == {"n2"}
    assert result.trim is not None
    # The workload cut to just after the kept fault ends (1 s + 100 ms shortened, + the
    # tail), never before it; the clients halved to two; the cluster down to three.
    last_end = entry_seconds(result.faults[0]["at"]) + entry_seconds(
        result.faults[0]["duration"])
    assert last_end + 0.5 <= result.trim.duration < last_end + 1.0
    assert (result.trim.clients, result.trim.nodes) == (2, 3)
    assert all(t.duration >= last_end + 0.5 for t in seen)
    assert any(s.action == "trim" and not s.still_fails for s in result.steps)
    last = result.steps[-1].to_json()  # two nodes were tried, and passed
    assert (last["run"]["nodes"], last["still_fails"]) == (2, False)


def test_no_node_a_fault_names_is_trimmed_away() -> None:
    start: list[FaultEntry] = [{"at": "1s", "partition": {"isolate": "n5"},
                                "duration": "1s"}]
    result = Shrinker(start, lambda s: False, trim=Trim(4.0, 1, 5),
                      still_fails_trimmed=lambda s, t: bool(s)).run()
    assert result.trim is not None and result.trim.nodes == 5
    floor = Shrinker(faults(1), lambda s: False, trim=Trim(8.0, 1, 4, min_nodes=4),
                     still_fails_trimmed=lambda s, t: True).run()
    assert floor.trim is not None and floor.trim.nodes == 4


def test_faults_are_moved_earlier_while_the_failure_holds() -> None:
    # Fails while n1's crash starts at 1 s or later and n2's follows it by at least 2 s.
    def predicate(schedule: Sequence[FaultEntry]) -> bool:
        at = {f["kill"]: entry_seconds(f["at"]) for f in schedule}
        return {"n1", "n2"} <= at.keys() and at["n1"] >= 1.0 and at["n2"] - at["n1"] >= 2.0

    start: list[FaultEntry] = [{"at": "4s", "kill": "n1"}, {"at": "8s", "kill": "n2"}]
    result = shrink(start, predicate)
    at = {f["kill"]: entry_seconds(f["at"]) for f in result.faults}
    # Together first, keeping the spacing (2 s and 6 s holds, then 1 s and 5 s; 500 ms and
    # 4.5 s passes), then each on its own: n1 cannot go below 1 s, and n2 halved to 2.5 s
    # would come too close to it, so it stays.
    assert at == {"n1": 1.0, "n2": 5.0}
    moves = [s for s in result.steps if s.action == "move"]
    assert moves[0].detail == "all faults: 2s earlier" and moves[0].still_fails
    assert any(not s.still_fails for s in moves)
    assert all(predicate(s.faults) == s.still_fails for s in result.steps)


def test_a_fault_that_fails_anywhere_moves_to_the_start() -> None:
    result = shrink([{"at": "3200ms", "kill": "n1", "duration": "1s"}],
                    lambda s: len(s) == 1, min_duration=1.0)
    assert result.faults == [{"at": "0s", "kill": "n1", "duration": "1s"}]
    # Halved while at least min_duration (1.6 s), then straight to the start.
    assert [s.detail for s in result.steps if s.action == "move"] == [
        "fault 1: at 3200ms -> 1600ms", "fault 1: at 1600ms -> 0s"]


def test_moving_lets_the_workload_be_cut_shorter() -> None:
    start: list[FaultEntry] = [{"at": "6s", "kill": "n2", "duration": "1s"}]
    result = Shrinker(start, lambda s: False, trim=Trim(10.0, 1, 3),
                      still_fails_trimmed=lambda s, t: bool(s), min_duration=1.0).run()
    assert result.faults == [{"at": "0s", "kill": "n2", "duration": "1s"}]
    assert result.trim is not None and result.trim.duration < 2.0
    actions = [s.action for s in result.steps if s.still_fails]
    assert actions.index("move") < actions.index("trim")


def test_what_moving_kept_is_told_from_first_place_to_last() -> None:
    def predicate(schedule: Sequence[FaultEntry]) -> bool:
        at = {f["kill"]: entry_seconds(f["at"]) for f in schedule}
        return {"n1", "n2"} <= at.keys() and at["n1"] >= 1.0 and at["n2"] - at["n1"] >= 2.0

    result = shrink([{"at": "4s", "kill": "n1"}, {"at": "8s", "kill": "n2"}], predicate)
    assert moved_text(result.steps) == (
        ", moved earlier (fault 1 at 4s -> 1s, fault 2 at 8s -> 5s)")
    assert moved_text(shrink(faults(2), lambda s: False).steps) == ""
    assert [s.to_json()["action"] for s in result.steps].count("move") >= 2
