"""The ``atomicity`` check: all participants decide alike, and as the client was told;
nothing aborted is read, nothing acknowledged is lost.
"""

from __future__ import annotations

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.families.txn.checks.common import Facts, facts, listing, no_state
from pytest_dchaos.record.history import FAIL, OK
from pytest_dchaos.record.result import RunRecord, Verdict

COMMIT, ABORT = "commit", "abort"


class Atomicity(CheckerType[NoOptions]):
    name = "atomicity"
    doc = ("Every participant of a transaction decides the same, and what the client was "
           "told: where the nodes tie their transactions to the client requests that "
           "started them (the optional dchaos_state_ok.txns), no node reports aborted a "
           "transaction whose client was told it committed, or committed one whose client "
           "was told it aborted (error 14 or 30), and every tie names a request the harness "
           "sent. No transaction is partly committed; no value written by an aborted "
           "transaction is ever read; no write of an acknowledged transaction is lost "
           "(across crashes and restarts).")
    blind_to = ("Without txns a decision is set against no client's outcome, only against "
                "the other nodes' decisions; without versions no write is judged lost or "
                "partial; a lost write of a transaction whose outcome the client never "
                "learnt (a timeout), and a key no reporting node lists, are not judged.")
    protocols = ("txn",)
    evidence = "both"
    requires = frozenset({"dchaos_state"})

    def check(self, options: NoOptions, record: RunRecord) -> Verdict:
        if (refused := no_state(self, record)) is not None:
            return refused
        f = facts(record)
        problems: list[str] = []
        split = {t: d for t, d in f.decisions.items()
                 if len({v for v in d.values() if v != "pending"}) > 1}
        problems += [f"{t} decided differently: " + ", ".join(
            f"{n} {v}" for n, v in sorted(d.items())) for t, d in sorted(split.items())]
        problems += [f"the txns the nodes report contradict the requests the harness "
                     f"sent: {m}" for m in f.ties.mismatches]
        problems += told_otherwise(f)
        problems += [f"partly committed: {c.describe()} ({f.where(c)})"
                     for c in f.calls if f.partial(c)]
        for call in f.calls:
            if call.outcome != OK:
                continue
            for op in call.ops:
                if op[0] != "r" or op[2] is None:
                    continue
                source = f.writer.get((op[1], op[2]))
                if source is None or source is call:
                    continue
                if source.outcome == FAIL:
                    problems.append(f"txn {call.index} read key {op[1]} = {op[2]}, written "
                                    f"by txn {source.index}, which was told it aborted")
                elif f.committed(source) is False:
                    problems.append(f"txn {call.index} read key {op[1]} = {op[2]}, written "
                                    f"by txn {source.index}, which aborted (no node lists "
                                    "its writes)")
            if f.committed(call) is False:
                problems.append(f"acknowledged but lost: {call.describe()} ({f.where(call)}; "
                                f"versions reported by {f.reported_by()})")
        figures = {"transactions": len(f.calls), "split_decisions": len(split),
                   "unknown_keys": sorted(f.unknown_keys), "tied_calls": len(f.ties.attempts),
                   "tie_mismatches": len(f.ties.mismatches)}
        if problems:
            return self.verdict(False, listing(problems), witness={"problems": problems[:50]},
                                figures=figures)
        if not f.reporters:
            note = "; no node reports versions, so no write was judged lost or partial"
        elif f.unknown_keys:
            keys = sorted(f.unknown_keys)
            more = f" and {len(keys) - 10} more" if len(keys) > 10 else ""
            note = (f"; keys {', '.join(map(str, keys[:10]))}{more} not judged: no node "
                    "that reported lists them, and not every node reported")
        else:
            note = ""
        if f.ties.available:
            told = (f"; the decisions agree with what the clients were told "
                    f"({f.ties.words()})")
        else:
            told = (f"; {f.ties.unavailable}, so the decisions were set against each other "
                    "only, not against what the clients were told")
        return self.verdict(True, f"{len(f.decisions)} transaction decisions agree on every "
                            f"node; nothing partly committed, no aborted write read, no "
                            f"acknowledged write lost (the client history against the "
                            f"decisions and versions reported by {f.reported_by()}{note})"
                            + told, figures=figures)


def told_otherwise(f: Facts) -> list[str]:
    """Each decision a node reports for a transaction tied to a client call, against what
    that client was told. A call may be tied to several transactions (a node that retries
    a request): one committed is what "ok" promises; an aborted attempt beside it is no
    contradiction, two committed are."""
    problems = []
    for call in f.calls:
        txns = f.ties.attempts.get(call.index)
        if not txns:
            continue
        said = {t: f.decisions.get(t, {}) for t in txns}
        committed = [t for t in txns if COMMIT in said[t].values()]
        if call.outcome == OK and not committed:
            problems += [f"{_who(said[t], ABORT)} {t} aborted, but the client call that "
                         f"started it, {call.named()}, {call.told()}"
                         for t in txns if ABORT in said[t].values()]
        elif call.outcome == OK and len(committed) > 1:
            problems.append(f"{call.named()} was committed {len(committed)} times, as "
                            f"{', '.join(committed)}")
        elif call.outcome == FAIL:
            problems += [f"{_who(said[t], COMMIT)} {t} committed, but the client call "
                         f"that started it, {call.named()}, {call.told()}" for t in committed]
    return problems


def _who(said: dict[str, str], decision: str) -> str:
    """The nodes that report ``decision``, as the subject of a sentence."""
    nodes = sorted(n for n, d in said.items() if d == decision)
    return f"{', '.join(nodes)} report" + ("s" if len(nodes) == 1 else "")
