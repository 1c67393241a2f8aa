"""The ``agreement`` check: PBFT's safety — honest replicas execute the same requests in the
same order — judged first from what the clients received.

* *observed* — every reply the harness's clients received: two honest replicas that
  answered one request (client, timestamp) with different results executed different
  histories. For the reference replica this is exact: it answers only once a request is
  committed and executed (no tentative execution, no read-only shortcut), and its reply to
  a retransmission is the cached result of that same execution, so honest replicas that
  agree give byte-identical results;
* *reported* — where honest replicas answer ``dchaos_state``: no two of their committed
  logs differ at a sequence number, and each replica's log lists every request it was seen
  replying to (:func:`~.common.replies_against_logs`), so a replica cannot pass by
  reporting less than it did.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.families.pbft.checks.common import (
    bound_note,
    canonical_json,
    committed_entries,
    honest_replies,
    honest_states,
    listing,
    no_state,
    replies_against_logs,
    request_name,
)
from pytest_dchaos.families.pbft.observations import Reply
from pytest_dchaos.record.result import EvidenceKind, RunRecord, Verdict


def reply_conflicts(replies: list[Reply]) -> tuple[int, list[str]]:
    """How many requests honest replicas answered, and one line per request two of them
    answered differently."""
    results: dict[tuple[str, int], dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    ops: dict[tuple[str, int], Any] = {}
    for reply in replies:
        if reply.answers:
            key = (reply.client, reply.timestamp)
            results[key][reply.result].add(reply.member)
            ops.setdefault(key, reply.op)
    conflicts = []
    for key in sorted(results):
        if len(results[key]) > 1:
            # The most-given result first: the odd ones out read last.
            sides = " vs ".join(f"{'+'.join(sorted(nodes))} replied {result}"
                                for result, nodes in sorted(results[key].items(),
                                                            key=lambda s: (-len(s[1]), s[0])))
            conflicts.append(f"{request_name(*key, ops[key])} "
                             f"({canonical_json(ops[key])}): {sides}")
    return len(results), conflicts


class Agreement(CheckerType[NoOptions]):
    name = "agreement"
    doc = ("Honest replicas execute the same requests in the same order (PBFT's safety). "
           "Observed: no two honest replicas reply different results to one request. "
           "Where honest replicas report their committed logs, also: no two commit different "
           "requests (or batches) at one sequence number, and each replica's log lists "
           "every request it was seen replying to (unless it reports taking that part as "
           "state by a state transfer).")
    protocols = ("pbft",)
    evidence = "both"
    blind_to = ("Replies that arrive after f+1 replicas agreed (the client stops listening "
                "then, so a slow replica's different answer may go unseen); a request an "
                "honest replica executed but never answered; the logs of replicas that "
                "report none.")

    def check(self, options: NoOptions, record: RunRecord) -> Verdict:
        states = honest_states(record)
        replies = honest_replies(record)
        answered = [r for r in replies or () if r.answers]
        if not states and not answered:
            offered = any("dchaos_state" in ext for ext in record.extensions.values())
            if replies is None or offered:
                missing = no_state(self, record)
                assert missing is not None
                return missing
            return self.not_applicable("no replica reports its committed log and no honest "
                                       "replica answered a client, so there is nothing to "
                                       "compare")
        evidence: EvidenceKind = "both" if states and replies is not None else \
            "reported" if states else "observed"
        # (what the part rests on, its problems): each part's problems listed on their own,
        # so one kind of evidence's many lines cannot hide another's.
        failed: list[tuple[str, list[str]]] = []
        parts: list[str] = []
        figures: dict[str, Any] = {"bound_broken": bool(bound_note(record))}

        if replies is not None:
            requests, conflicts = reply_conflicts(replies)
            figures.update(requests_answered=requests, reply_conflicts=len(conflicts))
            if conflicts:
                failed.append((f"replies (observed): {len(conflicts)} request(s) answered "
                               "differently by honest replicas", conflicts))
            else:
                repliers = len({r.member for r in answered})
                parts.append(f"replies (observed): {repliers} honest replicas answered "
                             f"{requests} requests, never two results for one")

        if states:
            by_seq: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
            for node, state in sorted(states.items()):
                for seq, slot in committed_entries(state).items():
                    by_seq[seq][canonical_json(slot)].append(node)
            log_conflicts = []
            for seq in sorted(by_seq):
                if len(by_seq[seq]) > 1:
                    sides = " vs ".join("+".join(nodes) for nodes in by_seq[seq].values())
                    log_conflicts.append(f"seq {seq}: {sides} committed different requests")
            figures.update(sequence_numbers=len(by_seq), conflicts=len(log_conflicts))
            if log_conflicts:
                failed.append(("committed logs (reported)", log_conflicts))
            else:
                parts.append(f"committed logs (reported): {len(states)} honest replicas "
                             f"agree on every one of {len(by_seq)} sequence numbers")
            held = replies_against_logs(record)
            if held is not None:
                figures.update(unlisted=len(held.problems), excused=held.excused)
                if held.problems:
                    failed.append(("committed logs (reported) against replies (observed)",
                                   list(held.problems)))
                else:
                    excused = (f" ({held.excused} by replicas that took that part as state)"
                               if held.excused else "")
                    parts.append(f"every request an honest replica was seen replying to is "
                                 f"in its log{excused}")

        note = bound_note(record)
        if failed:
            detail = "; ".join(f"{label}: {listing(problems)}" for label, problems in failed)
            witness = {"conflicts": [p for _, problems in failed for p in problems[:50]]}
            return self.verdict(False, detail + note, witness=witness, figures=figures,
                                evidence=evidence)
        return self.verdict(True, "; ".join(parts) + note, figures=figures, evidence=evidence)
