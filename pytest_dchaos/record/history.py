"""The history of client operations, Jepsen-style: every invocation and how it ended.

An operation is invoked (``invoke``) and then completes exactly once as ``ok`` (it
happened), ``fail`` (it definitely did not happen) or ``info`` (unknown: a timeout, a crash
mid-request). Checkers depend on telling these apart — a lost write is only a bug if the
write was acknowledged. Times are seconds since the workload started.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal

#: How an operation ended: these strings are what ``history.jsonl`` holds.
Outcome = Literal["ok", "fail", "info"]
#: An entry of the history: an invocation, or how it ended.
OpType = Literal["invoke", "ok", "fail", "info"]

OK: Final = "ok"
FAIL: Final = "fail"
INFO: Final = "info"
INVOKE: Final = "invoke"
COMPLETIONS: tuple[Outcome, ...] = (OK, FAIL, INFO)


@dataclass(frozen=True, slots=True)
class Op:
    index: int
    process: str  # the client id, c1..cK
    type: OpType
    f: str  # the operation: broadcast, read, ...
    value: Any
    time: float
    node: str | None = None
    error: str | None = None

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if v is not None or k == "value"}
        return json.dumps(data, separators=(",", ":"), default=str)


#: How the error of an operation begins when the harness had its node down: not delivered
#: (the node killed, stopped, or not yet answering ``init`` after a restart), or delivered
#: and then lost with the node the harness took down. Not a node that fell on its own.
TAKEN_DOWN: Final = "taken down by the harness: "


def taken_down(completion: Op | None) -> bool:
    """Whether this operation ended unanswered because the harness had its node down
    (:data:`TAKEN_DOWN`)."""
    return (completion is not None and completion.type != OK
            and (completion.error or "").startswith(TAKEN_DOWN))


def outcome_of(completion: Op | None) -> Outcome:
    """How an invocation ended, from its completion in :meth:`History.pairs`: one that never
    completed is unknown (info)."""
    # An invoke is never a completion: the test is for the type, which does not know that.
    if completion is None or completion.type == INVOKE:
        return INFO
    return completion.type


class History:
    """Thread-safe, append-only."""

    def __init__(self, t0: float | None = None) -> None:
        self.t0 = time.time() if t0 is None else t0
        self._ops: list[Op] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time() - self.t0

    def invoke(self, process: str, f: str, value: Any, node: str | None = None) -> Op:
        return self._append(process, INVOKE, f, value, node, None)

    def complete(self, invocation: Op, outcome: Outcome, value: Any = None,
                 error: str | None = None) -> Op:
        if outcome not in COMPLETIONS:
            raise ValueError(f"outcome must be one of {COMPLETIONS}, got {outcome!r}")
        return self._append(invocation.process, outcome, invocation.f, value, invocation.node,
                            error)

    def _append(self, process: str, kind: OpType, f: str, value: Any, node: str | None,
                error: str | None) -> Op:
        # Built whole, not with dataclasses.replace: two per operation, under load. The time
        # is taken under the lock, so the history's order is the order of its times.
        with self._lock:
            op = Op(len(self._ops), process, kind, f, value, self.now(), node, error)
            self._ops.append(op)
        return op

    @property
    def ops(self) -> list[Op]:
        with self._lock:
            return list(self._ops)

    def pairs(self) -> Iterator[tuple[Op, Op | None]]:
        """Each invocation with its completion (None if it never completed)."""
        open_ops: dict[str, Op] = {}
        done: list[tuple[Op, Op | None]] = []
        for op in self.ops:
            if op.type == INVOKE:
                open_ops[op.process] = op
            else:
                invocation = open_ops.pop(op.process, None)
                if invocation is not None:
                    done.append((invocation, op))
        done.extend((op, None) for op in open_ops.values())
        done.sort(key=lambda pair: pair[0].index)
        return iter(done)

    def write(self, path: Path) -> None:
        with open(path, "w", encoding="utf-8") as out:
            for op in self.ops:
                out.write(op.to_json() + "\n")

    @classmethod
    def read(cls, path: Path) -> History:
        history = cls(t0=0.0)
        with open(path, encoding="utf-8") as source:
            for line in source:
                data: dict[str, Any] = json.loads(line)
                history._ops.append(Op(**data))
        return history

    @classmethod
    def of(cls, ops: list[Op]) -> History:
        """A history from ready-made operations (for tests and offline checking)."""
        history = cls(t0=0.0)
        history._ops = [replace(op, index=i) for i, op in enumerate(ops)]
        return history
