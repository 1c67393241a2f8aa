"""The ``atomicity`` check: all participants decide alike, nothing aborted is read,
nothing acknowledged is lost.
"""

from __future__ import annotations

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.families.txn.checks.common import facts, listing, no_state
from pytest_dchaos.record.history import FAIL, OK
from pytest_dchaos.record.result import RunRecord, Verdict


class Atomicity(CheckerType[NoOptions]):
    name = "atomicity"
    doc = ("Every participant of a transaction decides the same; no transaction is partly "
           "committed; no value written by an aborted transaction is ever read; no write "
           "of an acknowledged transaction is lost (across crashes and restarts).")
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
                   "unknown_keys": sorted(f.unknown_keys)}
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
        return self.verdict(True, f"{len(f.decisions)} transaction decisions agree on every "
                            f"node; nothing partly committed, no aborted write read, no "
                            f"acknowledged write lost (the client history against the "
                            f"decisions and versions reported by {f.reported_by()}{note})",
                            figures=figures)
