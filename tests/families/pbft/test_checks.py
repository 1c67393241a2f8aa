"""The PBFT checks on hand-made records: each must pass a correct run and catch the one
thing wrong in an incorrect one (the integration suite does the same with real replicas)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_dchaos.checkers.base import NoOptions
from pytest_dchaos.checkers.linearizability import Budget
from pytest_dchaos.families.pbft.checks.agreement import Agreement
from pytest_dchaos.families.pbft.checks.common import canonical_json
from pytest_dchaos.families.pbft.checks.linearizable import Linearizable, replay
from pytest_dchaos.families.pbft.checks.liveness import Liveness
from pytest_dchaos.families.pbft.checks.suspects import Suspects
from pytest_dchaos.families.pbft.checks.validity import Validity
from pytest_dchaos.families.pbft.checks.view_change import ViewChange
from pytest_dchaos.families.pbft.observations import REPLIES, Replies, Reply
from pytest_dchaos.record.history import FAIL, INVOKE, OK, History, Op
from pytest_dchaos.record.result import FaultEvent, RunRecord
from tests.builders import fault, history, record, scenario

NODES = ("n1", "n2", "n3", "n4")


def options(entry: str) -> Any:
    text = f"name: unit\nprotocol: pbft\ncluster: {{nodes: 4}}\nchecks:\n  - {entry}\n"
    (check,) = scenario(text).checks
    return check.options


def request(client: str, timestamp: int, f: str, **fields: Any) -> dict[str, Any]:
    return {"client": client, "timestamp": timestamp, "op": {"f": f, **fields}}


def state(*entries: list[Any], **extra: Any) -> dict[str, Any]:
    return {"view": 0, "committed": list(entries), "suspects": [], "stable_checkpoint": 0,
            **extra}


def run(states: dict[str, dict[str, Any]], ops: History | None = None,
        faults: tuple[FaultEvent, ...] = (), replies: list[Reply] | None = None) -> RunRecord:
    """A record; with ``replies``, also what the harness's clients received."""
    observations = {} if replies is None else {REPLIES: Replies(tuple(replies))}
    rec = record(ops, nodes=4, faults=faults, observations=observations)
    rec.scenario = dataclasses.replace(rec.scenario, protocol="pbft")
    rec.node_states = states
    return rec


def reply(member: str, sent: dict[str, Any], result: dict[str, Any], at: float = 1.0,
          view: int | None = 0, answers: int | None = None) -> Reply:
    """``member``'s reply to the request ``sent`` (a :func:`request`), as the harness
    received it; ``answers``: the timestamp the reply names, if not the request's."""
    return Reply(at, sent["client"], sent["timestamp"], sent["op"], member, member, "reply",
                 view, canonical_json(result), sent["timestamp"] if answers is None
                 else answers)


def replies_to(request_: dict[str, Any], result: dict[str, Any],
               nodes: tuple[str, ...] = ("n1", "n2", "n3", "n4"), at: float = 1.0,
               view: int = 0) -> list[Reply]:
    return [reply(n, request_, result, at, view) for n in nodes]


def op(client: str, f: str, fields: dict[str, Any], timestamp: int, start: float,
       end: float, outcome: str = OK, result: dict[str, Any] | None = None,
       error: str | None = None) -> list[Op]:
    """A PBFT client's request (sent to every replica: no node) and its outcome."""
    value = {**fields, "client": client, "timestamp": timestamp}
    return [Op(0, client, INVOKE, f, value, start, None),
            Op(0, client, outcome, f, {**value, **(result or {})}, end, None, error)]


def write(start: float, end: float, client: str = "c1", ts: int = 1) -> list[Op]:
    return op(client, "write", {"key": 1, "value": 5}, ts, start, end)


def read(start: float, end: float, outcome: str = OK, value: Any = 5,
         error: str | None = None) -> list[Op]:
    return op("c2", "read", {"key": 1}, 1, start, end, outcome, {"value": value}, error)


W1 = request("c1", 1, "write", key=1, value=5)
R1 = request("c2", 1, "read", key=1)


def sent() -> History:
    """c1 writes 5 to key 1 ([0, 1]); then c2 reads it ([2, 3])."""
    return history(write(0.0, 1.0), read(2.0, 3.0))


def agreed() -> dict[str, dict[str, Any]]:
    log = ([1, "d1", W1], [2, "d2", R1])
    return {n: state(*log) for n in NODES}


def byzantine(node: str, at: float = 0.5) -> FaultEvent:
    return fault(at, "start", f"b{node}", "byzantine", [node])


WROTE = {"type": "write_ok"}
READ5 = {"type": "read_ok", "value": 5}


def observed() -> list[Reply]:
    """Every replica answered both requests of :func:`agreed` alike."""
    return replies_to(W1, WROTE, at=1.0) + replies_to(R1, READ5, at=3.0)


# -- agreement ---------------------------------------------------------------------------


def test_agreement_passes_identical_logs() -> None:
    verdict = Agreement().check(NoOptions(), run(agreed()))
    assert verdict.passed, verdict.detail
    assert "4 honest replicas agree on every one of 2 sequence numbers" in verdict.detail


def test_agreement_catches_two_requests_at_one_sequence_number() -> None:
    states = agreed()
    states["n3"] = state([1, "d1", W1], [2, "dX", request("c3", 1, "write", key=2, value=1)])
    verdict = Agreement().check(NoOptions(), run(states))
    assert not verdict.passed
    assert "seq 2: n1+n2+n4 vs n3 committed different requests" in verdict.detail


def test_agreement_catches_a_null_request_where_others_committed_one() -> None:
    states = agreed()
    states["n4"] = state([1, "d1", W1], [2, "dnull", None])
    assert not Agreement().check(NoOptions(), run(states)).passed


def test_agreement_ignores_the_byzantine_replica_and_a_shorter_log() -> None:
    states = agreed()
    states["n1"] = state([1, "evil", request("c9", 1, "write", key=0, value=0)])
    states["n2"] = state([1, "d1", W1])  # restarted or behind: fewer entries is no conflict
    assert Agreement().check(NoOptions(), run(states, faults=(byzantine("n1"),))).passed


def test_agreement_says_the_bound_is_broken() -> None:
    verdict = Agreement().check(NoOptions(),
                                run(agreed(), faults=(byzantine("n1"), byzantine("n2"))))
    assert "bound broken: 2 Byzantine replicas (n1, n2) among 4, which tolerate f=1" \
        in verdict.detail
    assert verdict.figures["bound_broken"] is True


def test_agreement_without_any_state_fails_and_says_why() -> None:
    verdict = Agreement().check(NoOptions(), run({}))
    assert not verdict.passed and "no honest replica answered dchaos_state" in verdict.detail


def test_agreement_judges_the_replies_alone_when_no_replica_reports() -> None:
    verdict = Agreement().check(NoOptions(), run({}, replies=observed()))
    assert verdict.passed, verdict.detail
    assert verdict.evidence == "observed"
    assert "4 honest replicas answered 2 requests, never two results for one" \
        in verdict.detail


def test_agreement_catches_two_honest_replicas_replying_different_results() -> None:
    replies = [*replies_to(W1, WROTE), *replies_to(R1, READ5, ("n2", "n4"), at=3.0),
               reply("n3", R1, {"type": "read_ok", "value": 4}, at=3.1)]
    verdict = Agreement().check(NoOptions(), run({}, replies=replies))
    assert not verdict.passed and verdict.evidence == "observed"
    assert ("c2's read #1 ({\"f\":\"read\",\"key\":1}): n2+n4 replied "
            "{\"type\":\"read_ok\",\"value\":5} vs n3 replied "
            "{\"type\":\"read_ok\",\"value\":4}") in verdict.detail


def test_agreement_ignores_a_byzantine_replicas_reply_and_one_to_another_request() -> None:
    replies = [
        *observed(),
        reply("n1", R1, {"type": "read_ok", "value": 666}, at=3.2),
        # n2's cached answer to c2's earlier request: it says nothing of this one.
        reply("n2", R1, {"type": "read_ok", "value": 4}, at=3.3, answers=0)]
    verdict = Agreement().check(NoOptions(), run({}, replies=replies,
                                                 faults=(byzantine("n1"),)))
    assert verdict.passed, verdict.detail
    assert "3 honest replicas answered 2 requests" in verdict.detail


def test_agreement_rests_on_both_and_passes_logs_that_list_what_was_replied() -> None:
    verdict = Agreement().check(NoOptions(), run(agreed(), replies=observed()))
    assert verdict.passed, verdict.detail
    assert verdict.evidence == "both"
    assert "every request an honest replica was seen replying to is in its log" \
        in verdict.detail


def test_agreement_catches_a_replica_reporting_an_empty_log_it_replied_from() -> None:
    states = agreed()
    states["n3"] = state()
    verdict = Agreement().check(NoOptions(), run(states, replies=observed()))
    assert not verdict.passed and verdict.evidence == "both"
    assert ("n3 replied to c1's write #1 at +1.00s ({\"type\":\"write_ok\"}), but its "
            "committed log lacks it: n1 committed it at seq 1, where n3 lists nothing and "
            "reports no state transfer over it") in verdict.detail
    assert verdict.figures["unlisted"] == 2


def test_a_log_collected_below_its_stable_checkpoint_is_no_lie() -> None:
    # PBFT lets a replica discard its log below a stable checkpoint: n3 keeps only seq 2.
    states = agreed()
    states["n3"] = state([2, "d2", R1], stable_checkpoint=1)
    verdict = Agreement().check(NoOptions(), run(states, replies=observed()))
    assert verdict.passed, verdict.detail
    assert verdict.figures["unlisted"] == 0


def test_a_stable_checkpoint_no_honest_log_bears_out_excuses_nothing() -> None:
    # n3 reports an empty log and a checkpoint past anything any replica committed.
    states = agreed()
    states["n3"] = state(stable_checkpoint=99)
    verdict = Agreement().check(NoOptions(), run(states, replies=observed()))
    assert not verdict.passed
    assert "n3 replied to c1's write #1" in verdict.detail


def test_agreement_catches_a_log_with_another_request_where_the_replied_one_was() -> None:
    states = agreed()
    states["n4"] = state([1, "d1", W1], [2, "dX", request("c3", 1, "write", key=2, value=1)])
    verdict = Agreement().check(NoOptions(), run(states, replies=observed()))
    assert not verdict.passed
    assert ("n4 replied to c2's read #1 at +3.00s ({\"type\":\"read_ok\",\"value\":5}), "
            "but its committed log lacks it: it lists another request at seq 2, where n1 "
            "committed it") in verdict.detail


def test_agreement_excuses_what_a_replica_took_as_state_or_replied_before_it_restarted(
        ) -> None:
    states = agreed()
    # n3 fetched checkpoint 2's state; n4 restarted at +4s, after both its replies.
    states["n3"] = state(transfers=[[0, 2, 1e9]])
    states["n4"] = state()
    restart = fault(4.0, "start", "r4", "restart", ["n4"])
    verdict = Agreement().check(NoOptions(), run(states, replies=observed(), faults=(restart,)))
    assert verdict.passed, verdict.detail
    assert "(2 by replicas that took that part as state)" in verdict.detail
    # The same replies after n4's restart are held against its new, empty log.
    late = [reply("n4", W1, WROTE, at=5.0)]
    verdict = Agreement().check(NoOptions(), run(states, replies=[*observed(), *late],
                                                 faults=(restart,)))
    assert not verdict.passed and "n4 replied to c1's write #1 at +5.00s" in verdict.detail


def test_agreement_is_not_applicable_with_neither_reports_nor_replies() -> None:
    verdict = Agreement().check(NoOptions(), run({}, replies=[]))
    assert verdict.status == "not_applicable"


# -- validity ------------------------------------------------------------------------------


def test_validity_rests_on_both_when_replies_were_recorded() -> None:
    verdict = Validity().check(NoOptions(), run(agreed(), sent(), replies=observed()))
    assert verdict.passed, verdict.detail
    assert verdict.evidence == "both"
    assert "every one of 8 replies the harness saw them give is for a request in the " \
        "replier's log" in verdict.detail
    assert Validity().check(NoOptions(), run(agreed(), sent())).evidence == "reported"


def test_validity_catches_a_replica_reporting_an_empty_log() -> None:
    states = agreed()
    states["n2"] = state()
    # Without the replies, an empty log invents nothing: it passes.
    assert Validity().check(NoOptions(), run(states, sent())).passed
    verdict = Validity().check(NoOptions(), run(states, sent(), replies=observed()))
    assert not verdict.passed
    assert "n2 replied to c1's write #1 at +1.00s" in verdict.detail
    assert "n2 replied to c2's read #1 at +3.00s" in verdict.detail


def test_validity_catches_a_replica_reporting_a_request_nobody_logged_as_unlisted() -> None:
    extra = request("c1", 2, "write", key=3, value=1)
    verdict = Validity().check(NoOptions(), run(agreed(), sent(),
                                                replies=[*observed(), reply("n2", extra, WROTE)]))
    assert not verdict.passed
    assert ("n2 replied to c1's write #2 at +1.00s ({\"type\":\"write_ok\"}), but its "
            "committed log lacks it (no honest replica's log lists it, and n2 reports no "
            "state transfer)") in verdict.detail


# -- validity (reports alone) ----------------------------------------------------------------


def test_validity_passes_requests_clients_sent() -> None:
    assert Validity().check(NoOptions(), run(agreed(), sent())).passed


def test_validity_catches_an_invented_request() -> None:
    states = agreed()
    for node in NODES:
        states[node]["committed"].append([3, "d3", request("c1", 99, "write", key=0, value=-3)])
    verdict = Validity().check(NoOptions(), run(states, sent()))
    assert not verdict.passed and "a request no client sent" in verdict.detail


def test_validity_catches_an_altered_request() -> None:
    states = agreed()
    states["n2"]["committed"][0] = [1, "d1", request("c1", 1, "write", key=1, value=6)]
    assert not Validity().check(NoOptions(), run(states, sent())).passed


# -- linearizable --------------------------------------------------------------------------


def test_replay_follows_the_store_specification() -> None:
    log = [(1, request("c1", 1, "cas", key=1, **{"from": 0, "to": 1})),
           (2, request("c1", 2, "write", key=1, value=0)),
           (3, request("c1", 2, "write", key=1, value=9)),  # a duplicate: skipped
           (4, request("c2", 1, "cas", key=1, **{"from": 0, "to": 2})),
           (5, request("c3", 1, "read", key=1))]
    results = replay(log)
    assert results[("c1", 1)] == (0, ("error", 20))
    assert results[("c2", 1)] == (3, ("ok", None))
    assert results[("c3", 1)] == (4, ("ok", 2))


def test_linearizable_passes_results_that_match_the_log() -> None:
    verdict = Linearizable().check(NoOptions(), run(agreed(), sent()))
    assert verdict.passed, verdict.detail
    assert verdict.detail.startswith("client history (observed): linearizable: 2 operations")
    assert ("committed logs (reported) by n1, n2, n3, n4: 2 accepted results match the "
            "merged log, in real-time order") in verdict.detail
    assert verdict.witness["rests_on"] == ["client history (observed)",
                                            "committed logs (reported)"]


def test_linearizable_without_any_state_judges_the_client_history() -> None:
    verdict = Linearizable().check(NoOptions(), run({}, sent()))
    assert verdict.passed, verdict.detail
    assert verdict.detail.startswith("client history (observed): linearizable")
    assert "no honest replica answered dchaos_state, so the client history alone decides" \
        in verdict.detail
    assert verdict.witness["rests_on"] == ["client history (observed)"]


def test_linearizable_without_any_state_catches_a_stale_read_in_the_client_history() -> None:
    # c3 overwrote 5 with 6 before c2's read began; the read still returned 5.
    ops = history(write(0.0, 1.0), op("c3", "write", {"key": 1, "value": 6}, 1, 1.5, 2.0),
                  read(3.0, 4.0))
    verdict = Linearizable().check(NoOptions(), run({}, ops))
    assert not verdict.passed
    assert verdict.detail.startswith("client history (observed): not linearizable: 1 of 1 "
                                     "key — key 1: c2 read key 1 → 5 [3.000, 4.000] s cannot "
                                     "be ordered — only c1 write key 1 := 5")
    assert "c3 write key 1 := 6 [1.500, 2.000] s began after that completed" in verdict.detail
    (counterexample,) = verdict.witness["counterexamples"]
    assert [o["client"] for o in counterexample["operations"]] == ["c1", "c3", "c2"]
    assert Linearizable().judge(run({}, ops)).status == "fail"


def test_linearizable_over_its_search_budget_fails_as_unknown() -> None:
    class Hasty(Linearizable):
        budget = Budget(max_states=2)

    # Three writes and three reads one after another: more states than the budget.
    ops = history(*(op("c1", "write", {"key": 1, "value": v}, v, 2.0 * v, 2.0 * v + 0.5)
                    for v in (1, 2, 3)),
                  *(op("c2", "read", {"key": 1}, v, 2.0 * v + 1, 2.0 * v + 1.5, OK,
                       {"value": v}) for v in (1, 2, 3)))
    judgement = Hasty().judge(run({}, ops))
    assert judgement.status == "unknown"
    verdict = Hasty().check(NoOptions(), run({}, ops))
    assert verdict.status == "unknown" and verdict.passed is None and verdict.failed
    assert verdict.detail.startswith("unknown: client history (observed): the search gave up "
                                     "on 1 of 1 key (key 1: over 2 states)")
    assert Linearizable().check(NoOptions(), run({}, ops)).passed


def test_linearizable_catches_a_stale_read() -> None:
    # The replicas answered "no such key" although the log has the write first.
    ops = history(write(0.0, 1.0), read(2.0, 3.0, FAIL, None, "error 20: no such key"))
    verdict = Linearizable().check(NoOptions(), run(agreed(), ops))
    assert not verdict.passed and "the log gives ('ok', 5)" in verdict.detail


def test_linearizable_catches_a_read_of_the_wrong_value() -> None:
    ops = history(write(0.0, 1.0), read(2.0, 3.0, value=4))
    verdict = Linearizable().check(NoOptions(), run(agreed(), ops))
    assert not verdict.passed
    assert "c2's read #1 read 4; the log gives 5 (seq 2, as n1 reported it)" in verdict.detail
    assert "client history (observed): not linearizable" in verdict.detail


def test_linearizable_catches_an_accepted_request_never_committed() -> None:
    # The client history is fine; only the replicas' own logs show the read was never
    # ordered: the reported evidence is checked against what clients saw.
    states = {n: state([1, "d1", W1]) for n in NODES}
    verdict = Linearizable().check(NoOptions(), run(states, sent()))
    assert not verdict.passed
    assert verdict.detail.startswith("committed logs (reported) by n1, n2, n3, n4: c2's read "
                                     "#1 was accepted but no honest replica committed it")
    assert "client history (observed): linearizable" in verdict.detail


def test_linearizable_catches_an_order_against_real_time() -> None:
    # The read completed (at 3) before the write began (at 4) but comes after it in the log.
    ops = history(read(2.0, 3.0), write(4.0, 5.0))
    verdict = Linearizable().check(NoOptions(), run(agreed(), ops))
    assert not verdict.passed
    assert "comes before c2's read #1 in the log, though it began after" in verdict.detail


# -- liveness ------------------------------------------------------------------------------


def crash(node: str, at: float) -> FaultEvent:
    return fault(at, "start", f"k{node}", "crash", [node])


def test_liveness_passes_when_a_request_sent_after_the_fault_is_accepted_in_time() -> None:
    ops = history(write(2.5, 3.5))
    verdict = Liveness().check(options("liveness: {within: 2s}"),
                               run(agreed(), ops, (crash("n1", 2.0),)))
    assert verdict.passed, verdict.detail
    assert verdict.figures["first_accepted_after_s"] == 1.5


def test_liveness_fails_when_nothing_is_accepted_after_the_fault() -> None:
    # Accepted, but sent before the fault: it proves nothing about after.
    ops = history(write(1.9, 2.1))
    verdict = Liveness().check(options("liveness: {within: 2s}"),
                               run(agreed(), ops, (crash("n1", 2.0),)))
    assert not verdict.passed and "no request was accepted after" in verdict.detail


def test_liveness_is_not_judged_when_the_workload_ends_right_after_the_fault() -> None:
    # Faults end 0.4s before the clients stop: no cluster could be shown to recover.
    rec = run(agreed(), history(write(1.0, 1.1)), (crash("n1", 5.6),))
    rec.phases["workload_end"] = 6.0
    verdict = Liveness().check(options("liveness: {within: 2s}"), rec)
    assert verdict.status == "not_applicable", verdict.detail
    assert "the workload ended 0.40s after the last fault ended" in verdict.detail


def test_liveness_fails_when_too_late() -> None:
    ops = history(write(2.5, 6.0))
    verdict = Liveness().check(options("liveness: {within: 2s}"),
                               run(agreed(), ops, (crash("n1", 2.0),)))
    assert not verdict.passed and "4.00s later (> 2s)" in verdict.detail


# -- view change ---------------------------------------------------------------------------


def with_views(views: dict[str, list[list[Any]]]) -> dict[str, dict[str, Any]]:
    return {n: state(views=views.get(n, [[0, 0.0]])) for n in NODES}


def test_view_change_passes_when_every_honest_replica_leaves_the_crashed_primarys_view() -> None:
    views = {n: [[0, 0.0], [1, 2.6]] for n in ("n2", "n3", "n4")}
    verdict = ViewChange().check(options("view_change: {within: 2s}"),
                                 run(with_views(views), faults=(crash("n1", 2.0),)))
    assert verdict.passed, verdict.detail
    assert verdict.figures["max_s"] == pytest.approx(0.6)


def test_view_change_catches_a_replica_that_stays() -> None:
    views = {"n2": [[0, 0.0], [1, 2.6]], "n3": [[0, 0.0], [1, 2.7]], "n4": [[0, 0.0]]}
    verdict = ViewChange().check(options("view_change: {within: 2s}"),
                                 run(with_views(views), faults=(crash("n1", 2.0),)))
    assert not verdict.passed and "n4 never left n1's view" in verdict.detail


def test_view_change_catches_a_slow_one() -> None:
    views = {n: [[0, 0.0], [1, 5.0]] for n in ("n2", "n3", "n4")}
    verdict = ViewChange().check(options("view_change: {within: 2s}"),
                                 run(with_views(views), faults=(crash("n1", 2.0),)))
    assert not verdict.passed and "3.00s after +2.00s (> 2s)" in verdict.detail


def test_view_change_needs_a_faulty_primary_unless_told_otherwise() -> None:
    rec = run(with_views({}), faults=(crash("n3", 2.0),))  # a backup: no view change due
    assert not ViewChange().check(options("view_change"), rec).passed
    assert ViewChange().check(options("view_change: {require: false}"), rec).passed


def agent_traitor(node: str, at: float, what: str) -> FaultEvent:
    """A message fault that makes ``node`` a traitor: its agent mutates or replays."""
    links = [(node, o) for o in NODES if o != node]
    return dataclasses.replace(
        fault(at, "start", f"m{node}", "byzantine", [node], links, kind="message"),
        description=f"messages from {node}: {what} 20% on 3 links")


def test_view_change_needs_no_new_primary_for_one_that_only_replays() -> None:
    # Replayed messages are ones it signed before: they stop nothing, as a replay
    # behaviour does not; changed ones are forgeries that prove it faulty.
    stays = run(with_views({}), faults=(agent_traitor("n1", 2.0, "replay"),))
    assert ViewChange().check(options("view_change: {require: false}"), stays).passed
    mutating = run(with_views({}), faults=(agent_traitor("n1", 2.0, "mutate"),))
    verdict = ViewChange().check(options("view_change: {within: 2s}"), mutating)
    assert not verdict.passed and "n2 never left n1's view" in verdict.detail


def moved(views: dict[str, list[list[Any]]]) -> dict[str, dict[str, Any]]:
    """States whose final view is the last one their ``views`` name."""
    states = with_views(views)
    for st in states.values():
        st["view"] = st["views"][-1][0]
    return states


AFTER_N1 = {n: [[0, 0.0], [1, 2.6]] for n in ("n2", "n3", "n4")}


def in_views(*replies: tuple[str, float, int]) -> list[Reply]:
    """c1's write #1 answered by each ``(replica, at, view)``."""
    return [reply(node, W1, WROTE, at, view) for node, at, view in replies]


def test_view_change_rests_on_both_when_the_replies_match_the_reported_views() -> None:
    replies = in_views(("n2", 1.0, 0), ("n3", 1.0, 0), ("n2", 3.0, 1), ("n4", 3.1, 1),
                       # During the view change a replica's view is already the new one.
                       ("n3", 2.3, 1))
    verdict = ViewChange().check(options("view_change: {within: 2s}"),
                                 run(moved(AFTER_N1), faults=(crash("n1", 2.0),),
                                     replies=replies))
    assert verdict.passed, verdict.detail
    assert verdict.evidence == "both"
    assert "the views in 5 replies match the views the replicas report" in verdict.detail


def test_view_change_catches_a_reply_in_a_view_older_than_one_reported_installed() -> None:
    replies = in_views(("n2", 3.0, 1), ("n3", 5.0, 0))
    verdict = ViewChange().check(options("view_change: {within: 2s}"),
                                 run(moved(AFTER_N1), faults=(crash("n1", 2.0),),
                                     replies=replies))
    assert not verdict.passed
    assert ("n3 replied to c1's write #1 in view 0 at +5.00s, but reports having installed "
            "view 1 at +2.60s (a view never goes back)") in verdict.detail
    # Within the slack, the reply may have left before the install: no mismatch.
    near = in_views(("n3", 3.0, 0))
    assert ViewChange().check(options("view_change: {within: 2s}"),
                              run(moved(AFTER_N1), faults=(crash("n1", 2.0),),
                                  replies=near)).passed


def test_view_change_catches_a_replica_reporting_a_view_older_than_it_replied_in() -> None:
    replies = in_views(("n2", 3.0, 1), ("n4", 4.0, 2))
    rec = run(moved(AFTER_N1), faults=(crash("n1", 2.0),), replies=replies)
    assert ViewChange().check(options("view_change: {within: 2s}"),
                              run(moved(AFTER_N1), faults=(crash("n1", 2.0),))).passed
    verdict = ViewChange().check(options("view_change: {within: 2s}"), rec)
    assert not verdict.passed
    assert ("n4 replied to c1's write #1 in view 2 at +4.00s, but reports view 1 as its "
            "view at the end") in verdict.detail


def test_view_change_holds_only_a_restarted_replicas_last_life_against_its_report() -> None:
    # n4's first life got to view 2; restarted at +4s, its report starts again at view 0.
    views = {**AFTER_N1, "n4": [[0, 4.0], [1, 4.5]]}
    replies = in_views(("n4", 3.0, 2), ("n4", 3.9, 2), ("n4", 4.2, 0))
    restart = fault(4.0, "start", "r4", "restart", ["n4"])
    verdict = ViewChange().check(options("view_change: {within: 3s}"),
                                 run(moved(views), faults=(crash("n1", 2.0), restart),
                                     replies=replies))
    assert verdict.passed, verdict.detail
    # Without the restart, n4's report says less than its replies showed.
    verdict = ViewChange().check(options("view_change: {within: 3s}"),
                                 run(moved(views), faults=(crash("n1", 2.0),),
                                     replies=replies))
    assert not verdict.passed and "reports view 1 as its view at the end" in verdict.detail


def test_view_change_from_replies_alone_when_no_replica_reports_views() -> None:
    replies = in_views(("n1", 1.0, 0), ("n2", 1.0, 0), ("n2", 2.8, 1), ("n4", 2.9, 1))
    verdict = ViewChange().check(options("view_change: {within: 2s}"),
                                 run({}, faults=(crash("n1", 2.0),), replies=replies))
    assert verdict.passed, verdict.detail
    assert verdict.evidence == "observed"
    assert "f+1 = 2 honest replicas replied in a view with another primary within 0.90s" \
        in verdict.detail


def test_view_change_from_replies_alone_catches_too_few_or_too_late() -> None:
    few = in_views(("n2", 1.0, 0), ("n2", 2.8, 1), ("n3", 3.0, 0))
    verdict = ViewChange().check(options("view_change: {within: 2s}"),
                                 run({}, faults=(crash("n1", 2.0),), replies=few))
    assert not verdict.passed and verdict.evidence == "observed"
    assert ("after n1's fault at +2.00s (crash n1), 1 honest replica(s) (n2) replied in a "
            "later view with another primary; f+1 = 2 show the view changed") in verdict.detail
    late = in_views(("n2", 2.8, 1), ("n3", 6.0, 1))
    verdict = ViewChange().check(options("view_change: {within: 2s}"),
                                 run({}, faults=(crash("n1", 2.0),), replies=late))
    assert not verdict.passed and "only 4.00s later (> 2s)" in verdict.detail


def test_view_change_from_replies_follows_the_view_they_named() -> None:
    # The replies are in view 1 (primary n2) when n1 crashes: n1 was no primary.
    replies = in_views(("n2", 1.0, 1), ("n3", 1.0, 1), ("n3", 3.0, 1))
    rec = run({}, faults=(crash("n1", 2.0),), replies=replies)
    assert not ViewChange().check(options("view_change"), rec).passed
    assert ViewChange().check(options("view_change: {require: false}"), rec).passed


# -- suspects ------------------------------------------------------------------------------


def suspecting(target: str, at: float, who: tuple[str, ...] = ("n2", "n3", "n4"),
               also: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    return {n: state(suspects=[target, *also] if n in who else list(also),
                     evidence={target: [{"kind": "equivocation", "at": at}]} if n in who else {})
            for n in NODES}


def test_suspects_passes_when_every_honest_replica_suspects_in_time() -> None:
    verdict = Suspects().check(options("suspects: {within: 1s}"),
                               run(suspecting("n1", 2.3), faults=(byzantine("n1", 2.0),)))
    assert verdict.passed, verdict.detail
    assert verdict.figures["max_s"] == pytest.approx(0.3)


def test_suspects_catches_a_replica_that_never_suspects() -> None:
    verdict = Suspects().check(options("suspects: {within: 1s}"),
                               run(suspecting("n1", 2.3, who=("n2", "n3")),
                                   faults=(byzantine("n1", 2.0),)))
    assert not verdict.passed and "n4 never suspected n1" in verdict.detail


def test_suspects_catches_late_detection() -> None:
    verdict = Suspects().check(options("suspects: {within: 1s}"),
                               run(suspecting("n1", 4.0), faults=(byzantine("n1", 2.0),)))
    assert not verdict.passed and "2.00s after its first bad message" in verdict.detail


def test_suspects_catches_an_honest_replica_suspected() -> None:
    verdict = Suspects().check(options("suspects: {within: 1s}"),
                               run(suspecting("n1", 2.3, also=("n3",)),
                                   faults=(byzantine("n1", 2.0),)))
    assert not verdict.passed and "n2 suspects n3, which is honest" in verdict.detail


def test_suspects_does_not_forgive_suspicion_of_a_mutating_replicas_receivers() -> None:
    # A traitor made by its agent (message: {mutate}) acts on its links to the others; that
    # makes none of them look faulty, so suspecting one is a false accusation.
    mutating = fault(2.0, "start", "m1", "byzantine", ["n1"],
                     links=[("n1", "n2"), ("n1", "n3"), ("n1", "n4")], kind="message")
    verdict = Suspects().check(options("suspects: {within: 1s}"),
                               run(suspecting("n1", 2.3, also=("n3",)), faults=(mutating,)))
    assert not verdict.passed and "n2 suspects n3, which is honest" in verdict.detail


def test_suspects_times_an_agent_made_traitor_from_its_first_changed_message(
        tmp_path: Path) -> None:
    # n1 sent honest messages from 2.1s; its agent changed the first one at 3.0s.
    path = tmp_path / "trace.jsonl"
    path.write_text("".join(json.dumps({"t": t, "ev": ev, "id": "x", "src": "n1",
                                        "dest": "n2", "type": "p", "size": 1}) + "\n"
                            for t, ev in ((2.1, "send"), (3.0, "send"), (3.0, "mutate"))))
    for fault_event, passes in ((agent_traitor("n1", 2.0, "mutate"), True),
                                (byzantine("n1", 2.0), False)):
        rec = run(suspecting("n1", 3.4), faults=(fault_event,))
        rec.trace_files = [path]
        verdict = Suspects().check(options("suspects: {within: 1s}"), rec)
        assert verdict.passed is passes, verdict.detail


def test_suspects_forgives_suspicion_of_a_replica_a_fault_touched() -> None:
    # A crashed replica may well be suspected of stalling: it is not an untouched honest one.
    verdict = Suspects().check(options("suspects: {within: 1s}"),
                               run(suspecting("n1", 2.3, also=("n3",)),
                                   faults=(byzantine("n1", 2.0), crash("n3", 3.0))))
    assert verdict.passed, verdict.detail
