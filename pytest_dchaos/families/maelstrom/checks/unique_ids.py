"""``unique_ids``: no id is handed out twice (Jepsen's unique-ids checker)."""

from __future__ import annotations

import json
from typing import Any

from pytest_dchaos.checkers.base import CheckerType, NoOptions
from pytest_dchaos.record.history import OK, Op
from pytest_dchaos.record.result import RunRecord, Verdict

SHOWN = 3


def id_key(value: Any) -> str:
    """One spelling per JSON value: ids may be strings, numbers, lists, objects."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class UniqueIds(CheckerType[NoOptions]):
    name = "unique_ids"
    doc = ("Every id that `generate_ok` handed out is handed out once in the whole run, "
           "across all nodes, partitions, crashes and restarts. An id may be any JSON value; "
           "`1` and `\"1\"` differ. Pair it with `availability: 1` for Maelstrom's "
           "`--availability total`.")
    blind_to = ("An id a node handed out in a reply that never arrived (a timed-out "
                "generate): it is not in the history.")
    protocols = ("unique-ids",)

    def check(self, options: NoOptions, record: RunRecord) -> Verdict:
        first: dict[str, Op] = {}
        duplicates: list[tuple[Op, Op]] = []
        generated = 0
        for op in record.history.ops:
            if op.f != "generate" or op.type != OK:
                continue
            generated += 1
            key = id_key(op.value)
            if key in first:
                duplicates.append((first[key], op))
            else:
                first[key] = op
        if not generated:
            return self.verdict(False, "no generate succeeded, so nothing shows ids are unique")
        figures = {"generated": generated, "duplicated": len(duplicates)}
        if duplicates:
            shown = "; ".join(f"{_where(b)} got {b.value!r}, as {_where(a)} had"
                              for a, b in duplicates[:SHOWN])
            return self.verdict(
                False, f"{len(duplicates)} of {generated} ids handed out again: {shown}",
                witness={"duplicates": [[a.index, b.index, a.value] for a, b in
                                        duplicates[:50]]}, figures=figures)
        return self.verdict(True, f"all {generated} ids distinct", figures=figures)


def _where(op: Op) -> str:
    return f"{op.process} from {op.node} at {op.time:.2f}s (history op {op.index})"
